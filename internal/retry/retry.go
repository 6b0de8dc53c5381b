// Package retry paces repeated attempts: the schedule of pauses (constant,
// linear as oslo's rabbit_retry_backoff, or exponential; capped; with
// optional jitter), the limits (attempts, elapsed time) and a pause that
// ends early when the context does. What counts as a failure worth another
// attempt stays with the caller, who also words the final error.
//
//	var last error
//	for attempt := range retry.Loop(ctx, policy) {
//		if last = try(attempt); last == nil {
//			return nil
//		}
//	}
//	if ctx.Err() != nil { ... interrupted ... }
//	return fmt.Errorf("gave up: %w", last)
package retry

import (
	"context"
	"iter"
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the schedule of pauses between attempts.
type Backoff struct {
	// Initial is the pause before the first retry.
	Initial time.Duration
	// Step is added to the pause for each further retry (linear backoff).
	Step time.Duration
	// Factor multiplies the pause for each further retry (exponential
	// backoff); 0 means 1, no growth.
	Factor float64
	// Max caps every pause; 0 means no cap.
	Max time.Duration
	// Jitter shortens each pause by a random fraction up to Jitter (0.2:
	// between 80% and 100% of the schedule), so many clients that failed
	// together do not retry together. Pauses never exceed the schedule,
	// which operators set. 0 means exact pauses.
	Jitter float64
}

// Pause returns the pause before retry n (1 is the first retry; n < 1 is
// treated as 1).
func (b Backoff) Pause(n int) time.Duration {
	f := b.Factor
	if f == 0 {
		f = 1
	}
	p := float64(b.Initial)
	for i := 1; i < n; i++ {
		next := p*f + float64(b.Step)
		if b.Max > 0 && next >= float64(b.Max) || next >= math.MaxInt64 || next == p {
			p = next
			break // capped, overflowing or constant: later retries pause the same
		}
		p = next
	}
	d := time.Duration(math.MaxInt64) // float64(MaxInt64) rounds up and would not convert back
	if p < math.MaxInt64 {
		d = time.Duration(p)
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if b.Jitter > 0 && d > 0 {
		d -= time.Duration(rand.Float64() * min(b.Jitter, 1) * float64(d))
	}
	return max(d, 0)
}

// Policy is a Backoff with limits.
type Policy struct {
	Backoff
	// Attempts is the most attempts made, the first included; 0 means no
	// limit.
	Attempts int
	// Within stops further attempts once this long has passed since the
	// loop began (a retry whose pause would end later is not made);
	// 0 means no limit.
	Within time.Duration
}

// Loop yields attempt numbers 0, 1, 2, ..., pausing by p's schedule before
// each one after the first. It ends when the caller leaves the loop, when
// p's limits are reached, or when ctx ends (during a pause, or before an
// attempt): after the loop, ctx.Err() tells an interrupted wait from
// limits reached. The first attempt is made even when ctx has ended, as a
// single call would be, so the caller sees its own error for it.
func Loop(ctx context.Context, p Policy) iter.Seq[int] {
	return func(yield func(int) bool) {
		start := time.Now()
		for attempt := 0; p.Attempts <= 0 || attempt < p.Attempts; attempt++ {
			if attempt > 0 {
				pause := p.Pause(attempt)
				if p.Within > 0 && time.Since(start)+pause > p.Within {
					return
				}
				if Sleep(ctx, pause) != nil {
					return
				}
			}
			if !yield(attempt) {
				return
			}
		}
	}
}

// Sleep pauses for d, returning ctx.Err() early if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
