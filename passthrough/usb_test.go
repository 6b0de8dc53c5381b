package passthrough

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor/host"
)

func TestParseUSBSpecs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []USBSpec
	}{
		{"none", nil, []USBSpec{}},
		{"ids", []string{"0781:5581"}, []USBSpec{{Vendor: 0x0781, Product: 0x5581}}},
		{"upper case and blanks", []string{" 046D:C31C\t"}, []USBSpec{{Vendor: 0x046d, Product: 0xc31c}}},
		{"at a port", []string{"0781:5581@1-1.2"}, []USBSpec{{Vendor: 0x0781, Product: 0x5581, Bus: 1, Port: "1.2"}}},
		{"root port, bus 12", []string{"ffff:0000@12-3"}, []USBSpec{{Vendor: 0xffff, Bus: 12, Port: "3"}}},
		{"several", []string{"0781:5581", "1a86:7523@2-4.1.3"},
			[]USBSpec{{Vendor: 0x0781, Product: 0x5581}, {Vendor: 0x1a86, Product: 0x7523, Bus: 2, Port: "4.1.3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUSBSpecs(tt.in)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseUSBSpecsRefuses(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"07815581", "no ':'"},
		{"781:5581", `vendor id "781" is not four hexadecimal digits`},
		{"0781:55811", `product id "55811" is not four hexadecimal digits`},
		{"0x78:5581", `vendor id "0x78"`},
		{"078g:5581", `vendor id "078g"`},
		{"+781:5581", `vendor id "+781"`},
		{"0781:5581:1", `product id "5581:1"`},
		{"0781:5581@", `place "" is not BUS-PORTPATH`},
		{"0781:5581@1", `place "1" is not BUS-PORTPATH`},
		{"0781:5581@-1.2", `bus "" is not a decimal number`},
		{"0781:5581@01-1.2", `bus "01"`},
		{"0781:5581@x-1.2", `bus "x"`},
		{"0781:5581@99999-1", "bus 99999 is greater than 65535"},
		{"0781:5581@1-", "empty port path"},
		{"0781:5581@1-1..2", `"" is not a port number`},
		{"0781:5581@1-1.2:1.0", `"2:1" is not a port number`},
		{"0781:5581@1-1/../2", `is not a port number`},
		{"0781:5581@1-0", `port "0" is not between 1 and 255`},
		{"0781:5581@1-1.2@3", `is not a port number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseUSBSpecs([]string{"0781:5581", tt.in})
			var se *SpecError
			if !errors.As(err, &se) || se.Value != tt.in || !strings.Contains(se.Reason, tt.reason) {
				t.Fatalf("error %v, want a *SpecError for %q saying %q", err, tt.in, tt.reason)
			}
			if !strings.Contains(err.Error(), `usb_device_spec "`+tt.in+`"`) {
				t.Errorf("message %q does not name the entry", err)
			}
		})
	}
}

func TestUSBSpecString(t *testing.T) {
	for _, in := range []string{"0781:5581", "abcd:00ef@3-1.4.2"} {
		s, err := ParseUSBSpecs([]string{in})
		if err != nil || s[0].String() != in {
			t.Errorf("%q: %v, %v", in, s, err)
		}
	}
}

// hostDevices is a Linux host's USB devices as host.DiscoverUSB gives them,
// with two devices of the same ids, plus a FreeBSD-shaped one without a
// port path and two malformed ones.
var hostDevices = []host.USBDevice{
	{Bus: 1, Address: 2, Port: "1", VendorID: 0x05e3, ProductID: 0x0610, Class: 9, Manufacturer: "GenesysLogic",
		Product: "USB2.1 Hub", Description: "USB2.1 Hub GenesysLogic"},
	{Bus: 1, Address: 5, Port: "1.2", VendorID: 0x0781, ProductID: 0x5581, Manufacturer: "SanDisk",
		Product: "SanDisk 3.2Gen1", Description: "SanDisk 3.2Gen1 SanDisk"},
	{Bus: 1, Address: 3, Port: "10", VendorID: 0x0bda, ProductID: 0x8153, Manufacturer: "Realtek",
		Product: "USB 10/100/1000 LAN"},
	{Bus: 2, Address: 2, Port: "3", VendorID: 0x0781, ProductID: 0x5581, Manufacturer: "SanDisk",
		Product: "SanDisk 3.2Gen1"},
	{Bus: 0, Address: 3, VendorID: 0x0951, ProductID: 0x1666, Description: "DataTraveler 3.0 Kingston"},
	{Bus: 3, Address: 4, Port: "1/../2", VendorID: 0x0781, ProductID: 0x5581},
	{Bus: -1, Address: 4, Port: "2", VendorID: 0x0781, ProductID: 0x5581},
}

func TestSelectUSB(t *testing.T) {
	sandisk1 := Device{ID: "usb-1-1.2", ResourceClass: "CUSTOM_USB_0781_5581", Vendor: 0x0781, Product: 0x5581,
		Bus: 1, Port: "1.2", Address: 5, Description: "SanDisk SanDisk 3.2Gen1"}
	sandisk2 := Device{ID: "usb-2-3", ResourceClass: "CUSTOM_USB_0781_5581", Vendor: 0x0781, Product: 0x5581,
		Bus: 2, Port: "3", Address: 2, Description: "SanDisk SanDisk 3.2Gen1"}
	realtek := Device{ID: "usb-1-10", ResourceClass: "CUSTOM_USB_0BDA_8153", Vendor: 0x0bda, Product: 0x8153,
		Bus: 1, Port: "10", Address: 3, Description: "Realtek USB 10/100/1000 LAN"}
	hub := Device{ID: "usb-1-1", ResourceClass: "CUSTOM_USB_05E3_0610", Vendor: 0x05e3, Product: 0x0610, Bus: 1,
		Port: "1", Address: 2, Description: "GenesysLogic USB2.1 Hub"}
	kingston := Device{ID: "usb-ugen0.3", ResourceClass: "CUSTOM_USB_0951_1666", Vendor: 0x0951, Product: 0x1666,
		Address: 3, Description: "DataTraveler 3.0 Kingston"}
	tests := []struct {
		name      string
		specs     []string
		want      []Device
		unmatched []string
	}{
		{"no specs", nil, nil, nil},
		{"by ids: both drives, the malformed ones left out", []string{"0781:5581"}, []Device{sandisk1, sandisk2}, nil},
		{"by place: one drive", []string{"0781:5581@2-3"}, []Device{sandisk2}, nil},
		{"place with other ids", []string{"0bda:8153@1-1.2"}, nil, []string{"0bda:8153@1-1.2"}},
		{"each device once, sorted by id as a string", []string{"0781:5581@2-3", "0bda:8153", "0781:5581", "05e3:0610"},
			[]Device{hub, sandisk1, realtek, sandisk2}, nil},
		{"nothing plugged in", []string{"dead:beef", "0781:5581@1-9"}, nil, []string{"dead:beef", "0781:5581@1-9"}},
		{"no port path: ugen id", []string{"0951:1666"}, []Device{kingston}, nil},
		{"no port path: a place matches nothing", []string{"0951:1666@0-1"}, nil, []string{"0951:1666@0-1"}},
	}
	idRE := regexp.MustCompile(`^[a-z0-9.-]+$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			specs, err := ParseUSBSpecs(tt.specs)
			if err != nil {
				t.Fatal(err)
			}
			got := SelectUSB(specs, hostDevices)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
			for _, d := range got {
				if !idRE.MatchString(d.ID) {
					t.Errorf("id %q has characters outside [a-z0-9.-]", d.ID)
				}
			}
			var unmatched []string
			for _, s := range UnmatchedUSB(specs, hostDevices) {
				unmatched = append(unmatched, s.String())
			}
			if !reflect.DeepEqual(unmatched, tt.unmatched) {
				t.Errorf("unmatched %v, want %v", unmatched, tt.unmatched)
			}
		})
	}
}

func TestResourceClass(t *testing.T) {
	for _, tt := range []struct {
		v, p uint16
		want string
	}{{0x0781, 0x5581, "CUSTOM_USB_0781_5581"}, {0xabcd, 0x00ef, "CUSTOM_USB_ABCD_00EF"}, {0, 0, "CUSTOM_USB_0000_0000"}} {
		if got := ResourceClass(tt.v, tt.p); got != tt.want {
			t.Errorf("ResourceClass(%#x, %#x) = %q, want %q", tt.v, tt.p, got, tt.want)
		}
	}
}

// FuzzParseUSBSpecs: any entry parses or fails with a *SpecError naming
// it; a parsed spec writes back to the entry (lower-cased, trimmed) and a
// device at its place, with its ids, is selected under an id made of
// [a-z0-9.-] only.
func FuzzParseUSBSpecs(f *testing.F) {
	for _, s := range []string{"0781:5581", "ABCD:ef01@1-1.2", "0781:5581@65535-255.1.2.3.4.5.6", "", ":", "@",
		"0781:5581@1-", "0x12:3456", "0781:5581@1-1.2@3", " 0781:5581 "} {
		f.Add(s)
	}
	idRE := regexp.MustCompile(`^[a-z0-9.-]+$`)
	f.Fuzz(func(t *testing.T, in string) {
		specs, err := ParseUSBSpecs([]string{in})
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || se.Value != in {
				t.Fatalf("error %v does not name %q", err, in)
			}
			return
		}
		s := specs[0]
		if s.String() != strings.ToLower(strings.TrimSpace(in)) {
			t.Fatalf("%q parsed as %q", in, s.String())
		}
		port := s.Port
		if port == "" {
			port = "1"
		}
		got := SelectUSB(specs, []host.USBDevice{{Bus: s.Bus, Port: port, VendorID: s.Vendor, ProductID: s.Product}})
		if len(got) != 1 || !idRE.MatchString(got[0].ID) {
			t.Fatalf("%q selected %+v", in, got)
		}
	})
}
