package compute

import (
	"testing"

	"github.com/novabsd/novabsd/conf"
)

// TestEngineConfig checks that the storage and VNC settings come from the group of the engine compute_driver
// names, and only from it.
func TestEngineConfig(t *testing.T) {
	base := func() *conf.Config {
		c := &conf.Config{}
		c.VNC.ServerListen = "10.0.0.5"
		c.Bhyve.StorageBackend, c.Bhyve.ZFSPool, c.Bhyve.ZFSDatasetPrefix = "zfs", "zroot", "novabsd"
		c.Bhyve.VNCListen, c.Bhyve.VNCPortMin, c.Bhyve.VNCPortMax = "10.0.0.6", 6000, 6010
		c.Qemu.StorageBackend, c.Qemu.ZFSPool, c.Qemu.ZFSDatasetPrefix = "file", "tank", "q"
		return c
	}
	tests := []struct {
		name string
		edit func(c *conf.Config)
		want engineSettings
	}{
		{"bhyve: its zfs pool and VNC range", func(c *conf.Config) { c.Default.ComputeDriver = "bhyve" },
			engineSettings{name: "bhyve", zfsPool: "zroot", zfsPrefix: "novabsd", vncListen: "10.0.0.6", vncMin: 6000, vncMax: 6010}},
		{"bhyve files, listen from [vnc]", func(c *conf.Config) {
			c.Default.ComputeDriver, c.Bhyve.StorageBackend, c.Bhyve.VNCListen = "novabsd.bhyve", "file", ""
		}, engineSettings{name: "bhyve", vncListen: "10.0.0.5", vncMin: 6000, vncMax: 6010}},
		{"qemu files: bhyve's pool and range do not apply", func(c *conf.Config) { c.Default.ComputeDriver = "qemu" },
			engineSettings{name: "qemu", vncListen: "10.0.0.5", vncMin: 5900, vncMax: 5999}},
		{"libvirt driver on zfs", func(c *conf.Config) {
			c.Default.ComputeDriver, c.Qemu.StorageBackend, c.VNC.ServerListen = "libvirt.LibvirtDriver", "zfs", ""
		}, engineSettings{name: "qemu", zfsPool: "tank", zfsPrefix: "q", vncListen: "127.0.0.1", vncMin: 5900, vncMax: 5999}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			if got := engineConfig(c); got != tt.want {
				t.Errorf("engineConfig = %+v, want %+v", got, tt.want)
			}
			if got := (&Service{}).zfsPool(c); got != tt.want.zfsPool {
				t.Errorf("zfsPool = %q, want %q", got, tt.want.zfsPool)
			}
		})
	}
}
