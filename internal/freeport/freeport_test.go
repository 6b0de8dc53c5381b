package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestRange(t *testing.T) {
	tests := []struct {
		name string
		n    int
		busy bool // hold the first port of the first range found, then ask again from there
	}{
		{"one port", 1, false},
		{"three ports", 3, false},
		{"a range with a port in use is passed over", 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := Range(t, 45000, tc.n)
			if tc.busy {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(from+1)))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				got := Range(t, from, tc.n)
				if got <= from+1 {
					t.Fatalf("Range(%d, %d) = %d, which holds the busy port %d", from, tc.n, got, from+1)
				}
				from = got
			}
			for p := from; p < from+tc.n; p++ {
				l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
				if err != nil {
					t.Fatalf("port %d of the range at %d: %v", p, from, err)
				}
				l.Close()
			}
		})
	}
}
