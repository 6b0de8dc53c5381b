package host

import (
	"encoding/json"
	"fmt"
)

// cpuInfo is the shape of ComputeNode.cpu_info as Nova's libvirt driver
// writes it (LibvirtDriver._get_cpu_info); field order follows Nova's.
type cpuInfo struct {
	Arch        string       `json:"arch"`
	Model       string       `json:"model"`
	Vendor      string       `json:"vendor"`
	Topology    cpuTopology  `json:"topology"`
	MaxPhysAddr *maxPhysAddr `json:"maxphysaddr,omitempty"`
	Features    []string     `json:"features"`
}

type cpuTopology struct {
	Cells   int `json:"cells"`
	Sockets int `json:"sockets"`
	Cores   int `json:"cores"`
	Threads int `json:"threads"`
}

type maxPhysAddr struct {
	Mode string `json:"mode"`
	Bits int    `json:"bits"`
}

// CPUInfoJSON renders h as the JSON string Nova stores in
// ComputeNode.cpu_info: {"arch", "model", "vendor", "topology": {"cells",
// "sockets", "cores", "threads"}, "maxphysaddr": {"mode", "bits"} (only when
// the address width is known; libvirt reports mode "emulate" for the host),
// "features": [...]}. The scheduler's filters and live-migration checks
// read it.
func CPUInfoJSON(h *Host) (string, error) {
	if h == nil {
		return "", fmt.Errorf("cpu_info: no host")
	}
	if h.Arch == "" {
		return "", fmt.Errorf("cpu_info: host architecture is unknown")
	}
	features := h.CPU.Features
	if features == nil {
		features = []string{}
	}
	ci := cpuInfo{
		Arch:   h.Arch,
		Model:  h.CPU.Model,
		Vendor: h.CPU.Vendor,
		Topology: cpuTopology{
			Cells:   max(1, h.NUMANodes),
			Sockets: h.CPU.Topology.Sockets,
			Cores:   h.CPU.Topology.Cores,
			Threads: h.CPU.Topology.Threads,
		},
		Features: features,
	}
	if h.CPU.PhysAddrBits > 0 {
		ci.MaxPhysAddr = &maxPhysAddr{Mode: "emulate", Bits: h.CPU.PhysAddrBits}
	}
	b, err := json.Marshal(ci)
	if err != nil {
		return "", fmt.Errorf("cpu_info: %w", err)
	}
	return string(b), nil
}
