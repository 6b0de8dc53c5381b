package network

import (
	"fmt"
	"net/netip"
	"slices"
)

// What this package reads of Neutron's answers (networking API v2.0, as ML2 with the port binding, provider,
// multi-provider, MTU and port security extensions answers an admin). Everything is optional: a missing field is
// its zero value, and building network_info checks what it relies on.

type neutronFixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

type neutronPort struct {
	ID           string           `json:"id"`
	NetworkID    string           `json:"network_id"`
	TenantID     string           `json:"tenant_id"`
	ProjectID    string           `json:"project_id"`
	MACAddress   string           `json:"mac_address"`
	AdminStateUp *bool            `json:"admin_state_up"`
	Status       string           `json:"status"`
	DeviceID     string           `json:"device_id"`
	DeviceOwner  string           `json:"device_owner"`
	FixedIPs     []neutronFixedIP `json:"fixed_ips"`
	HostID       string           `json:"binding:host_id"`
	VIFType      string           `json:"binding:vif_type"`
	VIFDetails   map[string]any   `json:"binding:vif_details"`
	VNICType     string           `json:"binding:vnic_type"`
	Profile      map[string]any   `json:"binding:profile"`
	DNSName      *string          `json:"dns_name"` // nil: Neutron has no dns-integration
}

func (p neutronPort) project() string {
	if p.ProjectID != "" {
		return p.ProjectID
	}
	return p.TenantID
}

type neutronSegment struct {
	PhysicalNetwork *string `json:"provider:physical_network"`
	NetworkType     string  `json:"provider:network_type"`
}

type neutronNetwork struct {
	ID                  string           `json:"id"`
	Name                string           `json:"name"`
	TenantID            string           `json:"tenant_id"`
	ProjectID           string           `json:"project_id"`
	MTU                 *int             `json:"mtu"`
	Subnets             []string         `json:"subnets"`
	PortSecurityEnabled *bool            `json:"port_security_enabled"`
	PhysicalNetwork     *string          `json:"provider:physical_network"`
	NetworkType         string           `json:"provider:network_type"`
	Segments            []neutronSegment `json:"segments"`
	DNSDomain           string           `json:"dns_domain"`
}

func (n neutronNetwork) project() string {
	if n.TenantID != "" {
		return n.TenantID
	}
	return n.ProjectID
}

// portSecurity is the network's port_security_enabled, true when the extension is not loaded.
func (n neutronNetwork) portSecurity() bool {
	return n.PortSecurityEnabled == nil || *n.PortSecurityEnabled
}

type neutronRoute struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

type neutronSubnet struct {
	ID              string         `json:"id"`
	NetworkID       string         `json:"network_id"`
	CIDR            string         `json:"cidr"`
	GatewayIP       *string        `json:"gateway_ip"`
	DNSNameservers  []string       `json:"dns_nameservers"`
	HostRoutes      []neutronRoute `json:"host_routes"`
	EnableDHCP      bool           `json:"enable_dhcp"`
	IPv6AddressMode *string        `json:"ipv6_address_mode"`
}

type neutronFloatingIP struct {
	FloatingIPAddress string `json:"floating_ip_address"`
	FixedIPAddress    string `json:"fixed_ip_address"`
	PortID            string `json:"port_id"`
}

type neutronSecurityGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// The vif_types nova gives a bridge (nova.network.model).
const (
	vifTypeOVS           = "ovs"
	vifTypeAgilioOVS     = "agilio_ovs"
	vifTypeBridge        = "bridge"
	vifTypeDVS           = "dvs"
	vifTypeVhostUser     = "vhostuser"
	vifTypeBindingFailed = "binding_failed"
	nicNameLen           = 14 // nova's NIC_NAME_LEN: bridge names are cut to it
)

// portInputs is what one VIF is built from: the port and, as Neutron answered them, its network, the network's
// subnets, its DHCP ports and the floating IPs pointing at the port.
type portInputs struct {
	port      neutronPort
	network   neutronNetwork
	subnets   []neutronSubnet
	dhcpPorts []neutronPort
	floating  []neutronFloatingIP
}

// buildVIF describes one port as nova's _build_vif_model does. It never panics on what Neutron sent; an
// answer it cannot use (a malformed address, a port without id) is an error naming the port.
func buildVIF(in portInputs, ovsBridge string) (VIF, error) {
	p := in.port
	bad := func(format string, a ...any) (VIF, error) {
		return VIF{}, &Error{Op: "build network_info", Port: p.ID, Message: fmt.Sprintf(format, a...), Kind: ErrBadResponse}
	}
	if p.ID == "" {
		return bad("Neutron's port has no id")
	}
	if p.NetworkID == "" {
		return bad("the port has no network_id")
	}

	var fixed []FixedIP
	for _, f := range p.FixedIPs {
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil {
			return bad("fixed IP %q: %v", f.IPAddress, err)
		}
		fip := FixedIP{IP: ipOf(a, "fixed"), FloatingIPs: []IP{}}
		for _, fl := range in.floating {
			if fl.FixedIPAddress != f.IPAddress || (fl.PortID != "" && fl.PortID != p.ID) {
				continue
			}
			fa, err := netip.ParseAddr(fl.FloatingIPAddress)
			if err != nil {
				return bad("floating IP %q: %v", fl.FloatingIPAddress, err)
			}
			if ip := ipOf(fa, "floating"); !slices.ContainsFunc(fip.FloatingIPs, func(x IP) bool { return x.Address == ip.Address }) {
				fip.FloatingIPs = append(fip.FloatingIPs, ip)
			}
		}
		fixed = append(fixed, fip)
	}

	subnets, err := buildSubnets(in, fixed)
	if err != nil {
		return bad("%v", err)
	}
	network, ovsID, err := buildNetwork(in, ovsBridge)
	if err != nil {
		return bad("%v", err)
	}
	network.Subnets = subnets

	vnic := p.VNICType
	if vnic == "" {
		vnic = "normal"
	}
	details := p.VIFDetails
	if details == nil {
		details = map[string]any{}
	}
	profile := p.Profile
	if profile == nil {
		profile = map[string]any{}
	}
	return VIF{
		ID:             p.ID,
		Address:        p.MACAddress,
		Network:        network,
		Type:           p.VIFType,
		Details:        details,
		DevName:        TapName(p.ID),
		OVSInterfaceID: ovsID,
		// nova counts an administratively down port as active: no network-vif-plugged will come for it.
		Active:         (p.AdminStateUp != nil && !*p.AdminStateUp) || p.Status == "ACTIVE",
		VNICType:       vnic,
		Profile:        profile,
		DelegateCreate: true,
		Meta:           map[string]any{},
	}, nil
}

func ipOf(a netip.Addr, typ string) IP {
	v := 4
	if a.Is6() && !a.Is4In6() {
		v = 6
	}
	return IP{Address: a.String(), Type: typ, Version: v, Meta: map[string]any{}}
}

// parseIP reads an address Neutron sent for a role; "" is no address, as nova's IP(address=None).
func parseIP(s, typ string) (IP, error) {
	if s == "" {
		return IP{Type: typ, Meta: map[string]any{}}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return IP{}, fmt.Errorf("%s address %q: %v", typ, s, err)
	}
	return ipOf(a, typ), nil
}

// buildSubnets gives the subnets the port has addresses in, in Neutron's order, each with those addresses
// (nova's _get_subnets_from_port and _nw_info_get_subnets).
func buildSubnets(in portInputs, fixed []FixedIP) ([]Subnet, error) {
	out := []Subnet{}
	if len(in.port.FixedIPs) == 0 {
		return out, nil
	}
	wanted := map[string]bool{}
	for _, f := range in.port.FixedIPs {
		wanted[f.SubnetID] = true
	}
	seen := map[string]bool{}
	for _, s := range in.subnets {
		if !wanted[s.ID] || seen[s.ID] {
			continue
		}
		seen[s.ID] = true
		prefix, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			return nil, fmt.Errorf("subnet %s: cidr %q: %v", s.ID, s.CIDR, err)
		}
		gw := ""
		if s.GatewayIP != nil {
			gw = *s.GatewayIP
		}
		gateway, err := parseIP(gw, "gateway")
		if err != nil {
			return nil, fmt.Errorf("subnet %s: %v", s.ID, err)
		}
		sub := Subnet{CIDR: s.CIDR, Gateway: &gateway, DNS: []IP{}, IPs: []FixedIP{}, Routes: []Route{},
			Version: 4, Meta: map[string]any{}}
		if prefix.Addr().Is6() {
			sub.Version = 6
		}
		if s.IPv6AddressMode != nil && *s.IPv6AddressMode != "" {
			sub.Meta["ipv6_address_mode"] = *s.IPv6AddressMode
		}
	dhcp:
		for _, d := range in.dhcpPorts {
			for _, f := range d.FixedIPs {
				if f.SubnetID == s.ID {
					sub.Meta["dhcp_server"] = f.IPAddress
					break dhcp
				}
			}
		}
		// Without a DHCP port (OVN serves DHCP itself) the gateway stands in, so the metadata service still
		// describes the subnet as DHCP-configured (nova does the same).
		if _, ok := sub.Meta["dhcp_server"]; !ok && s.EnableDHCP {
			if s.GatewayIP != nil {
				sub.Meta["dhcp_server"] = *s.GatewayIP
			} else {
				sub.Meta["dhcp_server"] = nil
			}
		}
		for _, d := range s.DNSNameservers {
			ip, err := parseIP(d, "dns")
			if err != nil {
				return nil, fmt.Errorf("subnet %s: %v", s.ID, err)
			}
			if !slices.ContainsFunc(sub.DNS, func(x IP) bool { return x.Address == ip.Address }) {
				sub.DNS = append(sub.DNS, ip)
			}
		}
		for _, r := range s.HostRoutes {
			if _, err := netip.ParsePrefix(r.Destination); err != nil {
				return nil, fmt.Errorf("subnet %s: host route destination %q: %v", s.ID, r.Destination, err)
			}
			gw, err := parseIP(r.NextHop, "gateway")
			if err != nil {
				return nil, fmt.Errorf("subnet %s: host route: %v", s.ID, err)
			}
			sub.Routes = append(sub.Routes, Route{CIDR: r.Destination, Gateway: &gw, Meta: map[string]any{}})
		}
		for _, f := range fixed {
			if a, err := netip.ParseAddr(f.Address); err == nil && prefix.Contains(a) {
				sub.IPs = append(sub.IPs, f)
			}
		}
		out = append(out, sub)
	}
	return out, nil
}

// buildNetwork is nova's _nw_info_build_network: the bridge the binding names, and the network's metadata.
func buildNetwork(in portInputs, ovsBridge string) (*Network, string, error) {
	p, n := in.port, in.network
	label, tenant := "", p.project()
	var mtu any
	if n.ID == p.NetworkID {
		label, tenant = n.Name, n.project()
		if n.MTU != nil {
			mtu = *n.MTU
		}
	}
	bridgeName, _ := p.VIFDetails["bridge_name"].(string)
	flag := func(key string) bool { b, _ := p.VIFDetails[key].(bool); return b }
	var bridge, ovsID string
	var createBridge *bool
	switch {
	case p.VIFType == vifTypeOVS || p.VIFType == vifTypeAgilioOVS:
		bridge, ovsID = or(bridgeName, ovsBridge), p.ID
	case p.VIFType == vifTypeBridge:
		bridge, createBridge = or(bridgeName, "brq"+p.NetworkID), new(true)
	case p.VIFType == vifTypeDVS:
		bridge = p.NetworkID
	case p.VIFType == vifTypeVhostUser && flag("vhostuser_ovs_plug"):
		bridge, ovsID = or(bridgeName, ovsBridge), p.ID
	case p.VIFType == vifTypeVhostUser && flag("vhostuser_fp_plug"):
		bridge = or(bridgeName, "brq"+p.NetworkID)
	}
	if p.VIFType != vifTypeDVS && len(bridge) > nicNameLen {
		bridge = bridge[:nicNameLen]
	}

	// physical_network and tunneled as nova's _get_physnet_tunneled_info reads them: the first segment that
	// names a physical network, else the provider attributes.
	var physnet any
	tunneled := false
	if n.ID == p.NetworkID && len(n.Segments) > 0 {
		found := false
		for _, s := range n.Segments {
			if s.PhysicalNetwork != nil && *s.PhysicalNetwork != "" {
				physnet, found = *s.PhysicalNetwork, true
				break
			}
		}
		if !found {
			return nil, "", fmt.Errorf("none of the segments of network %s provides a physical_network", n.ID)
		}
	} else if n.ID == p.NetworkID {
		if n.PhysicalNetwork != nil {
			physnet = *n.PhysicalNetwork
		}
		tunneled = n.NetworkType == "vxlan" || n.NetworkType == "gre" || n.NetworkType == "geneve"
	}
	return &Network{
		ID:                 p.NetworkID,
		Bridge:             bridge,
		Label:              label,
		ShouldCreateBridge: createBridge,
		Meta: map[string]any{
			"injected":         false, // [DEFAULT] flat_injected, false by default and not honoured here
			"tenant_id":        tenant,
			"mtu":              mtu,
			"physical_network": physnet,
			"tunneled":         tunneled,
		},
	}, ovsID, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
