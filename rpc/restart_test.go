package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func rabbitmqctl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

// TestBrokerRestart stops and restarts the RabbitMQ application while casts and calls are in flight: every
// confirmed cast must be delivered, calls must fail or succeed but never hang, and consumption must resume
// within 10 s of the broker's return.
func TestBrokerRestart(t *testing.T) {
	needBroker(t)
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rabbitmqctl not found")
		}
		t.Skip("rabbitmqctl not found")
	}
	// Make sure the broker is running again whatever happens below.
	t.Cleanup(func() { exec.Command("rabbitmqctl", "start_app").Run() })

	ex := uniqueName(t)
	o := testOptions(t, ex)
	o.Rabbit.DurableQueues = true // casts queued across the restart survive only in durable queues
	o.DuplicateWindow = 4096
	tr := newTestTransport(t, o)
	var mu sync.Mutex
	received := map[int]time.Time{}
	startServer(t, tr, ex, "h", func(s *Server) {
		s.Register("", "1.0", map[string]Handler{
			"record": func(ctx context.Context, args json.RawMessage) (any, error) {
				var a struct{ N int }
				json.Unmarshal(args, &a)
				mu.Lock()
				if _, ok := received[a.N]; !ok {
					received[a.N] = time.Now()
				}
				mu.Unlock()
				return nil, nil
			},
			"echo": func(ctx context.Context, args json.RawMessage) (any, error) { return args, nil },
		})
	})
	c := tr.NewClient(Target{Topic: ex, Version: "1.0"})

	stopCasting := make(chan struct{})
	var sent []int
	var castErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // casts, one at a time, each retried until confirmed
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stopCasting:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err := c.WithServer("h").Cast(ctx, nil, "record", map[string]any{"n": n})
			cancel()
			if err != nil {
				castErr = err
				return
			}
			sent = append(sent, n)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var hung error
	go func() { // calls with a short timeout: each must return, never hang
		defer wg.Done()
		for {
			select {
			case <-stopCasting:
				return
			default:
			}
			start := time.Now()
			_, err := c.WithTimeout(3*time.Second).Call(context.Background(), nil, "echo", map[string]any{"x": 1})
			if d := time.Since(start); d > 6*time.Second {
				hung = errors.New("a call took " + d.String() + " with a 3s timeout")
			}
			if err != nil && !errors.Is(err, ErrTimeout) {
				var re *RemoteError
				if !errors.As(err, &re) {
					hung = err
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	time.Sleep(500 * time.Millisecond)
	rabbitmqctl(t, "stop_app")
	time.Sleep(2 * time.Second)
	rabbitmqctl(t, "start_app")
	back := time.Now()
	time.Sleep(1 * time.Second)
	// Resumption: a cast sent now must be consumed within 10 s of the broker's return.
	deadline := back.Add(10 * time.Second)
	var resumed time.Time
	for time.Now().Before(deadline) && resumed.IsZero() {
		mu.Lock()
		for _, at := range received {
			if at.After(back) {
				resumed = at
				break
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	close(stopCasting)
	wg.Wait()
	if castErr != nil {
		t.Fatalf("cast failed: %v", castErr)
	}
	if hung != nil {
		t.Fatalf("call misbehaved across the restart: %v", hung)
	}
	if resumed.IsZero() {
		t.Fatalf("no message consumed within 10 s of the broker's return")
	}
	t.Logf("consumption resumed %v after the broker returned", resumed.Sub(back).Round(time.Millisecond))
	// Every confirmed cast arrives.
	wait := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		var missing []int
		for _, n := range sent {
			if _, ok := received[n]; !ok {
				missing = append(missing, n)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			t.Logf("%d casts sent and received across the restart", len(sent))
			return
		}
		if time.Now().After(wait) {
			t.Fatalf("%d of %d confirmed casts lost, e.g. %v", len(missing), len(sent), missing[:min(5, len(missing))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}
