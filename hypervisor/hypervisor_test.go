package hypervisor

import (
	"errors"
	"strings"
	"testing"

	"libvirt.org/go/libvirtxml"
)

func TestTypedErrors(t *testing.T) {
	tests := []struct {
		err      error
		sentinel error
		msg      string
	}{
		{&PropertyError{Property: "hw_disk_bus", Value: "scsi", Allowed: []string{"virtio", "sata"}, Driver: "bhyve"}, ErrInvalidProperty, `invalid value "scsi" for hw_disk_bus with driver bhyve (allowed: virtio, sata)`},
		{&StateError{Guest: "i-1", Op: "pause", State: Shutdown}, ErrInvalidState, "cannot pause guest i-1: it is shutdown"},
		{&UnsupportedError{Driver: "bhyve", Op: "suspend", Reason: "no snapshots"}, ErrUnsupported, "bhyve driver does not support suspend: no snapshots"},
		{&MissingError{What: "bhyve binary", Path: "/usr/sbin/bhyve"}, ErrMissingComponent, "bhyve binary /usr/sbin/bhyve not found"},
		{NotFound("qemu", "i-2"), ErrNotFound, "qemu: guest not found: i-2"},
	}
	for _, tt := range tests {
		wrapped := errors.Join(errors.New("context"), tt.err)
		if !errors.Is(wrapped, tt.sentinel) {
			t.Errorf("%v does not match its sentinel", tt.err)
		}
		if tt.err.Error() != tt.msg {
			t.Errorf("message %q, want %q", tt.err.Error(), tt.msg)
		}
	}
}

func TestArgvRegistry(t *testing.T) {
	RegisterArgvBuilder("fake", func(d *libvirtxml.Domain) ([][]string, error) {
		return [][]string{{"fake", d.Name, "a b"}}, nil
	})
	lines, err := ArgvForXML("fake", []byte(`<domain type="bhyve"><name>vm1</name></domain>`))
	if err != nil || FormatArgv(lines) != "fake vm1 'a b'\n" {
		t.Fatalf("ArgvForXML = %q, %v", FormatArgv(lines), err)
	}
	_, err = ArgvForXML("nope", []byte(`<domain><name>x</name></domain>`))
	var pe *PropertyError
	if !errors.As(err, &pe) || pe.Property != "driver" || !strings.Contains(err.Error(), "fake") {
		t.Fatalf("unknown driver error = %v", err)
	}
	if _, err := ArgvForXML("fake", []byte(`<domain`)); err == nil {
		t.Fatal("malformed XML accepted")
	}
}

func TestSaveLoadDomain(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadDomain(dir); !errors.Is(err, ErrNotFound) {
		t.Fatalf("load from empty dir = %v; want ErrNotFound", err)
	}
	dom := &libvirtxml.Domain{Type: "bhyve", Name: "vm1", UUID: "6f1c2a9e-3d4b-4c5a-8e7f-0a1b2c3d4e5f"}
	if err := SaveDomain(dir, dom); err != nil {
		t.Fatal(err)
	}
	got, err := LoadDomain(dir)
	if err != nil || got.Name != "vm1" || got.UUID != dom.UUID {
		t.Fatalf("loaded %+v, %v", got, err)
	}
}
