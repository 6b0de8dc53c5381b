package network

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeNeutron is a Keystone v3 token endpoint and an in-memory Neutron 29 with ML2/OVN, answering the calls
// nova-compute makes as the networking API reference documents: ports (with the port binding extension),
// networks (provider, MTU, port security), subnets, floating IPs and security groups, with NeutronError bodies,
// token checks and injectable failures. A port bound to a host the fake knows as an OVN chassis gets vif_type
// ovs and ML2/OVN's vif_details; any other host gets binding_failed, as ML2 answers when no driver can bind.
type fakeNeutron struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	token    string
	tokens   int
	chassis  map[string]bool
	networks map[string]map[string]any
	subnets  map[string]map[string]any
	ports    map[string]map[string]any
	order    []string // port ids in creation order, as Neutron lists them
	fips     []map[string]any
	sgs      []map[string]any
	seq      int
	dns      bool // the dns-integration extension is loaded: ports have dns_name, networks dns_domain
	calls    []fakeCall
	// fail, when set, is asked before each Neutron request is handled: a status makes the fake answer it
	// with a NeutronError; -1 drops the connection without an answer; -2 answers 200 with a body that is not
	// the documented one.
	fail func(c fakeCall) int
}

type fakeCall struct {
	Method, Path string
	Query        string
	RequestID    string         // X-OpenStack-Request-ID
	Body         map[string]any // the "port" object of a port POST/PUT
}

func (c fakeCall) String() string { return c.Method + " " + c.Path }

const (
	fakeProject = "proj-1"
	fakeHost    = "compute-1"
	fakeNet     = "net-private"
	fakeNetIPv6 = "net-dual"
	fakeSubnet  = "subnet-v4"
	fakeSub6    = "subnet-v6"
	fakeNoSub   = "net-nosubnet"
	fakeSG      = "sg-web-id"
	fakeDefault = "sg-default-id"
)

func newFakeNeutron(t *testing.T) *fakeNeutron {
	f := &fakeNeutron{t: t, chassis: map[string]bool{fakeHost: true},
		networks: map[string]map[string]any{}, subnets: map[string]map[string]any{}, ports: map[string]map[string]any{}}
	f.addNetwork(fakeNet, "private", 1442, []string{fakeSubnet})
	f.addNetwork(fakeNetIPv6, "dual", 1500, []string{"subnet-dual4", fakeSub6})
	f.addNetwork(fakeNoSub, "l2only", 1442, nil)
	f.subnets[fakeSubnet] = map[string]any{"id": fakeSubnet, "name": "private-subnet", "network_id": fakeNet,
		"tenant_id": fakeProject, "project_id": fakeProject, "ip_version": 4, "cidr": "10.0.0.0/26",
		"gateway_ip": "10.0.0.1", "enable_dhcp": true, "dns_nameservers": []any{"10.0.0.2"},
		"host_routes":       []any{map[string]any{"destination": "192.168.50.0/24", "nexthop": "10.0.0.254"}},
		"allocation_pools":  []any{map[string]any{"start": "10.0.0.2", "end": "10.0.0.62"}},
		"ipv6_address_mode": nil, "ipv6_ra_mode": nil, "subnetpool_id": nil, "description": "", "tags": []any{}}
	f.subnets["subnet-dual4"] = map[string]any{"id": "subnet-dual4", "network_id": fakeNetIPv6, "tenant_id": fakeProject,
		"ip_version": 4, "cidr": "172.24.4.0/24", "gateway_ip": nil, "enable_dhcp": false, "dns_nameservers": []any{},
		"host_routes": []any{}, "ipv6_address_mode": nil}
	f.subnets[fakeSub6] = map[string]any{"id": fakeSub6, "network_id": fakeNetIPv6, "tenant_id": fakeProject,
		"ip_version": 6, "cidr": "fd00:1::/64", "gateway_ip": "fd00:1::1", "enable_dhcp": true,
		"dns_nameservers": []any{}, "host_routes": []any{}, "ipv6_address_mode": "slaac"}
	f.sgs = []map[string]any{
		{"id": fakeDefault, "name": "default", "tenant_id": fakeProject},
		{"id": fakeSG, "name": "web", "tenant_id": fakeProject},
		{"id": "sg-dup-1", "name": "dup", "tenant_id": fakeProject},
		{"id": "sg-dup-2", "name": "dup", "tenant_id": fakeProject},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNeutron) addNetwork(id, name string, mtu int, subnets []string) {
	f.networks[id] = map[string]any{"id": id, "name": name, "tenant_id": fakeProject, "project_id": fakeProject,
		"admin_state_up": true, "mtu": mtu, "status": "ACTIVE", "subnets": subnets, "shared": false,
		"port_security_enabled": true, "provider:network_type": "geneve", "provider:physical_network": nil,
		"provider:segmentation_id": 7, "router:external": false, "availability_zone_hints": []any{},
		"availability_zones": []any{}, "ipv4_address_scope": nil, "ipv6_address_scope": nil, "description": "",
		"is_default": false, "l2_adjacency": true, "qos_policy_id": nil, "revision_number": 1, "tags": []any{}}
}

func (f *fakeNeutron) config() Config {
	return Config{AuthURL: f.srv.URL + "/identity/v3", Username: "nova", UserDomainName: "Default",
		Password: "secret", ProjectName: "service", ProjectDomainName: "Default", RegionName: "RegionOne"}
}

func (f *fakeNeutron) client(t *testing.T, mod func(*Config)) *Client {
	cfg := f.config()
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	c.retryPause = 0
	return c
}

// addPort puts a port in Neutron as a user would create it with `openstack port create`.
func (f *fakeNeutron) addPort(id, network, ip string, mod func(p map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.newPort(id, network, ip)
	if mod != nil {
		mod(p)
	}
	f.ports[id] = p
	f.order = append(f.order, id)
}

// newPort makes a port document as Neutron 29 answers it to an admin, unbound.
func (f *fakeNeutron) newPort(id, network, ip string) map[string]any {
	f.seq++
	subnet := ""
	for _, sid := range f.networks[network]["subnets"].([]string) {
		s := f.subnets[sid]
		if pfx, err := netip.ParsePrefix(s["cidr"].(string)); err == nil {
			if a, err := netip.ParseAddr(ip); err == nil && pfx.Contains(a) {
				subnet = sid
			}
		}
	}
	fixed := []any{}
	if ip != "" {
		fixed = append(fixed, map[string]any{"subnet_id": subnet, "ip_address": ip})
	}
	p := map[string]any{"id": id, "name": "", "network_id": network, "tenant_id": fakeProject,
		"project_id": fakeProject, "mac_address": fmt.Sprintf("fa:16:3e:00:00:%02x", f.seq%256),
		"admin_state_up": true, "status": "DOWN", "device_id": "", "device_owner": "", "fixed_ips": fixed,
		"allowed_address_pairs": []any{}, "extra_dhcp_opts": []any{}, "security_groups": []any{fakeDefault},
		"description": "", "binding:vnic_type": "normal", "binding:profile": map[string]any{},
		"binding:host_id": "", "binding:vif_type": "unbound", "binding:vif_details": map[string]any{},
		"port_security_enabled": true, "propagate_uplink_status": false, "qos_network_policy_id": nil,
		"qos_policy_id": nil, "resource_request": nil, "tags": []any{}, "revision_number": 1,
		"created_at": "2026-12-07T16:00:00Z", "updated_at": "2026-12-07T16:00:00Z"}
	if f.dns {
		p["dns_name"], p["dns_assignment"] = "", []any{}
	}
	return p
}

// port returns a copy of a port's document, nil if it does not exist.
func (f *fakeNeutron) port(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.ports[id]
	if !ok {
		return nil
	}
	var out map[string]any
	b, _ := json.Marshal(p)
	_ = json.Unmarshal(b, &out)
	return out
}

func (f *fakeNeutron) setPort(id, key string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ports[id][key] = v
}

func (f *fakeNeutron) callLog() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// writes are the calls that change something.
func (f *fakeNeutron) writes() []string {
	var out []string
	for _, c := range f.callLog() {
		if c.Method != http.MethodGet && !strings.HasPrefix(c.Path, "/identity") {
			out = append(out, c.String())
		}
	}
	return out
}

func (f *fakeNeutron) resetCalls() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func neutronErr(w http.ResponseWriter, status int, typ, msg string) {
	fakeJSON(w, status, map[string]any{"NeutronError": map[string]any{"type": typ, "message": msg, "detail": ""}})
}

func (f *fakeNeutron) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/identity/v3/auth/tokens" && r.Method == http.MethodPost {
		f.issueToken(w, r)
		return
	}
	var base string
	switch {
	case strings.HasPrefix(r.URL.Path, "/networking/v2.0/"):
		base = "/networking/v2.0/"
	case strings.HasPrefix(r.URL.Path, "/networking-public/v2.0/"):
		base = "/networking-public/v2.0/"
	default:
		http.NotFound(w, r)
		return
	}
	call := fakeCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		RequestID: r.Header.Get("X-OpenStack-Request-ID")}
	var body map[string]map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			neutronErr(w, 400, "HTTPBadRequest", "body is not JSON: "+err.Error())
			return
		}
		call.Body = body["port"]
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	token, fail := f.token, f.fail
	f.mu.Unlock()
	if r.Header.Get("X-Auth-Token") != token || token == "" {
		fakeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized",
			"message": "The request you have made requires authentication."}})
		return
	}
	if fail != nil {
		switch status := fail(call); {
		case status == -1:
			hj, _ := w.(http.Hijacker)
			conn, _, err := hj.Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		case status == -2:
			fakeJSON(w, 200, map[string]any{"port": map[string]any{"id": 5, "fixed_ips": "10.0.0.1"},
				"network": []any{}, "ports": map[string]any{}})
			return
		case status != 0:
			neutronErr(w, status, "HTTPInternalServerError", "Request Failed: internal server error while processing your request.")
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, base), "/")
	switch {
	case parts[0] == "ports" && len(parts) == 1 && r.Method == http.MethodGet:
		f.listPorts(w, r)
	case parts[0] == "ports" && len(parts) == 1 && r.Method == http.MethodPost:
		f.createPort(w, body["port"])
	case parts[0] == "ports" && len(parts) == 2:
		p, ok := f.ports[parts[1]]
		if !ok {
			neutronErr(w, 404, "PortNotFound", "Port "+parts[1]+" could not be found.")
			return
		}
		switch r.Method {
		case http.MethodGet:
			fakeJSON(w, 200, map[string]any{"port": p})
		case http.MethodPut:
			f.updatePort(w, p, body["port"])
		case http.MethodDelete:
			delete(f.ports, parts[1])
			f.order = slices.DeleteFunc(f.order, func(id string) bool { return id == parts[1] })
			w.WriteHeader(204)
		}
	case parts[0] == "extensions" && len(parts) == 2 && r.Method == http.MethodGet:
		if parts[1] != "dns-integration" || !f.dns {
			neutronErr(w, 404, "HTTPNotFound", "Extension with alias "+parts[1]+" does not exist")
			return
		}
		fakeJSON(w, 200, map[string]any{"extension": map[string]any{"alias": "dns-integration",
			"name": "DNS Integration", "description": "Provides integration with DNS.", "links": []any{},
			"updated": "2015-08-15T18:00:00-00:00"}})
	case parts[0] == "networks" && len(parts) == 2 && r.Method == http.MethodGet:
		n, ok := f.networks[parts[1]]
		if !ok {
			neutronErr(w, 404, "NetworkNotFound", "Network "+parts[1]+" could not be found.")
			return
		}
		if f.dns {
			n = maps.Clone(n)
			if _, ok := n["dns_domain"]; !ok {
				n["dns_domain"] = ""
			}
		}
		fakeJSON(w, 200, map[string]any{"network": n})
	case parts[0] == "subnets" && len(parts) == 1 && r.Method == http.MethodGet:
		var out []any
		for _, id := range slices.Sorted(mapKeys(f.subnets)) {
			if s := f.subnets[id]; r.URL.Query().Get("network_id") == "" || s["network_id"] == r.URL.Query().Get("network_id") {
				out = append(out, s)
			}
		}
		fakeJSON(w, 200, map[string]any{"subnets": out})
	case parts[0] == "floatingips" && len(parts) == 1 && r.Method == http.MethodGet:
		out := []any{}
		for _, fip := range f.fips {
			if q := r.URL.Query().Get("port_id"); q == "" || fip["port_id"] == q {
				out = append(out, fip)
			}
		}
		fakeJSON(w, 200, map[string]any{"floatingips": out})
	case parts[0] == "security-groups" && len(parts) == 1 && r.Method == http.MethodGet:
		out := []any{}
		for _, sg := range f.sgs {
			if q := r.URL.Query().Get("tenant_id"); q == "" || sg["tenant_id"] == q {
				out = append(out, sg)
			}
		}
		fakeJSON(w, 200, map[string]any{"security_groups": out})
	default:
		neutronErr(w, 404, "HTTPNotFound", "The resource could not be found.")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (f *fakeNeutron) listPorts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := []any{}
	for _, id := range f.order {
		p := f.ports[id]
		ok := true
		for _, k := range []string{"device_id", "network_id", "device_owner", "tenant_id"} {
			if v, set := q[k]; set && p[k] != v[0] {
				ok = false
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	fakeJSON(w, 200, map[string]any{"ports": out})
}

func (f *fakeNeutron) ipInUse(ip string) bool {
	for _, p := range f.ports {
		for _, fi := range p["fixed_ips"].([]any) {
			if fi.(map[string]any)["ip_address"] == ip {
				return true
			}
		}
	}
	return false
}

func (f *fakeNeutron) createPort(w http.ResponseWriter, body map[string]any) {
	netID, _ := body["network_id"].(string)
	n, ok := f.networks[netID]
	if !ok {
		neutronErr(w, 404, "NetworkNotFound", "Network "+netID+" could not be found.")
		return
	}
	ip := ""
	if fixed, ok := body["fixed_ips"].([]any); ok && len(fixed) > 0 {
		ip, _ = fixed[0].(map[string]any)["ip_address"].(string)
		if f.ipInUse(ip) {
			neutronErr(w, 409, "IpAddressAlreadyAllocated", "IP address "+ip+" already allocated in subnet "+fakeSubnet)
			return
		}
		a, err := netip.ParseAddr(ip)
		inNet := false
		for _, sid := range n["subnets"].([]string) {
			if pfx, perr := netip.ParsePrefix(f.subnets[sid]["cidr"].(string)); err == nil && perr == nil && pfx.Contains(a) {
				inNet = true
			}
		}
		if !inNet {
			neutronErr(w, 400, "InvalidIpForNetwork", "IP address "+ip+" is not a valid IP for any of the subnets on the specified network.")
			return
		}
	} else if subs := n["subnets"].([]string); len(subs) > 0 {
		pfx := netip.MustParsePrefix(f.subnets[subs[0]]["cidr"].(string))
		for a := pfx.Addr().Next().Next().Next(); pfx.Contains(a); a = a.Next() {
			if !f.ipInUse(a.String()) {
				ip = a.String()
				break
			}
		}
	}
	id := fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012d", 0xc0ffee00+f.seq, f.seq)
	p := f.newPort(id, netID, ip)
	for k, v := range body {
		if k != "fixed_ips" {
			p[k] = v
		}
	}
	if sgs, ok := body["security_groups"]; ok {
		p["security_groups"] = sgs
	}
	f.ports[id] = p
	f.order = append(f.order, id)
	fakeJSON(w, 201, map[string]any{"port": p})
}

// updatePort applies a PUT and binds as ML2/OVN does: a known chassis gets the OVS binding, another host
// binding_failed, no host an unbound port.
func (f *fakeNeutron) updatePort(w http.ResponseWriter, p map[string]any, body map[string]any) {
	for k, v := range body {
		if k == "binding:profile" && v == nil {
			v = map[string]any{}
		}
		if k == "binding:host_id" && v == nil {
			v = ""
		}
		p[k] = v
	}
	if _, ok := body["binding:host_id"]; ok {
		switch host := p["binding:host_id"].(string); {
		case host == "":
			p["binding:vif_type"], p["binding:vif_details"] = "unbound", map[string]any{}
		case f.chassis[host]:
			p["binding:vif_type"] = "ovs"
			p["binding:vif_details"] = map[string]any{"port_filter": true, "connectivity": "l2",
				"bridge_name": "br-int", "datapath_type": "netdev", "bound_drivers": map[string]any{"0": "ovn"}}
		default:
			p["binding:vif_type"], p["binding:vif_details"] = "binding_failed", map[string]any{}
		}
	}
	p["revision_number"] = p["revision_number"].(int) + 1
	fakeJSON(w, 200, map[string]any{"port": p})
}

func (f *fakeNeutron) issueToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Auth struct {
			Identity struct {
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   struct {
							Name string `json:"name"`
						} `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string `json:"name"`
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fakeJSON(w, 400, map[string]any{"error": map[string]any{"code": 400, "message": err.Error()}})
		return
	}
	u, p := body.Auth.Identity.Password.User, body.Auth.Scope.Project
	if u.Name != "nova" || u.Password != "secret" || u.Domain.Name != "Default" || p.Name != "service" ||
		p.Domain.Name != "Default" {
		fakeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized",
			"message": "The request you have made requires authentication."}})
		return
	}
	f.mu.Lock()
	f.tokens++
	f.token = "tok-" + strconv.Itoa(f.tokens)
	tok := f.token
	f.calls = append(f.calls, fakeCall{Method: r.Method, Path: r.URL.Path})
	f.mu.Unlock()
	ep := func(iface, path string) map[string]string {
		return map[string]string{"id": iface, "interface": iface, "region": "RegionOne", "region_id": "RegionOne",
			"url": f.srv.URL + path}
	}
	w.Header().Set("X-Subject-Token", tok)
	fakeJSON(w, 201, map[string]any{"token": map[string]any{
		"methods": []string{"password"}, "expires_at": "2099-01-01T00:00:00.000000Z",
		"user":    map[string]any{"id": "u1", "name": "nova", "domain": map[string]string{"id": "default", "name": "Default"}},
		"project": map[string]any{"id": "p1", "name": "service", "domain": map[string]string{"id": "default", "name": "Default"}},
		"catalog": []map[string]any{
			{"type": "identity", "name": "keystone", "id": "k", "endpoints": []map[string]string{ep("public", "/identity")}},
			{"type": "network", "name": "neutron", "id": "n", "endpoints": []map[string]string{
				ep("public", "/networking-public"), ep("internal", "/networking")}},
		},
	}})
}

// expireToken makes Keystone's current token invalid, as when it expires.
func (f *fakeNeutron) expireToken() {
	f.mu.Lock()
	f.token = "expired-" + f.token
	f.mu.Unlock()
}
