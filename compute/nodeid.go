package compute

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// NodeIDFile is the name of the file that holds the compute node's stable identity, the uuid of its ComputeNode
// record and Placement root provider. Nova (service version 65 and later) keeps the same file with the same
// format, so a host moving between the Python service and this one keeps its node.
const NodeIDFile = "compute_id"

// NodeIDError is an unusable node identity: Nova's InvalidNodeConfiguration. The service refuses to start on it,
// because guessing would create a second node for the same host.
type NodeIDError struct {
	Path   string
	Reason string
}

func (e *NodeIDError) Error() string {
	if e.Path == "" {
		return "invalid node configuration: " + e.Reason
	}
	return fmt.Sprintf("invalid node configuration: %s: %s", e.Path, e.Reason)
}

// NodeIDLocations lists where the identity file is looked for, in Nova's order: the directory of every
// --config-file given, then state_path.
func NodeIDLocations(configFiles []string, statePath string) []string {
	dirs := make([]string, 0, len(configFiles)+1)
	for _, f := range configFiles {
		dirs = append(dirs, filepath.Dir(f))
	}
	return append(dirs, statePath)
}

// ReadNodeID returns the identity found in dirs ("" when no file exists). Every copy found must hold the same
// uuid.
func ReadNodeID(dirs []string) (string, error) {
	var first, firstPath string
	for _, dir := range dirs {
		path := filepath.Join(dir, NodeIDFile)
		id, err := readNodeIDFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if first == "" {
			first, firstPath = id, path
			continue
		}
		if id != first {
			return "", &NodeIDError{Path: path, Reason: fmt.Sprintf("uuid %s does not match %s in %s", id, first, firstPath)}
		}
	}
	return first, nil
}

func readNodeIDFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", &NodeIDError{Path: path, Reason: err.Error()}
	}
	defer f.Close()
	// Nova reads 40 characters, enough for a canonical uuid and some whitespace around it.
	buf := make([]byte, 40*utf8.UTFMax)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", &NodeIDError{Path: path, Reason: err.Error()}
	}
	text := string(buf[:n])
	if r := []rune(text); len(r) > 40 {
		text = string(r[:40])
	}
	id, ok := ParseUUID(strings.TrimSpace(text))
	if !ok {
		return "", &NodeIDError{Path: path, Reason: "unable to parse a UUID"}
	}
	return id, nil
}

// ParseUUID accepts the spellings Python's uuid.UUID accepts for a hex string (hyphens anywhere, braces,
// "urn:uuid:" prefix) and returns the canonical lowercase form.
func ParseUUID(s string) (string, bool) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "urn:", ""), "uuid:", "")
	s = strings.ReplaceAll(strings.Trim(s, "{}"), "-", "")
	if len(s) != 32 {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	s = strings.ToLower(s)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:], true
}

// WriteNodeID creates statePath/compute_id holding id (no newline, as Nova writes it). The file must not exist:
// one appearing meanwhile means another process is deciding the identity too.
func WriteNodeID(statePath, id string) error {
	path := filepath.Join(statePath, NodeIDFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return &NodeIDError{Path: path, Reason: "identity file appeared unexpectedly"}
	}
	if err != nil {
		return &NodeIDError{Path: path, Reason: "unable to write uuid: " + err.Error()}
	}
	if _, err := io.WriteString(f, id); err != nil {
		f.Close()
		os.Remove(path)
		return &NodeIDError{Path: path, Reason: "unable to write uuid: " + err.Error()}
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return &NodeIDError{Path: path, Reason: "unable to write uuid: " + err.Error()}
	}
	return nil
}

// LocalNodeID returns the host's node identity, generating and writing one to statePath when no file exists in
// dirs. created reports whether it was generated now.
func LocalNodeID(dirs []string, statePath string, log *slog.Logger) (id string, created bool, err error) {
	id, err = ReadNodeID(dirs)
	if err != nil || id != "" {
		if id != "" {
			log.Info("Determined node identity", "node_uuid", id)
		}
		return id, false, err
	}
	id = uuid.NewString()
	log.Info("Generated node identity", "node_uuid", id)
	if err := WriteNodeID(statePath, id); err != nil {
		return "", false, err
	}
	log.Info("Wrote node identity", "node_uuid", id, "path", filepath.Join(statePath, NodeIDFile))
	return id, true, nil
}
