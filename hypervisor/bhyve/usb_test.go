package bhyve

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/domain"
)

// writeELF writes a minimal ELF64 (little-endian, amd64) whose dynamic section names needed as DT_NEEDED
// libraries: what DetectUSBPassthru reads of a real bhyve, without a FreeBSD toolchain.
func writeELF(t *testing.T, path string, needed ...string) {
	t.Helper()
	strtab := []byte{0}
	var dyn bytes.Buffer
	for _, n := range needed {
		binary.Write(&dyn, binary.LittleEndian, [2]uint64{1 /* DT_NEEDED */, uint64(len(strtab))})
		strtab = append(append(strtab, n...), 0)
	}
	binary.Write(&dyn, binary.LittleEndian, [2]uint64{0, 0}) // DT_NULL
	const ehsize, shentsize = 64, 64
	strOff := uint64(ehsize)
	dynOff := strOff + uint64(len(strtab))
	shOff := dynOff + uint64(dyn.Len())
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 9}) // 64-bit, little-endian, version 1, FreeBSD ABI
	b.Write(make([]byte, 8))
	binary.Write(&b, binary.LittleEndian, struct {
		Type, Machine                                        uint16
		Version                                              uint32
		Entry, Phoff, Shoff                                  uint64
		Flags                                                uint32
		Ehsize, Phentsize, Phnum, Shentsize, Shnum, Shstrndx uint16
	}{Type: 3, Machine: 62, Version: 1, Shoff: shOff, Ehsize: ehsize, Phentsize: 56, Shentsize: shentsize, Shnum: 3})
	b.Write(strtab)
	b.Write(dyn.Bytes())
	type shdr struct {
		Name, Type             uint32
		Flags, Addr, Off, Size uint64
		Link, Info             uint32
		Addralign, Entsize     uint64
	}
	binary.Write(&b, binary.LittleEndian, shdr{})
	binary.Write(&b, binary.LittleEndian, shdr{Type: 3 /* STRTAB */, Off: strOff, Size: uint64(len(strtab)), Addralign: 1})
	binary.Write(&b, binary.LittleEndian, shdr{Type: 6 /* DYNAMIC */, Off: dynOff, Size: uint64(dyn.Len()), Link: 1, Addralign: 8, Entsize: 16})
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestDetectUSBPassthru(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "bhyve-base")
	writeELF(t, base, "libvmmapi.so.6", "libnv.so.1", "libc.so.7")
	withUSB := filepath.Join(dir, "bhyve-usb")
	writeELF(t, withUSB, "libvmmapi.so.6", "libusb.so.3", "libc.so.7")
	for _, tc := range []struct {
		path string
		ok   bool
		says string
	}{
		{withUSB, true, ""},
		{base, false, "does not link libusb"},
		{filepath.Join("testdata", "bhyve-standin"), false, "not a readable ELF"},
		{filepath.Join(dir, "absent"), false, "not a readable ELF"},
	} {
		err := DetectUSBPassthru(tc.path)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
			}
			continue
		}
		if !errors.Is(err, hypervisor.ErrUnsupported) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: err = %v, want unsupported saying %q", tc.path, err, tc.says)
		}
	}
	// The driver follows its binary: capability and refusal alike.
	for _, tc := range []struct {
		bin  string
		want bool
	}{{withUSB, true}, {base, false}} {
		cfg := amd64Config()
		cfg.Bhyve = tc.bin
		d := New(cfg)
		if got := d.Capabilities().USBPassthru; got != tc.want {
			t.Errorf("%s: Capabilities().USBPassthru = %v, want %v", tc.bin, got, tc.want)
		}
		s := spec(1, 512)
		s.Disks = disks("", 1)
		s.USB = []hypervisor.USBDevice{{Vendor: 0x0dea, Product: 0x7e57}}
		dom, err := domain.Build(s, domain.Props{}, DomainOptions(cfg))
		if err != nil {
			t.Fatal(err)
		}
		err = d.CheckDomain(context.Background(), dom)
		var re *RuleError
		if tc.want && err != nil {
			t.Errorf("%s: CheckDomain: %v", tc.bin, err)
		}
		if !tc.want && (!errors.As(err, &re) || re.Rule != RuleUSBPassthru || !strings.Contains(err.Error(), "hostdev 0 usb 0dea:7e57")) {
			t.Errorf("%s: CheckDomain: %v, want rule %s naming the device", tc.bin, err, RuleUSBPassthru)
		}
	}
	arm := arm64Config()
	arm.Bhyve = withUSB
	if New(arm).Capabilities().USBPassthru {
		t.Error("arm64 reports USB passthrough: bhyve's xhci is amd64-only")
	}
}
