package placement

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	nodeUUID = "5b2b35b1-0d4e-4d0c-9d8b-0a0c9e1e7f11"
	nodeName = "cn1.example.org"
)

func newTestClient(t *testing.T, f *fakeCloud) *Client {
	t.Helper()
	c, err := New(context.Background(), f.options())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewPicksInterfaceAndReusesToken(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	if want := f.srv.URL + "/placement-internal/"; c.Endpoint() != want {
		t.Errorf("endpoint %s, want the internal one %s (valid_interfaces default internal,public)", c.Endpoint(), want)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.ProvidersInTree(ctx, nodeUUID); err != nil {
			t.Fatal(err)
		}
	}
	if f.tokensIssue != 1 {
		t.Errorf("%d tokens issued for 3 calls, want 1 (token reuse)", f.tokensIssue)
	}
	f.expireToken()
	if _, err := c.ProvidersInTree(ctx, nodeUUID); err != nil {
		t.Fatalf("call after token expiry: %v", err)
	}
	if f.tokensIssue != 2 {
		t.Errorf("%d tokens issued after expiry, want 2 (re-authentication)", f.tokensIssue)
	}

	o := f.options()
	o.ValidInterfaces = []string{"publicURL"}
	pub, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.srv.URL + "/placement-public/"; pub.Endpoint() != want {
		t.Errorf("endpoint %s, want %s", pub.Endpoint(), want)
	}
	o.ValidInterfaces = nil
	o.EndpointOverride = f.srv.URL + "/placement-public"
	ov, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.srv.URL + "/placement-public/"; ov.Endpoint() != want {
		t.Errorf("endpoint override gave %s, want %s", ov.Endpoint(), want)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	f := newFakeCloud(t)
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"wrong password", func(o *Options) { o.Password = "nope" }, "refused the [placement] credentials of user nova"},
		{"no auth url", func(o *Options) { o.AuthURL = "" }, "auth_url"},
		{"relative auth url", func(o *Options) { o.AuthURL = "keystone/v3" }, "auth_url"},
		{"no user", func(o *Options) { o.Username = "" }, "username"},
		{"no project", func(o *Options) { o.ProjectName = "" }, "project_name"},
		{"bad interface", func(o *Options) { o.ValidInterfaces = []string{"private"} }, "valid_interfaces"},
		{"unknown region", func(o *Options) { o.RegionName = "RegionTwo" }, `region "RegionTwo"`},
		{"missing CA file", func(o *Options) { o.CAFile = "/nonexistent/ca.pem" }, "cafile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := f.options()
			tt.change(&o)
			_, err := New(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEnsureProvider(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := context.Background()

	rp, err := c.EnsureProvider(ctx, nodeUUID, nodeName)
	if err != nil {
		t.Fatal(err)
	}
	if rp.UUID != nodeUUID || rp.Name != nodeName || rp.Generation != 0 {
		t.Errorf("created %+v", rp)
	}
	want := []string{
		"GET resource_providers/" + nodeUUID + " @1.14",
		"POST resource_providers @1.20",
	}
	if got := f.callLog(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}

	f.resetCalls()
	if _, err := c.EnsureProvider(ctx, nodeUUID, nodeName); err != nil {
		t.Fatal(err)
	}
	if got := f.callLog(); len(got) != 1 {
		t.Errorf("existing provider: calls %q, want only the GET", got)
	}

	// Another node's provider already holds the name (a re-installed host
	// with a fresh compute_id): refused, naming both.
	_, err = c.EnsureProvider(ctx, "0f0e0d0c-0b0a-4908-8706-050403020100", nodeName)
	var nc *ProviderNameConflictError
	if !errors.As(err, &nc) || !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), nodeName) {
		t.Errorf("name conflict: error %v, want *ProviderNameConflictError naming %s", err, nodeName)
	}

	// Creation racing with another creator of the same UUID: the 409 is
	// resolved by reading the provider, as Nova does.
	rp2, err := c.CreateProvider(ctx, nodeUUID, nodeName, "")
	if err != nil || rp2.UUID != nodeUUID {
		t.Errorf("duplicate uuid create: %+v, %v; want the existing provider", rp2, err)
	}

	_, err = c.GetProvider(ctx, "11111111-2222-4333-8444-555555555555")
	var ae *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("missing provider: %v, want 404 APIError", err)
	}
	if err := c.DeleteProvider(ctx, nodeUUID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteProvider(ctx, nodeUUID); err != nil {
		t.Errorf("deleting a deleted provider: %v, want nil", err)
	}
}

func testSyncRequest() SyncRequest {
	enabled := false
	return SyncRequest{
		UUID: nodeUUID, Name: nodeName,
		Resources: HostResources{VCPUs: 8, MemoryMB: 16384, DiskGB: 100},
		Config:    DefaultResourceConfig(),
		Traits: TraitInputs{
			Capabilities: Capabilities{AttachInterface: true, ImageTypes: []string{"raw", "qcow2"}},
			Arch:         "x86_64", CPUFeatures: []string{"sse2", "vmx", "avx2"},
			ServiceDisabled: &enabled,
		},
	}
}

func TestSyncCreatesThenOnlyWritesChanges(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := WithGlobalRequestID(context.Background(), "req-0b3f5c34-3a2b-4b5f-9d1c-3f1f1d7e2a10")

	res, err := c.Sync(ctx, testSyncRequest())
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{
		"GET resource_providers/" + nodeUUID + " @1.14",
		"POST resource_providers @1.20",
		"GET resource_providers/" + nodeUUID + "/inventories @",
		"GET resource_providers/" + nodeUUID + "/traits @1.6",
		// Which of the host's standard traits this Placement has; asked once.
		"GET traits?name=in%3ACOMPUTE_IMAGE_TYPE_QCOW2%2CCOMPUTE_IMAGE_TYPE_RAW%2CCOMPUTE_NET_ATTACH_INTERFACE%2C" +
			"COMPUTE_NODE%2CHW_ARCH_X86_64%2CHW_CPU_X86_AVX2%2CHW_CPU_X86_INTEL_VMX%2CHW_CPU_X86_SSE2%2CHW_CPU_X86_VMX @1.6",
		"PUT resource_providers/" + nodeUUID + "/inventories @1.26",
		"PUT resource_providers/" + nodeUUID + "/traits @1.6",
	}
	if got := f.callLog(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls\n %q\nwant\n %q", got, wantCalls)
	}
	wantInv := Inventories{
		VCPU:     {Total: 8, Reserved: 0, MinUnit: 1, MaxUnit: 8, StepSize: 1, AllocationRatio: 4.0},
		MemoryMB: {Total: 16384, Reserved: 512, MinUnit: 1, MaxUnit: 16384, StepSize: 1, AllocationRatio: 1.0},
		DiskGB:   {Total: 100, Reserved: 0, MinUnit: 1, MaxUnit: 100, StepSize: 1, AllocationRatio: 1.0},
	}
	rp := f.providers[nodeUUID]
	if !rp.Inv.Equal(wantInv) || !res.InventoryChanged {
		t.Errorf("placement inventory %+v, want %+v", rp.Inv, wantInv)
	}
	wantTraits := []string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_NET_ATTACH_INTERFACE",
		"COMPUTE_NODE", "HW_ARCH_X86_64", "HW_CPU_X86_AVX2", "HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_SSE2", "HW_CPU_X86_VMX"}
	if !reflect.DeepEqual(rp.Traits, wantTraits) {
		t.Errorf("placement traits %q, want %q", rp.Traits, wantTraits)
	}
	if res.Provider.Generation != rp.Gen || rp.Gen != 2 || res.Attempts != 1 {
		t.Errorf("result generation %d attempts %d, placement generation %d (want 2)", res.Provider.Generation, res.Attempts, rp.Gen)
	}

	for _, rid := range f.requestIDs() {
		if rid != "req-0b3f5c34-3a2b-4b5f-9d1c-3f1f1d7e2a10" {
			t.Errorf("X-OpenStack-Request-ID %q, want the context's global id", rid)
		}
	}

	// Nothing changed: reads only.
	f.resetCalls()
	res, err = c.Sync(ctx, testSyncRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range f.callLog() {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("unchanged sync wrote: %s", call)
		}
	}
	if res.InventoryChanged || res.TraitsChanged {
		t.Errorf("unchanged sync reports changes: %+v", res)
	}
}

// A Placement of an older release lacks standard traits our host has (2025.1 has no HW_CPU_X86_AMXTILE): the
// provider gets the traits Placement knows instead of a refused set, and those left out are reported; they are
// asked about again only after unknownTraitTTL, as an upgraded Placement may know them.
func TestSyncLeavesOutTraitsPlacementLacks(t *testing.T) {
	f := newFakeCloud(t)
	delete(f.traits, "HW_CPU_X86_AVX2")
	c := newTestClient(t, f)
	ctx := context.Background()

	res, err := c.Sync(ctx, testSyncRequest())
	if err != nil {
		t.Fatalf("sync with a trait Placement lacks: %v", err)
	}
	if want := []string{"HW_CPU_X86_AVX2"}; !reflect.DeepEqual(res.UnknownTraits, want) {
		t.Errorf("unknown traits %q, want %q", res.UnknownTraits, want)
	}
	rp := f.providers[nodeUUID]
	if slices.Contains(rp.Traits, "HW_CPU_X86_AVX2") || !slices.Contains(rp.Traits, "HW_CPU_X86_SSE2") {
		t.Errorf("placement traits %q: want the known ones without HW_CPU_X86_AVX2", rp.Traits)
	}

	f.resetCalls()
	if res, err = c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.callLog() {
		if !strings.HasPrefix(call, "GET resource_providers/") {
			t.Errorf("second sync made %s; want only the provider's reads (the catalog is remembered)", call)
		}
	}
	if res.TraitsChanged || len(res.UnknownTraits) != 1 {
		t.Errorf("second sync: traits changed %v, unknown %q", res.TraitsChanged, res.UnknownTraits)
	}

	// Placement upgraded: once the TTL has passed the trait is asked for again and set.
	f.traits["HW_CPU_X86_AVX2"] = true
	c.traits.mu.Lock()
	c.traits.unknown["HW_CPU_X86_AVX2"] = time.Now().Add(-unknownTraitTTL)
	c.traits.mu.Unlock()
	if res, err = c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	if !res.TraitsChanged || len(res.UnknownTraits) != 0 || !slices.Contains(f.providers[nodeUUID].Traits, "HW_CPU_X86_AVX2") {
		t.Errorf("after the upgrade: changed %v, unknown %q, traits %q", res.TraitsChanged, res.UnknownTraits,
			f.providers[nodeUUID].Traits)
	}
}

func TestSyncKeepsOperatorSettings(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	// An operator, through the Placement API: a custom trait, a standard
	// trait Nova does not own, a VCPU ratio of 8, and a stale owned trait.
	rp := f.providers[nodeUUID]
	f.traits["CUSTOM_RACK_A"] = true
	rp.Traits = append(rp.Traits, "CUSTOM_RACK_A", "HW_NIC_SRIOV", "HW_CPU_X86_SVM")
	inv := rp.Inv[VCPU]
	inv.AllocationRatio = 8.0
	rp.Inv[VCPU] = inv
	rp.Gen++

	req := testSyncRequest()
	disabled := true
	req.Traits.ServiceDisabled = &disabled
	if _, err := c.Sync(ctx, req); err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, tr := range rp.Traits {
		has[tr] = true
	}
	for tr, want := range map[string]bool{"CUSTOM_RACK_A": true, "HW_NIC_SRIOV": true, "HW_CPU_X86_SVM": false,
		TraitStatusDisabled: true, TraitComputeNode: true} {
		if has[tr] != want {
			t.Errorf("trait %s present=%v, want %v (traits %q)", tr, has[tr], want, rp.Traits)
		}
	}
	if got := rp.Inv[VCPU].AllocationRatio; got != 8.0 {
		t.Errorf("operator's VCPU ratio became %v, want 8.0 kept (cpu_allocation_ratio unset)", got)
	}

	// Enabling the service again removes COMPUTE_STATUS_DISABLED; a
	// configured ratio overrides the operator's.
	req = testSyncRequest()
	two := 2.0
	req.Config.CPUAllocationRatio = &two
	if _, err := c.Sync(ctx, req); err != nil {
		t.Fatal(err)
	}
	for _, tr := range rp.Traits {
		if tr == TraitStatusDisabled {
			t.Errorf("COMPUTE_STATUS_DISABLED kept after enabling: %q", rp.Traits)
		}
	}
	if got := rp.Inv[VCPU].AllocationRatio; got != 2.0 {
		t.Errorf("VCPU ratio %v, want configured 2.0", got)
	}
}

func TestSyncRetriesGenerationConflicts(t *testing.T) {
	tests := []struct {
		name      string
		conflicts int
		wantErr   bool
		attempts  int
	}{
		{"one conflict", 1, false, 2},
		{"three conflicts", 3, false, 4},
		{"endless conflicts", 100, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			c := newTestClient(t, f)
			left := tt.conflicts
			// Another writer bumps the generation just before each of our
			// inventory writes.
			f.before = func(method, path string) int {
				if method == "PUT" && strings.HasSuffix(path, "/inventories") && left > 0 {
					left--
					f.mu.Lock()
					f.providers[nodeUUID].Gen++
					f.mu.Unlock()
				}
				return 0
			}
			res, err := c.Sync(context.Background(), testSyncRequest())
			if tt.wantErr {
				if !errors.Is(err, ErrGenerationConflict) {
					t.Fatalf("error %v, want a generation conflict", err)
				}
				if n := tt.conflicts - left; n != MaxSyncAttempts {
					t.Errorf("%d attempts, want %d", n, MaxSyncAttempts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != tt.attempts || f.providers[nodeUUID].Inv[VCPU].Total != 8 {
				t.Errorf("attempts %d, want %d; inventory %+v", res.Attempts, tt.attempts, f.providers[nodeUUID].Inv)
			}
		})
	}
}

func TestSetInventoriesErrors(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	inv, gen, err := c.GetInventories(ctx, nodeUUID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SetInventories(ctx, nodeUUID, gen-1, inv)
	var ae *APIError
	if !errors.Is(err, ErrGenerationConflict) || !errors.As(err, &ae) || ae.Code != codeConcurrentUpdate {
		t.Errorf("stale generation: %v, want placement.concurrent_update", err)
	}

	// An instance uses disk: dropping DISK_GB is refused as in use.
	if err := c.PutConsumerAllocations(ctx, "inst-1", ConsumerAllocations{
		Allocations: map[string]ProviderAllocation{nodeUUID: {Resources: map[string]int64{DiskGB: 10, VCPU: 1}}},
		ProjectID:   "p", UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	req := testSyncRequest()
	req.Resources.DiskGB = 0
	_, err = c.Sync(ctx, req)
	if !errors.Is(err, ErrInventoryInUse) || errors.Is(err, ErrGenerationConflict) {
		t.Errorf("removing used DISK_GB: %v, want ErrInventoryInUse only", err)
	}

	// Reserved above total is Placement's 400, reported with its detail.
	_, gen, _ = c.GetInventories(ctx, nodeUUID)
	_, err = c.SetInventories(ctx, nodeUUID, gen, Inventories{VCPU: {Total: 2, Reserved: 3, MinUnit: 1, MaxUnit: 2, StepSize: 1, AllocationRatio: 1}})
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "VCPU") {
		t.Errorf("reserved > total: %v, want 400 naming VCPU", err)
	}
}

func TestProviderConfigThroughSync(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	one := int64(1)
	pcs, err := LoadProviderConfigs([]ProviderConfigFile{{Source: "gpu.yaml", SchemaVersion: "1.0",
		Providers: []ProviderConfigEntry{{UUID: ComputeNodeID,
			Inventories: map[string]CustomInventory{"CUSTOM_GPU_SLOT": {Total: 4, MaxUnit: &one}},
			Traits:      []string{"CUSTOM_FAST_NIC"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	req := testSyncRequest()
	req.ProviderConfigs = pcs
	if _, err := c.Sync(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	rp := f.providers[nodeUUID]
	want := Inventory{Total: 4, Reserved: 0, MinUnit: 1, MaxUnit: 1, StepSize: 1, AllocationRatio: 1}
	if rp.Inv["CUSTOM_GPU_SLOT"] != want || rp.Inv[VCPU].Total != 8 {
		t.Errorf("inventory %+v, want CUSTOM_GPU_SLOT %+v beside VCPU", rp.Inv, want)
	}
	found := false
	for _, tr := range rp.Traits {
		found = found || tr == "CUSTOM_FAST_NIC"
	}
	if !found {
		t.Errorf("traits %q lack CUSTOM_FAST_NIC", rp.Traits)
	}
	calls := strings.Join(f.callLog(), "\n")
	for _, want := range []string{"PUT resource_classes/CUSTOM_GPU_SLOT @1.7",
		"GET traits?name=in%3ACUSTOM_FAST_NIC @1.6", "PUT traits/CUSTOM_FAST_NIC @1.6"} {
		if !strings.Contains(calls, want) {
			t.Errorf("no %q among calls:\n%s", want, calls)
		}
	}
}

func TestAllocationsAndAggregates(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	f.providers[nodeUUID].Aggs = []string{"9a3b4c5d-0000-4000-8000-000000000001"}
	aggs, _, err := c.GetAggregates(ctx, nodeUUID)
	if err != nil || !reflect.DeepEqual(aggs, []string{"9a3b4c5d-0000-4000-8000-000000000001"}) {
		t.Errorf("aggregates %q, %v", aggs, err)
	}

	const inst = "7d8e9f00-1111-4222-8333-444455556666"
	a := ConsumerAllocations{Allocations: map[string]ProviderAllocation{
		nodeUUID: {Resources: map[string]int64{VCPU: 2, MemoryMB: 2048}}}, ProjectID: "p1", UserID: "u1"}
	if err := c.PutConsumerAllocations(ctx, inst, a); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetConsumerAllocations(ctx, inst)
	if err != nil {
		t.Fatal(err)
	}
	if got.ConsumerGeneration == nil || *got.ConsumerGeneration != 0 || got.Allocations[nodeUUID].Resources[VCPU] != 2 {
		t.Errorf("allocations %+v", got)
	}
	// Writing again without the generation we read is a conflict.
	if err := c.PutConsumerAllocations(ctx, inst, a); !errors.Is(err, ErrGenerationConflict) {
		t.Errorf("stale consumer generation: %v, want ErrGenerationConflict", err)
	}
	byConsumer, _, err := c.GetProviderAllocations(ctx, nodeUUID)
	if err != nil || byConsumer[inst][MemoryMB] != 2048 {
		t.Errorf("provider allocations %v, %v", byConsumer, err)
	}
	if err := c.DeleteConsumerAllocations(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteConsumerAllocations(ctx, inst); err != nil {
		t.Errorf("second delete: %v, want nil (404 tolerated)", err)
	}
	got, err = c.GetConsumerAllocations(ctx, inst)
	if err != nil || len(got.Allocations) != 0 || got.ConsumerGeneration != nil {
		t.Errorf("after delete: %+v, %v", got, err)
	}
}

func TestPlacementUnavailable(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	f.before = func(string, string) int { return 503 }
	_, err := c.Sync(context.Background(), testSyncRequest())
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("503: %v, want *UnavailableError", err)
	}
	f.before = nil
	f.srv.Close()
	_, err = c.GetProvider(context.Background(), nodeUUID)
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "get resource provider "+nodeUUID) {
		t.Errorf("server gone: %v, want *UnavailableError naming the operation", err)
	}
}

// TestMoveAllocations: a migration's allocations go back to the instance, replacing what the instance held,
// and the migration is left with none; a consumer without allocations moves nothing.
func TestMoveAllocations(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	ctx := context.Background()
	if _, err := c.Sync(ctx, testSyncRequest()); err != nil {
		t.Fatal(err)
	}
	const inst, mig = "7d8e9f00-1111-4222-8333-444455556666", "7d8e9f00-1111-4222-8333-777788889999"
	put := func(consumer string, vcpu int64) {
		t.Helper()
		a := ConsumerAllocations{Allocations: map[string]ProviderAllocation{
			nodeUUID: {Resources: map[string]int64{VCPU: vcpu}}}, ProjectID: "p1", UserID: "u1"}
		if err := c.PutConsumerAllocations(ctx, consumer, a); err != nil {
			t.Fatal(err)
		}
	}
	put(mig, 1)  // the source's allocation, held by the migration
	put(inst, 4) // the scheduler's claim on the destination, held by the instance
	moved, err := c.MoveAllocations(ctx, mig, inst)
	if err != nil || !moved {
		t.Fatalf("MoveAllocations: %v, %v", moved, err)
	}
	got, err := c.GetConsumerAllocations(ctx, inst)
	if err != nil || got.Allocations[nodeUUID].Resources[VCPU] != 1 || got.ProjectID != "p1" {
		t.Errorf("instance after move: %+v, %v", got, err)
	}
	if got, err := c.GetConsumerAllocations(ctx, mig); err != nil || len(got.Allocations) != 0 {
		t.Errorf("migration after move: %+v, %v", got, err)
	}
	if moved, err := c.MoveAllocations(ctx, mig, inst); err != nil || moved {
		t.Errorf("second move: %v, %v; want nothing moved", moved, err)
	}
	if got, _ := c.GetConsumerAllocations(ctx, inst); got.Allocations[nodeUUID].Resources[VCPU] != 1 {
		t.Errorf("instance after empty move: %+v", got)
	}
}
