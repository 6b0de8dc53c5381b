// Package compute is the compute manager: the only package that knows both Nova and the engine. It joins the
// cloud through the conductor (service record, heartbeat, compute node), serves the compute RPC API on
// compute.<host> and compute-alt.<host>, keeps Placement in step with the host, and drives the hypervisor for
// each instance's lifecycle.
package compute
