package rpc

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pythonPeer is one Python oslo.messaging installation the interop tests run against.
type pythonPeer struct {
	name   string
	argv   []string // interpreter command; the script path is appended
	script string   // peer.py path as the interpreter sees it
}

// forkyRoot is the debootstrapped 2026.1 root that devstack/ builds (oslo.messaging 18.3).
func forkyRoot() string {
	if r := os.Getenv("NOVABSD_FORKY_ROOT"); r != "" {
		return r
	}
	return "/var/lib/novabsd-rig/root"
}

// pythonPeers returns every available peer: bookworm's /usr/bin/python3 (oslo.messaging 14.0.3) and the forky
// root's (18.3) through chroot. A missing peer fails the test under CI=true and is skipped (with the reason)
// otherwise.
func pythonPeers(t *testing.T) []pythonPeer {
	t.Helper()
	script, err := filepath.Abs("testdata/peer.py")
	if err != nil {
		t.Fatal(err)
	}
	var peers []pythonPeer
	missing := func(name, why string) {
		if os.Getenv("CI") == "true" {
			t.Errorf("python peer %s unavailable: %s", name, why)
		} else {
			t.Logf("skipping python peer %s: %s", name, why)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import oslo_messaging").Run(); err == nil {
		peers = append(peers, pythonPeer{name: "oslo.messaging-14.0.3", argv: []string{"/usr/bin/python3"}, script: script})
	} else {
		missing("bookworm", "/usr/bin/python3 cannot import oslo_messaging (apt-get install python3-oslo.messaging)")
	}
	root := forkyRoot()
	if _, err := os.Stat(filepath.Join(root, "usr/lib/python3/dist-packages/oslo_messaging")); err != nil {
		missing("forky", "no oslo.messaging 18.3 under "+root+" (devstack/ builds it; set NOVABSD_FORKY_ROOT)")
	} else {
		// The script must be readable inside the chroot.
		dir, err := os.MkdirTemp(filepath.Join(root, "tmp"), "novabsd-rpc-")
		if err != nil {
			t.Fatalf("copy peer into forky root: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		b, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "peer.py"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		inRoot := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/") + "/peer.py"
		peers = append(peers, pythonPeer{name: "oslo.messaging-18.3", argv: []string{"chroot", root, "/usr/bin/python3"},
			script: inRoot})
	}
	if len(peers) == 0 && os.Getenv("CI") != "true" {
		t.Skip("no python oslo.messaging peer available")
	}
	return peers
}

func (p pythonPeer) command(ctx context.Context, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, p.argv[1:]...), p.script), args...)
	cmd := exec.CommandContext(ctx, p.argv[0], argv...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

// pyServer is a running `peer.py server`; casts it receives arrive on casts.
type pyServer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	casts chan string
	done  chan struct{}
	mu    sync.Mutex
	errb  strings.Builder
}

func startPyServer(t *testing.T, p pythonPeer, mode, url, exchange, topic, server string) *pyServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := p.command(ctx, mode, url, exchange, topic, server)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	s := &pyServer{cmd: cmd, stdin: stdin, casts: make(chan string, 1000), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{s: s}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start python %s: %v", p.name, err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "READY"):
				ready <- line
			case strings.HasPrefix(line, "CAST "):
				s.casts <- strings.TrimPrefix(line, "CAST ")
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
		}
		cancel()
		cmd.Wait()
	})
	select {
	case <-ready:
	case <-s.done:
		t.Fatalf("python %s server exited before READY: %s", p.name, s.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("python %s server not ready: %s", p.name, s.stderr())
	}
	return s
}

func (s *pyServer) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.errb.String()
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return out
}

type lockedWriter struct{ s *pyServer }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.errb.Write(b)
}
