package compute

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novabsd/novabsd/conf"
)

func loadConf(t *testing.T, text string) (*conf.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(conf.Sources{ConfigFiles: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// TestQemuAccelFromConfig: a drop-in host's explicit [libvirt] virt_type chooses the QEMU accelerator when
// [qemu] accel is not set; Nova's default virt_type (kvm, unset) leaves auto; [qemu] accel wins when set.
func TestQemuAccelFromConfig(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"nothing set: auto", "[DEFAULT]\nhost = h\n", "auto"},
		{"virt_type qemu", "[libvirt]\nvirt_type = qemu\n", "tcg"},
		{"virt_type kvm set explicitly", "[libvirt]\nvirt_type = kvm\n", "kvm"},
		{"accel wins over virt_type", "[qemu]\naccel = auto\n[libvirt]\nvirt_type = qemu\n", "auto"},
		{"accel alone", "[qemu]\naccel = tcg\n", "tcg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := loadConf(t, tc.conf)
			got, err := qemuAccel(cfg)
			if err != nil || got != tc.want {
				t.Fatalf("qemuAccel = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestQemuAccelVirtTypeWithoutQEMUAccelerator: a Nova virt_type QEMU has no accelerator for stops the engine with a
// conf.Error naming the file, line and option.
func TestQemuAccelVirtTypeWithoutQEMUAccelerator(t *testing.T) {
	cfg, path := loadConf(t, "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\ninstances_path = "+t.TempDir()+
		"\n[libvirt]\nvirt_type = lxc\n")
	_, err := newEngine(cfg, slog.Default())
	var ce *conf.Error
	if !errors.As(err, &ce) || ce.File != path || ce.Line != 5 || ce.Group != "libvirt" || ce.Option != "virt_type" ||
		!strings.Contains(err.Error(), `"lxc"`) {
		t.Fatalf("newEngine error %v, want a conf.Error for %s:5 [libvirt] virt_type", err, path)
	}
}
