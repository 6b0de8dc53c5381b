package images

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestEvict(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	type file struct {
		name string
		age  time.Duration
	}
	fp := Fingerprint
	files := []file{
		{fp("used"), 30 * day},                      // in use, old: kept and touched
		{fp("used") + "_10737418240", 30 * day},     // resized variant of an in-use image
		{fp("old"), 25 * time.Hour},                 // unused, older than a day: removed
		{fp("young"), 23 * time.Hour},               // unused, younger than a day: kept
		{fp("old") + "_10737418240", 2 * time.Hour}, // resized, older than an hour: removed
		{fp("young") + "_sm", 30 * time.Minute},     // resized, too young
		{fp("stale") + ".123.part", 2 * day},        // abandoned download: removed
		{fp("fresh") + ".456.part", time.Hour},      // download that may still run: kept
		{fp("busy") + ".789.part", 2 * day},         // this process is downloading it
		{fp("busy"), 2 * day},                       // (an old copy while a new download runs)
		{"swap_512", 30 * day},                      // not an image: never touched
		{"ephemeral_10_40d1d2c", 30 * day},
		{"notes.txt", 30 * day},
	}
	opts := CacheOptions{RemoveUnused: true, OriginalMinAge: day, ResizedMinAge: time.Hour}
	setup := func(t *testing.T, o CacheOptions) *Cache {
		c := newTestCache(t, o)
		for _, f := range files {
			p := filepath.Join(c.opts.Dir, f.name)
			if err := os.WriteFile(p, []byte(f.name), 0o644); err != nil {
				t.Fatal(err)
			}
			ts := now.Add(-f.age)
			if err := os.Chtimes(p, ts, ts); err != nil {
				t.Fatal(err)
			}
		}
		c.calls["busy"] = &call{done: make(chan struct{}), waiters: 1, cancel: func() {}}
		return c
	}
	paths := func(c *Cache, names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, filepath.Join(c.opts.Dir, n))
		}
		if out == nil {
			return nil
		}
		sort.Strings(out)
		return out
	}
	inUse := map[string]bool{"used": true, "old": false, "kernel-not-cached": true}

	t.Run("remove unused", func(t *testing.T) {
		c := setup(t, opts)
		res, err := c.Evict(inUse, now)
		if err != nil {
			t.Fatal(err)
		}
		want := EvictResult{
			InUse:    paths(c, fp("used"), fp("used")+"_10737418240"),
			Removed:  paths(c, fp("old"), fp("old")+"_10737418240", fp("stale")+".123.part"),
			TooYoung: paths(c, fp("young"), fp("young")+"_sm", fp("fresh")+".456.part"),
			Skipped:  paths(c, fp("busy"), fp("busy")+".789.part"),
		}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("result\n%+v\nwant\n%+v", res, want)
		}
		for _, p := range want.Removed {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("%s still there", p)
			}
		}
		for _, n := range []string{"swap_512", "ephemeral_10_40d1d2c", "notes.txt", fp("young"), fp("busy")} {
			if _, err := os.Stat(filepath.Join(c.opts.Dir, n)); err != nil {
				t.Fatalf("%s was removed: %v", n, err)
			}
		}
		for _, p := range want.InUse {
			fi, _ := os.Stat(p)
			if !fi.ModTime().Equal(now) {
				t.Fatalf("in-use %s mtime %v, want %v", p, fi.ModTime(), now)
			}
		}
		// A day later with nothing in use, the touched files are still too young
		// for an hour less than the minimum age, then go.
		res, err = c.Evict(nil, now.Add(day-time.Hour))
		if err != nil || len(res.InUse) != 0 {
			t.Fatal(res, err)
		}
		for _, p := range want.InUse[:1] {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("%s removed before its minimum age after last use", p)
			}
		}
		if _, err := c.Evict(nil, now.Add(day)); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(want.InUse[0]); !os.IsNotExist(err) {
			t.Fatalf("%s kept a day after its last use", want.InUse[0])
		}
	})

	t.Run("removal disabled", func(t *testing.T) {
		o := opts
		o.RemoveUnused = false
		c := setup(t, o)
		res, err := c.Evict(inUse, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Removed) != 0 || len(res.TooYoung) != 0 || len(res.InUse) != 2 || len(res.Skipped) != 8 {
			t.Fatalf("%+v", res)
		}
		if got := len(dirNames(t, c.opts.Dir)); got != len(files) {
			t.Fatalf("%d files left, want %d", got, len(files))
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		c := newTestCache(t, opts)
		os.Remove(c.opts.Dir)
		if res, err := c.Evict(inUse, now); err != nil || !reflect.DeepEqual(res, EvictResult{}) {
			t.Fatal(res, err)
		}
	})
}

func TestCacheHitRefreshesAge(t *testing.T) {
	c := newTestCache(t, CacheOptions{RemoveUnused: true, OriginalMinAge: time.Hour})
	now := time.Now()
	p := c.Path("img")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-48 * time.Hour)
	os.Chtimes(p, old, old)
	if _, err := c.Fetch(t.Context(), "img", nil); err != nil { // a hit needs no Glance
		t.Fatal(err)
	}
	res, err := c.Evict(nil, now)
	if err != nil || len(res.TooYoung) != 1 {
		t.Fatalf("just-fetched image not kept as young: %+v %v", res, err)
	}
}

func TestDiskUsage(t *testing.T) {
	c := newTestCache(t, CacheOptions{})
	f, err := os.Create(c.Path("sparse"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30)
	f.WriteAt(make([]byte, 1<<20), 0)
	f.Close()
	u, err := c.DiskUsage()
	if err != nil || u < 1<<20 || u > 64<<20 {
		t.Fatalf("usage %d (%v): want about 1 MiB for a 1 GiB sparse file with 1 MiB written", u, err)
	}
}
