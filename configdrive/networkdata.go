package configdrive

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/novabsd/novabsd/network"
)

// NetworkDataJSON is network_data.json (nova/virt/netutils.py get_network_metadata): the guest's links (one per
// VIF with a subnet), networks (the first IPv4 and first IPv6 subnet of each) and DNS services.
type NetworkDataJSON struct {
	Links    []Link    `json:"links"`
	Networks []NetData `json:"networks"`
	Services []Service `json:"services"`
}

// Link is one NIC of network_data.json.
type Link struct {
	ID    string `json:"id"` // the VIF's devname, else "interface<N>"
	VIFID string `json:"vif_id"`
	Type  string `json:"type"` // the vif type for the types nova exposes, else "phy"
	// MTU is the network's; null when a subnet has a DHCP server, which then hands out the MTU itself.
	MTU        *int   `json:"mtu"`
	MACAddress string `json:"ethernet_mac_address"`
}

// NetData is one network of network_data.json: "ipv4_dhcp"/"ipv6_dhcp" carry only the ids; the static types
// ("ipv4", "ipv6", "ipv6_slaac", "ipv6_dhcpv6-stateful", ...) carry the address, routes and services.
type NetData struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	Link      string      `json:"link"`
	IPAddress string      `json:"ip_address,omitempty"`
	Netmask   string      `json:"netmask,omitempty"`
	Routes    *[]NetRoute `json:"routes,omitempty"`
	NetworkID string      `json:"network_id"`
	Services  *[]Service  `json:"services,omitempty"`
}

// NetRoute is a route of a static network.
type NetRoute struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

// Service is a DNS server.
type Service struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// exposedVIFTypes are the vif types nova names in a link's type (LEGACY_EXPOSED_VIF_TYPES); others are "phy".
var exposedVIFTypes = []string{"bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif"}

// NetworkData is network_data.json for info; an empty info is an empty object, as Nova writes it.
func NetworkData(info network.Info) any {
	if len(info) == 0 {
		return struct{}{}
	}
	nd := NetworkDataJSON{Links: []Link{}, Networks: []NetData{}, Services: []Service{}}
	ifc, netNum := -1, -1
	for _, vif := range info {
		if vif.Network == nil || len(vif.Network.Subnets) == 0 {
			continue
		}
		v4, v6 := firstSubnet(vif.Network, 4), firstSubnet(vif.Network, 6)
		ifc++
		if v4 == nil && v6 == nil {
			continue
		}
		link := ethLink(vif, ifc)
		nd.Links = append(nd.Links, link)
		for _, s := range []*network.Subnet{v4, v6} {
			if s == nil || len(s.IPs) == 0 {
				continue
			}
			netNum++
			nd.Networks = append(nd.Networks, netData(vif, s, netNum, link.ID))
			for _, svc := range dnsServices(s) {
				if !slices.Contains(nd.Services, svc) {
					nd.Services = append(nd.Services, svc)
				}
			}
		}
	}
	return nd
}

func firstSubnet(n *network.Network, version int) *network.Subnet {
	for i := range n.Subnets {
		if n.Subnets[i].Version == version {
			return &n.Subnets[i]
		}
	}
	return nil
}

func ethLink(vif network.VIF, ifc int) Link {
	id := vif.DevName
	if id == "" {
		id = "interface" + itoa(ifc)
	}
	typ := "phy"
	if slices.Contains(exposedVIFTypes, vif.Type) {
		typ = vif.Type
	}
	l := Link{ID: id, VIFID: vif.ID, Type: typ, MACAddress: vif.Address}
	dhcp := false
	for _, s := range vif.Network.Subnets {
		if present(s.Meta, "dhcp_server") {
			dhcp = true
		}
	}
	if mtu := vif.MTU(); !dhcp && mtu > 0 {
		l.MTU = &mtu
	}
	return l
}

// present is Python's truthiness of meta.get(k) is not None.
func present(meta map[string]any, k string) bool {
	v, ok := meta[k]
	return ok && v != nil
}

func netData(vif network.VIF, s *network.Subnet, num int, linkID string) NetData {
	id := "network" + itoa(num)
	netID := ""
	if vif.Network != nil {
		netID = vif.Network.ID
	}
	typ := "ipv" + itoa(s.Version)
	if mode, ok := s.Meta["ipv6_address_mode"]; ok && mode != nil {
		typ += "_" + toString(mode)
	} else if present(s.Meta, "dhcp_server") || truthy(s.Meta["enable_dhcp"]) {
		return NetData{ID: id, Type: "ipv" + itoa(s.Version) + "_dhcp", Link: linkID, NetworkID: netID}
	}
	nd := NetData{ID: id, Type: typ, Link: linkID, IPAddress: s.IPs[0].Address, NetworkID: netID}
	routes := []NetRoute{}
	if _, cidr, err := net.ParseCIDR(s.CIDR); err == nil {
		nd.Netmask = maskString(cidr.Mask, s.Version)
	}
	if s.Gateway != nil && s.Gateway.Address != "" {
		if s.Version == 4 {
			routes = append(routes, NetRoute{Network: "0.0.0.0", Netmask: "0.0.0.0", Gateway: s.Gateway.Address})
		} else {
			routes = append(routes, NetRoute{Network: "::", Netmask: "::", Gateway: s.Gateway.Address})
		}
	}
	for _, r := range s.Routes {
		_, cidr, err := net.ParseCIDR(r.CIDR)
		if err != nil || r.Gateway == nil {
			continue // nova would fail the whole drive on such a route; Neutron never sends one
		}
		v := 4
		if cidr.IP.To4() == nil {
			v = 6
		}
		routes = append(routes, NetRoute{Network: cidr.IP.String(), Netmask: maskString(cidr.Mask, v), Gateway: r.Gateway.Address})
	}
	nd.Routes = &routes
	svc := dnsServices(s)
	nd.Services = &svc
	return nd
}

// maskString is the netmask as netaddr prints it: dotted for IPv4, an IPv6 address for IPv6.
func maskString(m net.IPMask, version int) string {
	if version == 4 && len(m) == net.IPv6len {
		m = m[12:]
	}
	return net.IP(m).String()
}

func dnsServices(s *network.Subnet) []Service {
	out := []Service{}
	for _, d := range s.DNS {
		out = append(out, Service{Type: "dns", Address: d.Address})
	}
	return out
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != ""
	case float64:
		return t != 0
	}
	return true
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func itoa(i int) string { return strconv.Itoa(i) }
