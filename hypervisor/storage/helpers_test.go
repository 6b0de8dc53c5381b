package storage

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// writeImage writes a raw image with data at the start, a hole, and data at
// the end, so copies can be checked for content and sparseness.
func writeImage(t testing.TB, path string, size int64) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 256<<10)
	rand.New(rand.NewSource(size)).Read(head)
	f.WriteAt(head, 0)
	f.WriteAt(head[:4096], size-4096)
	want := make([]byte, size)
	copy(want, head)
	copy(want[size-4096:], head[:4096])
	return want
}

func allocated(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func sameContent(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("%s: content differs from the image (len %d vs %d)", path, len(got), len(want))
	}
	for _, b := range got[len(want):] {
		if b != 0 {
			t.Fatalf("%s: grown tail is not zero", path)
		}
	}
}

var standin struct {
	once sync.Once
	dir  string
	err  error
}

// useStandinZFS puts the zfs-standin (built once) first on PATH as zfs and
// zpool, with a fresh state holding pool "tank", and returns the device
// directory and state file.
func useStandinZFS(t testing.TB) (devDir, stateFile string) {
	t.Helper()
	standin.once.Do(func() {
		standin.dir, standin.err = os.MkdirTemp("", "zfs-standin")
		if standin.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(standin.dir, "zfs"), "./testdata/zfs-standin").CombinedOutput()
		if err != nil {
			standin.err = &buildError{out}
			return
		}
		standin.err = os.Symlink("zfs", filepath.Join(standin.dir, "zpool"))
	})
	if standin.err != nil {
		t.Fatalf("building zfs-standin: %v", standin.err)
	}
	tmp := t.TempDir()
	devDir, stateFile = filepath.Join(tmp, "dev", "zvol"), filepath.Join(tmp, "zfs.json")
	t.Setenv("PATH", standin.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("ZFS_STANDIN_STATE", stateFile)
	t.Setenv("ZFS_STANDIN_POOLS", "tank")
	t.Setenv("ZFS_STANDIN_DEVDIR", devDir)
	t.Setenv("ZFS_STANDIN_FAIL", "")
	return devDir, stateFile
}

type buildError struct{ out []byte }

func (e *buildError) Error() string { return string(e.out) }
