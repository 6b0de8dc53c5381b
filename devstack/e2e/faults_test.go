//go:build e2e

package e2e

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fault cases of issue 7.

// glanceStore is where the rig's Glance (file store) keeps image data.
func glanceStore() string { return rigPath("root", "var", "lib", "glance", "images") }

func TestImageHashMismatch(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	// Upload a copy of the tiny image, then change the stored bytes behind Glance's back: the image's
	// os_hash_value no longer matches what a download returns.
	name := fmt.Sprintf("e2e-corrupt-%d", time.Now().Unix())
	img := openstackJSON1(t, "image", "create", "--disk-format", "raw", "--container-format", "bare",
		"--file", rigInfo["IMAGES_IN_ROOT"]+"/tiny.raw", name)
	imgID := field(img, "id")
	t.Cleanup(func() { openstack(t, "image", "delete", imgID) })
	stored := filepath.Join(glanceStore(), imgID)
	f, err := os.OpenFile(stored, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("stored image: %v", err)
	}
	if _, err := f.WriteAt([]byte("corrupted by the e2e test"), 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	args := append([]string{"server", "create", "--flavor", "tiny", "--image", imgID}, netArgs()...)
	srv := openstackJSON1(t, append(args, "--availability-zone", "nova:"+host, name)...)
	id := field(srv, "id")
	t.Cleanup(func() { deleteServer(t, id) })
	s := waitServer(t, id, "ERROR", 3*time.Minute)
	fault := fmt.Sprint(s["fault"])
	if !strings.Contains(strings.ToLower(fault), "hash") && !strings.Contains(strings.ToLower(fault), "checksum") {
		t.Errorf("fault %q does not name the hash mismatch", fault)
	}
	// Nothing of the bad image may stay in the cache (nova names cache entries by the sha1 of the image id).
	sum := sha1.Sum([]byte(imgID))
	cache := rigPath("compute", host, "instances", "_base")
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), hex.EncodeToString(sum[:])) {
			t.Errorf("cache entry %s left for the corrupt image", e.Name())
		}
	}
}

func TestRestartDuringBuild(t *testing.T) {
	requireRig(t)
	n, host := lifecycleHost(t, "e2e-crash")
	name := fmt.Sprintf("e2e-crash-%d", time.Now().Unix())
	// A new image of 1 GiB (the tiny image, extended): downloading it takes seconds, so the kill below lands
	// inside the build rather than after it.
	const inRoot = "/tmp/e2e-big.raw"
	big := rigPath("root", inRoot)
	raw, err := os.ReadFile(rigPath("root", rigInfo["IMAGES_IN_ROOT"], "tiny.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(big)
	if err := os.Truncate(big, 1<<30); err != nil {
		t.Fatal(err)
	}
	img := openstackJSON1(t, "image", "create", "--disk-format", "raw", "--container-format", "bare",
		"--file", inRoot, name)
	imgID := field(img, "id")
	t.Cleanup(func() { openstack(t, "image", "delete", imgID) })
	args := append([]string{"server", "create", "--flavor", "tiny", "--image", imgID}, netArgs()...)
	srv := openstackJSON1(t, append(args, "--availability-zone", "nova:"+host, name)...)
	id := field(srv, "id")
	n.waitLog(t, "Building the instance", 2*time.Minute)
	n.kill(t)
	if strings.Contains(n.Log(), "seconds to build instance") {
		t.Log("note: the build completed before the kill")
	}
	n2 := startNovabsdConf(t, host, lifecycleExtra)
	n2.waitLog(t, "Compute service started", 90*time.Second)
	// Whatever the build had reached, it must end ACTIVE or ERROR with a fault, never stay in BUILD. The server
	// is deleted here, while the restarted host still runs (cleanups would stop the host first).
	defer deleteServer(t, id)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s := serverShow(t, id)
		switch field(s, "status") {
		case "ACTIVE":
			waitMarker(t, id, 1, 3*time.Minute)
			t.Logf("the build had completed or was redone after the restart: ACTIVE")
			return
		case "ERROR":
			if s["fault"] == nil {
				t.Fatalf("ERROR without a fault: %v", s)
			}
			t.Logf("the interrupted build ended in ERROR with fault %v", s["fault"])
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server still %s (task %s) 3 minutes after the restart", field(s, "status"),
				field(s, "OS-EXT-STS:task_state"))
		}
		time.Sleep(2 * time.Second)
	}
}
