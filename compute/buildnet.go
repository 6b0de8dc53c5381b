package compute

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/novabsd/novabsd/configdrive"
	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/network"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// configDriveFile is the config drive's name in the instance directory, as the libvirt driver names it; it goes
// with the directory when the instance is deleted.
const configDriveFile = "disk.config"

// spawnNetwork is what the build's networking step hands to spawn: the ports as Neutron bound them, the guest's
// NICs on their taps, and the config drive's content when the instance gets one.
type spawnNetwork struct {
	info        network.Info
	nics        []hypervisor.NIC
	configDrive *configdrive.Content
	// bdms is the request's block_device_mapping, for the ephemeral and swap disks it sizes, formats and puts on
	// a bus (localDisks); nil gives the flavor's.
	bdms *vo.Object
	// pending, when set, is a build's port allocation still running: spawn checks the guest with placeholder NICs,
	// makes the disks, then waits for it and fills info, nics and configDrive (finishNetworks).
	pending *networkAllocation
}

// networkAllocation is a build's port allocation running beside the image and disk work, as nova's
// _allocate_network_async: started before the image is fetched, waited for when the guest's NICs and config drive
// need the ports. Only the Neutron calls run in its goroutine; the instance object is read and written by the
// build's goroutine alone (finishNetworks, settleNetworks), which always waits for it.
type networkAllocation struct {
	reqs []network.Request
	// configDrive says the instance gets a config drive (known before the ports are); adminPass goes into it.
	configDrive bool
	adminPass   *string
	done        chan struct{} // closed when the goroutine has finished; info and err are set then
	info        network.Info
	err         error
	used        bool // the build has taken info (finishNetworks); set by the build's goroutine only
}

// startNetworks is _build_networks_for_instance up to the allocation, which it starts in the background: a host
// whose switch is down refuses before a port is made (another host may have a working one). Nothing is allocated
// for --nic none. The caller must settleNetworks the result on every path.
func (s *Service) startNetworks(ctx context.Context, a *buildArgs, reqs []network.Request, img imageMeta) (*networkAllocation, error) {
	n := &networkAllocation{reqs: reqs, adminPass: a.AdminPassword, done: make(chan struct{})}
	var err error
	if n.configDrive, err = s.configDriveRequired(a.Instance, img); err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		close(n.done)
		return n, nil
	}
	if err := s.lc.net.plugger.Check(ctx); err != nil {
		return nil, reschedule(err, "The virtual switch of this host is not reachable")
	}
	b := s.binding(a.Instance, a.SecurityGroups)
	go func() {
		defer close(n.done)
		info, err := s.lc.net.api.Allocate(ctx, b, reqs)
		if err != nil {
			n.err = allocateError(err, reqs)
			return
		}
		n.info = info
	}()
	return n, nil
}

// placeholderNICs are NICs standing in for n's ports while they are allocated, so that the guest can be checked
// before anything exists on the host: one per requested port, with distinct MACs and tap names of the real form.
func (n *networkAllocation) placeholderNICs() []hypervisor.NIC {
	nics := make([]hypervisor.NIC, len(n.reqs))
	for i := range nics {
		nics[i] = hypervisor.NIC{MAC: fmt.Sprintf("fa:16:3e:00:00:%02x", i%256),
			Tap: network.TapName(fmt.Sprintf("%08x-0000-0000-0000-000000000000", i))}
	}
	return nics
}

// finishNetworks waits for the build's allocation and completes the networking step: network_info saved in the
// info cache (so `server show` lists the addresses), every VIF checked to be one this host can plug, the config
// drive's content made. A failure after the allocation leaves the ports to the build's clean-up
// (cleanupBuildNetworks), which releases them whatever happened.
func (s *Service) finishNetworks(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, img imageMeta,
	sn spawnNetwork) (spawnNetwork, error) {
	n := sn.pending
	<-n.done
	n.used = true
	sn.pending = nil
	if n.err != nil {
		return sn, n.err
	}
	sn.info = n.info
	if len(n.reqs) > 0 {
		logInstance(s.log, inst).Info("Allocated network", "ports", len(n.info))
		// Under the cache lock: a network-changed refresh of the new ports reads, rebuilds and saves the cache under
		// it, so it either sees this save or is overwritten by it, never the other way round.
		unlock := s.lc.net.cacheLocks.lock(instanceUUID(inst))
		err := s.saveInfoCache(ctx, rc, inst, n.info)
		unlock()
		if err != nil {
			return sn, err
		}
		nics, err := s.guestNICs(inst, n.info)
		var uv *unsupportedVIF
		switch {
		case errors.As(err, &uv) && uv.vifType == "binding_failed":
			return sn, reschedule(err, "%s", err)
		case err != nil:
			return sn, abort(err, "%s", err)
		}
		sn.nics = nics
	}
	// As nova's _allocate_network, for --nic none too: a reschedule does not allocate again.
	v := asInstance(inst)
	sm, err := v.SystemMetadata()
	if err != nil {
		return sn, err
	}
	sm["network_allocated"] = "True"
	if err := v.SetSystemMetadata(sm); err != nil {
		return sn, err
	}
	if n.configDrive {
		cd, err := s.configDriveFor(inst, img, n.adminPass, n.info)
		if err != nil {
			return sn, err
		}
		sn.configDrive = cd
	}
	return sn, nil
}

// settleNetworks waits for a build's allocation on every path out of the build. A build that failed before it took
// the ports (an image that cannot be fetched, say) saves them in the info cache first: the clean-up that releases
// them reads it, and without it would delete the user's own --port instead of unbinding it.
func (s *Service) settleNetworks(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, n *networkAllocation) {
	if n == nil {
		return
	}
	<-n.done
	if n.used || n.err != nil || len(n.info) == 0 {
		return
	}
	unlock := s.lc.net.cacheLocks.lock(instanceUUID(inst))
	err := s.saveInfoCache(context.WithoutCancel(ctx), rc, inst, n.info)
	unlock()
	if err != nil && !instanceGone(err) {
		logInstance(s.log, inst).Warn("Cannot save the ports of a failed build in the info cache", "error", err)
	}
}

// cleanupBuildNetworks releases what a failed or rescheduled build allocated (_cleanup_allocated_networks); a
// build that asked for no network has nothing to release.
func (s *Service) cleanupBuildNetworks(ctx context.Context, rc *rpc.RequestContext, a *buildArgs) {
	if reqs, err := networkRequests(a.RequestedNetworks); err != nil || len(reqs) == 0 {
		return
	}
	s.cleanupAllocatedNetworks(ctx, rc, a.Instance)
}

// configDriveFor is configdrive.required_by plus the drive's content: the user asked (instance.config_drive),
// the image demands one (img_config_drive=mandatory) or the operator forces it (force_config_drive). nil: none.
func (s *Service) configDriveFor(inst *vo.Object, img imageMeta, adminPass *string, info network.Info) (*configdrive.Content, error) {
	required, err := s.configDriveRequired(inst, img)
	if err != nil || !required {
		return nil, err
	}
	v := asInstance(inst)
	c := configdrive.Content{UUID: instanceUUID(inst), Name: checkedRead(v.DisplayName()),
		ProjectID: checkedRead(v.ProjectID()), Network: info}
	strs := map[*string]string{&c.Hostname: "hostname", &c.AvailabilityZone: "availability_zone"}
	for dst, field := range strs {
		if *dst, err = optString(inst, field); err != nil {
			return nil, abort(err, "instance %s unreadable", field)
		}
	}
	if c.LaunchIndex, _, err = vo.Get[int](inst, "launch_index"); err != nil {
		return nil, abort(err, "instance launch_index unreadable")
	}
	if c.Meta, _, err = vo.Get[map[string]string](inst, "metadata"); err != nil {
		return nil, abort(err, "instance metadata unreadable")
	}
	keyName, err := optString(inst, "key_name")
	if err != nil {
		return nil, abort(err, "instance key_name unreadable")
	}
	keyData, err := optString(inst, "key_data")
	if err != nil {
		return nil, abort(err, "instance key_data unreadable")
	}
	if keyData != "" {
		c.PublicKeys = map[string]string{orDefault(keyName, "key"): keyData}
	}
	ud, err := optString(inst, "user_data")
	if err != nil {
		return nil, abort(err, "instance user_data unreadable")
	}
	if ud != "" {
		// The Instance object carries user data base64-encoded, as the API received it.
		if c.UserData, err = base64.StdEncoding.DecodeString(strings.TrimSpace(ud)); err != nil {
			return nil, abort(err, "instance user_data is not base64")
		}
	}
	if adminPass != nil {
		c.AdminPass = *adminPass
	}
	return &c, nil
}

// configDriveRequired is configdrive.required_by: the user asked (instance.config_drive), the image demands one
// (img_config_drive=mandatory) or the operator forces it (force_config_drive).
func (s *Service) configDriveRequired(inst *vo.Object, img imageMeta) (bool, error) {
	requested, err := optString(inst, "config_drive")
	if err != nil {
		return false, abort(err, "instance config_drive unreadable")
	}
	return requested != "" || img.imageProps()["img_config_drive"] == "mandatory" || s.cfg.Load().Default.ForceConfigDrive, nil
}

// removeIfExists removes path; a file already gone is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
