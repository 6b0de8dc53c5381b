package qemu

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func needQEMU(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("qemu-system-x86_64 required in CI (Debian qemu-system-x86): %v", err)
		}
		t.Skipf("qemu-system-x86_64 not installed (Debian qemu-system-x86): %v", err)
	}
	return p
}

const tinyDir = "/var/cache/novabsd/image"

// tinyImage copies the devstack tiny test image (format "raw" or "qcow2")
// into dir; it is built by devstack/image/build.sh.
func tinyImage(t testing.TB, dir, format string) string {
	t.Helper()
	src := tinyDir + "/tiny." + format
	b, err := os.ReadFile(src)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tiny test image missing (run devstack/image/build.sh): %v", err)
		}
		t.Skipf("tiny test image missing (run devstack/image/build.sh): %v", err)
	}
	dst := dir + "/disk"
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// guestDir is an instance directory QEMU can still reach after it has
// dropped to testUser: t.TempDir's directories are 0700.
func guestDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
