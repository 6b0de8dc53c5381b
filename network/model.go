// Package network is Nova's compute side of Neutron: the ports of an instance are created or taken over, bound to
// this host, described as Nova's network_info (the instance info cache), and released again. It talks to Neutron
// through gophercloud's networking v2 and knows nothing of the hypervisor; network/plug connects the host side.
package network

import (
	"encoding/json"
	"fmt"
)

// Info is an instance's network_info as Nova keeps it in the instance info cache (nova/network/model.py
// NetworkInfo): one VIF per port, in the order the ports were requested. Its JSON is exactly what Nova stores, so
// nova-api's `server show` lists the addresses from it.
type Info []VIF

// VIF is one port as Nova models it (nova.network.model.VIF).
type VIF struct {
	ID      string   `json:"id"`      // Neutron port id
	Address string   `json:"address"` // MAC
	Network *Network `json:"network"`
	// Type is the binding's vif_type ("ovs", "bridge", "binding_failed", "unbound", ...).
	Type    string         `json:"type"`
	Details map[string]any `json:"details"` // binding:vif_details
	// DevName is the host device Nova names for the port: "tap" + the port id's first 11 characters.
	DevName        string         `json:"devname"`
	OVSInterfaceID string         `json:"ovs_interfaceid"`
	QBHParams      any            `json:"qbh_params"`
	QBGParams      any            `json:"qbg_params"`
	Active         bool           `json:"active"` // port status ACTIVE when read
	VNICType       string         `json:"vnic_type"`
	Profile        map[string]any `json:"profile"` // binding:profile
	// PreserveOnDelete is true for a port the user created (--port): released on delete, not deleted.
	PreserveOnDelete bool           `json:"preserve_on_delete"`
	DelegateCreate   bool           `json:"delegate_create"`
	Meta             map[string]any `json:"meta"`
}

// Network is the port's network (nova.network.model.Network).
type Network struct {
	ID      string         `json:"id"`
	Bridge  string         `json:"bridge"` // the bridge the binding names (br-int, brq...)
	Label   string         `json:"label"`  // network name
	Subnets []Subnet       `json:"subnets"`
	Meta    map[string]any `json:"meta"` // injected, tenant_id, mtu, physical_network, tunneled
	// ShouldCreateBridge is set (true) for vif_type bridge only: the host must create the Linux bridge.
	ShouldCreateBridge *bool `json:"should_create_bridge,omitempty"`
}

// Subnet is one subnet of the port's network with the port's addresses in it (nova.network.model.Subnet).
type Subnet struct {
	CIDR    string         `json:"cidr"`
	DNS     []IP           `json:"dns"`
	Gateway *IP            `json:"gateway"`
	IPs     []FixedIP      `json:"ips"`
	Routes  []Route        `json:"routes"`
	Version int            `json:"version"`
	Meta    map[string]any `json:"meta"` // dhcp_server
}

// IP is an address with its role: "fixed", "floating", "gateway", "dns" (nova.network.model.IP).
type IP struct {
	Address string         `json:"address"`
	Type    string         `json:"type"`
	Version int            `json:"version"`
	Meta    map[string]any `json:"meta"`
}

// FixedIP is a fixed address of the port with the floating addresses pointing at it.
type FixedIP struct {
	IP
	FloatingIPs []IP `json:"floating_ips"`
}

// Route is a host route of a subnet.
type Route struct {
	CIDR      string         `json:"cidr"`
	Gateway   *IP            `json:"gateway"`
	Interface string         `json:"interface"`
	Meta      map[string]any `json:"meta"`
}

// MTU is the network's MTU from its meta, 0 when Neutron gave none.
func (v VIF) MTU() int {
	if v.Network == nil {
		return 0
	}
	switch m := v.Network.Meta["mtu"].(type) {
	case float64:
		return int(m)
	case int:
		return m
	case json.Number:
		n, _ := m.Int64()
		return int(n)
	}
	return 0
}

// TapName is the host device nova and os-vif name for a port: "tap" and the port id's first 11 characters, which
// keeps it within the 15 characters an interface name may have.
func TapName(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return "tap" + portID
}

// Parse reads network_info as stored in the info cache; "" and "null" are an empty list.
func Parse(data []byte) (Info, error) {
	if len(data) == 0 || string(data) == "null" {
		return Info{}, nil
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("network_info: %w", err)
	}
	return info, nil
}
