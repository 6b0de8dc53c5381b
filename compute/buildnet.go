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
}

// buildNetworks is _build_networks_for_instance: the ports are allocated and bound to this host, network_info is
// saved in the info cache (so `server show` lists the addresses at once), and every VIF must be one this host can
// plug. Nothing is allocated for --nic none. A failure after the allocation leaves the ports to the build's
// clean-up (cleanupBuildNetworks), which releases them whatever happened.
func (s *Service) buildNetworks(ctx context.Context, rc *rpc.RequestContext, a *buildArgs, reqs []network.Request) (spawnNetwork, error) {
	if len(reqs) == 0 {
		return spawnNetwork{}, nil
	}
	inst := a.Instance
	// A host whose switch is down refuses before a port is made; another host may have a working one.
	if err := s.lc.net.plugger.Check(ctx); err != nil {
		return spawnNetwork{}, reschedule(err, "The virtual switch of this host is not reachable")
	}
	info, err := s.lc.net.api.Allocate(ctx, s.binding(inst, a.SecurityGroups), reqs)
	if err != nil {
		return spawnNetwork{}, allocateError(err, reqs)
	}
	logInstance(s.log, inst).Info("Allocated network", "ports", len(info))
	// Under the cache lock: a network-changed refresh of the new ports reads, rebuilds and saves the cache under
	// it, so it either sees this save or is overwritten by it, never the other way round.
	unlock := s.lc.net.cacheLocks.lock(instanceUUID(inst))
	err = s.saveInfoCache(ctx, rc, inst, info)
	unlock()
	if err != nil {
		return spawnNetwork{}, err
	}
	nics, err := s.guestNICs(inst, info)
	var uv *unsupportedVIF
	switch {
	case errors.As(err, &uv) && uv.vifType == "binding_failed":
		return spawnNetwork{}, reschedule(err, "%s", err)
	case err != nil:
		return spawnNetwork{}, abort(err, "%s", err)
	}
	return spawnNetwork{info: info, nics: nics}, nil
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
	requested, err := optString(inst, "config_drive")
	if err != nil {
		return nil, abort(err, "instance config_drive unreadable")
	}
	if requested == "" && img.imageProps()["img_config_drive"] != "mandatory" && !s.cfg.Load().Default.ForceConfigDrive {
		return nil, nil
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

// removeIfExists removes path; a file already gone is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
