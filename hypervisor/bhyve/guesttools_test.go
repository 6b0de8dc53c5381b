package bhyve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
)

// TestInjectNMIAndDiagnostics drives the stand-in bhyvectl: the NMI is bhyvectl --vm=NAME --inject-nmi, the
// diagnostics ask --get-stats of each vCPU and turn "vcpu total runtime" ticks into time at the TSC's rate;
// a stopped guest refuses both as ErrInvalidState.
func TestInjectNMIAndDiagnostics(t *testing.T) {
	defer func(f func() (uint64, bool)) { tscFrequency = f }(tscFrequency)
	tscFrequency = func() (uint64, bool) { return 3_000_000_000, true }
	r := newRig(t, nil)
	r.dom.VCPU.Value = 2
	if r.dom.CPU != nil && r.dom.CPU.Topology != nil {
		r.dom.CPU.Topology.Cores = 2
	}
	r.spawn()
	ctx := context.Background()
	if _, err := hypervisor.AsNMIInjector(r.drv); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.InjectNMI(ctx, r.g); err != nil {
		t.Fatal(err)
	}
	d, err := r.drv.Diagnostics(ctx, r.g)
	if err != nil {
		t.Fatal(err)
	}
	want := []hypervisor.CPUStats{{ID: 0, Time: time.Second, HasTime: true}, {ID: 1, Time: 2 * time.Second, HasTime: true}}
	if len(d.CPUs) != 2 || d.CPUs[0] != want[0] || d.CPUs[1] != want[1] || d.MemoryKB != 256*1024 ||
		len(d.Disks) != 0 || len(d.NICs) != 0 {
		t.Errorf("diagnostics %+v", d)
	}
	// Golden argv: exactly these bhyvectl invocations, in order.
	var got []string
	for _, l := range r.lines("bhyvectl.log") {
		if strings.Contains(l, "--inject-nmi") || strings.Contains(l, "--get-stats") {
			got = append(got, l)
		}
	}
	golden := []string{"--vm=instance-00000001 --inject-nmi", "--vm=instance-00000001 --cpu=0 --get-stats",
		"--vm=instance-00000001 --cpu=1 --get-stats"}
	if strings.Join(got, "\n") != strings.Join(golden, "\n") {
		t.Errorf("bhyvectl calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(golden, "\n"))
	}

	// Without a TSC rate, times are left out rather than reported as zero.
	tscFrequency = func() (uint64, bool) { return 0, false }
	if d, err := r.drv.Diagnostics(ctx, r.g); err != nil || len(d.CPUs) != 2 || d.CPUs[0].HasTime {
		t.Errorf("diagnostics without a TSC rate: %+v, %v", d, err)
	}

	if err := r.drv.PowerOff(ctx, r.g, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.drv.InjectNMI(ctx, r.g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("NMI to a stopped guest: %v", err)
	}
	if _, err := r.drv.Diagnostics(ctx, r.g); !errors.Is(err, hypervisor.ErrInvalidState) {
		t.Errorf("diagnostics of a stopped guest: %v", err)
	}
}

func TestNMIOnlyOnAmd64(t *testing.T) {
	if c := New(Config{Arch: "aarch64"}).Capabilities(); c.NMI || !c.Diagnostics {
		t.Errorf("arm64 capabilities %+v", c)
	}
	if _, err := hypervisor.AsNMIInjector(New(Config{Arch: "aarch64"})); !errors.Is(err, hypervisor.ErrUnsupported) {
		t.Errorf("AsNMIInjector on arm64: %v", err)
	}
}

func TestParseVMMStats(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]int64
		bad      bool
	}{
		{"bhyvectl's layout", "vcpu0 stats:\nnumber of times hlt was intercepted     \t12\nvcpu total runtime                      \t123456\n",
			map[string]int64{"number of times hlt was intercepted": 12, "vcpu total runtime": 123456}, false},
		{"negative as %ld prints a large unsigned", "vcpu3 stats:\nx\t-5\n", map[string]int64{"x": -5}, false},
		{"empty", "", map[string]int64{}, false},
		{"no tab", "vcpu0 stats:\nvcpu total runtime 5\n", nil, true},
		{"not a number", "a\tb\n", nil, true},
		{"no description", "\t5\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVMMStats([]byte(tc.in))
			if tc.bad {
				if !errors.Is(err, ErrBadStats) {
					t.Fatalf("got %v, %v; want ErrBadStats", got, err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d", k, got[k], v)
				}
			}
		})
	}
}

// FuzzParseVMMStats: any output parses or fails with ErrBadStats, never panics, and what parses has no
// description with surrounding spaces or empty.
func FuzzParseVMMStats(f *testing.F) {
	f.Add([]byte("vcpu0 stats:\nvcpu total runtime                      \t123456\n"))
	f.Add([]byte("a\t-1\n\n\t\t\nvcpu1 stats:\n"))
	f.Add([]byte(strings.Repeat("x", 70000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseVMMStats(b)
		if err != nil {
			if !errors.Is(err, ErrBadStats) {
				t.Fatalf("error %v does not wrap ErrBadStats", err)
			}
			return
		}
		for k := range got {
			if k == "" || strings.TrimSpace(k) != k {
				t.Fatalf("description %q", k)
			}
		}
	})
}

func TestTicksToDuration(t *testing.T) {
	if d := ticksToDuration(1<<63, 3_000_000_000); d <= 0 || d.Seconds() < 3.07e9 || d.Seconds() > 3.08e9 {
		t.Errorf("2^63 ticks at 3 GHz = %v", d)
	}
	if d := ticksToDuration(4_500_000_000, 3_000_000_000); d != 1500*time.Millisecond {
		t.Errorf("1.5 s of ticks = %v", d)
	}
}
