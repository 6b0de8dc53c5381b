//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The rig every test of this package shares; set up once by TestMain.
var (
	repoRoot   string            // checkout root (holds go.mod)
	rigScript  string            // devstack/rig.sh
	novabsdBin string            // built from ./cmd/novabsd
	rigErr     error             // why the rig is unusable, if it is
	rigRelease string            // Debian release of the rig: NOVABSD_E2E_RELEASE, default forky
	rigInfo    map[string]string // `rig.sh info` of that release: RIG_DIR, ROOT, STATE, RABBIT_VHOST, ...
)

// novaRelease is what novabsd must serve against a rig of one Debian release.
type novaRelease struct {
	name           string // Nova release number, as novabsd logs it
	serviceVersion int    // the conductors' service version, which novabsd reports too
	computeRPC     string // compute RPC version served
	altTopic       bool   // compute-alt.<host> is served (RPC 6.5)
	ownerNova      bool   // the node's provider carries OWNER_NOVA (service version 73+; 2026.2's scheduler requires it)
	neutron        bool   // the rig runs Neutron with ML2/OVN and has the networks private and public
}

// rigReleases are the Debian releases the suite runs against and the Nova each ships.
var rigReleases = map[string]novaRelease{
	"forky":  {name: "2026.1", serviceVersion: 72, computeRPC: "6.5", altTopic: true, neutron: true},
	"trixie": {name: "2025.1", serviceVersion: 68, computeRPC: "6.4", altTopic: false, neutron: true},
	"sid":    {name: "2026.2", serviceVersion: 74, computeRPC: "6.5", altTopic: true, ownerNova: true, neutron: true},
}

func TestMain(m *testing.M) {
	_, self, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(self), "..", ".."))
	rigScript = filepath.Join(repoRoot, "devstack", "rig.sh")

	rigRelease = os.Getenv("NOVABSD_E2E_RELEASE")
	if rigRelease == "" {
		rigRelease = "forky"
	}
	if _, ok := rigReleases[rigRelease]; !ok {
		// A mistyped release is the caller's error, not a missing control plane: never a skip.
		fmt.Fprintf(os.Stderr, "e2e: NOVABSD_E2E_RELEASE=%q: want forky (Nova 2026.1), trixie (Nova 2025.1) or sid (Nova 2026.2)\n", rigRelease)
		os.Exit(2)
	}
	info, err := rigCommand(context.Background(), "info").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: rig.sh --release %s info: %v\n", rigRelease, err)
		os.Exit(1)
	}
	rigInfo = parseInfo(string(info))
	for _, k := range []string{"RIG_DIR", "ROOT", "STATE", "RABBIT_VHOST"} {
		if rigInfo[k] == "" {
			fmt.Fprintf(os.Stderr, "e2e: rig.sh --release %s info printed no %s:\n%s", rigRelease, k, info)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: Debian %s rig in %s (want Nova %s)\n", rigRelease, rigInfo["RIG_DIR"],
		rigReleases[rigRelease].name)

	tmp, err := os.MkdirTemp("", "novabsd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	rigErr = bringUp(tmp)
	if rigErr != nil {
		fmt.Fprintf(os.Stderr, "e2e: control plane unavailable: %v\n", rigErr)
	}
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the shared compute host: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if os.Getenv("NOVABSD_E2E_STOP") == "1" && rigErr == nil {
		if out, err := rigCommand(context.Background(), "stop").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: rig.sh stop: %v\n%s", err, out)
		}
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// bringUp installs the root if needed, starts the control plane and builds novabsd into dir.
func bringUp(dir string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the rig needs root (debootstrap, chroot, mounts)")
	}
	for _, sub := range []string{"install", "start"} {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		cmd := rigCommand(ctx, sub)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		if err != nil {
			return fmt.Errorf("rig.sh %s: %w\n%s", sub, err, out.String())
		}
		fmt.Fprintf(os.Stderr, "e2e: rig.sh --release %s %s took %v\n", rigRelease, sub, time.Since(start).Round(100*time.Millisecond))
	}
	novabsdBin = filepath.Join(dir, "novabsd")
	build := exec.Command("go", "build", "-o", novabsdBin, "./cmd/novabsd")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/novabsd: %w\n%s", err, out)
	}
	return nil
}

// rigCommand is devstack/rig.sh for the suite's release.
func rigCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, rigScript, append([]string{"--release", rigRelease}, args...)...)
}

// rigPath is a path below the rig's directory (compute/HOST/..., state/..., root/...).
func rigPath(elem ...string) string {
	return filepath.Join(append([]string{rigInfo["RIG_DIR"]}, elem...)...)
}

// parseInfo reads the KEY=VALUE lines of `rig.sh info`.
func parseInfo(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

// requireRig fails the test under CI=true, and skips it otherwise, when the rig is not up.
func requireRig(t *testing.T) {
	t.Helper()
	if rigErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("control plane unavailable: %v", rigErr)
	}
	t.Skipf("control plane unavailable (CI=true makes this fatal): %v", rigErr)
}

// openstack runs the real openstack CLI inside the rig's root with the admin openrc and
// returns its stdout; a failure fails the test with stderr.
func openstack(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := rigCommand(ctx, append([]string{"exec", "openstack"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// openstackJSON runs `openstack ARGS -f json` and decodes a list of rows.
func openstackJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out := openstack(t, append(args, "-f", "json")...)
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("openstack %s: not a JSON list: %v\n%s", strings.Join(args, " "), err, out)
	}
	return rows
}

// openstackJSON1 runs `openstack ARGS -f json` for a single object (show commands).
func openstackJSON1(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out := openstack(t, append(args, "-f", "json")...)
	var obj map[string]any
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatalf("openstack %s: not a JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return obj
}

func statSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
