package conf

import (
	"errors"
	"strings"
	"testing"
)

// TestVirtTypeSetOrDefault: [libvirt] virt_type reads with Nova's default (kvm), and Where tells an operator's
// explicit value (file and line) from that default, which is what lets the QEMU engine stay on accel = auto for a
// nova.conf that never mentions virt_type.
func TestVirtTypeSetOrDefault(t *testing.T) {
	pinMachine(t)
	tests := []struct {
		name, conf string
		want       string
		set        bool
		line       int
	}{
		{"unset: Nova's default, not a choice", "[DEFAULT]\nhost = h\n", "kvm", false, 0},
		{"explicit kvm equals the default but is set", "[libvirt]\nvirt_type = kvm\n", "kvm", true, 2},
		{"explicit qemu", "[DEFAULT]\n\n[libvirt]\nvirt_type = qemu\n", "qemu", true, 4},
		{"lxc is a Nova value", "[libvirt]\nvirt_type = lxc\n", "lxc", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "nova.conf", tt.conf)
			cfg, err := Load(Sources{ConfigFiles: []string{path}})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Libvirt.VirtType != tt.want {
				t.Errorf("virt_type = %q, want %q", cfg.Libvirt.VirtType, tt.want)
			}
			loc, set := cfg.Where("libvirt", "virt_type")
			if set != tt.set || loc.Line != tt.line || (set && loc.File != path) {
				t.Errorf("Where = %+v, %v; want line %d, set %v", loc, set, tt.line, tt.set)
			}
			for _, u := range cfg.Unknown {
				if u.Group == "libvirt" && u.Key == "virt_type" {
					t.Errorf("virt_type reported unknown: %+v", u)
				}
			}
		})
	}
}

// TestVirtTypeBadValue: a value Nova does not accept stops loading with an error naming file, line and option.
func TestVirtTypeBadValue(t *testing.T) {
	pinMachine(t)
	path := writeTemp(t, "nova.conf", "[libvirt]\nvirt_type = xen\n")
	_, err := Load(Sources{ConfigFiles: []string{path}})
	var ce *Error
	if !errors.As(err, &ce) || ce.Group != "libvirt" || ce.Option != "virt_type" || ce.Line != 2 ||
		!strings.Contains(err.Error(), "xen") {
		t.Fatalf("err = %v, want a conf.Error for [libvirt] virt_type at line 2", err)
	}
}
