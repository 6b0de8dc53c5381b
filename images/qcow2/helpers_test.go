package qcow2

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// needTool returns the path of a host tool; CI must have it, elsewhere the
// test is skipped with the reason.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (Debian qemu-utils): %v", name, err)
		}
		t.Skipf("%s not installed (Debian qemu-utils); skipping", name)
	}
	return p
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// patternedRaw writes a raw disk of size bytes mixing random data, zero runs,
// compressible text and holes, so every cluster kind appears after conversion.
func patternedRaw(t testing.TB, path string, size int64, seed int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	const piece = 48 << 10 // deliberately not a cluster multiple
	buf := make([]byte, piece)
	for off := int64(0); off < size; off += piece {
		switch rng.Intn(4) {
		case 0: // hole
			continue
		case 1:
			rng.Read(buf)
		case 2:
			copy(buf, bytes.Repeat([]byte("novabsd qcow2 "), piece/14+1))
		case 3:
			clear(buf)
			rng.Read(buf[rng.Intn(piece-100):][:100])
		}
		n := min(int64(piece), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			t.Fatal(err)
		}
	}
}

// qemuRaw converts with qemu-img itself: the oracle.
func qemuRaw(t testing.TB, src string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "oracle.raw")
	run(t, "qemu-img", "convert", "-O", "raw", src, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
