package compute

import (
	"fmt"
	"strconv"

	"github.com/novabsd/novabsd/rpc/vo"
)

// instance is a typed view over an Instance object. It wraps the object it was made from, so every field this
// service does not name (and any field newer than it knows) goes back to the conductor untouched; setters touch
// only their field and record it in nova_object.changes, as attribute assignment does in nova.
//
// Each reader says what it does with an absent field (not loaded, or not sent by an older peer) and with None. A
// value of the wrong type is a *vo.FieldError naming the object, the field and what was found: nova would have
// refused the object at deserialization, and so does this service (see check), rather than read it as "".
type instance struct{ o *vo.Object }

// asInstance views o, which may be nil (every field then reads as absent).
func asInstance(o *vo.Object) instance { return instance{o} }

// optString reads a nullable string field with absent and None both as "": for the fields read through it, no
// caller acts differently on "not loaded" and "None" (nova's own code tests them for truthiness).
func optString(o *vo.Object, field string) (string, error) {
	s, _, err := vo.Get[string](o, field)
	return s, err
}

// ID is the database id and whether there is one: absent (not created yet) and None have none.
func (i instance) ID() (int64, bool, error) {
	id, p, err := vo.Get[int64](i.o, "id")
	return id, p == vo.Present && err == nil, err
}

// UUID is Instance.uuid; "" when absent or None, which every handler refuses as "instance is missing".
func (i instance) UUID() (string, error) { return optString(i.o, "uuid") }

// VMState is vm_state; absent and None read as "", which matches no state and so takes no state's branch.
func (i instance) VMState() (string, error) { return optString(i.o, "vm_state") }

// TaskState is task_state; None (no task in progress) and absent both read as "": compute only ever compares it
// with named tasks, and treats "not loaded" as "no task" as nova's manager does.
func (i instance) TaskState() (string, error) { return optString(i.o, "task_state") }

// PowerState is power_state with whether it is known: absent and None are not (nova's NOSTATE is 0, a value).
func (i instance) PowerState() (int64, bool, error) {
	n, p, err := vo.Get[int64](i.o, "power_state")
	return n, p == vo.Present && err == nil, err
}

// Host is the host the instance is on; absent and None (unscheduled, or cleared by a reschedule) read as "".
func (i instance) Host() (string, error) { return optString(i.o, "host") }

// powerStateText is power_state for messages: the number, or "unknown" when absent, None or undecodable.
func (i instance) powerStateText() string {
	if ps, ok, _ := i.PowerState(); ok {
		return strconv.FormatInt(ps, 10)
	}
	return "unknown"
}

// ImageRef is image_ref; "" when absent, None or empty, which nova means as "boots from a volume".
func (i instance) ImageRef() (string, error) { return optString(i.o, "image_ref") }

// KernelID and RamdiskID are the image ids of a separate kernel and ramdisk; "" (absent, None) is none.
func (i instance) KernelID() (string, error)  { return optString(i.o, "kernel_id") }
func (i instance) RamdiskID() (string, error) { return optString(i.o, "ramdisk_id") }

// RootDeviceName is root_device_name; "" when absent or None, which build then fills in.
func (i instance) RootDeviceName() (string, error) { return optString(i.o, "root_device_name") }

// Architecture, ProjectID, UserID, DisplayName and OSType are descriptive strings; absent and None read as "",
// which the engine and the tracker take as "not given".
func (i instance) Architecture() (string, error) { return optString(i.o, "architecture") }
func (i instance) ProjectID() (string, error)    { return optString(i.o, "project_id") }
func (i instance) UserID() (string, error)       { return optString(i.o, "user_id") }
func (i instance) DisplayName() (string, error)  { return optString(i.o, "display_name") }
func (i instance) OSType() (string, error)       { return optString(i.o, "os_type") }

// Flavor decodes the instance's flavor. No flavor (absent or None) is an error: nothing can be sized without
// one. Within it, an absent or None number reads as 0 and absent extra_specs as none, as nova's defaults.
func (i instance) Flavor() (flavor, error) {
	fo, p, err := vo.Get[*vo.Object](i.o, "flavor")
	if err != nil {
		return flavor{}, err
	}
	if p != vo.Present || fo == nil {
		return flavor{}, fmt.Errorf("instance %s carries no flavor", instanceUUID(i.o))
	}
	var f flavor
	for _, read := range []func() error{
		func() (err error) { f.Name, _, err = vo.Get[string](fo, "name"); return },
		func() (err error) { f.VCPUs, _, err = vo.Get[int](fo, "vcpus"); return },
		func() (err error) { f.MemoryMB, _, err = vo.Get[int](fo, "memory_mb"); return },
		func() (err error) { f.RootGB, _, err = vo.Get[int](fo, "root_gb"); return },
		func() (err error) { f.EphemeralGB, _, err = vo.Get[int](fo, "ephemeral_gb"); return },
		func() (err error) { f.SwapMB, _, err = vo.Get[int](fo, "swap"); return },
		func() (err error) { f.ExtraSpecs, _, err = vo.Get[map[string]string](fo, "extra_specs"); return },
	} {
		if err := read(); err != nil {
			return flavor{}, fmt.Errorf("instance %s: %w", instanceUUID(i.o), err)
		}
	}
	if f.ExtraSpecs == nil {
		f.ExtraSpecs = map[string]string{}
	}
	return f, nil
}

// SystemMetadata is system_metadata as a fresh map the caller may change and set back. Absent and None read as
// empty, and a key set to None is left out: nova's own readers (utils.instance_sys_meta) treat both as unset.
func (i instance) SystemMetadata() (map[string]string, error) {
	m, _, err := vo.Get[map[string]*string](i.o, "system_metadata")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out, nil
}

// Deleted is the soft-delete flag; absent and None read as false (a live record), nova's default.
func (i instance) Deleted() (bool, error) {
	d, _, err := vo.Get[bool](i.o, "deleted")
	return d, err
}

// check decodes every field compute reads from an Instance, so a handler refuses a malformed instance before it
// changes anything, and later reads of a checked instance cannot fail.
func (i instance) check() error {
	for _, read := range []func() (string, error){i.UUID, i.VMState, i.TaskState, i.Host, i.ImageRef, i.KernelID,
		i.RamdiskID, i.RootDeviceName, i.Architecture, i.ProjectID, i.UserID, i.DisplayName, i.OSType} {
		if _, err := read(); err != nil {
			return err
		}
	}
	if _, _, err := i.PowerState(); err != nil {
		return err
	}
	if _, _, err := i.ID(); err != nil {
		return err
	}
	if _, err := i.SystemMetadata(); err != nil {
		return err
	}
	_, err := i.Deleted()
	return err
}

// SetVMState sets vm_state.
func (i instance) SetVMState(s string) { i.o.SetString("vm_state", s) }

// SetTaskState sets task_state to a named task.
func (i instance) SetTaskState(s string) { i.o.SetString("task_state", s) }

// ClearTaskState sets task_state to None: no task in progress.
func (i instance) ClearTaskState() { i.o.SetNull("task_state") }

// SetPowerState sets power_state.
func (i instance) SetPowerState(ps int) { i.o.SetInt("power_state", int64(ps)) }

// SetStates sets power_state and vm_state and clears task_state: how every completed operation ends.
func (i instance) SetStates(ps int, vm string) {
	i.SetPowerState(ps)
	i.SetVMState(vm)
	i.ClearTaskState()
}

// SetRootDeviceName sets root_device_name.
func (i instance) SetRootDeviceName(s string) { i.o.SetString("root_device_name", s) }

// SetProgress sets progress (a percentage).
func (i instance) SetProgress(p int) { i.o.SetInt("progress", int64(p)) }

// SetLaunchedAt sets launched_at to now.
func (i instance) SetLaunchedAt() { i.o.SetString("launched_at", nowField()) }

// SetTerminatedAt sets terminated_at to now.
func (i instance) SetTerminatedAt() { i.o.SetString("terminated_at", nowField()) }

// SetHost puts the instance on host's node: host, launched_on, node and compute_id change together (the
// Instance 2.8 rule that node and compute_id never disagree).
func (i instance) SetHost(host, node string, computeID int64) {
	i.o.SetString("host", host)
	i.o.SetString("launched_on", host)
	i.o.SetString("node", node)
	i.o.SetInt("compute_id", computeID)
}

// ClearHost is nova's _nil_out_instance_obj_host_and_node: host, node, compute_id, launched_on and
// availability_zone all become None.
func (i instance) ClearHost() {
	for _, f := range []string{"host", "node", "compute_id", "launched_on", "availability_zone"} {
		i.o.SetNull(f)
	}
}

// SetSystemMetadata replaces system_metadata (nova saves the whole dict when any key changes).
func (i instance) SetSystemMetadata(m map[string]string) error {
	if err := i.o.Set("system_metadata", m); err != nil {
		return fmt.Errorf("instance %s: %w", instanceUUID(i.o), err)
	}
	return nil
}

// checkedRead is a read of an instance already checked (instance.check), which cannot fail; should it, "" is what
// a log line or a descriptive image property gets, never a state decision.
func checkedRead(s string, _ error) string { return s }

// serviceRecord is a typed view over this host's Service object, wrapping it as instance does an Instance.
type serviceRecord struct{ o *vo.Object }

// asServiceRecord views o, which may be nil (every field then reads as absent).
func asServiceRecord(o *vo.Object) serviceRecord { return serviceRecord{o} }

// newServiceRecord is the Service row Service.start creates for a host seen for the first time.
func newServiceRecord(objectVersion, host string, serviceVersion int) serviceRecord {
	r := serviceRecord{vo.New("Service", objectVersion)}
	r.o.SetString("host", host)
	r.o.SetString("binary", Binary)
	r.o.SetString("topic", Topic)
	r.o.SetInt("report_count", 0)
	r.SetVersion(serviceVersion)
	return r
}

// ID is the row's id and whether it has one: absent (not created yet) and None have none.
func (r serviceRecord) ID() (int64, bool, error) {
	id, p, err := vo.Get[int64](r.o, "id")
	return id, p == vo.Present && err == nil, err
}

// Version is the service version the row reports; absent and None read as 0, older than any version nova
// checks for, which is how nova's Service treats a row written before versions existed.
func (r serviceRecord) Version() (int, error) {
	v, _, err := vo.Get[int](r.o, "version")
	return v, err
}

// Disabled is whether the service is disabled; absent and None read as false, nova's default.
func (r serviceRecord) Disabled() (bool, error) {
	d, _, err := vo.Get[bool](r.o, "disabled")
	return d, err
}

// ReportCount is the heartbeat counter; absent and None read as 0, where a new row starts.
func (r serviceRecord) ReportCount() (int64, error) {
	n, _, err := vo.Get[int64](r.o, "report_count")
	return n, err
}

// SetVersion sets the service version the row reports.
func (r serviceRecord) SetVersion(v int) { r.o.SetInt("version", int64(v)) }

// SetReportCount sets the heartbeat counter.
func (r serviceRecord) SetReportCount(n int64) { r.o.SetInt("report_count", n) }

// SetDisabled sets disabled.
func (r serviceRecord) SetDisabled(d bool) { r.o.SetBool("disabled", d) }

// computeNode is a typed view over a ComputeNode object. Only the identity fields are read through it; the
// resource tracker writes its many inventory fields as a batch (setChanged), which records only real changes.
type computeNode struct{ o *vo.Object }

// asComputeNode views o, which may be nil (every field then reads as absent).
func asComputeNode(o *vo.Object) computeNode { return computeNode{o} }

// ID is the row's id and whether it has one (absent before create, or None).
func (n computeNode) ID() (int64, bool, error) {
	id, p, err := vo.Get[int64](n.o, "id")
	return id, p == vo.Present && err == nil, err
}

// UUID is the node's uuid; "" when absent or None, which matches no node identity.
func (n computeNode) UUID() (string, error) { return optString(n.o, "uuid") }

// HypervisorHostname is hypervisor_hostname; "" when absent or None, which matches no host name.
func (n computeNode) HypervisorHostname() (string, error) {
	return optString(n.o, "hypervisor_hostname")
}

// Host is the host owning the node; "" when absent or None, which matches no host.
func (n computeNode) Host() (string, error) { return optString(n.o, "host") }

// Deleted is the soft-delete flag; absent and None read as false (a live record), nova's default.
func (n computeNode) Deleted() (bool, error) {
	d, _, err := vo.Get[bool](n.o, "deleted")
	return d, err
}

// ServiceID is service_id and whether it is set: absent and None (nova allows a node with no service) are not.
func (n computeNode) ServiceID() (int64, bool, error) {
	id, p, err := vo.Get[int64](n.o, "service_id")
	return id, p == vo.Present && err == nil, err
}

// networkRequest is a typed view over a NetworkRequest of build_and_run_instance's requested_networks.
type networkRequest struct{ o *vo.Object }

// NetworkID is network_id; "" when absent or None (no network named). "none" is nova's --nic none.
func (r networkRequest) NetworkID() (string, error) { return optString(r.o, "network_id") }

// PortID is port_id; "" when absent or None (no existing port to plug).
func (r networkRequest) PortID() (string, error) { return optString(r.o, "port_id") }

// Address is the fixed IP requested on the network; "" when absent or None (Neutron picks one).
func (r networkRequest) Address() (string, error) { return optString(r.o, "address") }

// Tag is the device tag; "" when absent or None.
func (r networkRequest) Tag() (string, error) { return optString(r.o, "tag") }

// blockDevice is a typed view over a BlockDeviceMapping.
type blockDevice struct{ o *vo.Object }

// DestinationType is destination_type; "" when absent or None, which nova treats as local.
func (b blockDevice) DestinationType() (string, error) { return optString(b.o, "destination_type") }

// VolumeID is volume_id; "" when absent or None (no Cinder volume).
func (b blockDevice) VolumeID() (string, error) { return optString(b.o, "volume_id") }

// externalEvent is a typed view over an InstanceExternalEvent. Every field reads absent and None as "", which
// only a log line sees.
type externalEvent struct{ o *vo.Object }

// fields returns name, tag, status and instance_uuid, or the first that does not decode.
func (e externalEvent) fields() (name, tag, status, uuid string, err error) {
	for dst, field := range map[*string]string{&name: "name", &tag: "tag", &status: "status", &uuid: "instance_uuid"} {
		if *dst, err = optString(e.o, field); err != nil {
			return "", "", "", "", err
		}
	}
	return name, tag, status, uuid, nil
}
