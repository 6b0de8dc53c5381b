// Package freeport finds TCP ports for tests that need real listeners (VNC and serial console port ranges): the
// tests must not depend on what else runs on the machine.
package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Range is the first base at or above from (in steps of n, below 60000) such that nothing listens on the n
// consecutive ports base..base+n-1 at 127.0.0.1; it fails the test when there is none. The ports are only probed
// and closed again, so callers in different packages (run in parallel by go test) pass different from values.
func Range(t testing.TB, from, n int) int {
	t.Helper()
	for base := from; base < 60000; base += n {
		free := true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range on 127.0.0.1")
	return 0
}
