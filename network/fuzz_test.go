package network

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

const (
	seedPort = `{"id":"3f6c1a2b-0000-4000-8000-000000000001","network_id":"n1","tenant_id":"p","mac_address":"fa:16:3e:00:00:01",
"admin_state_up":true,"status":"DOWN","device_id":"vm","device_owner":"compute:nova",
"fixed_ips":[{"subnet_id":"s4","ip_address":"10.0.0.5"},{"subnet_id":"s6","ip_address":"fd00::5"}],
"binding:host_id":"compute-1","binding:vif_type":"ovs","binding:vnic_type":"normal","binding:profile":{},
"binding:vif_details":{"port_filter":true,"connectivity":"l2","bridge_name":"br-int","datapath_type":"netdev","bound_drivers":{"0":"ovn"}}}`
	seedNetwork = `{"id":"n1","name":"private","tenant_id":"p","mtu":1442,"subnets":["s4","s6"],"port_security_enabled":true,
"provider:network_type":"geneve","provider:physical_network":null}`
	seedSubnets = `[{"id":"s4","network_id":"n1","cidr":"10.0.0.0/24","gateway_ip":"10.0.0.1","enable_dhcp":true,
"dns_nameservers":["10.0.0.2"],"host_routes":[{"destination":"0.0.0.0/0","nexthop":"10.0.0.1"}]},
{"id":"s6","network_id":"n1","cidr":"fd00::/64","gateway_ip":null,"enable_dhcp":true,"ipv6_address_mode":"slaac"}]`
	seedDHCP = `[{"id":"d","network_id":"n1","device_owner":"network:dhcp","fixed_ips":[{"subnet_id":"s4","ip_address":"10.0.0.3"}]}]`
	seedFIPs = `[{"floating_ip_address":"172.24.4.10","fixed_ip_address":"10.0.0.5","port_id":"3f6c1a2b-0000-4000-8000-000000000001"}]`
)

// FuzzBuildVIF: whatever Neutron answers for a port, its network, subnets, DHCP ports and floating IPs, reading
// it and building the VIF never panics; it gives an error or a VIF of that port that survives the info cache.
func FuzzBuildVIF(f *testing.F) {
	f.Add(seedPort, seedNetwork, seedSubnets, seedDHCP, seedFIPs)
	f.Add(`{"id":"p","network_id":"n","binding:vif_type":"bridge","binding:vif_details":{"bridge_name":7}}`, `{"id":"n","segments":[{"provider:physical_network":"physnet1"}]}`, `[]`, `[]`, `[]`)
	f.Add(`{"id":"p","network_id":"n","binding:vif_type":"vhostuser","binding:vif_details":{"vhostuser_ovs_plug":true},"fixed_ips":[{"subnet_id":"s","ip_address":"1.2.3.4"}]}`, `{"id":"n","segments":[{}]}`, `[{"id":"s","cidr":"1.2.3.0/33"}]`, `null`, `[{"fixed_ip_address":"1.2.3.4","floating_ip_address":"x"}]`)
	f.Add(`{"id":"p","network_id":"n","fixed_ips":[{"ip_address":"::ffff:1.2.3.4"}],"admin_state_up":false}`, `{"id":"other","mtu":-1}`, `[{"id":"","cidr":"::/0","host_routes":[{"destination":"bad","nexthop":""}]}]`, `[]`, `[]`)
	f.Fuzz(func(t *testing.T, port, network, subnetList, dhcpList, fipList string) {
		var in portInputs
		if json.Unmarshal([]byte(port), &in.port) != nil || json.Unmarshal([]byte(network), &in.network) != nil ||
			json.Unmarshal([]byte(subnetList), &in.subnets) != nil || json.Unmarshal([]byte(dhcpList), &in.dhcpPorts) != nil ||
			json.Unmarshal([]byte(fipList), &in.floating) != nil {
			return // not what the typed decoding accepts: the client reports ErrBadResponse for it (TestBadAnswers)
		}
		v, err := buildVIF(in, "br-int")
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("buildVIF error %v is not ErrBadResponse", err)
			}
			return
		}
		if v.ID != in.port.ID || v.Network == nil || v.Network.ID != in.port.NetworkID || len(v.DevName) > 14 {
			t.Fatalf("VIF %+v does not describe port %q", v, in.port.ID)
		}
		data, err := json.Marshal(Info{v})
		if err != nil {
			t.Fatalf("network_info does not marshal: %v", err)
		}
		back, err := Parse(data)
		if err != nil || len(back) != 1 || back[0].ID != v.ID {
			t.Fatalf("network_info %s does not parse back: %v", data, err)
		}
	})
}

// FuzzClassify: any status and body Neutron answers becomes an *Error with a sentinel, without panicking.
func FuzzClassify(f *testing.F) {
	f.Add(409, []byte(`{"NeutronError":{"type":"IpAddressAlreadyAllocated","message":"IP address 10.0.0.5 already allocated","detail":""}}`))
	f.Add(404, []byte(`{"NeutronError":{"type":"PortNotFound","message":"Port x could not be found.","detail":""}}`))
	f.Add(500, []byte(`<html>Internal Server Error</html>`))
	f.Add(400, []byte(`{"NeutronError":"not an object"}`))
	f.Add(0, []byte{})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := classify("bind", "p", "", gophercloud.ErrUnexpectedResponseCode{Actual: status, Body: body})
		var e *Error
		if !errors.As(err, &e) || e.Kind == nil || !errors.Is(err, e.Kind) || e.Error() == "" {
			t.Fatalf("classify(%d, %q) = %#v", status, body, err)
		}
		if status >= 500 && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%d is not ErrUnavailable: %v", status, err)
		}
	})
}

// FuzzParse: the info cache's network_info parses or fails cleanly, and what parses marshals back to the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"id":"p","address":"fa:16:3e:00:00:01","network":{"id":"n","bridge":"br-int","label":"private","subnets":[],"meta":{"mtu":1442}},"type":"ovs","details":{},"devname":"tapp","ovs_interfaceid":"p","qbh_params":null,"qbg_params":null,"active":true,"vnic_type":"normal","profile":{},"preserve_on_delete":false,"delegate_create":true,"meta":{}}]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"network":{"meta":{"mtu":"x"}}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(data)
		if err != nil {
			return
		}
		for _, v := range info {
			_ = v.MTU()
		}
		out, err := json.Marshal(info)
		if err != nil {
			return // NaN-free JSON always marshals; a float too large for JSON cannot come from JSON
		}
		again, err := Parse(out)
		if err != nil || !reflect.DeepEqual(normalise(t, again), normalise(t, info)) {
			t.Fatalf("network_info %s does not parse back the same: %v", out, err)
		}
	})
}

func normalise(t *testing.T, info Info) any {
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	_ = json.Unmarshal(b, &v)
	return v
}
