package compute

// nativeEngine is the hypervisor a host runs when compute_driver does not say.
const nativeEngine = "bhyve"
