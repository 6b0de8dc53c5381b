package compute

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// protocolMethods are the method names of the compute RPC table (section 4.2 of the protocol reference): the
// first cell of every row, where one row may name several methods ("`a` / `b`", "`a`, `b` (`arg`)"); backticked
// words inside parentheses are arguments or namespaces, not methods.
func protocolMethods(t *testing.T) []string {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "reference", "nova-compute-protocol.md") // shared/ beside the checkout
	if _, err := os.Stat(path); err != nil {
		path = "/work/shared/reference/nova-compute-protocol.md"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("protocol reference: %v", err)
	}
	text := string(b)
	start := strings.Index(text, "\n### 4.2 ")
	if start < 0 {
		t.Fatal("protocol reference has no section 4.2")
	}
	text = text[start+1:]
	if end := strings.Index(text, "\n### "); end >= 0 {
		text = text[:end]
	}
	parens := regexp.MustCompile(`\([^)]*\)`)
	name := regexp.MustCompile("`([a-z_]+)`")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		first := cells[1]
		if strings.Contains(first, "baseapi") {
			continue // ping is the baseapi endpoint's (registerEndpoints), not the compute manager's
		}
		for _, m := range name.FindAllStringSubmatch(parens.ReplaceAllString(first, ""), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestProtocolMethodsParse guards the parser: rows naming several methods give each, arguments in parentheses
// are not taken for methods, and the table is as long as the reference's.
func TestProtocolMethodsParse(t *testing.T) {
	got := protocolMethods(t)
	for _, want := range []string{"build_and_run_instance", "pause_instance", "unpause_instance", "get_mks_console",
		"get_serial_console", "inject_network_info", "add_fixed_ip_to_instance", "remove_fixed_ip_from_instance",
		"allow_share", "finish_revert_snapshot_based_resize_at_source", "cache_images"} {
		if !slices.Contains(got, want) {
			t.Errorf("%s not parsed from the table", want)
		}
	}
	for _, not := range []string{"network_id", "address", "ping", "baseapi", "webmks", "serial"} {
		if slices.Contains(got, not) {
			t.Errorf("%q parsed as a method", not)
		}
	}
	if len(got) < 70 {
		t.Errorf("only %d methods parsed: %q", len(got), got)
	}
}

// TestEveryProtocolMethodHasHandler is the rule of issue 12: every method Nova sends has a handler, so nothing
// ends in oslo's NoSuchMethod (which leaves the caller's task state stuck).
func TestEveryProtocolMethodHasHandler(t *testing.T) {
	s := &Service{}
	registered := s.computeMethods()
	var missing []string
	for _, m := range protocolMethods(t) {
		if _, ok := registered[m]; !ok {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d methods of the protocol table have no handler: %s", len(missing), strings.Join(missing, ", "))
	}
}

// TestNoMethodInTwoGroups: computeMethods merges the groups, so a method in two would silently take the last
// group's handler.
func TestNoMethodInTwoGroups(t *testing.T) {
	s := &Service{}
	owner := map[string]string{}
	for _, g := range s.methodGroups() {
		for name := range g.methods {
			if o, dup := owner[name]; dup {
				t.Errorf("%s is in group %s and in group %s", name, o, g.name)
			}
			owner[name] = g.name
		}
	}
}
