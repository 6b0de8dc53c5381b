package revert

import (
	"errors"
	"reflect"
	"testing"
)

func TestFail(t *testing.T) {
	errA, errC := errors.New("a failed"), errors.New("c failed")
	tests := []struct {
		name    string
		steps   []error // what each step returns, in the order added
		success bool
		ran     []int // step indices in the order they ran
		errs    []error
	}{
		{name: "no steps"},
		{name: "newest first", steps: []error{nil, nil, nil}, ran: []int{2, 1, 0}},
		{name: "errors joined, every step runs", steps: []error{errA, nil, errC}, ran: []int{2, 1, 0}, errs: []error{errC, errA}},
		{name: "success disarms", steps: []error{errA, nil}, success: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			var ran []int
			for i, e := range tc.steps {
				r.Add(func() error { ran = append(ran, i); return e })
			}
			if tc.success {
				r.Success()
			}
			err := r.Fail()
			if !reflect.DeepEqual(ran, tc.ran) {
				t.Errorf("steps ran %v, want %v", ran, tc.ran)
			}
			if len(tc.errs) == 0 && err != nil {
				t.Errorf("Fail() = %v, want nil", err)
			}
			for _, want := range tc.errs {
				if !errors.Is(err, want) {
					t.Errorf("Fail() = %v, does not wrap %v", err, want)
				}
			}
			// A second Fail (an early call followed by the deferred one) runs nothing again.
			ran = nil
			if err := r.Fail(); err != nil || ran != nil {
				t.Errorf("second Fail() = %v and ran %v, want nil and nothing", err, ran)
			}
		})
	}
}

func TestAddAfterSuccess(t *testing.T) {
	r := New()
	r.Add(func() error { t.Error("step forgotten by Success ran"); return nil })
	r.Success()
	ran := false
	r.Add(func() error { ran = true; return nil })
	if err := r.Fail(); err != nil || !ran {
		t.Errorf("Fail() = %v, ran = %v; want the step added after Success to run", err, ran)
	}
}
