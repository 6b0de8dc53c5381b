package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/beneath"
)

const stateFD = "novabsd-state"

// Suspend migrates the guest's state into StateFile through a descriptor
// passed over QMP (QEMU 7.2 has no file: migration URI and exec: would need
// a shell), then ends QEMU. The state file appears only once complete.
func (d *Driver) Suspend(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	if st != hypervisor.Running && st != hypervisor.Paused {
		return &hypervisor.StateError{Guest: g.Name, Op: "suspend", State: st}
	}
	v := d.get(ctx, g)
	if v == nil {
		return &hypervisor.StateError{Guest: g.Name, Op: "suspend", State: hypervisor.Shutdown}
	}
	dir, err := beneath.Open(g.Dir)
	if err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	defer dir.Close()
	part := hypervisor.StateFile + ".part"
	f, err := dir.OpenFile(part, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("qemu: suspend %s: %w", g.Name, err)
	}
	fail := func(err error) error {
		f.Close()
		dir.Remove(part)
		if st == hypervisor.Running && v.alive() {
			v.mon.Execute(context.Background(), "cont", nil, nil)
		}
		return fmt.Errorf("qemu: suspend %s: %w", g.Name, err)
	}
	// Stopped first: one pass writes the memory, no dirty-page rounds.
	if err := v.mon.Execute(ctx, "stop", nil, nil); err != nil {
		return fail(err)
	}
	if err := v.mon.ExecuteWithFile(ctx, "getfd", map[string]string{"fdname": stateFD}, f); err != nil {
		return fail(err)
	}
	if err := v.mon.Execute(ctx, "migrate", map[string]string{"uri": "fd:" + stateFD}, nil); err != nil {
		return fail(err)
	}
	if err := waitMigration(ctx, v.mon); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	f.Close()
	d.stop(ctx, v, 0)
	if err := dir.Rename(part, hypervisor.StateFile); err != nil {
		return fmt.Errorf("qemu: suspend %s: publishing state: %w", g.Name, err)
	}
	return nil
}

func waitMigration(ctx context.Context, mon *Monitor) error {
	for {
		var info struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := mon.Execute(ctx, "query-migrate", nil, &info); err != nil {
			return err
		}
		switch info.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("migration %s: %s", info.Status, info.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			mon.Execute(context.Background(), "migrate_cancel", nil, nil)
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Resume starts QEMU with -incoming from the state file and removes the
// file once the guest runs. On failure the state file is kept.
func (d *Driver) Resume(ctx context.Context, g hypervisor.Guest) error {
	if err := g.Check(); err != nil {
		return err
	}
	st, err := d.state(ctx, g)
	if err != nil {
		return err
	}
	if st != hypervisor.Suspended {
		return &hypervisor.StateError{Guest: g.Name, Op: "resume", State: st}
	}
	dom, err := hypervisor.LoadDomain(g.Dir)
	if err != nil {
		return err
	}
	f, err := beneath.OpenFile(g.Dir, hypervisor.StateFile, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("qemu: resume %s: %w", g.Name, err)
	}
	defer f.Close()
	v, err := d.start(ctx, g, dom, f, d.Accel(ctx), false)
	if err != nil {
		return err
	}
	if err := waitRunning(ctx, v); err != nil {
		d.stop(context.Background(), v, 0)
		return fmt.Errorf("qemu: resume %s: %w%s", g.Name, err, stderrTail(g.Dir))
	}
	d.put(g, v)
	if err := removeBeneath(g.Dir, hypervisor.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("qemu: resume %s: removing state: %w", g.Name, err)
	}
	return nil
}

// waitRunning waits for the incoming migration to finish and then runs the
// guest: the state carries the run state at save time, which is "paused"
// because Suspend stops the vCPUs first, so QEMU does not start it itself.
func waitRunning(ctx context.Context, v *vm) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		s, err := v.mon.QueryStatus(ctx)
		if err != nil {
			return err
		}
		switch s.Status {
		case "running":
			return nil
		case "paused", "postmigrate":
			if err := v.mon.Execute(ctx, "cont", nil, nil); err != nil {
				return err
			}
			continue
		}
		if runState(s.Status) == hypervisor.Crashed || s.Status == "shutdown" {
			return fmt.Errorf("guest is %s after loading its state", s.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.done:
			return fmt.Errorf("qemu exited while loading the state")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func removeBeneath(dir, name string) error {
	d, err := beneath.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Remove(name)
}
