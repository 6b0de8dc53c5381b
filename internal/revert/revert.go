// Package revert undoes the finished steps of a multi-step change when a
// later step fails, so a failed operation leaves no half-made state.
//
// The pattern is incus's:
//
//	r := revert.New()
//	defer r.Fail()
//	if err := makeDir(); err != nil { return err }
//	r.Add(removeDir)
//	...
//	r.Success()
//
// Steps run newest first, because a later step usually depends on an
// earlier one (a file inside a directory that was created first).
package revert

import "errors"

// Reverter collects undo steps as an operation proceeds. The zero value is
// not ready for use; call New.
type Reverter struct {
	steps []func() error
}

// New returns a Reverter with no steps.
func New() *Reverter { return &Reverter{} }

// Add registers an undo step for a change that has just been made. A step
// returns its error rather than logging it, so the caller decides whether
// a failed clean-up is reported with the failure or logged.
func (r *Reverter) Add(undo func() error) {
	r.steps = append(r.steps, undo)
}

// Fail runs the registered steps newest first and returns their errors
// joined (nil when every step succeeded or none remained). Every step runs
// even when an earlier one fails: a partial clean-up beats none. Steps run
// at most once, so Fail is safe both deferred and called early; after
// Success it does nothing.
func (r *Reverter) Fail() error {
	steps := r.steps
	r.steps = nil
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		if err := steps[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Success forgets the steps: the operation is complete and a deferred Fail
// must not undo it.
func (r *Reverter) Success() { r.steps = nil }
