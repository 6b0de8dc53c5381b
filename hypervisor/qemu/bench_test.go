package qemu

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
)

// BenchmarkSpawnTiny times Spawn of the tiny image under TCG until the
// first byte reaches the console log and until the ready marker; each
// iteration is a fresh guest, destroyed afterwards (not timed).
func BenchmarkSpawnTiny(b *testing.B) {
	needQEMU(b)
	d := tcgDriver(b)
	ctx := context.Background()
	var first, ready time.Duration
	for range b.N {
		b.StopTimer()
		g, dom := tinyGuest(b, d, "raw", nil)
		log := filepath.Join(g.Dir, hypervisor.ConsoleLogFile)
		b.StartTimer()
		t0 := time.Now()
		if err := d.Spawn(ctx, g, dom); err != nil {
			b.Fatal(err)
		}
		var sawFirst bool
		for {
			data, _ := os.ReadFile(log)
			if !sawFirst && len(data) > 0 {
				first += time.Since(t0)
				sawFirst = true
			}
			if bytes.Contains(data, []byte(marker)) {
				ready += time.Since(t0)
				break
			}
			if time.Since(t0) > 3*time.Minute {
				b.Fatal("no marker within 3 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.StopTimer()
		d.Destroy(ctx, g)
		b.StartTimer()
	}
	b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms-to-first-byte")
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ms-to-marker")
}
