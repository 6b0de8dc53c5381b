package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// conductor is nova-conductor's object-indirection API (topic "conductor", version 3.0): every record a compute
// reads or writes goes through it, since computes have no database access.
type conductor struct {
	client  *rpc.Client
	ping    *rpc.Client
	release Release
}

func newConductor(t *rpc.Transport, r Release) *conductor {
	base := t.NewClient(rpc.Target{Topic: "conductor"})
	return &conductor{
		client:  base.WithVersion("3.0"),
		ping:    base.WithNamespace("baseapi").WithVersion("1.0").WithTimeout(10 * time.Second),
		release: r,
	}
}

// waitUntilReady pings the conductor until it answers, as nova's Service.__init__ does before anything else: a
// compute that started before its control plane waits for it instead of failing.
func (c *conductor) waitUntilReady(ctx context.Context, log *slog.Logger) error {
	rc := rpc.AdminContext()
	for attempt := 1; ; attempt++ {
		_, err := c.ping.Call(ctx, &rc, "ping", map[string]any{"arg": "1.21 GigaWatts"})
		if err == nil {
			if attempt > 1 {
				log.Info("nova-conductor answered", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.Is(err, rpc.ErrTimeout) {
			log.Warn("nova-conductor ping failed; retrying", "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		log.Warn("Timed out waiting for nova-conductor. Is it running? Or did this service start before nova-conductor?",
			"attempt", attempt)
	}
}

// classAction calls a remotable classmethod (object_class_action_versions). The manifest names the objects of
// the result's tree, so the conductor backports them to the versions this release understands; the class
// itself is always in it, as in oslo.versionedobjects' remotable_classmethod, because the conductor finds the
// class by object_versions[objname] (a KeyError without it, whatever the method returns).
func (c *conductor) classAction(ctx context.Context, rc *rpc.RequestContext, objname, method string,
	manifest []string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	if !slices.Contains(manifest, objname) {
		manifest = append(slices.Clip(manifest), objname)
	}
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	res, err := c.client.Call(ctx, rc, "object_class_action_versions", map[string]any{
		"objname": objname, "objmethod": method, "object_versions": c.release.Manifest(manifest...),
		"args": args, "kwargs": kwargs,
	})
	if err != nil {
		return nil, fmt.Errorf("conductor %s.%s: %w", objname, method, err)
	}
	return res, nil
}

// classObject is classAction for a method returning one object (or None: nil, nil).
func (c *conductor) classObject(ctx context.Context, rc *rpc.RequestContext, objname, method string,
	manifest []string, args []any, kwargs map[string]any) (*vo.Object, error) {
	raw, err := c.classAction(ctx, rc, objname, method, manifest, args, kwargs)
	if err != nil || string(raw) == "null" || len(raw) == 0 {
		return nil, err
	}
	var o vo.Object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("conductor %s.%s: result: %w", objname, method, err)
	}
	return &o, nil
}

// objectAction calls a remotable method on obj (object_action) and applies the conductor's updates to it, as
// oslo.versionedobjects' remotable decorator does: changed fields are copied in and the change set becomes the
// conductor's obj_what_changed.
func (c *conductor) objectAction(ctx context.Context, rc *rpc.RequestContext, obj *vo.Object, method string,
	args []any, kwargs map[string]any) (json.RawMessage, error) {
	if args == nil {
		args = []any{}
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	raw, err := c.client.Call(ctx, rc, "object_action", map[string]any{
		"objinst": obj, "objmethod": method, "args": args, "kwargs": kwargs,
	})
	if err != nil {
		return nil, fmt.Errorf("conductor %s.%s: %w", obj.Name, method, err)
	}
	var reply []json.RawMessage
	if err := json.Unmarshal(raw, &reply); err != nil || len(reply) != 2 {
		return nil, fmt.Errorf("conductor %s.%s: reply is not [updates, result]: %s", obj.Name, method, truncate(raw, 200))
	}
	var updates map[string]json.RawMessage
	if err := json.Unmarshal(reply[0], &updates); err != nil {
		return nil, fmt.Errorf("conductor %s.%s: updates: %w", obj.Name, method, err)
	}
	var changed []string
	for k, v := range updates {
		if k == "obj_what_changed" {
			if err := json.Unmarshal(v, &changed); err != nil {
				return nil, fmt.Errorf("conductor %s.%s: obj_what_changed: %w", obj.Name, method, err)
			}
			continue
		}
		obj.Data[k] = v
	}
	obj.Changes = nil
	if len(changed) > 0 {
		obj.Changes = changed
	}
	return reply[1], nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
