package compute

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// instanceManifest is obj_tree_get_versions(Instance): every object an Instance may carry, so the conductor
// backports each one to a version this release reads.
var instanceManifest = []string{"Instance", "ServiceList", "Service", "ComputeNode", "HVSpec", "PciDevicePoolList",
	"PciDevicePool", "InstanceInfoCache", "SecurityGroupList", "SecurityGroup", "InstanceFault", "PciDeviceList",
	"PciDevice", "InstanceNUMATopology", "InstanceNUMACell", "VirtCPUTopology", "InstancePCIRequests",
	"InstancePCIRequest", "InstanceDeviceMetadata", "DeviceMetadata", "DeviceBus", "TagList", "Tag", "Flavor",
	"VirtCPUModel", "VirtCPUFeature", "EC2Ids", "MigrationContext", "ResourceList", "Resource", "ResourceMetadata",
	"KeyPairList", "KeyPair", "TrustedCerts"}

var instanceListManifest = append([]string{"InstanceList"}, instanceManifest...)

// instanceNameTemplate is nova's default instance_name_template: the domain name of a guest.
const instanceNameTemplate = "instance-%08x"

// flavor is the part of a Flavor the engine and the resource tracker use.
type flavor struct {
	Name        string            `json:"name"`
	VCPUs       int               `json:"vcpus"`
	MemoryMB    int               `json:"memory_mb"`
	RootGB      int               `json:"root_gb"`
	EphemeralGB int               `json:"ephemeral_gb"`
	SwapMB      int               `json:"swap"`
	ExtraSpecs  map[string]string `json:"extra_specs"`
}

// instanceUUID is the instance's uuid, "" when absent, None or undecodable: handlers check the instance first
// (instance.check), so for them "" only ever means missing; elsewhere it names the instance in logs.
func instanceUUID(inst *vo.Object) string {
	u, _ := asInstance(inst).UUID()
	return u
}

// checkInstanceUUID accepts only the canonical spelling of a uuid, 8-4-4-4-12 lowercase hex digits, which is
// how nova (oslo_utils.uuidutils.generate_uuid) writes every instance uuid. uuid.Parse alone would also take
// "{...}", "urn:uuid:..." and upper case; a second spelling would name a second directory for the same
// instance, so those are refused too. The error is nova's InvalidUUID (400).
func checkInstanceUUID(s string) error {
	if u, err := uuid.Parse(s); err == nil && u.String() == s {
		return nil
	}
	return novaError("InvalidUUID", 400, "Expected a uuid but received %s.", strconv.Quote(s))
}

// instanceName is the guest's domain name, "instance-%08x" of the database id.
func instanceName(inst *vo.Object) string {
	// Without a positive database id (absent or None before create; check refuses a wrong type) the uuid names it.
	id, ok, _ := asInstance(inst).ID()
	if !ok || id <= 0 {
		return "instance-" + instanceUUID(inst)
	}
	return fmt.Sprintf(instanceNameTemplate, id)
}

// nowField renders a datetime field as oslo.versionedobjects does.
func nowField() string { return time.Now().UTC().Format(vo.DateTimeFormat) }

// saveInstance is Instance.save through the conductor. With expected given, it is
// save(expected_task_state=[expected...]) (nil stands for None); without, there is no check. The conductor's
// answer is applied to inst, and the resource tracker learns the new state.
func (s *Service) saveInstance(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, expected ...any) error {
	kwargs := map[string]any{}
	if len(expected) > 0 {
		kwargs["expected_task_state"] = expected
	}
	if _, err := s.cond.objectAction(ctx, rc, inst, "save", nil, kwargs); err != nil {
		return err
	}
	s.lc.tracker.update(inst)
	return nil
}

// getInstance is Instance.get_by_uuid.
func (s *Service) getInstance(ctx context.Context, rc *rpc.RequestContext, uuid string, attrs []string) (*vo.Object, error) {
	if attrs == nil {
		attrs = []string{}
	}
	inst, err := s.cond.classObject(ctx, rc, "Instance", "get_by_uuid", instanceManifest, []any{uuid},
		map[string]any{"expected_attrs": attrs})
	if err == nil && inst == nil {
		err = rpc.NewRemoteError("nova.exception", "InstanceNotFound", "Instance "+uuid+" could not be found.", nil)
	}
	return inst, err
}

// instancesOnHost is InstanceList.get_by_host.
func (s *Service) instancesOnHost(ctx context.Context, rc *rpc.RequestContext, host string, attrs []string) ([]*vo.Object, error) {
	raw, err := s.cond.classAction(ctx, rc, "InstanceList", "get_by_host", instanceListManifest, []any{host},
		map[string]any{"expected_attrs": attrs})
	if err != nil {
		return nil, err
	}
	return objectList(raw)
}

// isRemote reports whether err is the Nova exception class (any of them).
func isRemote(err error, classes ...string) bool {
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		return false
	}
	for _, c := range classes {
		if re.Class == c {
			return true
		}
	}
	return false
}

// instanceGone is true for the errors with which nova's manager treats an instance as deleted under it.
func instanceGone(err error) bool {
	return isRemote(err, "InstanceNotFound", "UnexpectedDeletingTaskStateError")
}

// nodeID is the integer id of our ComputeNode, which Instance.compute_id carries with node.
func (s *Service) nodeID() (int64, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil {
		return 0, "", false
	}
	n := asComputeNode(s.node)
	id, ok, _ := n.ID()
	hn, err := n.HypervisorHostname()
	if !ok || err != nil {
		return 0, "", false // a claim then reschedules: this node's record is not usable
	}
	return id, hn, true
}
