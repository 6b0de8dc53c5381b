package compute

import (
	"fmt"
	"sort"
	"strings"
)

// Release is what one Nova release expects of a compute service: the service version it reports, the compute
// RPC version it serves, and the object versions it may send.
type Release struct {
	Name            string // "2026.1"
	Codename        string // "Gazpacho"
	ServiceVersion  int    // nova/objects/service.py SERVICE_VERSION
	OldestSupported int    // OLDEST_SUPPORTED_SERVICE_VERSION of that release's control plane
	RPCVersion      string // compute RPC API version served
	AltTopic        bool   // serves compute-alt.<host> (RPC 6.5)
	OwnerNovaTrait  bool   // puts OWNER_NOVA on its providers (service version 73+)
	// ObjectVersions overrides DefaultObjectVersions for this release: the versions we send, so a control
	// plane never receives an object newer than it knows.
	ObjectVersions map[string]string
}

// Releases are the Nova releases this binary serves, oldest first.
var Releases = []Release{
	{Name: "2025.1", Codename: "Epoxy", ServiceVersion: 68, OldestSupported: 66, RPCVersion: "6.4",
		ObjectVersions: map[string]string{"ImageMetaProps": "1.39", "LibvirtLiveMigrateData": "1.13"}},
	{Name: "2026.1", Codename: "Gazpacho", ServiceVersion: 72, OldestSupported: 68, RPCVersion: "6.5", AltTopic: true},
	{Name: "2026.2", Codename: "Hibiscus", ServiceVersion: 74, OldestSupported: 72, RPCVersion: "6.5", AltTopic: true,
		OwnerNovaTrait: true, ObjectVersions: map[string]string{"ImageMetaProps": "1.44", "ShareMappingList": "1.1"}},
}

// DefaultRelease is the release served when neither configuration nor the cloud says otherwise.
const DefaultRelease = "2026.1"

// DefaultObjectVersions are the 2026.1 versions of the Nova objects a compute sends or receives.
var DefaultObjectVersions = map[string]string{
	"Instance": "2.8", "InstanceList": "2.6", "Flavor": "1.2", "ImageMeta": "1.8", "ImageMetaProps": "1.42",
	"Service": "1.22", "ServiceList": "1.19", "ComputeNode": "1.19", "ComputeNodeList": "1.17", "HVSpec": "1.2",
	"PciDevicePool": "1.1", "PciDevicePoolList": "1.1", "Migration": "1.8", "MigrationList": "1.5",
	"MigrationContext": "1.2", "RequestSpec": "1.15", "BlockDeviceMapping": "1.21", "BlockDeviceMappingList": "1.18",
	"InstanceAction": "1.2", "InstanceActionEvent": "1.4", "InstanceFault": "1.2", "InstanceFaultList": "1.2",
	"InstanceInfoCache": "1.5", "InstanceNUMATopology": "1.3", "InstanceNUMACell": "1.6",
	"InstancePCIRequests": "1.1", "InstancePCIRequest": "1.4", "PciDevice": "1.7", "PciDeviceList": "1.3",
	"InstanceExternalEvent": "1.5", "ConsoleAuthToken": "1.3", "LibvirtLiveMigrateData": "1.14",
	"SecurityGroup": "1.2", "SecurityGroupList": "1.1", "KeyPair": "1.4", "KeyPairList": "1.3", "Tag": "1.1",
	"TagList": "1.1", "EC2Ids": "1.0", "TrustedCerts": "1.0", "VirtCPUModel": "1.0", "VirtCPUFeature": "1.0",
	"VirtCPUTopology": "1.0", "InstanceDeviceMetadata": "1.0", "DeviceMetadata": "1.0", "DeviceBus": "1.0",
	"ResourceList": "1.0", "Resource": "1.0", "ResourceMetadata": "1.0", "CellMapping": "1.1",
	"ShareMapping": "1.2", "ShareMappingList": "1.0", "Selection": "1.1", "NetworkRequest": "1.3",
	"NetworkRequestList": "1.1",
}

// ObjectVersion returns the version of object name this release sends.
func (r Release) ObjectVersion(name string) string {
	if v, ok := r.ObjectVersions[name]; ok {
		return v
	}
	return DefaultObjectVersions[name]
}

// Manifest returns the object_versions map sent with conductor calls for the given objects: the conductor
// backports its results down to these versions.
func (r Release) Manifest(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = r.ObjectVersion(n)
	}
	return m
}

// ReleaseError is a cloud this binary cannot serve, or a configured release it does not know.
type ReleaseError struct{ Reason string }

func (e *ReleaseError) Error() string { return "unsupported Nova release: " + e.Reason }

// ReleaseByName finds a release by its number ("2026.1"), codename ("gazpacho", any case) or service version
// ("72").
func ReleaseByName(s string) (Release, error) {
	for _, r := range Releases {
		if strings.EqualFold(s, r.Name) || strings.EqualFold(s, r.Codename) || s == fmt.Sprint(r.ServiceVersion) {
			return r, nil
		}
	}
	return Release{}, &ReleaseError{Reason: fmt.Sprintf("%q is not one of %s", s, supportedList())}
}

// ReleaseForServiceVersion picks the release whose service version a control plane reports. Conductors write
// their release's SERVICE_VERSION; versions between two releases (development versions) map to the older one,
// which never promises more than the cloud can use.
func ReleaseForServiceVersion(v int) (Release, error) {
	if v < Releases[0].ServiceVersion || v > Releases[len(Releases)-1].ServiceVersion {
		return Release{}, &ReleaseError{Reason: fmt.Sprintf(
			"the control plane reports service version %d; this binary serves %s", v, supportedList())}
	}
	i := sort.Search(len(Releases), func(i int) bool { return Releases[i].ServiceVersion > v })
	return Releases[i-1], nil
}

func supportedList() string {
	parts := make([]string, len(Releases))
	for i, r := range Releases {
		parts[i] = fmt.Sprintf("%s %s (service version %d, compute RPC %s)", r.Name, r.Codename, r.ServiceVersion, r.RPCVersion)
	}
	return strings.Join(parts, ", ")
}
