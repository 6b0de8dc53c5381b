package compute

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/host"
	"github.com/novabsd/novabsd/passthrough"
	"github.com/novabsd/novabsd/placement"
)

// usbService is a Service with these usb_device_spec entries, logging into logs.
func usbService(t *testing.T, specs []string, logs *bytes.Buffer) *Service {
	t.Helper()
	cfg := startableConfig()
	cfg.NovaBSD.USBDeviceSpec = specs
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.nodeUUID = "5b1c8a4e-2c1d-4a55-9a3e-0c3b2d7f9e10"
	return s
}

func TestNewRefusesABadUSBSpec(t *testing.T) {
	cfg := startableConfig()
	cfg.NovaBSD.USBDeviceSpec = []string{"0781:5581", "0781:55810"}
	_, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	var se *StartupError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "0781:55810") || !strings.Contains(err.Error(), "[novabsd]") {
		t.Fatalf("New with a bad usb_device_spec: %v, want a StartupError naming [novabsd] and the entry", err)
	}
}

// Two identical flash drives and a keyboard, as Linux's sysfs gives them.
var usbHostDevices = []host.USBDevice{
	{Bus: 1, Address: 3, Port: "1.2", VendorID: 0x0781, ProductID: 0x5581, Manufacturer: "SanDisk"},
	{Bus: 1, Address: 4, Port: "2", VendorID: 0x0781, ProductID: 0x5581},
	{Bus: 2, Address: 2, Port: "1", VendorID: 0x046d, ProductID: 0xc31c},
}

func TestUSBChildren(t *testing.T) {
	tests := []struct {
		name      string
		specs     []string
		wantIDs   []string
		wantClass string
		wantWarn  string // "" for no warning
	}{
		{name: "no spec offers nothing", specs: nil},
		{name: "vendor and product offer both drives", specs: []string{"0781:5581"},
			wantIDs: []string{"usb-1-1.2", "usb-1-2"}, wantClass: "CUSTOM_USB_0781_5581"},
		{name: "a port picks one", specs: []string{"0781:5581@1-2"}, wantIDs: []string{"usb-1-2"},
			wantClass: "CUSTOM_USB_0781_5581"},
		{name: "a spec matching nothing is said", specs: []string{"046d:c31c", "1234:5678"},
			wantIDs: []string{"usb-2-1"}, wantClass: "CUSTOM_USB_046D_C31C", wantWarn: "1234:5678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := usbService(t, tt.specs, &logs)
			children, byUUID := s.usbChildren("node1", usbHostDevices)
			var ids []string
			for _, c := range children {
				d, ok := byUUID[c.UUID]
				if !ok {
					t.Fatalf("child %s has no device", c.UUID)
				}
				ids = append(ids, d.ID)
				if c.UUID != placement.ChildUUID(s.nodeUUID, d.ID) || c.Name != "node1_"+d.ID {
					t.Errorf("child %+v for %s: want uuid %s, name node1_%s", c, d.ID,
						placement.ChildUUID(s.nodeUUID, d.ID), d.ID)
				}
				if len(c.Inventory) != 1 || c.Inventory[tt.wantClass] != 1 {
					t.Errorf("child %s inventory %v, want one %s", c.Name, c.Inventory, tt.wantClass)
				}
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("offered %v, want %v", ids, tt.wantIDs)
			}
			if got := strings.Contains(logs.String(), "match no USB device"); got != (tt.wantWarn != "") ||
				!strings.Contains(logs.String(), tt.wantWarn) {
				t.Errorf("log %q, want a warning naming %q", logs.String(), tt.wantWarn)
			}
			// The same specs at the next audit are not said again.
			logs.Reset()
			s.usbChildren("node1", usbHostDevices)
			if strings.Contains(logs.String(), "match no USB device") {
				t.Errorf("the unmatched specs were said again: %q", logs.String())
			}
		})
	}
}

// TestUSBNotOfferedWithoutTheEngine: an engine without USB passthrough (no engine at all here) offers nothing
// and says so once, rather than reporting devices a build could never get.
func TestUSBNotOfferedWithoutTheEngine(t *testing.T) {
	var logs bytes.Buffer
	s := usbService(t, []string{"0781:5581"}, &logs)
	cfg := s.cfg.Load()
	for range 2 {
		devs, err := s.usbDevices(cfg)
		if err != nil || devs != nil {
			t.Fatalf("usbDevices = %v, %v; want nothing", devs, err)
		}
	}
	if n := strings.Count(logs.String(), "cannot pass USB devices"); n != 1 {
		t.Errorf("said %d times, want once: %q", n, logs.String())
	}
}

func TestUSBForInstance(t *testing.T) {
	var logs bytes.Buffer
	s := usbService(t, []string{"0781:5581"}, &logs)
	children, byUUID := s.usbChildren("node1", usbHostDevices)
	var result placement.SyncResult
	for _, c := range children {
		result.Children = append(result.Children, placement.ChildState{Provider: placement.ResourceProvider{UUID: c.UUID,
			Name: c.Name}, Created: true})
	}
	s.offerUSB(byUUID, &result)
	first := children[0].UUID // usb-1-1.2
	tests := []struct {
		name    string
		allocs  map[string]map[string]int64
		want    []hypervisor.USBDevice
		wantErr string
	}{
		{name: "no device asked", allocs: map[string]map[string]int64{s.nodeUUID: {"VCPU": 1, "MEMORY_MB": 128}}},
		{name: "the drive at 1-1.2", allocs: map[string]map[string]int64{s.nodeUUID: {"VCPU": 1},
			first: {"CUSTOM_USB_0781_5581": 1}},
			want: []hypervisor.USBDevice{{Vendor: 0x0781, Product: 0x5581, Bus: 1, Port: "1.2"}}},
		{name: "a provider not offered", allocs: map[string]map[string]int64{
			placement.ChildUUID(s.nodeUUID, "usb-9-9"): {"CUSTOM_USB_0781_5581": 1}}, wantErr: "offers no USB device"},
		{name: "the class on the node itself", allocs: map[string]map[string]int64{
			s.nodeUUID: {"CUSTOM_USB_0781_5581": 1}}, wantErr: "offers no USB device"},
		{name: "another class on the drive's provider", allocs: map[string]map[string]int64{
			first: {"CUSTOM_USB_046D_C31C": 1}}, wantErr: "holds CUSTOM_USB_0781_5581"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.usb.allocations = func(_ context.Context, consumer string) (map[string]map[string]int64, error) {
				if consumer != "inst-1" {
					t.Errorf("allocations of %q, want the instance's", consumer)
				}
				return tt.allocs, nil
			}
			got, err := s.usbForInstance(context.Background(), "inst-1")
			var ce *usbClaimError
			switch {
			case tt.wantErr != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err %v, want a usbClaimError saying %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("devices %+v, want %+v", got, tt.want)
			}
		})
	}
	if !strings.Contains(logs.String(), "USB device offered for passthrough") {
		t.Errorf("the offer was not logged: %q", logs.String())
	}
}

// TestUSBForInstanceWithoutSpecs: a host offering no USB device never reads allocations for a build.
func TestUSBForInstanceWithoutSpecs(t *testing.T) {
	s := usbService(t, nil, &bytes.Buffer{})
	s.usb.allocations = func(context.Context, string) (map[string]map[string]int64, error) {
		t.Error("allocations read on a host offering no USB device")
		return nil, nil
	}
	if got, err := s.usbForInstance(context.Background(), "inst-1"); got != nil || err != nil {
		t.Errorf("usbForInstance = %v, %v; want nothing", got, err)
	}
}

// TestUSBDiscoveryFromSysfs: the audit reads the devices from [novabsd] sysfs_root when the engine can pass them.
func TestUSBDiscoveryFromSysfs(t *testing.T) {
	root := t.TempDir()
	dev := filepath.Join(root, "bus", "usb", "devices", "1-1.2")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"busnum": "1", "devnum": "3", "devpath": "1.2", "idVendor": "0781",
		"idProduct": "5581"} {
		if err := os.WriteFile(filepath.Join(dev, k), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	devs, err := host.DiscoverUSB(root)
	if err != nil {
		t.Fatal(err)
	}
	sel := passthrough.SelectUSB([]passthrough.USBSpec{{Vendor: 0x0781, Product: 0x5581}}, devs)
	if len(sel) != 1 || sel[0].ID != "usb-1-1.2" {
		t.Errorf("selected %+v, want the drive at 1-1.2", sel)
	}
}

func TestNewChecksPCIConfig(t *testing.T) {
	tests := []struct {
		name     string
		spec     []string
		alias    []string
		wantErr  string // "" to start
		wantWarn bool
	}{
		{name: "none"},
		{name: "a device spec is read and said unused", spec: []string{`{"vendor_id": "8086", "product_id": "1563"}`},
			wantWarn: true},
		{name: "a broken device spec stops the start", spec: []string{`{"vendor_id": "8086"`}, wantErr: "[pci] device_spec"},
		{name: "a broken alias stops the start", alias: []string{`{"name": "a", "vendor_id": "zz"}`},
			wantErr: "[pci] alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := startableConfig()
			cfg.PCI.DeviceSpec, cfg.PCI.Alias = tt.spec, tt.alias
			var logs bytes.Buffer
			_, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			var se *StartupError
			if tt.wantErr != "" {
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want a StartupError naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "PCI passthrough is not offered"); got != tt.wantWarn {
				t.Errorf("warned %v, want %v: %q", got, tt.wantWarn, logs.String())
			}
		})
	}
}
