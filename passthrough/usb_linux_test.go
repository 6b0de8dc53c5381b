//go:build linux

package passthrough

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/novabsd/novabsd/hypervisor/host"
)

// TestSelectUSBFromSysfs: the specs an operator would write for the host
// of hypervisor/host/testdata/sysfs-usb/debian12, through Linux discovery.
func TestSelectUSBFromSysfs(t *testing.T) {
	root, err := filepath.Abs("../hypervisor/host/testdata/sysfs-usb/debian12")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := host.DiscoverUSB(root)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseUSBSpecs([]string{"0781:5581@1-1.2", "1A86:7523"})
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]string
	for _, d := range SelectUSB(specs, devs) {
		got = append(got, [2]string{d.ID, d.ResourceClass})
	}
	want := [][2]string{{"usb-1-1.2", "CUSTOM_USB_0781_5581"}, {"usb-1-7", "CUSTOM_USB_1A86_7523"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
