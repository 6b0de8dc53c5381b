package placement

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeCloud is a Keystone v3 token endpoint plus an in-memory Placement
// that behaves as the Placement API reference documents: provider and
// consumer generations, 409 error codes, 404s, microversion-dependent
// answers, and token checks.
type fakeCloud struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	token       string
	tokensIssue int
	providers   map[string]*fakeRP
	traits      map[string]bool
	classes     map[string]bool
	consumers   map[string]*fakeConsumer
	calls       []fakeCall
	// before runs (unlocked) before each Placement request is handled, to
	// play a concurrent writer or an outage.
	before func(method, path string) (status int)
}

type fakeRP struct {
	UUID, Name string
	Parent     string // "" for a root
	Gen        int64
	Inv        Inventories
	Traits     []string
	Aggs       []string
}

type fakeConsumer struct {
	Gen    int64
	Allocs map[string]map[string]int64
	Proj   string
	User   string
}

type fakeCall struct {
	Method, Path, Version string
	RequestID             string
}

func (c fakeCall) String() string { return c.Method + " " + c.Path + " @" + c.Version }

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{t: t, providers: map[string]*fakeRP{}, traits: map[string]bool{},
		classes:   map[string]bool{VCPU: true, MemoryMB: true, DiskGB: true, "PCPU": true},
		consumers: map[string]*fakeConsumer{}}
	for _, m := range []map[string][]string{x86CPUTraits, aarch64CPUTraits} {
		for _, ts := range m {
			for _, t := range ts {
				f.traits[t] = true
			}
		}
	}
	for _, m := range []map[string]string{hwArchTraits, computeArchTraits} {
		for _, t := range m {
			f.traits[t] = true
		}
	}
	for t := range CapabilityTraits(Capabilities{}, nil) {
		f.traits[t] = true
	}
	for t := range DeviceTraits(DeviceModels{}) {
		if !isCustom(t) {
			f.traits[t] = true
		}
	}
	for _, t := range []string{TraitComputeNode, TraitStatusDisabled, TraitOwnerNova, TraitHyperthreading,
		"HW_NIC_SRIOV", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_NET_VIF_MODEL_VIRTIO"} {
		f.traits[t] = true
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloud) options() Options {
	return Options{AuthURL: f.srv.URL + "/identity/v3", Username: "nova", Password: "secret",
		UserDomainName: "Default", ProjectName: "service", ProjectDomainName: "Default", RegionName: "RegionOne"}
}

func (f *fakeCloud) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.String()
	}
	return out
}

func (f *fakeCloud) requestIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.RequestID)
	}
	return out
}

func (f *fakeCloud) resetCalls() {
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// placementError writes Placement's error document.
func placementError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"status": status, "title": http.StatusText(status), "detail": detail, "code": code}}})
}

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/identity/v3/auth/tokens" && r.Method == http.MethodPost:
		f.issueToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/placement-internal/"):
		f.placement(w, r, strings.TrimPrefix(r.URL.Path, "/placement-internal/"))
	case strings.HasPrefix(r.URL.Path, "/placement-public/"):
		f.placement(w, r, strings.TrimPrefix(r.URL.Path, "/placement-public/"))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeCloud) issueToken(w http.ResponseWriter, r *http.Request) {
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
		writeJSON(w, 400, map[string]any{"error": map[string]any{"code": 400, "message": err.Error()}})
		return
	}
	u := body.Auth.Identity.Password.User
	p := body.Auth.Scope.Project
	if u.Name != "nova" || u.Password != "secret" || u.Domain.Name != "Default" ||
		p.Name != "service" || p.Domain.Name != "Default" {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized",
			"message": "The request you have made requires authentication."}})
		return
	}
	f.mu.Lock()
	f.tokensIssue++
	f.token = "tok-" + strconv.Itoa(f.tokensIssue)
	tok := f.token
	f.mu.Unlock()
	endpoint := func(iface, path string) map[string]string {
		return map[string]string{"id": iface, "interface": iface, "region": "RegionOne", "region_id": "RegionOne",
			"url": f.srv.URL + path}
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, 201, map[string]any{"token": map[string]any{
		"methods": []string{"password"}, "expires_at": "2099-01-01T00:00:00.000000Z",
		"user":    map[string]any{"id": "u1", "name": "nova", "domain": map[string]string{"id": "default", "name": "Default"}},
		"project": map[string]any{"id": "p1", "name": "service", "domain": map[string]string{"id": "default", "name": "Default"}},
		"catalog": []map[string]any{
			{"type": "identity", "name": "keystone", "id": "k", "endpoints": []map[string]string{endpoint("public", "/identity")}},
			{"type": "placement", "name": "placement", "id": "pl", "endpoints": []map[string]string{
				endpoint("public", "/placement-public"), endpoint("internal", "/placement-internal")}},
		},
	}})
}

// expireToken makes Keystone forget the current token, as on expiry.
func (f *fakeCloud) expireToken() {
	f.mu.Lock()
	f.token = "expired"
	f.mu.Unlock()
}

func microversion(r *http.Request) (major, minor int, ok bool) {
	h := r.Header.Get("OpenStack-API-Version")
	if h == "" {
		return 1, 0, true
	}
	svc, v, found := strings.Cut(h, " ")
	if !found || svc != "placement" {
		return 0, 0, false
	}
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil
}

func (f *fakeCloud) placement(w http.ResponseWriter, r *http.Request, path string) {
	f.mu.Lock()
	good := r.Header.Get("X-Auth-Token") == f.token
	f.mu.Unlock()
	if !good {
		writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "title": "Unauthorized"}})
		return
	}
	major, minor, ok := microversion(r)
	if !ok || major != 1 || minor > 39 {
		placementError(w, 406, "placement.undefined_code", "Unacceptable version header: "+r.Header.Get("OpenStack-API-Version"))
		return
	}
	ver := r.Header.Get("OpenStack-API-Version")
	full := path
	if r.URL.RawQuery != "" {
		full += "?" + r.URL.RawQuery
	}
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{r.Method, full, strings.TrimPrefix(ver, "placement "), r.Header.Get("X-OpenStack-Request-ID")})
	before := f.before
	f.mu.Unlock()
	if before != nil {
		if st := before(r.Method, path); st != 0 {
			placementError(w, st, "placement.undefined_code", "injected failure")
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.route(w, r, strings.Split(strings.Trim(path, "/"), "/"), minor)
}

func (f *fakeCloud) route(w http.ResponseWriter, r *http.Request, p []string, minor int) {
	switch {
	case len(p) == 1 && p[0] == "resource_providers" && r.Method == http.MethodGet:
		var list []map[string]any
		q := r.URL.Query()
		for _, rp := range f.sortedProviders() {
			// in_tree: every provider with the same root as the one named; none if it does not exist.
			if q.Has("in_tree") {
				if other, ok := f.providers[q.Get("in_tree")]; !ok || f.root(other) != f.root(rp) {
					continue
				}
			}
			if q.Has("name") && rp.Name != q.Get("name") {
				continue
			}
			list = append(list, f.rpJSON(rp))
		}
		writeJSON(w, 200, map[string]any{"resource_providers": list})
	case len(p) == 1 && p[0] == "resource_providers" && r.Method == http.MethodPost:
		var b struct {
			UUID, Name string
			Parent     string `json:"parent_provider_uuid"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		if b.Parent != "" && minor < 14 {
			placementError(w, 400, "placement.undefined_code", "parent_provider_uuid needs microversion 1.14")
			return
		}
		if _, ok := f.providers[b.Parent]; b.Parent != "" && !ok {
			placementError(w, 400, "placement.undefined_code", "parent provider "+b.Parent+" does not exist")
			return
		}
		if _, ok := f.providers[b.UUID]; ok {
			placementError(w, 409, "placement.duplicate_uuid", "Conflicting resource provider uuid: "+b.UUID+" already exists.")
			return
		}
		for _, rp := range f.providers {
			if rp.Name == b.Name {
				placementError(w, 409, "placement.duplicate_name", "Conflicting resource provider name: "+b.Name+" already exists.")
				return
			}
		}
		rp := &fakeRP{UUID: b.UUID, Name: b.Name, Parent: b.Parent, Inv: Inventories{}}
		f.providers[b.UUID] = rp
		w.Header().Set("Location", "/resource_providers/"+b.UUID)
		if minor < 20 {
			w.WriteHeader(201) // before 1.20 there is no body
			return
		}
		writeJSON(w, 200, f.rpJSON(rp))
	case len(p) >= 2 && p[0] == "resource_providers":
		rp, ok := f.providers[p[1]]
		if !ok {
			placementError(w, 404, "placement.undefined_code", "No resource provider with uuid "+p[1]+" found")
			return
		}
		f.provider(w, r, rp, p[2:], minor)
	case len(p) == 2 && p[0] == "resource_classes" && r.Method == http.MethodPut && minor >= 7:
		if !strings.HasPrefix(p[1], "CUSTOM_") {
			placementError(w, 400, "placement.undefined_code", "not a custom class")
			return
		}
		if f.classes[p[1]] {
			w.WriteHeader(204)
			return
		}
		f.classes[p[1]] = true
		w.WriteHeader(201)
	case len(p) == 1 && p[0] == "traits" && r.Method == http.MethodGet && minor >= 6:
		var out []string
		names := strings.Split(strings.TrimPrefix(r.URL.Query().Get("name"), "in:"), ",")
		for _, n := range names {
			if f.traits[n] {
				out = append(out, n)
			}
		}
		writeJSON(w, 200, map[string]any{"traits": out})
	case len(p) == 2 && p[0] == "traits" && r.Method == http.MethodPut && minor >= 6:
		if !strings.HasPrefix(p[1], "CUSTOM_") {
			placementError(w, 400, "placement.undefined_code", "not a custom trait")
			return
		}
		if f.traits[p[1]] {
			w.WriteHeader(204)
			return
		}
		f.traits[p[1]] = true
		w.WriteHeader(201)
	case len(p) == 2 && p[0] == "allocations":
		f.allocations(w, r, p[1], minor)
	case len(p) == 1 && p[0] == "allocations" && r.Method == http.MethodPost && minor >= 28:
		f.postAllocations(w, r)
	default:
		placementError(w, 404, "placement.undefined_code", "no route "+r.Method+" "+strings.Join(p, "/"))
	}
}

func (f *fakeCloud) rpJSON(rp *fakeRP) map[string]any {
	var parent any
	if rp.Parent != "" {
		parent = rp.Parent
	}
	return map[string]any{"uuid": rp.UUID, "name": rp.Name, "generation": rp.Gen,
		"parent_provider_uuid": parent, "root_provider_uuid": f.root(rp)}
}

// root is the uuid of the root of rp's tree.
func (f *fakeCloud) root(rp *fakeRP) string {
	for rp.Parent != "" {
		rp = f.providers[rp.Parent]
	}
	return rp.UUID
}

// hasAllocations says whether any consumer holds resources of the provider.
func (f *fakeCloud) hasAllocations(rpUUID string) bool {
	for _, c := range f.consumers {
		if len(c.Allocs[rpUUID]) > 0 {
			return true
		}
	}
	return false
}

func (f *fakeCloud) sortedProviders() []*fakeRP {
	var out []*fakeRP
	for _, rp := range f.providers {
		out = append(out, rp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

func (f *fakeCloud) used(rpUUID, rc string) int64 {
	var n int64
	for _, c := range f.consumers {
		n += c.Allocs[rpUUID][rc]
	}
	return n
}

func (f *fakeCloud) provider(w http.ResponseWriter, r *http.Request, rp *fakeRP, rest []string, minor int) {
	sub := strings.Join(rest, "/")
	switch {
	case sub == "" && r.Method == http.MethodGet:
		writeJSON(w, 200, f.rpJSON(rp))
	case sub == "" && r.Method == http.MethodDelete:
		if f.hasAllocations(rp.UUID) {
			placementError(w, 409, "placement.resource_provider.inuse", "Unable to delete resource provider "+
				rp.UUID+": Resource provider has allocations.")
			return
		}
		for _, other := range f.providers {
			if other.Parent == rp.UUID {
				placementError(w, 409, "placement.resource_provider.cannot_delete_parent",
					"Unable to delete parent resource provider "+rp.UUID+": It has child resource providers.")
				return
			}
		}
		delete(f.providers, rp.UUID)
		w.WriteHeader(204)
	case sub == "" && r.Method == http.MethodPut:
		var b struct{ Name string }
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Name == "" {
			placementError(w, 400, "placement.undefined_code", "name is required")
			return
		}
		for _, other := range f.providers {
			if other.Name == b.Name && other != rp {
				placementError(w, 409, "placement.duplicate_name", "Conflicting resource provider name: "+b.Name+" already exists.")
				return
			}
		}
		rp.Name = b.Name
		writeJSON(w, 200, f.rpJSON(rp))
	case sub == "inventories" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"resource_provider_generation": rp.Gen, "inventories": rp.Inv})
	case sub == "inventories" && r.Method == http.MethodPut:
		var b struct {
			Gen *int64                            `json:"resource_provider_generation"`
			Inv map[string]map[string]json.Number `json:"inventories"`
		}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&b); err != nil || b.Gen == nil {
			placementError(w, 400, "placement.undefined_code", "resource_provider_generation is required")
			return
		}
		if *b.Gen != rp.Gen {
			placementError(w, 409, codeConcurrentUpdate, "resource provider generation conflict")
			return
		}
		inv := Inventories{}
		for rc, fields := range b.Inv {
			if !f.classes[rc] {
				placementError(w, 400, "placement.undefined_code", "Unknown resource class in inventory: "+rc)
				return
			}
			get := func(k string, def int64) int64 {
				if v, ok := fields[k]; ok {
					n, _ := v.Int64()
					return n
				}
				return def
			}
			ratio := 1.0
			if v, ok := fields["allocation_ratio"]; ok {
				ratio, _ = v.Float64()
			}
			i := Inventory{Total: get("total", 0), Reserved: get("reserved", 0), MinUnit: get("min_unit", 1),
				MaxUnit: get("max_unit", maxInventoryInt), StepSize: get("step_size", 1), AllocationRatio: ratio}
			if i.Total < 1 || i.Reserved > i.Total || (minor < 26 && i.Reserved == i.Total) {
				placementError(w, 400, "placement.undefined_code", "Unable to update inventory for "+rc)
				return
			}
			inv[rc] = i
		}
		for rc := range rp.Inv {
			if _, kept := inv[rc]; !kept && f.used(rp.UUID, rc) > 0 {
				placementError(w, 409, codeInventoryInUse, fmt.Sprintf(
					"Inventory for '%s' on resource provider '%s' in use.", rc, rp.UUID))
				return
			}
		}
		rp.Inv = inv
		rp.Gen++
		writeJSON(w, 200, map[string]any{"resource_provider_generation": rp.Gen, "inventories": rp.Inv})
	case sub == "traits" && r.Method == http.MethodGet && minor >= 6:
		writeJSON(w, 200, map[string]any{"resource_provider_generation": rp.Gen, "traits": rp.Traits})
	case sub == "traits" && r.Method == http.MethodPut && minor >= 6:
		var b struct {
			Gen    *int64   `json:"resource_provider_generation"`
			Traits []string `json:"traits"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Gen == nil || b.Traits == nil {
			placementError(w, 400, "placement.undefined_code", "traits and resource_provider_generation are required")
			return
		}
		if *b.Gen != rp.Gen {
			placementError(w, 409, codeConcurrentUpdate, "resource provider generation conflict")
			return
		}
		for _, t := range b.Traits {
			if !f.traits[t] {
				placementError(w, 400, "placement.undefined_code", "No such trait(s): "+t)
				return
			}
		}
		rp.Traits = append([]string(nil), b.Traits...)
		rp.Gen++
		writeJSON(w, 200, map[string]any{"resource_provider_generation": rp.Gen, "traits": rp.Traits})
	case sub == "aggregates" && r.Method == http.MethodGet && minor >= 1:
		aggs := rp.Aggs
		if aggs == nil {
			aggs = []string{}
		}
		if minor < 19 {
			writeJSON(w, 200, map[string]any{"aggregates": aggs})
			return
		}
		writeJSON(w, 200, map[string]any{"aggregates": aggs, "resource_provider_generation": rp.Gen})
	case sub == "allocations" && r.Method == http.MethodGet:
		out := map[string]any{}
		for id, c := range f.consumers {
			if res, ok := c.Allocs[rp.UUID]; ok {
				out[id] = map[string]any{"resources": res}
			}
		}
		writeJSON(w, 200, map[string]any{"allocations": out, "resource_provider_generation": rp.Gen})
	default:
		placementError(w, 404, "placement.undefined_code", "no route "+r.Method+" "+sub)
	}
}

func (f *fakeCloud) allocations(w http.ResponseWriter, r *http.Request, consumer string, minor int) {
	c := f.consumers[consumer]
	switch r.Method {
	case http.MethodGet:
		allocs := map[string]any{}
		out := map[string]any{"allocations": allocs}
		if c != nil {
			for rp, res := range c.Allocs {
				allocs[rp] = map[string]any{"generation": f.providers[rp].Gen, "resources": res}
			}
			if minor >= 28 {
				out["consumer_generation"] = c.Gen
			}
			out["project_id"], out["user_id"] = c.Proj, c.User
		}
		writeJSON(w, 200, out)
	case http.MethodPut:
		if minor < 28 {
			placementError(w, 400, "placement.undefined_code", "this fake wants 1.28")
			return
		}
		var b fakeConsumerAllocations
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			placementError(w, 400, "placement.undefined_code", err.Error())
			return
		}
		if generationConflict(c, b.ConsumerGeneration) {
			placementError(w, 409, codeConcurrentUpdate, "consumer generation conflict")
			return
		}
		if len(b.Allocations) == 0 {
			delete(f.consumers, consumer)
			w.WriteHeader(204)
			return
		}
		nc := &fakeConsumer{Allocs: map[string]map[string]int64{}, Proj: b.ProjectID, User: b.UserID}
		if c != nil {
			nc.Gen = c.Gen + 1
		}
		for rpUUID, a := range b.Allocations {
			rp, ok := f.providers[rpUUID]
			if !ok {
				placementError(w, 400, "placement.undefined_code", "no provider "+rpUUID)
				return
			}
			for rc, n := range a.Resources {
				inv, ok := rp.Inv[rc]
				capacity := int64(float64(inv.Total-inv.Reserved) * inv.AllocationRatio)
				if !ok || f.used(rpUUID, rc)+n > capacity {
					placementError(w, 409, "placement.undefined_code", "Unable to allocate inventory")
					return
				}
			}
			nc.Allocs[rpUUID] = a.Resources
			rp.Gen++
		}
		f.consumers[consumer] = nc
		w.WriteHeader(204)
	case http.MethodDelete:
		if c == nil {
			placementError(w, 404, "placement.undefined_code", "No allocations for consumer '"+consumer+"'")
			return
		}
		delete(f.consumers, consumer)
		w.WriteHeader(204)
	}
}

// fakeConsumerAllocations is one consumer's allocations as PUT /allocations/{consumer} and POST /allocations
// (one per consumer) take them at 1.28.
type fakeConsumerAllocations struct {
	Allocations map[string]struct {
		Resources map[string]int64 `json:"resources"`
	} `json:"allocations"`
	ConsumerGeneration *int64 `json:"consumer_generation"`
	ProjectID          string `json:"project_id"`
	UserID             string `json:"user_id"`
}

// generationConflict is Placement's consumer generation check: a new consumer must come with a null generation,
// a known one with its current generation.
func generationConflict(c *fakeConsumer, gen *int64) bool {
	return (c == nil && gen != nil) || (c != nil && (gen == nil || *gen != c.Gen))
}

// postAllocations is POST /allocations at 1.28: every consumer's generation is checked before any is written.
func (f *fakeCloud) postAllocations(w http.ResponseWriter, r *http.Request) {
	var b map[string]fakeConsumerAllocations
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		placementError(w, 400, "placement.undefined_code", err.Error())
		return
	}
	for consumer, a := range b {
		if generationConflict(f.consumers[consumer], a.ConsumerGeneration) {
			placementError(w, 409, codeConcurrentUpdate, "consumer generation conflict")
			return
		}
	}
	for consumer, a := range b {
		c := f.consumers[consumer]
		if len(a.Allocations) == 0 {
			delete(f.consumers, consumer)
			continue
		}
		nc := &fakeConsumer{Allocs: map[string]map[string]int64{}, Proj: a.ProjectID, User: a.UserID}
		if c != nil {
			nc.Gen = c.Gen + 1
		}
		for rp, pa := range a.Allocations {
			nc.Allocs[rp] = pa.Resources
		}
		f.consumers[consumer] = nc
	}
	w.WriteHeader(204)
}
