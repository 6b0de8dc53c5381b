package images

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestEvictOneFile runs one eviction pass over a cache holding a single file and checks what happened to it.
func TestEvictOneFile(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	fp := Fingerprint("img")
	tests := []struct {
		name    string
		file    string
		age     time.Duration
		inUse   bool
		loading bool // a download of "img" is in flight
		held    bool // a build holds "img"
		want    string
	}{
		{"in use", fp, 48 * time.Hour, true, false, false, "in use"},
		{"unused young", fp, 30 * time.Minute, false, false, false, "young"},
		{"unused old", fp, 2 * time.Hour, false, false, false, "removed"},
		{"unused old resized", fp + "_10737418240", 2 * time.Hour, false, false, false, "removed"},
		{"abandoned .part", fp + ".123.part", 2 * time.Hour, false, false, false, "removed"},
		{"young .part", fp + ".123.part", time.Minute, false, false, false, "young"},
		{".part of a download in flight", fp + ".123.part", 2 * time.Hour, false, true, false, "skipped"},
		{"old file while downloading now", fp, 2 * time.Hour, false, true, false, "skipped"},
		{"old file held by a build", fp, 2 * time.Hour, false, false, true, "skipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, CacheOptions{RemoveUnused: true, OriginalMinAge: time.Hour, ResizedMinAge: time.Hour})
			p := filepath.Join(c.opts.Dir, tc.file)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			ts := now.Add(-tc.age)
			if err := os.Chtimes(p, ts, ts); err != nil {
				t.Fatal(err)
			}
			if tc.loading {
				c.calls["img"] = &call{done: make(chan struct{}), waiters: 1, cancel: func() {}}
			}
			if tc.held {
				release := c.Hold("img")
				defer release()
			}
			res, err := c.Evict(map[string]bool{"img": tc.inUse}, now)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{"in use": res.InUse, "removed": res.Removed, "young": res.TooYoung,
				"skipped": res.Skipped}
			for what, l := range got {
				if has := slices.Contains(l, p); has != (what == tc.want) {
					t.Fatalf("result %+v: want %s only in %q", res, p, tc.want)
				}
			}
			fi, err := os.Stat(p)
			if (tc.want == "removed") != os.IsNotExist(err) {
				t.Fatalf("after the pass: stat %v, want outcome %q", err, tc.want)
			}
			if tc.want == "in use" && !fi.ModTime().Equal(now) {
				t.Fatalf("in-use file's mtime %v, want it touched to %v", fi.ModTime(), now)
			}
		})
	}
}

// TestHoldRelease checks a released hold no longer protects the file, and a double release does not free
// another build's hold.
func TestHoldRelease(t *testing.T) {
	c := newTestCache(t, CacheOptions{RemoveUnused: true})
	p := c.Path("img")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r1, r2 := c.Hold("img"), c.Hold("img")
	r1()
	r1()
	if res, err := c.Evict(nil, time.Now()); err != nil || len(res.Skipped) != 1 {
		t.Fatalf("with one build still holding: %+v %v", res, err)
	}
	r2()
	if res, err := c.Evict(nil, time.Now()); err != nil || len(res.Removed) != 1 {
		t.Fatalf("with no hold left: %+v %v", res, err)
	}
}

func TestSweepLeftovers(t *testing.T) {
	started := time.Now().Truncate(time.Second)
	fp := Fingerprint("img")
	tests := []struct {
		name    string
		file    string
		age     time.Duration // before started; negative: written after
		loading bool
		removed bool
	}{
		{"download partial from before start", fp + ".123.part", time.Hour, false, true},
		{"conversion partial from before start", "." + fp + ".456.part", time.Minute, false, true},
		{"partial written since start", fp + ".123.part", -time.Second, false, false},
		{"partial of a download in flight", fp + ".123.part", time.Hour, true, false},
		{"a cached image", fp, time.Hour, false, false},
		{"a resized image", fp + "_sm", time.Hour, false, false},
		{"not ours", "notes.part", time.Hour, false, false},
		{"a disk partial of another name", ".disk.123.part", time.Hour, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCache(t, CacheOptions{})
			p := filepath.Join(c.opts.Dir, tc.file)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			ts := started.Add(-tc.age)
			if err := os.Chtimes(p, ts, ts); err != nil {
				t.Fatal(err)
			}
			if tc.loading {
				c.calls["img"] = &call{done: make(chan struct{}), waiters: 1, cancel: func() {}}
			}
			removed, err := c.SweepLeftovers(started)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(removed) == 1 && removed[0] == p; got != tc.removed {
				t.Fatalf("removed %v, want %s removed: %v", removed, tc.file, tc.removed)
			}
			if _, err := os.Stat(p); os.IsNotExist(err) != tc.removed {
				t.Fatalf("stat after sweep: %v", err)
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		c := newTestCache(t, CacheOptions{})
		os.Remove(c.opts.Dir)
		if removed, err := c.SweepLeftovers(started); err != nil || removed != nil {
			t.Fatal(removed, err)
		}
	})
}
