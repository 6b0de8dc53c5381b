//go:build !linux

package plug

func isolate() (int, bool) { return 0, false }
