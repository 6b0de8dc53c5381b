//go:build e2e

package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostActions (issue 12) on the shared host: `openstack aggregate cache image` (API 2.81) puts the image in
// the host's image cache before any server asks for it; the host maintenance and power actions of the os-hosts
// API (2.42 and older), which the libvirt driver does not implement, are refused with HTTP 501 and leave the
// compute service up and enabled.
func TestHostActions(t *testing.T) {
	requireRig(t)
	t.Parallel()
	host := sharedHost(t)
	stamp := time.Now().Unix()

	t.Run("aggregate cache image", func(t *testing.T) {
		// A new image, so that no build has cached it already.
		name := fmt.Sprintf("e2e-cache-%d", stamp)
		imgID := field(openstackJSON1(t, "image", "create", "--disk-format", "raw", "--container-format", "bare",
			"--file", rigInfo["IMAGES_IN_ROOT"]+"/tiny.raw", name), "id")
		t.Cleanup(func() { openstack(t, "image", "delete", imgID) })
		// The aggregate is named, not numbered, in every command: its id is an integer the CLI prints as one.
		agg := name
		openstack(t, "aggregate", "create", agg)
		t.Cleanup(func() { openstack(t, "aggregate", "delete", agg) })
		openstack(t, "aggregate", "add", "host", agg, host)
		t.Cleanup(func() { openstack(t, "aggregate", "remove", "host", agg, host) })

		// Nova names cache entries by the sha1 of the image id, and so does novabsd.
		sum := sha1.Sum([]byte(imgID))
		entry := rigPath("compute", host, "instances", "_base", hex.EncodeToString(sum[:]))
		if _, err := os.Stat(entry); err == nil {
			t.Fatalf("cache entry %s exists before the image was asked for", entry)
		}
		openstack(t, "aggregate", "cache", "image", agg, imgID)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st, err := os.Stat(entry)
			if err == nil && st.Mode().IsRegular() {
				want, err := os.Stat(rigPath("root", rigInfo["IMAGES_IN_ROOT"], "tiny.raw"))
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != want.Size() {
					t.Errorf("cache entry %s has %d bytes, the image %d", entry, st.Size(), want.Size())
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no cache entry %s 2 minutes after `aggregate cache image`", entry)
			}
			time.Sleep(time.Second)
		}
		shared.n.waitLog(t, "Caching images by request", time.Minute)
	})

	t.Run("maintenance and power actions are refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := rigCommand(ctx, "exec", "openstack", "host", "set", "--enable-maintenance", host).CombinedOutput()
		if err == nil {
			t.Errorf("host set --enable-maintenance succeeded on a host without maintenance mode:\n%s", out)
		} else if !strings.Contains(string(out), "501") {
			t.Errorf("maintenance refusal does not say 501:\n%s", out)
		}
		// The CLI has no power actions: os-hosts' GET /os-hosts/HOST/ACTION, through openstacksdk's session.
		for _, action := range []string{"reboot", "shutdown", "startup"} {
			status, body := computeRequest(t, "GET", "/os-hosts/"+host+"/"+action, "2.42")
			if status != 501 {
				t.Errorf("host power action %s: HTTP %d, want 501: %s", action, status, body)
			}
		}
		for _, svc := range openstackJSON(t, "compute", "service", "list", "--host", host, "--service", "nova-compute") {
			if field(svc, "State") != "up" || field(svc, "Status") != "enabled" {
				t.Errorf("after the refusals the compute service is %s/%s, want up/enabled", field(svc, "State"),
					field(svc, "Status"))
			}
		}
	})
}

// computeRequest sends one request to Nova's API at microversion mv, through openstacksdk in the rig's root with
// the admin credentials, and returns the HTTP status and body.
func computeRequest(t *testing.T, method, path, mv string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const script = "import sys, openstack\n" +
		"r = openstack.connect().compute.request(sys.argv[2], sys.argv[1], microversion=sys.argv[3], raise_exc=False)\n" +
		"print(r.status_code)\n" +
		"print(r.text)\n"
	cmd := rigCommand(ctx, "exec", "python3", "-c", script, method, path, mv)
	var stderr strings.Builder
	cmd.Stderr = &stderr // openstacksdk warns there of the openrc's "latest" API versions
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", method, path, err, out, stderr.String())
	}
	first, body, _ := strings.Cut(string(out), "\n")
	var status int
	if _, err := fmt.Sscan(first, &status); err != nil {
		t.Fatalf("%s %s: no status in %q", method, path, out)
	}
	return status, body
}
