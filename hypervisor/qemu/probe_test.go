package qemu

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestProbeAccelTCG: the payload must run under TCG on the driver's default
// machine type, which proves the probe detects a guest that ran (and so
// that a KVM failure means KVM failed).
func TestProbeAccelTCG(t *testing.T) {
	c := DefaultConfig()
	c.Binary = needQEMU(t)
	if err := ProbeAccel(context.Background(), c, AccelTCG, 20*time.Second); err != nil {
		t.Fatalf("probe under tcg: %v; want it to run", err)
	}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		err := ProbeAccel(context.Background(), c, AccelKVM, 5*time.Second)
		t.Logf("KVM probe on this host (machine %s, -cpu host): %v", c.Machine, err)
	}
}
