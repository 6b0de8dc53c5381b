package retry

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestPause(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		want []time.Duration // pauses before retries 1, 2, ...
	}{
		{"constant", Backoff{Initial: time.Second}, []time.Duration{time.Second, time.Second, time.Second}},
		{"oslo reconnect: +2 s per retry up to 30 s", Backoff{Initial: time.Second, Step: 2 * time.Second, Max: 30 * time.Second},
			[]time.Duration{1e9, 3e9, 5e9, 7e9, 9e9, 11e9, 13e9, 15e9, 17e9, 19e9, 21e9, 23e9, 25e9, 27e9, 29e9, 30e9, 30e9}},
		{"linear from 100 ms up to 1 s", Backoff{Initial: 100 * ms, Step: 100 * ms, Max: time.Second},
			[]time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms, 600 * ms, 700 * ms, 800 * ms, 900 * ms, time.Second, time.Second}},
		{"doubling up to 2 s", Backoff{Initial: 100 * ms, Factor: 2, Max: 2 * time.Second},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2 * time.Second, 2 * time.Second}},
		{"first pause above the cap is capped", Backoff{Initial: 5 * time.Second, Max: time.Second}, []time.Duration{time.Second, time.Second}},
		{"zero", Backoff{}, []time.Duration{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []time.Duration
			for n := 1; n <= len(tc.want); n++ {
				got = append(got, tc.b.Pause(n))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pauses %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPauseDoesNotOverflow(t *testing.T) {
	for _, b := range []Backoff{{Initial: time.Second, Factor: 10}, {Initial: time.Hour, Step: time.Hour}} {
		if d := b.Pause(10000); d <= 0 {
			t.Errorf("%+v: pause 10000 = %v, want a large positive pause", b, d)
		}
	}
}

func TestPauseJitterStaysWithinSchedule(t *testing.T) {
	b := Backoff{Initial: time.Second, Jitter: 0.2}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Pause(1)
		if d < 800*ms || d > time.Second {
			t.Fatalf("pause %v outside [800ms, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("200 jittered pauses were all %v", seen)
	}
}

func TestLoop(t *testing.T) {
	tests := []struct {
		name     string
		policy   Policy
		stopAt   int // the caller leaves the loop at this attempt; -1 never
		cancelAt int // the context is cancelled after this attempt; -1 never
		want     []int
		ctxEnded bool
	}{
		{"attempt limit", Policy{Attempts: 3, Backoff: Backoff{Initial: ms}}, -1, -1, []int{0, 1, 2}, false},
		{"one attempt, no pause", Policy{Attempts: 1, Backoff: Backoff{Initial: time.Hour}}, -1, -1, []int{0}, false},
		{"caller stops", Policy{Backoff: Backoff{Initial: ms}}, 4, -1, []int{0, 1, 2, 3, 4}, false},
		{"context ends during a pause", Policy{Backoff: Backoff{Initial: time.Hour}}, -1, 0, []int{0}, true},
		{"time limit", Policy{Within: 25 * ms, Backoff: Backoff{Initial: 10 * ms}}, -1, -1, []int{0, 1, 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got []int
			for a := range Loop(ctx, tc.policy) {
				got = append(got, a)
				if a == tc.cancelAt {
					cancel()
				}
				if a == tc.stopAt {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("attempts %v, want %v", got, tc.want)
			}
			if (ctx.Err() != nil) != tc.ctxEnded {
				t.Errorf("ctx.Err() = %v after the loop", ctx.Err())
			}
		})
	}
}

func TestLoopMakesFirstAttemptOnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var got []int
	for a := range Loop(ctx, Policy{Attempts: 3}) {
		got = append(got, a)
	}
	if !slices.Equal(got, []int{0}) {
		t.Errorf("attempts %v, want only the first", got)
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), ms); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*ms)
	defer cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sleep = %v, want the context's error", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Sleep outlived its context by %v", time.Since(start))
	}
}
