package qcow2

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// benchSize is the virtual size of the benchmark images; NOVABSD_BENCH_MB
// overrides it.
func benchSize() int64 {
	mb := int64(256)
	if v := os.Getenv("NOVABSD_BENCH_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	return mb << 20
}

var benchImages struct {
	once sync.Once
	dir  string
	err  error
}

// benchImage returns a qcow2 file of the patterned raw disk: "plain" or
// "compressed" (qemu-img convert -c). Built once per run.
func benchImage(b *testing.B, kind string) string {
	needTool(b, "qemu-img")
	benchImages.once.Do(func() {
		dir, err := os.MkdirTemp("", "qcow2-bench")
		if err != nil {
			benchImages.err = err
			return
		}
		benchImages.dir = dir
		raw := filepath.Join(dir, "src.raw")
		patternedRaw(b, raw, benchSize(), 42)
		for k, args := range map[string][]string{"plain": nil, "compressed": {"-c"}} {
			a := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...)
			if out, err := exec.Command("qemu-img", append(a, raw, filepath.Join(dir, k+".qcow2"))...).CombinedOutput(); err != nil {
				benchImages.err = fmt.Errorf("%v: %s", err, out)
				return
			}
		}
		os.Remove(raw)
	})
	if benchImages.err != nil {
		b.Fatal(benchImages.err)
	}
	return filepath.Join(benchImages.dir, kind+".qcow2")
}

// BenchmarkConvert compares ConvertFile with qemu-img convert -O raw on
// the same files; MB/s counts virtual (guest) bytes.
func BenchmarkConvert(b *testing.B) {
	for _, kind := range []string{"plain", "compressed"} {
		for _, tool := range []string{"novabsd", "qemu-img"} {
			b.Run(kind+"/"+tool, func(b *testing.B) {
				src := benchImage(b, kind)
				out := filepath.Join(b.TempDir(), "out.raw")
				b.SetBytes(benchSize())
				b.ResetTimer()
				for range b.N {
					os.Remove(out)
					if tool == "novabsd" {
						if _, err := ConvertFile(context.Background(), src, out, FileOptions{}); err != nil {
							b.Fatal(err)
						}
					} else if o, err := exec.Command("qemu-img", "convert", "-O", "raw", src, out).CombinedOutput(); err != nil {
						b.Fatalf("%v: %s", err, o)
					}
				}
			})
		}
	}
}
