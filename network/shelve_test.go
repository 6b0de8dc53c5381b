package network

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// TestUnbindAndBindHost: a shelve-offload unbinds the instance's ports from the host but leaves them the
// instance's; an unshelve binds them to the new host again.
func TestUnbindAndBindHost(t *testing.T) {
	f := newFakeNeutron(t)
	f.userPort("port-user", "10.0.0.40")
	f.setPort("port-user", "binding:profile", map[string]any{"trusted": "true"})
	f.addPort("port-other", fakeNet, "10.0.0.41", func(p map[string]any) {
		p["device_id"], p["binding:host_id"], p["binding:vif_type"] = "other-vm", fakeHost, "ovs"
	})
	c := f.client(t, nil)
	ctx := context.Background()
	info, err := c.Allocate(ctx, binding(), []Request{{NetworkID: fakeNet}, {PortID: "port-user"}})
	if err != nil {
		t.Fatal(err)
	}
	// The host's device keys in the profile go with the binding; the user's stay.
	f.setPort("port-user", "binding:profile", map[string]any{"trusted": "true", "pci_slot": "0000:00:01.0"})
	f.resetCalls()
	ids := []string{info[0].ID, "port-user", "port-gone", "port-other"}
	if err := c.UnbindHost(ctx, fakeInstance, ids); err != nil {
		t.Fatalf("UnbindHost: %v", err)
	}
	for _, id := range []string{info[0].ID, "port-user"} {
		p := f.port(id)
		if p["binding:host_id"] != "" || p["binding:vif_type"] != "unbound" || p["device_id"] != fakeInstance ||
			p["device_owner"] != "compute:nova" {
			t.Errorf("port %s after UnbindHost: host %v vif %v device %v owner %v", id, p["binding:host_id"],
				p["binding:vif_type"], p["device_id"], p["device_owner"])
		}
	}
	puts := putsTo(f, "port-user")
	want := map[string]any{"binding:host_id": nil, "binding:profile": map[string]any{"trusted": "true"}}
	if len(puts) != 1 || !reflect.DeepEqual(puts[0].Body, want) {
		t.Errorf("unbind bodies %v, want one %v", puts, want)
	}
	if len(putsTo(f, "port-other")) != 0 || f.port("port-other")["binding:host_id"] != fakeHost {
		t.Error("another instance's port was changed")
	}

	f.resetCalls()
	if err := c.BindHost(ctx, binding()); err != nil {
		t.Fatalf("BindHost: %v", err)
	}
	for _, id := range []string{info[0].ID, "port-user"} {
		if p := f.port(id); p["binding:host_id"] != fakeHost || p["binding:vif_type"] != "ovs" ||
			p["device_owner"] != "compute:nova" {
			t.Errorf("port %s after BindHost: %v %v %v", id, p["binding:host_id"], p["binding:vif_type"], p["device_owner"])
		}
	}
	if len(putsTo(f, "port-other")) != 0 {
		t.Error("BindHost changed another instance's port")
	}
	// Bound already: nothing to write.
	f.resetCalls()
	if err := c.BindHost(ctx, binding()); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("second BindHost wrote %v", w)
	}
	// A host no driver can bind: binding_failed is PortBindingFailed.
	b := binding()
	b.Host = "no-such-chassis"
	if err := c.BindHost(ctx, b); !errors.Is(err, ErrBindingFailed) {
		t.Errorf("BindHost to an unknown host = %v, want ErrBindingFailed", err)
	}
}

func TestUnbindBindHostRefuseMissingInstance(t *testing.T) {
	f := newFakeNeutron(t)
	c := f.client(t, nil)
	if err := c.UnbindHost(context.Background(), "", []string{"p"}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("UnbindHost without instance = %v", err)
	}
	if err := c.BindHost(context.Background(), Binding{Host: fakeHost}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("BindHost without instance = %v", err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("refused calls wrote %v", w)
	}
}
