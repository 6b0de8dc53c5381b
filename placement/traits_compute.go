package placement

import (
	"sort"
	"strings"
)

// TraitInputs is everything the compute node's trait set depends on.
type TraitInputs struct {
	// Current are the provider's traits in Placement now, including those
	// operators set; traits Nova does not own are kept.
	Current []string
	// Capabilities and ImageTypeExcludeList give the COMPUTE_* capability
	// traits.
	Capabilities         Capabilities
	ImageTypeExcludeList []string
	// HasRemoteManagedPCIPools gates COMPUTE_REMOTE_MANAGED_PORTS as Nova's
	// _should_expose_remote_managed_ports_trait does.
	HasRemoteManagedPCIPools bool
	// Arch is the Nova architecture ("x86_64", "aarch64") for HW_ARCH_* and
	// for choosing the CPU feature trait family.
	Arch string
	// CPUFeatures are the host's normalised CPU feature names.
	CPUFeatures []string
	// Hyperthreading sets HW_CPU_HYPERTHREADING (more than one thread per
	// core), as the libvirt driver does.
	Hyperthreading bool
	// EmulationArchs lists architectures guests can be emulated as
	// (COMPUTE_ARCH_*; only added, never removed, as in Nova).
	EmulationArchs []string
	// DriverTraits are further traits the engine owns (storage buses, VIF
	// and video models, firmware...): true adds, false removes.
	DriverTraits map[string]bool
	// ServiceDisabled is the nova-compute Service record's disabled flag;
	// nil (record not found) leaves COMPUTE_STATUS_DISABLED as it is.
	ServiceDisabled *bool
	// OwnerNova adds OWNER_NOVA (Nova 2026.2, service version 73 and up).
	OwnerNova bool
}

// CPUTraits returns every CPU feature trait this node owns with whether
// the host has it: x86 traits per Nova's libvirt CPU_TRAITS_MAPPING on
// x86 hosts, HW_CPU_AARCH64_* on arm64 ones (and the other family all
// false, so stale ones are removed).
func CPUTraits(arch string, features []string) map[string]bool {
	have := make(map[string]bool, len(features))
	for _, f := range features {
		have[f] = true
	}
	x86 := arch == "x86_64" || arch == "i686"
	arm := arch == "aarch64"
	out := map[string]bool{}
	for f, traits := range x86CPUTraits {
		for _, t := range traits {
			out[t] = out[t] || (x86 && have[f])
		}
	}
	for f, traits := range aarch64CPUTraits {
		for _, t := range traits {
			out[t] = out[t] || (arm && have[f])
		}
	}
	return out
}

// ComputeTraits returns the provider's new trait set (sorted) following
// Nova's order: the driver's owned traits (CPU features, hyperthreading,
// HW_ARCH_*, COMPUTE_ARCH_*, DriverTraits) are added or removed, then the
// capability traits, then COMPUTE_NODE is added and COMPUTE_STATUS_DISABLED
// follows the service's disabled flag, then OWNER_NOVA when asked. Every
// other current trait (an operator's CUSTOM_* or any standard trait Nova
// does not own) is kept.
func ComputeTraits(in TraitInputs) []string {
	set := make(map[string]bool, len(in.Current)+8)
	for _, t := range in.Current {
		set[t] = true
	}
	apply := func(owned map[string]bool) {
		for t, on := range owned {
			if on {
				set[t] = true
			} else {
				delete(set, t)
			}
		}
	}

	// Driver (update_provider_tree): static traits.
	apply(CPUTraits(in.Arch, in.CPUFeatures))
	apply(map[string]bool{TraitHyperthreading: in.Hyperthreading})
	if t, ok := hwArchTraits[strings.ToLower(in.Arch)]; ok {
		set[t] = true
	}
	for _, a := range in.EmulationArchs {
		if t, ok := computeArchTraits[strings.ToLower(a)]; ok {
			set[t] = true
		}
	}
	apply(in.DriverTraits)

	// Resource tracker (_get_traits).
	caps := CapabilityTraits(in.Capabilities, in.ImageTypeExcludeList)
	caps[TraitRemoteManaged] = caps[TraitRemoteManaged] && in.HasRemoteManagedPCIPools
	apply(caps)
	set[TraitComputeNode] = true
	if in.ServiceDisabled != nil {
		apply(map[string]bool{TraitStatusDisabled: *in.ServiceDisabled})
	}
	if in.OwnerNova {
		set[TraitOwnerNova] = true
	}

	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// SameTraits reports whether two trait lists hold the same names.
func SameTraits(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[string]bool, len(a))
	for _, t := range a {
		set[t] = true
	}
	for _, t := range b {
		if !set[t] {
			return false
		}
	}
	return len(set) == len(a)
}
