// Package placement is the compute node's client of the OpenStack Placement
// API, and the pure rules nova-compute follows to decide what to tell it:
// the root resource provider, its VCPU/MEMORY_MB/DISK_GB inventory (reserved
// amounts and allocation ratios), the traits it owns, the operator's
// provider config additions, and one child provider per host device
// offered for passthrough (ChildProvider).
//
// It authenticates to Keystone v3 with the [placement] service user through
// gophercloud, finds Placement in the catalog and sends on every call the
// microversion Nova's SchedulerReportClient uses for it. It knows nothing of
// the compute manager: compute/ maps nova.conf onto Options and
// ResourceConfig and calls Sync.
package placement
