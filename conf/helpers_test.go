package conf

import (
	"os"
	"path/filepath"
	"testing"
)

// writeTemp writes content to a new file in a per-test directory and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeIn writes content to dir/name.
func writeIn(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pinMachine fixes the machine-dependent defaults for the duration of a test.
func pinMachine(t testing.TB) {
	t.Helper()
	h, ip, pre, pn := hostname, primaryIPv4, installPrefix, processName
	hostname = func() string { return "node1" }
	primaryIPv4 = func() string { return "192.0.2.10" }
	installPrefix = func() string { return "/opt/novabsd" }
	processName = func() string { return "novabsd" }
	t.Cleanup(func() { hostname, primaryIPv4, installPrefix, processName = h, ip, pre, pn })
}
