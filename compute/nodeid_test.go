package compute

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const nodeA = "4f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{nodeA, nodeA, true},
		{strings.ToUpper(nodeA), nodeA, true},
		{"{" + nodeA + "}", nodeA, true},
		{"urn:uuid:" + nodeA, nodeA, true},
		{strings.ReplaceAll(nodeA, "-", ""), nodeA, true},
		{nodeA[:35], "", false},
		{nodeA + "0", "", false},
		{strings.Replace(nodeA, "a", "g", 1), "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseUUID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadNodeID(t *testing.T) {
	const nodeB = "00000000-1111-4222-8333-444444444444"
	tests := []struct {
		name    string
		files   map[string]string // dir name → content
		want    string
		wantErr string
	}{
		{"none", nil, "", ""},
		{"state path only", map[string]string{"state": nodeA}, nodeA, ""},
		{"whitespace and newline", map[string]string{"etc": "  " + nodeA + "\n"}, nodeA, ""},
		{"config dir and state agree", map[string]string{"etc": nodeA, "state": strings.ToUpper(nodeA)}, nodeA, ""},
		{"disagree", map[string]string{"etc": nodeA, "state": nodeB}, "", "state/compute_id: uuid " + nodeB + " does not match " + nodeA},
		{"garbage", map[string]string{"state": "not-a-uuid"}, "", "state/compute_id: unable to parse a UUID"},
		{"only the first 40 characters count", map[string]string{"state": nodeA + "     trailing junk"}, nodeA, ""},
		{"uuid beyond 40 characters", map[string]string{"state": strings.Repeat(" ", 10) + nodeA}, "", "unable to parse a UUID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for dir, text := range tt.files {
				writeFile(t, filepath.Join(root, dir, NodeIDFile), text)
			}
			dirs := NodeIDLocations([]string{filepath.Join(root, "etc", "nova.conf")}, filepath.Join(root, "state"))
			got, err := ReadNodeID(dirs)
			if tt.wantErr != "" {
				var ne *NodeIDError
				if !errors.As(err, &ne) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a NodeIDError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadNodeID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLocalNodeIDGeneratesOnceAndKeepsIt(t *testing.T) {
	state := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id, created, err := LocalNodeID([]string{state}, state, log)
	if err != nil || !created {
		t.Fatalf("first call: %q, %v, %v", id, created, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("generated %q is not a canonical v4 uuid", id)
	}
	raw, _ := os.ReadFile(filepath.Join(state, NodeIDFile))
	if string(raw) != id {
		t.Fatalf("file holds %q, want exactly %q (no newline, as nova writes it)", raw, id)
	}
	again, created, err := LocalNodeID([]string{state}, state, log)
	if err != nil || created || again != id {
		t.Fatalf("second call: %q, %v, %v; want %q kept", again, created, err, id)
	}
}

func TestWriteNodeIDRefusesExisting(t *testing.T) {
	state := t.TempDir()
	writeFile(t, filepath.Join(state, NodeIDFile), nodeA)
	err := WriteNodeID(state, "00000000-1111-4222-8333-444444444444")
	if err == nil || !strings.Contains(err.Error(), "appeared unexpectedly") {
		t.Fatalf("err = %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(state, NodeIDFile))
	if string(raw) != nodeA {
		t.Fatalf("existing identity overwritten: %q", raw)
	}
}

func TestWriteNodeIDUnwritable(t *testing.T) {
	err := WriteNodeID("/nonexistent/state", nodeA)
	var ne *NodeIDError
	if !errors.As(err, &ne) || ne.Path != "/nonexistent/state/compute_id" {
		t.Fatalf("err = %v", err)
	}
}

func writeConf(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "nova.conf")
	writeFile(t, path, text)
	return path
}
