// Command bench compares call latency and throughput of the Go rpc server with Python oslo.messaging servers
// doing the same trivial method, on the same broker with the same Go client, and prints one table. Its last column
// is the CPU time each process spent per call during the c=32 phase (server/client/broker, from /proc): where a
// call's cost goes.
//
//	bench -peer ../testdata/peer.py [-url rabbit://guest:guest@127.0.0.1:5672/] [-forky /var/lib/novabsd-rig/root]
//	bench -go-only -cpuprofile client.prof      (profiling: the Go server only; BENCH_SERVE_CPUPROFILE=server.prof
//	                                             profiles the server process)
//	bench serve URL EXCHANGE TOPIC SERVER   (the Go server, run as its own process like the Python ones)
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/novabsd/novabsd/rpc"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// BENCH_SERVE_CPUPROFILE profiles the Go server process (the client has -cpuprofile).
		if f := os.Getenv("BENCH_SERVE_CPUPROFILE"); f != "" {
			stop, err := startProfile(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer stop()
		}
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	url := flag.String("url", "rabbit://guest:guest@127.0.0.1:5672/", "transport_url")
	peer := flag.String("peer", "testdata/peer.py", "path of testdata/peer.py")
	forky := flag.String("forky", envOr("NOVABSD_FORKY_ROOT", "/var/lib/novabsd-rig/root"), "forky root (oslo.messaging 18.3)")
	phase := flag.Duration("phase", 3*time.Second, "duration of each measured phase")
	goOnly := flag.Bool("go-only", false, "measure only the Go server (for profiling; no comparison)")
	cpuprofile := flag.String("cpuprofile", "", "write the bench client's CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer stop()
	}
	if err := run(*url, *peer, *forky, *phase, *goOnly); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func options(url, exchange string) rpc.Options {
	o := rpc.DefaultOptions()
	o.TransportURL = url
	o.ControlExchange = exchange
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return o
}

// serve runs the Go server with the same methods as peer.py's BenchEndpoint until stdin closes.
func serve(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: bench serve URL EXCHANGE TOPIC SERVER")
	}
	tr, err := rpc.NewTransport(options(args[0], args[1]))
	if err != nil {
		return err
	}
	defer tr.Close()
	srv, err := tr.NewServer(rpc.Target{Topic: args[2], Server: args[3]})
	if err != nil {
		return err
	}
	var casts atomic.Int64
	err = srv.Register("", "1.0", map[string]rpc.Handler{
		"noop": func(_ context.Context, a json.RawMessage) (any, error) {
			var in struct {
				I json.RawMessage `json:"i"`
			}
			_ = json.Unmarshal(a, &in)
			return in.I, nil
		},
		"count":   func(context.Context, json.RawMessage) (any, error) { casts.Add(1); return nil, nil },
		"counted": func(context.Context, json.RawMessage) (any, error) { return casts.Load(), nil },
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Println("READY go")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Stop(context.Background())
}

type contender struct {
	name string
	argv []string
}

type result struct {
	name                  string
	p50c1, p99c1, rps1    float64
	p50c32, p99c32, rps32 float64
	// CPU per call during the c=32 phase, by process; 0 when unknown (no /proc).
	cpuServer, cpuClient, cpuBroker time.Duration
	casts                           float64
	err                             error
}

func run(url, peer, forky string, phase time.Duration, goOnly bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	peer, _ = filepath.Abs(peer)
	cs := []contender{{"Go rpc", []string{self, "serve"}}}
	if goOnly {
		forky = "" // no Python contenders at all
	}
	if !goOnly && exec.Command("/usr/bin/python3", "-c", "import oslo_messaging").Run() == nil {
		cs = append(cs, contender{"Python oslo.messaging 14.0.3", []string{"/usr/bin/python3", peer, "bench"}})
	}
	if _, err := os.Stat(filepath.Join(forky, "usr/lib/python3/dist-packages/oslo_messaging")); forky != "" && err == nil {
		dir, err := os.MkdirTemp(filepath.Join(forky, "tmp"), "novabsd-bench-")
		if err == nil {
			defer os.RemoveAll(dir)
			b, _ := os.ReadFile(peer)
			_ = os.WriteFile(filepath.Join(dir, "peer.py"), b, 0o644)
			inRoot := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, forky), "/") + "/peer.py"
			cs = append(cs, contender{"Python oslo.messaging 18.3", []string{"chroot", forky, "/usr/bin/python3", inRoot, "bench"}})
		}
	}
	tag := fmt.Sprintf("bench-%d", os.Getpid())
	tr, err := rpc.NewTransport(options(url, tag))
	if err != nil {
		return err
	}
	defer tr.Close()
	var results []result
	for i, c := range cs {
		topic := fmt.Sprintf("%s-%d", tag, i)
		r := measure(tr, url, tag, topic, c, phase)
		results = append(results, r)
	}
	fmt.Printf("\nrpc benchmark: same broker (%s), same Go client, trivial method; phase %v\n\n", url, phase)
	fmt.Printf("| %-28s | %9s | %9s | %9s | %9s | %9s | %9s | %9s | %17s |\n", "server", "c1 p50ms", "c1 p99ms",
		"c1 call/s", "c32 p50ms", "c32 p99ms", "c32 call/s", "casts/s", "c32 CPU µs/call S/C/B")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 30), dash(), dash(), dash(), dash(), dash(), dash(),
		dash(), strings.Repeat("-", 23))
	for _, r := range results {
		if r.err != nil {
			fmt.Printf("| %-28s | error: %v\n", r.name, r.err)
			continue
		}
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		fmt.Printf("| %-28s | %9.2f | %9.2f | %9.0f | %9.2f | %9.2f | %9.0f | %9.0f | %6.0f/%6.0f/%6.0f  |\n", r.name,
			r.p50c1, r.p99c1, r.rps1, r.p50c32, r.p99c32, r.rps32, r.casts, us(r.cpuServer), us(r.cpuClient),
			us(r.cpuBroker))
	}
	if len(results) > 1 && results[0].err == nil {
		fmt.Println()
		for _, r := range results[1:] {
			if r.err == nil && r.rps32 > 0 {
				fmt.Printf("Go vs %s: %.1fx calls/s at c=32, p99 %.2f ms vs %.2f ms\n", r.name, results[0].rps32/r.rps32,
					results[0].p99c32, r.p99c32)
			}
		}
	}
	return nil
}

// cpuTime is the user+system CPU time pid has used so far (Linux /proc; -1 when unknown).
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// brokerPID finds the RabbitMQ Erlang VM (beam.smp), so the table can show the broker's share of each call.
func brokerPID() int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(cmd), "beam.smp") && strings.Contains(string(cmd), "rabbit") {
			return pid
		}
	}
	return 0
}

func dash() string { return strings.Repeat("-", 11) }

func measure(tr *rpc.Transport, url, exchange, topic string, c contender, phase time.Duration) result {
	res := result{name: c.name}
	args := append(append([]string{}, c.argv[1:]...), url, exchange, topic, "benchhost")
	cmd := exec.Command(c.argv[0], args...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		res.err = err
		return res
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			res.err = fmt.Errorf("server exited before READY")
			return res
		}
	case <-time.After(60 * time.Second):
		res.err = fmt.Errorf("server not ready")
		return res
	}
	client := tr.NewClient(rpc.Target{Topic: topic, Version: "1.0"}).WithTimeout(30 * time.Second)
	rc := rpc.AdminContext()
	ctx := context.Background()
	// Warm up connections and the server.
	for i := 0; i < 50; i++ {
		if _, err := client.Call(ctx, &rc, "noop", map[string]any{"i": i}); err != nil {
			res.err = err
			return res
		}
	}
	var err error
	if res.p50c1, res.p99c1, res.rps1, err = calls(ctx, client, &rc, 1, phase); err != nil {
		res.err = err
		return res
	}
	broker := brokerPID()
	before := [3]time.Duration{cpuTime(cmd.Process.Pid), cpuTime(os.Getpid()), cpuTime(broker)}
	start := time.Now()
	if res.p50c32, res.p99c32, res.rps32, err = calls(ctx, client, &rc, 32, phase); err != nil {
		res.err = err
		return res
	}
	if n := res.rps32 * time.Since(start).Seconds(); n > 0 {
		per := func(pid int, b time.Duration) time.Duration {
			a := cpuTime(pid)
			if pid <= 0 || b < 0 || a < b { // unknown, or the process was replaced (a broker restart)
				return 0
			}
			return time.Duration(float64(a-b) / n)
		}
		res.cpuServer, res.cpuClient, res.cpuBroker = per(cmd.Process.Pid, before[0]), per(os.Getpid(), before[1]),
			per(broker, before[2])
	}
	res.casts, res.err = casts(ctx, client, &rc, phase)
	return res
}

func calls(ctx context.Context, c *rpc.Client, rc *rpc.RequestContext, conc int, phase time.Duration) (p50, p99, rps float64, err error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	end := time.Now().Add(phase)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(end); i++ {
				t0 := time.Now()
				if _, err := c.Call(ctx, rc, "noop", map[string]any{"i": i}); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return q(0.50), q(0.99), float64(len(lat)) / elapsed.Seconds(), nil
}

// casts publishes confirmed casts from 32 senders for one phase, then waits until the server has run all of them;
// the rate is casts handled per second of the whole span.
func casts(ctx context.Context, c *rpc.Client, rc *rpc.RequestContext, phase time.Duration) (float64, error) {
	base, err := c.Call(ctx, rc, "counted", nil)
	if err != nil {
		return 0, err
	}
	var before int64
	_ = json.Unmarshal(base, &before)
	var sent atomic.Int64
	end := time.Now().Add(phase)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if c.Cast(ctx, rc, "count", nil) == nil {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := c.Call(ctx, rc, "counted", nil)
		if err != nil {
			return 0, err
		}
		var n int64
		_ = json.Unmarshal(out, &n)
		if n-before >= sent.Load() {
			return float64(sent.Load()) / time.Since(start).Seconds(), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("server handled %d of %d casts", n-before, sent.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
