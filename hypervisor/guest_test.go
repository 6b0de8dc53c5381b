package hypervisor

import (
	"errors"
	"testing"
)

func TestGuestCheck(t *testing.T) {
	const id = "6c0a8ed5-54d4-4c28-9ad5-2b7d3a0b1c01"
	tests := []struct {
		name  string
		g     Guest
		field string // "" when valid
	}{
		{"valid", Guest{UUID: id, Name: "instance-00000001", Dir: "/var/lib/nova/instances/" + id}, ""},
		{"no name", Guest{UUID: id, Dir: "/i/" + id}, ""},
		{"relative dir", Guest{UUID: id, Dir: "instances/" + id}, ""},
		{"uuid dotdot", Guest{UUID: "..", Dir: "/i"}, "uuid"},
		{"uuid dot", Guest{UUID: ".", Dir: "/i"}, "uuid"},
		{"uuid slash", Guest{UUID: "../x", Dir: "/x"}, "uuid"},
		{"uuid empty", Guest{Dir: "/i"}, "uuid"},
		{"uuid option", Guest{UUID: "-rf", Dir: "/i/-rf"}, "uuid"},
		{"uuid NUL", Guest{UUID: "a\x00b", Dir: "/i/a"}, "uuid"},
		{"name slash", Guest{UUID: id, Name: "a/b", Dir: "/i/" + id}, "name"},
		{"name dotdot", Guest{UUID: id, Name: "..", Dir: "/i/" + id}, "name"},
		{"dir unclean", Guest{UUID: id, Dir: "/i/../" + id}, "dir"},
		{"dir root", Guest{UUID: id, Dir: "/"}, "dir"},
		{"dir empty", Guest{UUID: id}, "dir"},
		{"dir above", Guest{UUID: id, Dir: "../" + id}, "dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Check()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check() = %v", err)
				}
				return
			}
			var ge *GuestError
			if !errors.As(err, &ge) || ge.Field != tt.field || !errors.Is(err, ErrInvalidGuest) {
				t.Fatalf("Check() = %v, want a GuestError on %s", err, tt.field)
			}
		})
	}
}
