// Package packaging_test checks the packaging under packaging/: the FreeBSD port's rc.d script under a stand-in
// rc.subr, the port's plist against `make install`, the manual through mandoc's lint, and the systemd unit. `make
// packaging-check` runs it; it needs sh, make, mandoc (devstack/install-deps.sh) and, for one check, systemd-analyze.
package packaging_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
)

const (
	rcScript    = "freebsd/files/novabsd.in"
	portMake    = "freebsd/Makefile"
	pkgPlist    = "freebsd/pkg-plist"
	newsyslog   = "freebsd/files/novabsd.conf"
	manPage     = "man/novabsd.8"
	systemdUnit = "linux/novabsd.service"
	prefix      = "/usr/local" // the port's PREFIX, and make install's default
)

// run runs name with args in dir and returns its combined output and exit code (-1: it could not run or timed out).
func run(t *testing.T, env []string, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		return "", -1
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRCScriptSyntaxAndHeader(t *testing.T) {
	if out, code := run(t, nil, ".", "sh", "-n", rcScript); code != 0 {
		t.Fatalf("sh -n %s: exit %d\n%s", rcScript, code, out)
	}
	// rcorder(8) reads these lines: the service needs the network and the ZFS pools mounted, and must be stopped
	// (gracefully) at shutdown.
	script := read(t, rcScript)
	for _, want := range []string{"# PROVIDE: novabsd\n", "# REQUIRE: NETWORKING zfs\n", "# KEYWORD: shutdown\n",
		"\n. /etc/rc.subr\n", "\nrun_rc_command \"$1\"\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("%s lacks %q", rcScript, want)
		}
	}
}

// rcRoot is a directory standing for a FreeBSD host's file system, with the stand-in rc.subr, daemon(8) and novabsd
// and the rc.d script rewritten to use them.
type rcRoot struct {
	t    *testing.T
	dir  string
	path func(string) string // a host path under the root
}

// newRCRoot lays out a root with the given rc.conf (where @ROOT@ stands for the root) and, if withConfig, the
// default nova.conf.
func newRCRoot(t *testing.T, rcConf string, withConfig bool) *rcRoot {
	t.Helper()
	dir := t.TempDir()
	r := &rcRoot{t: t, dir: dir, path: func(p string) string { return filepath.Join(dir, p) }}
	files := []struct {
		from, to string
		mode     fs.FileMode
	}{
		{"testdata/standin-rc.subr", "/etc/rc.subr", 0o644},
		{"testdata/standin-daemon", "/usr/sbin/daemon", 0o755},
		{"testdata/standin-novabsd", prefix + "/sbin/novabsd", 0o755},
	}
	for _, f := range files {
		r.write(f.to, read(t, f.from), f.mode)
	}
	for _, d := range []string{"/var/run", "/var/log"} {
		if err := os.MkdirAll(r.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.write("/etc/rc.conf", strings.ReplaceAll(rcConf, "@ROOT@", dir), 0o644)
	if withConfig {
		r.write(prefix+"/etc/nova/nova.conf", "[DEFAULT]\n", 0o644)
	}

	// The script as the port installs it (SUB_LIST's %%PREFIX%%), with every host path it names moved under the
	// root. Each replacement must apply, and no other absolute path may remain, so that the test never runs or
	// writes the real thing.
	script := read(t, rcScript)
	for _, rep := range [][2]string{
		{"%%PREFIX%%", r.path(prefix)},
		{"/etc/rc.subr", r.path("/etc/rc.subr")},
		{"/usr/sbin/daemon", r.path("/usr/sbin/daemon")},
		{"/var/run/", r.path("/var/run") + "/"},
		{"/var/log/", r.path("/var/log") + "/"},
	} {
		if !strings.Contains(script, rep[0]) {
			t.Fatalf("%s no longer names %s: update this test's paths", rcScript, rep[0])
		}
		script = strings.ReplaceAll(script, rep[0], rep[1])
	}
	stray := regexp.MustCompile(`(^|[\s"'=:])/[A-Za-z]`)
	for i, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if m := stray.FindString(strings.ReplaceAll(line, dir, "ROOT")); m != "" {
			t.Fatalf("%s line %d names a host path the test does not move under its root: %q", rcScript, i+1, line)
		}
	}
	r.write(prefix+"/etc/rc.d/novabsd", script, 0o755)
	t.Cleanup(r.killService)
	return r
}

func (r *rcRoot) write(path, content string, mode fs.FileMode) {
	r.t.Helper()
	p := r.path(path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		r.t.Fatal(err)
	}
}

// rc runs the rc.d script with arg, as service(8) would.
func (r *rcRoot) rc(arg string) (string, int) {
	r.t.Helper()
	return run(r.t, []string{"STANDIN_ROOT=" + r.dir}, r.dir, "sh", r.path(prefix+"/etc/rc.d/novabsd"), arg)
}

// lines reads a file the stand-ins write (one argument or signal a line); nil if it does not exist.
func (r *rcRoot) lines(name string) []string {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func (r *rcRoot) exists(name string) bool {
	_, err := os.Stat(filepath.Join(r.dir, name))
	return err == nil
}

// waitFor polls until a file a stand-in writes in the background has at least n complete lines: it is created
// before it is written.
func (r *rcRoot) waitFor(name string, n int) {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(r.dir, name)); err == nil && bytes.Count(b, []byte("\n")) >= n {
			return
		}
	}
	r.t.Fatalf("the stand-in did not write %d lines to %s", n, name)
}

// pid is the pid in the service's pidfile (0: none).
func (r *rcRoot) pid() int {
	b, err := os.ReadFile(r.path("/var/run/novabsd.pid"))
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		r.t.Fatalf("pidfile: %v", err)
	}
	return n
}

// alive tells whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ") ")
	return i >= 0 && !strings.HasPrefix(s[i+2:], "Z")
}

// killService ends a stand-in service a failed test left running.
func (r *rcRoot) killService() {
	if pid := r.pid(); pid > 0 && alive(pid) {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
}

func TestRCScriptStandIn(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Fatalf("the rc.subr stand-in looks at processes through /proc: %v", err)
	}
	t.Parallel()
	// The argv daemon(8) gets, given the config file, the log file and novabsd_flags.
	daemonArgv := func(r *rcRoot, config string, tail ...string) []string {
		return append([]string{"-f", "-S", "-T", "novabsd", "-p", r.path("/var/run/novabsd.pid"),
			r.path(prefix + "/sbin/novabsd"), "compute", "--config-file", config}, tail...)
	}

	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		r := newRCRoot(t, "", true)
		out, code := r.rc("start")
		if code != 0 || !strings.Contains(out, "Cannot 'start' novabsd. Set novabsd_enable to YES") {
			t.Fatalf("start with novabsd_enable unset: exit %d\n%s", code, out)
		}
		if r.exists("daemon.argv") {
			t.Fatal("daemon(8) ran although novabsd_enable is not set")
		}
	})

	t.Run("missing config file", func(t *testing.T) {
		t.Parallel()
		r := newRCRoot(t, "novabsd_enable=YES\n", false)
		out, code := r.rc("start")
		if code == 0 || !strings.Contains(out, r.path(prefix+"/etc/nova/nova.conf")) {
			t.Fatalf("start without nova.conf: exit %d, want a failure naming the file\n%s", code, out)
		}
		if r.exists("daemon.argv") {
			t.Fatal("daemon(8) ran although the config file is missing")
		}
	})

	t.Run("start status reload stop", func(t *testing.T) {
		t.Parallel()
		r := newRCRoot(t, "novabsd_enable=YES\n", true)
		if out, code := r.rc("start"); code != 0 {
			t.Fatalf("start: exit %d\n%s", code, out)
		}
		want := daemonArgv(r, r.path(prefix+"/etc/nova/nova.conf"), "--log-file", r.path("/var/log/novabsd.log"))
		if got := r.lines("daemon.argv"); !slices.Equal(got, want) {
			t.Fatalf("daemon(8) ran with\n%q\nwant\n%q", got, want)
		}
		r.waitFor("novabsd.argv", len(want[7:]))
		if got := r.lines("novabsd.argv"); !slices.Equal(got, want[7:]) {
			t.Fatalf("novabsd ran with %q, want %q", got, want[7:])
		}
		pid := r.pid()
		if pid == 0 || !alive(pid) {
			t.Fatalf("the pidfile holds %d, which does not run", pid)
		}
		if out, code := r.rc("status"); code != 0 || !strings.Contains(out, fmt.Sprintf("novabsd is running as pid %d.", pid)) {
			t.Fatalf("status: exit %d, want novabsd running as pid %d\n%s", code, pid, out)
		}
		if out, code := r.rc("start"); code == 0 || !strings.Contains(out, "already running") {
			t.Fatalf("a second start: exit %d, want a refusal\n%s", code, out)
		}

		if out, code := r.rc("reload"); code != 0 {
			t.Fatalf("reload: exit %d\n%s", code, out)
		}
		r.waitFor("novabsd.signals", 1)
		if got := r.lines("novabsd.signals"); !slices.Equal(got, []string{"HUP"}) || !alive(pid) {
			t.Fatalf("reload: novabsd got %q and runs: %v; want SIGHUP and still running", got, alive(pid))
		}

		start := time.Now()
		if out, code := r.rc("stop"); code != 0 {
			t.Fatalf("stop: exit %d\n%s", code, out)
		}
		// The stand-in's graceful stop takes 1 s and writes novabsd.stopped at its end: stop must have waited.
		if !r.exists("novabsd.stopped") || alive(pid) {
			t.Fatalf("stop returned after %v with novabsd still stopping (stopped marker: %v, running: %v)",
				time.Since(start), r.exists("novabsd.stopped"), alive(pid))
		}
		if got := r.lines("novabsd.signals"); !slices.Equal(got, []string{"HUP", "TERM"}) {
			t.Fatalf("novabsd got %q, want HUP then TERM", got)
		}
		if out, code := r.rc("status"); code == 0 || !strings.Contains(out, "novabsd is not running.") {
			t.Fatalf("status after stop: exit %d\n%s", code, out)
		}
	})

	t.Run("rc.conf settings", func(t *testing.T) {
		t.Parallel()
		r := newRCRoot(t, `novabsd_enable=YES
novabsd_config=@ROOT@/etc/compute.conf
novabsd_flags="--debug --config-dir @ROOT@/etc/nova.d"
novabsd_logfile=
`, false)
		r.write("/etc/compute.conf", "[DEFAULT]\n", 0o644)
		if out, code := r.rc("start"); code != 0 {
			t.Fatalf("start: exit %d\n%s", code, out)
		}
		// The flags go to novabsd, after the config file, and not to daemon(8); an empty novabsd_logfile leaves the
		// log to nova.conf.
		want := daemonArgv(r, r.path("/etc/compute.conf"), "--debug", "--config-dir", r.path("/etc/nova.d"))
		if got := r.lines("daemon.argv"); !slices.Equal(got, want) {
			t.Fatalf("daemon(8) ran with\n%q\nwant\n%q", got, want)
		}
		r.waitFor("novabsd.argv", 1)
		if out, code := r.rc("stop"); code != 0 || !r.exists("novabsd.stopped") {
			t.Fatalf("stop: exit %d, stopped: %v\n%s", code, r.exists("novabsd.stopped"), out)
		}
	})

	t.Run("onestart while disabled", func(t *testing.T) {
		t.Parallel()
		r := newRCRoot(t, "novabsd_enable=NO\n", true)
		if out, code := r.rc("onestart"); code != 0 || !r.exists("daemon.argv") {
			t.Fatalf("onestart: exit %d\n%s", code, out)
		}
		r.waitFor("novabsd.argv", 1)
		// A running service stops whatever novabsd_enable says.
		if out, code := r.rc("stop"); code != 0 || !r.exists("novabsd.stopped") {
			t.Fatalf("stop: exit %d\n%s", code, out)
		}
	})
}

// binDir holds the binary buildBinary built; TestMain removes it.
var binDir string

// buildBinary builds novabsd once for the tests that install it.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "novabsd-packaging-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "novabsd")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/novabsd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// makeInstall runs the top Makefile's install target into a new DESTDIR with vars and returns the files it put down,
// relative to PREFIX.
func makeInstall(t *testing.T, vars ...string) (string, []string) {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	args := append([]string{"-s", "install", "DESTDIR=" + dest, "PREFIX=" + prefix, "NOVABSD_BIN=" + bin}, vars...)
	if out, code := run(t, nil, "..", "make", args...); code != 0 {
		t.Fatalf("make %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	var files []string
	root := filepath.Join(dest, prefix)
	err = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("make install put %s outside PREFIX", strings.TrimPrefix(p, dest))
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return dest, files
}

// portInstallVars are the make variables the port's do-install passes to `make install`, with the port's own
// variables given the values they have in a build (the binary is the test's).
func portInstallVars(t *testing.T) []string {
	t.Helper()
	mk := read(t, portMake)
	i := strings.Index(mk, "\ndo-install:\n")
	if i < 0 {
		t.Fatalf("%s has no do-install target", portMake)
	}
	recipe := mk[i+len("\ndo-install:\n"):]
	recipe = recipe[:strings.Index(recipe+"\n\n", "\n\n")]
	recipe = strings.ReplaceAll(recipe, "\\\n", " ")
	_, after, ok := strings.Cut(recipe, "${MAKE_CMD} install")
	if !ok {
		t.Fatalf("%s: do-install does not run ${MAKE_CMD} install:\n%s", portMake, recipe)
	}
	var vars []string
	for _, f := range strings.Fields(after) {
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("%s: do-install passes %q, not a variable", portMake, f)
		}
		switch name {
		case "DESTDIR", "NOVABSD_BIN": // the test's own
			continue
		case "PREFIX":
			if value != "${PREFIX}" {
				t.Fatalf("%s: do-install sets PREFIX=%s", portMake, value)
			}
			continue
		}
		vars = append(vars, name+"="+strings.ReplaceAll(value, "${PREFIX}", prefix))
	}
	return vars
}

// expandPlist reads pkg-plist as pkg(8) would list the package's files: %%VAR%% from PLIST_SUB (ETCDIR taken from
// the port's Makefile), @sample's file, other lines as they are. Keywords the port does not use fail the test.
func expandPlist(t *testing.T) []string {
	t.Helper()
	etcdir := regexp.MustCompile(`(?m)^ETCDIR=\s*\$\{PREFIX\}/(\S+)$`).FindStringSubmatch(read(t, portMake))
	if etcdir == nil {
		t.Fatalf("%s does not set ETCDIR=${PREFIX}/...", portMake)
	}
	sub := strings.NewReplacer("%%ETCDIR%%", etcdir[1])
	var files []string
	sc := bufio.NewScanner(strings.NewReader(read(t, pkgPlist)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		line = sub.Replace(line)
		if strings.Contains(line, "%%") {
			t.Fatalf("%s: %q has a substitution this check does not know", pkgPlist, line)
		}
		if kw, arg, ok := strings.Cut(line, " "); ok && strings.HasPrefix(kw, "@") {
			switch kw {
			case "@sample":
				// "@sample X.sample" installs X.sample and makes X from it on the target: the package holds X.sample.
				if !strings.HasSuffix(arg, ".sample") || strings.Contains(arg, " ") {
					t.Fatalf("%s: %q: this check knows @sample with one .sample file", pkgPlist, line)
				}
				files = append(files, arg)
				continue
			default:
				t.Fatalf("%s: keyword %s is not known to this check", pkgPlist, kw)
			}
		}
		files = append(files, line)
	}
	slices.Sort(files)
	return files
}

// TestPlistMatchesInstall: the port's pkg-plist lists exactly what the port's `make install` puts down. The ports
// framework gzips manual pages in the stage directory, so an installed share/man/manN/x.N is listed as x.N.gz; the
// rc.d script comes from USE_RC_SUBR and is not in the plist.
func TestPlistMatchesInstall(t *testing.T) {
	t.Parallel()
	// As on the port's build host: FreeBSD's defaults, then the port's variables.
	vars := append([]string{"UNAME_S=FreeBSD"}, portInstallVars(t)...)
	_, installed := makeInstall(t, vars...)
	staged := make([]string, 0, len(installed))
	manPath := regexp.MustCompile(`^share/man/man[1-9]/[^/]+\.[1-9]$`)
	for _, f := range installed {
		if manPath.MatchString(f) {
			f += ".gz"
		}
		staged = append(staged, f)
	}
	slices.Sort(staged)
	if plist := expandPlist(t); !slices.Equal(staged, plist) {
		t.Fatalf("make install %s puts down\n  %s\nbut pkg-plist lists\n  %s", strings.Join(vars, " "),
			strings.Join(staged, "\n  "), strings.Join(plist, "\n  "))
	}
	if !strings.Contains(read(t, portMake), "\nUSE_RC_SUBR=\tnovabsd\n") {
		t.Errorf("%s does not install the rc.d script (USE_RC_SUBR=novabsd)", portMake)
	}
}

// TestHostInstall: `make install` outside the port. On Linux it puts down the binary, the manual, the sample and
// the systemd unit, whose ExecStart is the installed binary; on FreeBSD the newsyslog entry and the rc.d script
// with the port's %%PREFIX%% substituted. The sample is the binary's own.
func TestHostInstall(t *testing.T) {
	t.Parallel()
	common := []string{"etc/nova/nova.conf.sample", "sbin/novabsd", "share/man/man8/novabsd.8"}
	for _, tc := range []struct {
		host  string
		vars  []string // the host's uname -s, which decides the Makefile's defaults
		extra []string
		check func(t *testing.T, root string)
	}{
		{"linux", []string{"UNAME_S=Linux"},
			[]string{"lib/systemd/system/novabsd.service"}, func(t *testing.T, root string) {
				unit := read(t, filepath.Join(root, "lib/systemd/system/novabsd.service"))
				if !strings.Contains(unit, "\nExecStart="+prefix+"/sbin/novabsd compute ") {
					t.Errorf("installed unit's ExecStart is not %s/sbin/novabsd compute:\n%s", prefix, unit)
				}
			}},
		{"freebsd", []string{"UNAME_S=FreeBSD"},
			[]string{"etc/newsyslog.conf.d/novabsd.conf", "etc/rc.d/novabsd"}, func(t *testing.T, root string) {
				script := read(t, filepath.Join(root, "etc/rc.d/novabsd"))
				if strings.Contains(script, "%%") || !strings.Contains(script, "\nprocname=\""+prefix+"/sbin/novabsd\"\n") {
					t.Errorf("installed rc.d script does not run %s/sbin/novabsd:\n%s", prefix, script)
				}
				if fi, err := os.Stat(filepath.Join(root, "etc/rc.d/novabsd")); err != nil || fi.Mode().Perm()&0o111 == 0 {
					t.Errorf("installed rc.d script is not executable: %v", err)
				}
			}},
	} {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			dest, files := makeInstall(t, tc.vars...)
			want := append(slices.Clone(common), tc.extra...)
			slices.Sort(want)
			if !slices.Equal(files, want) {
				t.Fatalf("make install put down %q, want %q", files, want)
			}
			root := filepath.Join(dest, prefix)
			tc.check(t, root)
			bin, _ := buildBinary()
			sample, _ := run(t, nil, ".", bin, "config", "sample")
			if got := read(t, filepath.Join(root, "etc/nova/nova.conf.sample")); got != sample || !strings.Contains(got, "[DEFAULT]") {
				t.Error("the installed nova.conf.sample is not `novabsd config sample`'s output")
			}
		})
	}
}

// TestNewsyslogEntry: the log the rc.d script writes is rotated, and newsyslog signals novabsd itself (daemon -p's
// pidfile) with SIGHUP, on which it reopens its log.
func TestNewsyslogEntry(t *testing.T) {
	entry := read(t, newsyslog)
	if !regexp.MustCompile(`(?m)^/var/log/novabsd\.log\s.*\s/var/run/novabsd\.pid\s+1$`).MatchString(entry) {
		t.Errorf("%s does not rotate /var/log/novabsd.log with a SIGHUP to the pid in /var/run/novabsd.pid:\n%s",
			newsyslog, entry)
	}
	if script := read(t, rcScript); !strings.Contains(script, `novabsd_logfile="/var/log/novabsd.log"`) ||
		!strings.Contains(script, `pidfile="/var/run/${name}.pid"`) {
		t.Errorf("%s's default log file or pidfile is not the one %s names", rcScript, newsyslog)
	}
}

func TestManLint(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("mandoc"); err != nil {
		t.Fatal("mandoc is not installed (devstack/install-deps.sh installs it)")
	}
	out, code := run(t, nil, ".", "mandoc", "-Tlint", "-Wwarning", manPage)
	if code != 0 || out != "" {
		t.Fatalf("mandoc -Tlint -Wwarning %s: exit %d\n%s", manPage, code, out)
	}
}

// TestManCoversCommands: every command of the binary is in the manual's synopsis, and every flag of `novabsd
// compute`, as the binary's own usage lists them.
func TestManCoversCommands(t *testing.T) {
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	man := read(t, manPage)
	synopsis := man[strings.Index(man, ".Sh SYNOPSIS"):strings.Index(man, ".Sh DESCRIPTION")]
	usage, _ := run(t, nil, ".", bin, "--help")
	cmds := regexp.MustCompile(`(?m)^  (\w+)\s`).FindAllStringSubmatch(usage, -1)
	if len(cmds) < 4 {
		t.Fatalf("novabsd --help lists %d commands:\n%s", len(cmds), usage)
	}
	for _, c := range cmds {
		if !regexp.MustCompile(`(?m)^\.Cm ` + c[1] + `\b`).MatchString(synopsis) {
			t.Errorf("the synopsis of %s lacks the command %s", manPage, c[1])
		}
	}
	help, _ := run(t, nil, ".", bin, "compute", "--help")
	flags := regexp.MustCompile(`(?m)^  -([\w-]+)`).FindAllStringSubmatch(help, -1)
	if len(flags) < 4 {
		t.Fatalf("novabsd compute --help lists %d flags:\n%s", len(flags), help)
	}
	for _, f := range flags {
		if !strings.Contains(synopsis, "Fl -"+f[1]+"\n") && !strings.Contains(synopsis, "Fl -"+f[1]+" ") {
			t.Errorf("the synopsis of %s lacks compute's flag --%s", manPage, f[1])
		}
	}
}

// unitKeys parses a systemd unit into section -> key -> values.
func unitKeys(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	keys := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			keys[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s line %d: %q is not a key=value in a section", systemdUnit, i+1, line)
			}
			keys[section][k] = append(keys[section][k], v)
		}
	}
	return keys
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	keys := unitKeys(t, read(t, systemdUnit))
	tmp := filepath.Join(t.TempDir(), "empty.conf")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(conf.Sources{ConfigFiles: []string{tmp}})
	if err != nil {
		t.Fatal(err)
	}
	graceful := time.Duration(cfg.Default.GracefulShutdownTimeout) * time.Second

	for _, tc := range []struct {
		section, key string
		check        func(string) bool
		why          string
	}{
		{"Service", "Type", eq("notify"), "novabsd sends READY=1 itself"},
		{"Service", "NotifyAccess", eq("main"), "only novabsd, not its guests, may notify"},
		{"Service", "ExecStart", func(v string) bool { return strings.HasPrefix(v, "@SBINDIR@/novabsd compute") },
			"make install substitutes @SBINDIR@"},
		{"Service", "ExecReload", func(v string) bool { return strings.Contains(v, "-HUP $MAINPID") },
			"SIGHUP reopens the log and re-reads nova.conf"},
		{"Service", "KillMode", eq("process"), "a stop must not kill the guests, which share the service's cgroup"},
		{"Service", "KillSignal", eq("SIGTERM"), "SIGTERM is the graceful stop"},
		{"Service", "TimeoutStopSec", func(v string) bool {
			d, err := time.ParseDuration(v)
			return err == nil && d > graceful
		}, fmt.Sprintf("the graceful stop may take [DEFAULT] graceful_shutdown_timeout (%v)", graceful)},
		{"Install", "WantedBy", eq("multi-user.target"), "systemctl enable"},
		{"Unit", "Documentation", eq("man:novabsd(8)"), "the manual"},
	} {
		vals := keys[tc.section][tc.key]
		if len(vals) != 1 || !tc.check(vals[0]) {
			t.Errorf("[%s] %s = %q: wrong (%s)", tc.section, tc.key, vals, tc.why)
		}
	}
}

func eq(want string) func(string) bool { return func(v string) bool { return v == want } }

// TestSystemdAnalyzeVerify runs systemd's own check on the unit as make install writes it, with its ExecStart
// pointed at the installed binary (systemd-analyze checks that it exists).
func TestSystemdAnalyzeVerify(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed; TestSystemdUnit still checks the unit's keys")
	}
	dest, _ := makeInstall(t, "SYSTEMD_UNITDIR="+prefix+"/lib/systemd/system", "NEWSYSLOG_CONFDIR=")
	unit := read(t, filepath.Join(dest, prefix, "lib/systemd/system/novabsd.service"))
	unit = strings.ReplaceAll(unit, "ExecStart="+prefix, "ExecStart="+dest+prefix)
	path := filepath.Join(t.TempDir(), "novabsd.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, nil, ".", "systemd-analyze", "verify", "--man=no", path)
	// Without a running systemd, verify also reports the targets it cannot load; only lines about this unit count.
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "novabsd.service:") && !strings.Contains(line, "Unit sysinit.target not found") {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("systemd-analyze verify (exit %d):\n%s", code, strings.Join(problems, "\n"))
	}
	// systemd warns of an unknown key or section without naming the unit first.
	if strings.Contains(out, "Unknown key") || strings.Contains(out, "Unknown section") {
		t.Fatalf("systemd-analyze verify:\n%s", out)
	}
}
