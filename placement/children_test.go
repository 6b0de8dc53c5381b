package placement

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Device ids as the bhyve driver names passthrough devices (bus:slot:function).
const (
	devNIC = "pci0:3:0:0"
	devGPU = "pci0:4:0:0"
)

func testChild(dev string, inv map[string]int64, traits ...string) ChildProvider {
	return ChildProvider{UUID: ChildUUID(nodeUUID, dev), Name: ChildName(nodeName, dev), Inventory: inv, Traits: traits}
}

// full is a child's inventory record as Sync writes it.
func full(total int64) Inventory {
	return Inventory{Total: total, Reserved: 0, MinUnit: 1, MaxUnit: total, StepSize: 1, AllocationRatio: 1.0}
}

func TestChildUUID(t *testing.T) {
	a := ChildUUID(nodeUUID, devNIC)
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 5 {
		t.Fatalf("ChildUUID gave %q (%v), want a uuid v5", a, err)
	}
	if b := ChildUUID(strings.ToUpper(nodeUUID), devNIC); b != a {
		t.Errorf("uppercase root uuid gave %s, want %s (Placement lowercases uuids)", b, a)
	}
	for _, other := range []string{ChildUUID(nodeUUID, devGPU), ChildUUID("0f0e0d0c-0b0a-4908-8706-050403020100", devNIC)} {
		if other == a {
			t.Errorf("another device or root gave the same uuid %s", a)
		}
	}
	// The namespace is fixed for good: allocations in running clouds refer to these uuids.
	if want := uuid.NewSHA1(uuid.MustParse("3f0b6c2e-8d41-4e57-9a1c-6b2f0d7e5a93"),
		[]byte(nodeUUID+"/"+devNIC)).String(); a != want {
		t.Errorf("ChildUUID %s, want %s: the derivation changed", a, want)
	}
}

func TestSyncChildren(t *testing.T) {
	nic := testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1}, "CUSTOM_FAST_NIC", "HW_NIC_SRIOV")
	gpu := testChild(devGPU, map[string]int64{"CUSTOM_PCI_10DE_1EB8": 1})
	neutron := &fakeRP{UUID: "aaaaaaaa-0000-4000-8000-000000000001", Name: nodeName + ":NIC Switch agent",
		Parent: nodeUUID, Inv: Inventories{}}
	operator := &fakeRP{UUID: "aaaaaaaa-0000-4000-8000-000000000002", Name: "rack-power-meter", Parent: nodeUUID,
		Inv: Inventories{}}
	// Named like ours but not a direct child of the root: not ours either.
	deep := &fakeRP{UUID: "aaaaaaaa-0000-4000-8000-000000000003", Name: nodeName + "_vf0",
		Parent: neutron.UUID, Inv: Inventories{}}

	tests := []struct {
		name     string
		before   []ChildProvider // children of a first sync
		setup    func(t *testing.T, f *fakeCloud, c *Client)
		children []ChildProvider
		check    func(t *testing.T, f *fakeCloud, c *Client, res *SyncResult)
	}{
		{
			name: "created under the root",
			children: []ChildProvider{
				testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 2},
					"HW_NIC_SRIOV", "CUSTOM_FAST_NIC", "HW_GPU_API_VULKAN", "CUSTOM_FAST_NIC"),
				gpu,
			},
			check: func(t *testing.T, f *fakeCloud, _ *Client, res *SyncResult) {
				rp := f.providers[nic.UUID]
				if rp == nil || rp.Parent != nodeUUID || rp.Name != nodeName+"_pci0:3:0:0" {
					t.Fatalf("nic provider %+v, want %s under %s", rp, nic.Name, nodeUUID)
				}
				if want := (Inventories{"CUSTOM_PCI_8086_1572": full(2)}); !rp.Inv.Equal(want) {
					t.Errorf("nic inventory %+v, want %+v", rp.Inv, want)
				}
				if want := []string{"CUSTOM_FAST_NIC", "HW_NIC_SRIOV"}; !reflect.DeepEqual(rp.Traits, want) {
					t.Errorf("nic traits %q, want %q (Vulkan unknown to this Placement)", rp.Traits, want)
				}
				if len(res.Children) != 2 || res.Children[0].Provider.UUID != nic.UUID || res.Children[1].Provider.UUID != gpu.UUID {
					t.Fatalf("result children %+v, want nic then gpu", res.Children)
				}
				st := res.Children[0]
				if !st.Created || !st.InventoryChanged || !st.TraitsChanged ||
					!reflect.DeepEqual(st.UnknownTraits, []string{"HW_GPU_API_VULKAN"}) {
					t.Errorf("nic state %+v", st)
				}
				if st.Provider.ParentProviderUUID != nodeUUID || st.Provider.Generation != rp.Gen || st.Provider.Name != nic.Name {
					t.Errorf("nic provider in result %+v, placement generation %d", st.Provider, rp.Gen)
				}
				if g := f.providers[gpu.UUID]; g == nil || !g.Inv.Equal(Inventories{"CUSTOM_PCI_10DE_1EB8": full(1)}) ||
					len(g.Traits) != 0 || res.Children[1].TraitsChanged {
					t.Errorf("gpu provider %+v, state %+v", g, res.Children[1])
				}
			},
		},
		{
			name:   "changed inventory and traits rewritten",
			before: []ChildProvider{nic},
			children: []ChildProvider{testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1, "CUSTOM_NIC_VF": 4},
				"CUSTOM_FAST_NIC")},
			check: func(t *testing.T, f *fakeCloud, _ *Client, res *SyncResult) {
				rp := f.providers[nic.UUID]
				want := Inventories{"CUSTOM_PCI_8086_1572": full(1), "CUSTOM_NIC_VF": full(4)}
				if !rp.Inv.Equal(want) || !reflect.DeepEqual(rp.Traits, []string{"CUSTOM_FAST_NIC"}) {
					t.Errorf("nic inventory %+v traits %q, want %+v and only CUSTOM_FAST_NIC", rp.Inv, rp.Traits, want)
				}
				st := res.Children[0]
				if st.Created || !st.InventoryChanged || !st.TraitsChanged || st.Provider.Generation != rp.Gen {
					t.Errorf("state %+v (placement generation %d)", st, rp.Gen)
				}
			},
		},
		{
			name:     "unwanted child deleted",
			before:   []ChildProvider{nic, gpu},
			children: []ChildProvider{nic},
			check: func(t *testing.T, f *fakeCloud, _ *Client, res *SyncResult) {
				if f.providers[gpu.UUID] != nil || len(res.DeletedChildren) != 1 || res.DeletedChildren[0].UUID != gpu.UUID {
					t.Errorf("gpu provider %+v, deleted %+v; want it deleted and reported", f.providers[gpu.UUID], res.DeletedChildren)
				}
				if len(res.Children) != 1 || res.Children[0].InventoryChanged || res.Children[0].TraitsChanged {
					t.Errorf("the kept nic was rewritten: %+v", res.Children)
				}
			},
		},
		{
			name:     "unwanted child in use kept full until released",
			before:   []ChildProvider{nic, gpu},
			children: []ChildProvider{nic},
			setup: func(t *testing.T, f *fakeCloud, c *Client) {
				if err := c.PutConsumerAllocations(context.Background(), "inst-gpu", ConsumerAllocations{
					Allocations: map[string]ProviderAllocation{gpu.UUID: {Resources: map[string]int64{"CUSTOM_PCI_10DE_1EB8": 1}}},
					ProjectID:   "p", UserID: "u"}); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, f *fakeCloud, c *Client, res *SyncResult) {
				rp := f.providers[gpu.UUID]
				want := Inventories{"CUSTOM_PCI_10DE_1EB8": {Total: 1, Reserved: 1, MinUnit: 1, MaxUnit: 1, StepSize: 1,
					AllocationRatio: 1}}
				if rp == nil || !rp.Inv.Equal(want) {
					t.Fatalf("gpu provider %+v, want kept with inventory %+v", rp, want)
				}
				if len(res.RetiredInUse) != 1 || res.RetiredInUse[0].Provider.UUID != gpu.UUID ||
					!res.RetiredInUse[0].InventoryChanged || !res.RetiredInUse[0].Inventories.Equal(want) ||
					len(res.DeletedChildren) != 0 {
					t.Errorf("retired %+v deleted %+v", res.RetiredInUse, res.DeletedChildren)
				}
				ctx := context.Background()
				req := testSyncRequest()
				req.Children = []ChildProvider{nic}
				again, err := c.Sync(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if len(again.RetiredInUse) != 1 || again.RetiredInUse[0].InventoryChanged {
					t.Errorf("second sync: retired %+v, want it still retired and not rewritten", again.RetiredInUse)
				}
				if err := c.DeleteConsumerAllocations(ctx, "inst-gpu"); err != nil {
					t.Fatal(err)
				}
				last, err := c.Sync(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if f.providers[gpu.UUID] != nil || len(last.RetiredInUse) != 0 || len(last.DeletedChildren) != 1 {
					t.Errorf("after release: provider %+v, retired %+v, deleted %+v; want it deleted",
						f.providers[gpu.UUID], last.RetiredInUse, last.DeletedChildren)
				}
			},
		},
		{
			name:   "other providers in the tree left alone",
			before: []ChildProvider{nic},
			setup: func(t *testing.T, f *fakeCloud, _ *Client) {
				for _, rp := range []*fakeRP{neutron, operator, deep} {
					cp := *rp
					f.providers[rp.UUID] = &cp
				}
			},
			children: nil,
			check: func(t *testing.T, f *fakeCloud, _ *Client, res *SyncResult) {
				if f.providers[nic.UUID] != nil {
					t.Errorf("our nic provider was kept with no children wanted")
				}
				for _, rp := range []*fakeRP{neutron, operator, deep} {
					if f.providers[rp.UUID] == nil {
						t.Errorf("%s (%s) was deleted", rp.Name, rp.UUID)
					}
				}
				if len(res.DeletedChildren) != 1 || len(res.Children) != 0 {
					t.Errorf("deleted %+v children %+v, want only the nic deleted", res.DeletedChildren, res.Children)
				}
			},
		},
		{
			name:   "renamed back",
			before: []ChildProvider{nic},
			setup: func(t *testing.T, f *fakeCloud, _ *Client) {
				f.providers[nic.UUID].Name = "old-host_pci0:3:0:0"
			},
			children: []ChildProvider{nic},
			check: func(t *testing.T, f *fakeCloud, _ *Client, res *SyncResult) {
				if got := f.providers[nic.UUID].Name; got != nic.Name || !res.Children[0].Renamed ||
					res.Children[0].InventoryChanged {
					t.Errorf("name %q, state %+v; want renamed to %q only", got, res.Children[0], nic.Name)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			c := newTestClient(t, f)
			ctx := context.Background()
			req := testSyncRequest()
			req.Children = tt.before
			if _, err := c.Sync(ctx, req); err != nil {
				t.Fatal(err)
			}
			if tt.setup != nil {
				tt.setup(t, f, c)
			}
			req.Children = tt.children
			res, err := c.Sync(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if rp := f.providers[nodeUUID]; rp.Inv[VCPU].Total != 8 || rp.Parent != "" {
				t.Errorf("root provider %+v changed", rp)
			}
			tt.check(t, f, c, res)
		})
	}
}

// A restarted service (a new Client) finds the children it made, by their derived uuids, and writes nothing.
func TestSyncChildrenAfterRestart(t *testing.T) {
	f := newFakeCloud(t)
	ctx := context.Background()
	req := testSyncRequest()
	req.Children = []ChildProvider{
		testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1}, "CUSTOM_FAST_NIC"),
		testChild(devGPU, map[string]int64{"CUSTOM_PCI_10DE_1EB8": 1}),
	}
	first, err := newTestClient(t, f).Sync(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.resetCalls()
	restarted := testSyncRequest()
	restarted.Children = []ChildProvider{
		testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1}, "CUSTOM_FAST_NIC"),
		testChild(devGPU, map[string]int64{"CUSTOM_PCI_10DE_1EB8": 1}),
	}
	res, err := newTestClient(t, f).Sync(ctx, restarted)
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range f.callLog() {
		if !strings.HasPrefix(call, "GET ") {
			t.Errorf("sync after restart wrote: %s", call)
		}
	}
	if len(f.providers) != 3 || len(res.Children) != 2 {
		t.Fatalf("%d providers, %d children after restart; want the root and the same two", len(f.providers), len(res.Children))
	}
	for i, st := range res.Children {
		if st.Provider.UUID != first.Children[i].Provider.UUID || st.Created || st.InventoryChanged || st.TraitsChanged {
			t.Errorf("child %d after restart %+v, before %+v", i, st, first.Children[i])
		}
	}
}

// Without children the tree is read once per Client (a restart may have left children to remove) and then
// only while some of ours remain.
func TestSyncReadsTreeOnlyWhenChildrenMayExist(t *testing.T) {
	f := newFakeCloud(t)
	ctx := context.Background()
	treeReads := func() int {
		n := 0
		for _, call := range f.callLog() {
			if strings.HasPrefix(call, "GET resource_providers?in_tree=") {
				n++
			}
		}
		f.resetCalls()
		return n
	}
	c := newTestClient(t, f)
	req := testSyncRequest()
	steps := []struct {
		name     string
		client   *Client
		children []ChildProvider
		want     int
	}{
		{"root created", c, nil, 0},
		{"nothing changed", c, nil, 0},
		{"restart", newTestClient(t, f), nil, 1},
		{"children wanted", c, []ChildProvider{testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1})}, 1},
		{"children dropped", c, nil, 1},
		{"none left", c, nil, 0},
	}
	for _, s := range steps {
		req.Children = s.children
		if _, err := s.client.Sync(ctx, req); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := treeReads(); got != s.want {
			t.Errorf("%s: %d tree reads, want %d", s.name, got, s.want)
		}
	}
}

func TestSyncRefusesBadChildren(t *testing.T) {
	good := testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1}, "CUSTOM_FAST_NIC")
	with := func(change func(*ChildProvider)) []ChildProvider {
		ch := good
		ch.Inventory = map[string]int64{"CUSTOM_PCI_8086_1572": 1}
		change(&ch)
		return []ChildProvider{ch}
	}
	dupUUID := testChild(devGPU, good.Inventory)
	dupUUID.UUID = good.UUID
	dupName := testChild(devGPU, good.Inventory)
	dupName.Name = good.Name
	tests := []struct {
		name     string
		children []ChildProvider
		want     string
	}{
		{"not a uuid", with(func(c *ChildProvider) { c.UUID = "pci0:3:0:0" }), "not a uuid"},
		{"the root's uuid", with(func(c *ChildProvider) { c.UUID = nodeUUID }), "root's or another child's"},
		{"same uuid twice", []ChildProvider{good, dupUUID}, "root's or another child's"},
		{"same name twice", []ChildProvider{good, dupName}, "same name"},
		{"name without the root's", with(func(c *ChildProvider) { c.Name = "pci0:3:0:0" }), `"cn1.example.org_" followed`},
		{"name only the prefix", with(func(c *ChildProvider) { c.Name = nodeName + "_" }), "followed by the device id"},
		{"name too long", with(func(c *ChildProvider) { c.Name = nodeName + "_" + strings.Repeat("x", 200) }), "longer than"},
		{"no inventory", with(func(c *ChildProvider) { c.Inventory = nil }), "no inventory"},
		{"zero total", with(func(c *ChildProvider) { c.Inventory["CUSTOM_PCI_8086_1572"] = 0 }), "total 0 is outside"},
		{"bad class", with(func(c *ChildProvider) { c.Inventory = map[string]int64{"custom_nic": 1} }), `resource class "custom_nic"`},
		{"bad trait", with(func(c *ChildProvider) { c.Traits = []string{"CUSTOM_"} }), `trait "CUSTOM_"`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeCloud(t)
			c := newTestClient(t, f)
			req := testSyncRequest()
			req.Children = tt.children
			_, err := c.Sync(context.Background(), req)
			if !errors.Is(err, ErrInvalidChild) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrInvalidChild mentioning %q", err, tt.want)
			}
			if calls := f.callLog(); len(calls) != 0 {
				t.Errorf("refused request still called Placement: %q", calls)
			}
		})
	}
}

// A child's uuid held by a provider outside the node's tree is refused rather than written to.
func TestSyncChildUUIDTakenElsewhere(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	nic := testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1})
	f.providers[nic.UUID] = &fakeRP{UUID: nic.UUID, Name: "elsewhere", Inv: Inventories{}}
	req := testSyncRequest()
	req.Children = []ChildProvider{nic}
	_, err := c.Sync(context.Background(), req)
	if !errors.Is(err, ErrInvalidChild) || !strings.Contains(err.Error(), "not the root") {
		t.Errorf("error %v, want ErrInvalidChild saying the parent is not the root", err)
	}
	if rp := f.providers[nic.UUID]; rp.Name != "elsewhere" || len(rp.Inv) != 0 {
		t.Errorf("the other provider was written: %+v", rp)
	}
}

// A generation conflict on a child's write starts the sync again, as it does for the root.
func TestSyncChildRetriesGenerationConflict(t *testing.T) {
	f := newFakeCloud(t)
	c := newTestClient(t, f)
	nic := testChild(devNIC, map[string]int64{"CUSTOM_PCI_8086_1572": 1})
	left := 1
	f.before = func(method, path string) int {
		if method == "PUT" && path == "resource_providers/"+nic.UUID+"/inventories" && left > 0 {
			left--
			f.mu.Lock()
			f.providers[nic.UUID].Gen++
			f.mu.Unlock()
		}
		return 0
	}
	req := testSyncRequest()
	req.Children = []ChildProvider{nic}
	res, err := c.Sync(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || !f.providers[nic.UUID].Inv.Equal(Inventories{"CUSTOM_PCI_8086_1572": full(1)}) {
		t.Errorf("attempts %d, inventory %+v; want 2 and the inventory written", res.Attempts, f.providers[nic.UUID].Inv)
	}
}
