package storage

import "errors"

// revert collects undo steps as a multi-step operation proceeds. On failure
// run undoes them newest first; on success release forgets them.
type revert struct{ steps []func() error }

func (r *revert) add(undo func() error) { r.steps = append(r.steps, undo) }

// run undoes every step, returning the undo errors joined to cause so an
// incomplete clean-up is reported rather than hidden.
func (r *revert) run(cause error) error {
	errs := []error{cause}
	for i := len(r.steps) - 1; i >= 0; i-- {
		if err := r.steps[i](); err != nil {
			errs = append(errs, err)
		}
	}
	r.steps = nil
	return errors.Join(errs...)
}

func (r *revert) release() { r.steps = nil }
