//go:build linux || freebsd

package beneath

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// layout builds root/{secret, inst/{a, sub/x, sub/up->../a, in->sub/x,
// out->../secret, abs->root/secret, outdir->..}} and returns inst.
func layout(t *testing.T) (inst, secret string) {
	t.Helper()
	root := t.TempDir()
	inst = filepath.Join(root, "inst")
	secret = filepath.Join(root, "secret")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(secret, []byte("secret"), 0o600))
	must(os.MkdirAll(filepath.Join(inst, "sub"), 0o755))
	must(os.WriteFile(filepath.Join(inst, "a"), []byte("a"), 0o600))
	must(os.WriteFile(filepath.Join(inst, "sub", "x"), []byte("x"), 0o600))
	must(os.Symlink("../a", filepath.Join(inst, "sub", "up")))
	must(os.Symlink("sub/x", filepath.Join(inst, "in")))
	must(os.Symlink("../secret", filepath.Join(inst, "out")))
	must(os.Symlink(secret, filepath.Join(inst, "abs")))
	must(os.Symlink("..", filepath.Join(inst, "outdir")))
	return inst, secret
}

func openDir(t *testing.T, dir string) *Dir {
	t.Helper()
	d, err := Open(dir)
	if err == nil {
		_, err = d.ReadFile("a")
	}
	if errors.Is(err, ErrUnsupported) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("confined open unavailable in CI: %v", err)
		}
		t.Skipf("kernel cannot confine lookups here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestReadBeneath(t *testing.T) {
	inst, secret := layout(t)
	d := openDir(t, inst)
	tests := []struct {
		name    string
		want    string // contents when allowed
		escapes bool
	}{
		{name: "a", want: "a"},
		{name: "sub/x", want: "x"},
		{name: "sub/../a", want: "a"},
		{name: "in", want: "x"},
		{name: "sub/up", want: "a"},
		{name: "../secret", escapes: true},
		{name: "sub/../../secret", escapes: true},
		{name: secret, escapes: true},
		{name: "/etc/passwd", escapes: true},
		{name: "out", escapes: true},
		{name: "abs", escapes: true},
		{name: "outdir/secret", escapes: true},
		{name: "/proc/self/root" + secret, escapes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.ReadFile(tt.name)
			if tt.escapes {
				if !errors.Is(err, ErrEscapes) {
					t.Fatalf("ReadFile(%q) = %q, %v; want ErrEscapes", tt.name, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ReadFile(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestWriteBeneath(t *testing.T) {
	inst, secret := layout(t)
	d := openDir(t, inst)
	for _, name := range []string{"../secret", "outdir/secret", secret, "outdir/new"} {
		if err := d.WriteFile(name, []byte("pwned"), 0o600); !errors.Is(err, ErrEscapes) {
			t.Errorf("WriteFile(%q) = %v; want ErrEscapes", name, err)
		}
	}
	// Writing over an escaping symlink replaces the link inside the
	// directory (WriteFile renames into place); its target is untouched.
	for _, name := range []string{"out", "abs"} {
		if err := d.WriteFile(name, []byte("mine"), 0o600); err != nil {
			t.Fatalf("WriteFile(%q): %v", name, err)
		}
		if fi, err := os.Lstat(filepath.Join(inst, name)); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s after WriteFile: %v, %v; want a regular file", name, fi, err)
		}
	}
	// Opening an escaping symlink for writing in place is refused.
	if err := os.Symlink("../secret", filepath.Join(inst, "out2")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenFile("out2", os.O_WRONLY|os.O_APPEND, 0); !errors.Is(err, ErrEscapes) {
		t.Fatalf("OpenFile(out2, append) = %v; want ErrEscapes", err)
	}
	if got, _ := os.ReadFile(secret); string(got) != "secret" {
		t.Fatalf("secret file changed to %q", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(inst), "new")); !os.IsNotExist(err) {
		t.Fatalf("file created outside: %v", err)
	}
	// Writing an ordinary file works and leaves no temporary behind.
	if err := d.WriteFile("sub/domain.xml", []byte("<domain/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(inst, "sub", "domain.xml")); err != nil || string(got) != "<domain/>" {
		t.Fatalf("written file = %q, %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Join(inst, "sub"))
	if len(ents) != 3 {
		t.Fatalf("sub has %d entries, want x, up, domain.xml", len(ents))
	}
}

func TestMkdirRemoveRename(t *testing.T) {
	inst, secret := layout(t)
	d := openDir(t, inst)
	if err := d.Mkdir("outdir/evil", 0o755); !errors.Is(err, ErrEscapes) {
		t.Fatalf("Mkdir through escaping symlink = %v; want ErrEscapes", err)
	}
	if err := d.Mkdir("checkpoints", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir("checkpoints/..", 0o755); err == nil {
		t.Fatal(`Mkdir("checkpoints/..") succeeded`)
	}
	if err := d.Remove("outdir/secret"); !errors.Is(err, ErrEscapes) {
		t.Fatalf("Remove through escaping symlink = %v; want ErrEscapes", err)
	}
	// Removing the escaping symlink removes the link, not its target.
	if err := d.Remove("out"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("target of removed symlink gone: %v", err)
	}
	if err := d.Remove("checkpoints"); err != nil {
		t.Fatalf("remove empty dir: %v", err)
	}
	if err := d.Rename("a", "../stolen"); !errors.Is(err, ErrEscapes) {
		t.Fatalf("Rename out = %v; want ErrEscapes", err)
	}
	if err := d.Rename("a", "sub/b"); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadFile("sub/b"); err != nil || string(got) != "a" {
		t.Fatalf("renamed file = %q, %v", got, err)
	}
}

func TestOpenRejectsFile(t *testing.T) {
	inst, _ := layout(t)
	if _, err := Open(filepath.Join(inst, "a")); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}
