package qemu

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestProbeAccelTCG: the payload must run under TCG, which proves the probe
// detects a guest that ran (and so that a KVM "false" means KVM failed).
func TestProbeAccelTCG(t *testing.T) {
	bin := needQEMU(t)
	ok, err := ProbeAccel(context.Background(), bin, AccelTCG, 20*time.Second)
	if err != nil || !ok {
		t.Fatalf("probe under tcg = %v, %v; want true", ok, err)
	}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		ok, err := ProbeAccel(context.Background(), bin, AccelKVM, 5*time.Second)
		t.Logf("KVM probe on this host: usable=%v err=%v", ok, err)
	}
}
