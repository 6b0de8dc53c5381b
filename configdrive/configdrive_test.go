package configdrive

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/novabsd/novabsd/network"
)

const testUUID = "0b9fa2a4-7d3c-4a57-9a53-6d2f1c1e4b10"

// ovnVIF is a port as nova's info cache holds it on an ML2/OVN cloud: no DHCP port, so a static network.
func ovnVIF() network.VIF {
	gw := network.IP{Address: "10.0.0.1", Type: "gateway", Version: 4}
	return network.VIF{
		ID: "3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", Address: "fa:16:3e:12:34:56", Type: "ovs",
		DevName: "tap3f1c2a9e-5b",
		Network: &network.Network{
			ID: "9d0e8f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a", Bridge: "br-int", Label: "private",
			Meta: map[string]any{"mtu": float64(1442), "tunneled": true},
			Subnets: []network.Subnet{
				{
					CIDR: "10.0.0.0/26", Version: 4, Gateway: &gw,
					DNS:    []network.IP{{Address: "10.0.0.2", Type: "dns", Version: 4}},
					IPs:    []network.FixedIP{{IP: network.IP{Address: "10.0.0.5", Type: "fixed", Version: 4}, FloatingIPs: []network.IP{{Address: "172.24.4.10", Type: "floating", Version: 4}}}},
					Routes: []network.Route{{CIDR: "192.168.7.0/24", Gateway: &network.IP{Address: "10.0.0.9", Version: 4}}},
					Meta:   map[string]any{},
				},
				{
					CIDR: "fd00:1::/64", Version: 6, Gateway: &network.IP{Address: "fd00:1::1", Version: 6},
					IPs:  []network.FixedIP{{IP: network.IP{Address: "fd00:1::f816:3eff:fe12:3456", Type: "fixed", Version: 6}}},
					Meta: map[string]any{"ipv6_address_mode": "slaac"},
				},
			},
		},
	}
}

func fullContent() Content {
	return Content{
		UUID: testUUID, Name: "web 1", Hostname: "web-1", AvailabilityZone: "nova", LaunchIndex: 2,
		ProjectID:  "4b2c8a0e6f1d4e3a9b7c5d2e1f0a9b8c",
		Meta:       map[string]string{"role": "web"},
		PublicKeys: map[string]string{"mykey": "ssh-ed25519 AAAAC3Nza mykey"},
		UserData:   []byte("#!/bin/sh\necho hello\n"),
		AdminPass:  "s3cret",
		Network:    network.Info{ovnVIF()},
		VendorData: map[string]any{"static": map[string]any{"a": "b"}, "dyn": map[string]any{"x": float64(1)}},
		EC2:        EC2{InstanceID: "i-0000002a", InstanceType: "m1.tiny", SecurityGroups: []string{"default"}},
	}
}

func decode(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v: %s", name, err, b)
	}
	return m
}

func TestFilesLayout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		c        Content
		userData bool
	}{
		{"minimal", Content{UUID: testUUID}, false},
		{"full", fullContent(), true},
		{"empty user data is still user data", Content{UUID: testUUID, UserData: []byte{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := Files(tc.c)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, v := range EC2Versions {
				want = append(want, "ec2/"+v+"/meta-data.json")
				if tc.userData {
					want = append(want, "ec2/"+v+"/user-data")
				}
			}
			for i, v := range append(slices.Clone(OpenStackVersions), "latest") {
				d := "openstack/" + v + "/"
				want = append(want, d+"meta_data.json")
				if tc.userData {
					want = append(want, d+"user_data")
				}
				if i >= 2 {
					want = append(want, d+"vendor_data.json")
				}
				if i >= 3 {
					want = append(want, d+"network_data.json")
				}
				if i >= 5 {
					want = append(want, d+"vendor_data2.json")
				}
			}
			var got []string
			for name, b := range files {
				got = append(got, name)
				if strings.HasSuffix(name, ".json") {
					decode(t, name, b)
				} else if !bytes.Equal(b, tc.c.UserData) {
					t.Errorf("%s = %q, want the user data %q", name, b, tc.c.UserData)
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("files:\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestMetaData(t *testing.T) {
	files, err := Files(fullContent())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version string
		want    map[string]any // fields and values; nil value: must be absent
	}{
		{"2012-08-10", map[string]any{
			"uuid": testUUID, "name": "web 1", "hostname": "web-1", "launch_index": float64(2),
			"availability_zone": "nova", "meta": map[string]any{"role": "web"}, "admin_pass": "s3cret",
			"public_keys": map[string]any{"mykey": "ssh-ed25519 AAAAC3Nza mykey"},
			"keys":        []any{map[string]any{"name": "mykey", "type": "ssh", "data": "ssh-ed25519 AAAAC3Nza mykey"}},
			"random_seed": nil, "project_id": nil, "devices": nil, "dedicated_cpus": nil,
		}},
		{"2013-04-04", map[string]any{"project_id": nil}},
		{"2015-10-15", map[string]any{"project_id": "4b2c8a0e6f1d4e3a9b7c5d2e1f0a9b8c", "devices": nil}},
		{"2016-06-30", map[string]any{"devices": []any{}, "dedicated_cpus": nil}},
		{"2020-10-14", map[string]any{"dedicated_cpus": []any{}}},
		{"latest", map[string]any{"uuid": testUUID, "dedicated_cpus": []any{}, "admin_pass": "s3cret"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			md := decode(t, tc.version, files["openstack/"+tc.version+"/meta_data.json"])
			for k, v := range tc.want {
				got, ok := md[k]
				if v == nil {
					if ok {
						t.Errorf("%s: %q present (%v), want absent", tc.version, k, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, v) {
					t.Errorf("%s: %q = %#v, want %#v", tc.version, k, got, v)
				}
			}
			if tc.version != "2012-08-10" {
				if s, _ := md["random_seed"].(string); len(s) != 684 { // base64 of 512 bytes
					t.Errorf("%s: random_seed %q, want 512 random bytes in base64", tc.version, s)
				}
			}
		})
	}
	// Without a password, keys or metadata, none of them is written.
	files, err = Files(Content{UUID: testUUID})
	if err != nil {
		t.Fatal(err)
	}
	md := decode(t, "minimal", files["openstack/latest/meta_data.json"])
	for _, k := range []string{"admin_pass", "public_keys", "keys", "meta"} {
		if _, ok := md[k]; ok {
			t.Errorf("minimal meta_data.json has %q: %v", k, md)
		}
	}
	if md["availability_zone"] != nil {
		t.Errorf("availability_zone %v, want null", md["availability_zone"])
	}
}

func TestVendorAndEC2(t *testing.T) {
	files, err := Files(fullContent())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		want map[string]any
	}{
		{"openstack/latest/vendor_data.json", map[string]any{"a": "b"}},
		{"openstack/latest/vendor_data2.json", map[string]any{"static": map[string]any{"a": "b"}, "dyn": map[string]any{"x": float64(1)}}},
		{"ec2/latest/meta-data.json", map[string]any{
			"instance-id": "i-0000002a", "hostname": "web-1", "local-hostname": "web-1", "public-hostname": "web-1",
			"local-ipv4": "10.0.0.5", "public-ipv4": "172.24.4.10", "instance-type": "m1.tiny",
			"security-groups": []any{"default"}, "ami-launch-index": float64(2), "ami-manifest-path": "FIXME",
			"placement": map[string]any{"availability-zone": "nova"}, "instance-action": "none",
			"public-keys": map[string]any{"0": map[string]any{"openssh-key": "ssh-ed25519 AAAAC3Nza mykey"}},
		}},
	} {
		got := decode(t, tc.file, files[tc.file])
		for k, v := range tc.want {
			if !reflect.DeepEqual(got[k], v) {
				t.Errorf("%s: %q = %#v, want %#v", tc.file, k, got[k], v)
			}
		}
		if tc.file == "openstack/latest/vendor_data2.json" && len(got) != len(tc.want) {
			t.Errorf("%s = %v, want %v", tc.file, got, tc.want)
		}
	}
	if !bytes.Equal(files["ec2/2009-04-04/meta-data.json"], files["ec2/latest/meta-data.json"]) {
		t.Error("ec2/latest differs from ec2/2009-04-04")
	}
	files, err = Files(Content{UUID: testUUID})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"openstack/latest/vendor_data.json", "openstack/latest/vendor_data2.json", "openstack/latest/network_data.json"} {
		if string(files[f]) != "{}" {
			t.Errorf("%s without content = %s, want {}", f, files[f])
		}
	}
}

func TestNetworkData(t *testing.T) {
	dhcp := ovnVIF()
	dhcp.Network.Subnets = dhcp.Network.Subnets[:1]
	dhcp.Network.Subnets[0].Meta = map[string]any{"dhcp_server": "10.0.0.2"}
	noSubnets := ovnVIF()
	noSubnets.Network.Subnets = nil
	other := ovnVIF()
	other.Type, other.DevName = "binding_failed", ""
	other.Network.Subnets = other.Network.Subnets[:1]
	for _, tc := range []struct {
		name string
		info network.Info
		want string
	}{
		{"none", nil, `{}`},
		{"ovn static v4 and slaac v6", network.Info{ovnVIF()}, `{
			"links": [{"id": "tap3f1c2a9e-5b", "vif_id": "3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "type": "ovs", "mtu": 1442, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
			"networks": [
				{"id": "network0", "type": "ipv4", "link": "tap3f1c2a9e-5b", "ip_address": "10.0.0.5", "netmask": "255.255.255.192",
				 "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}, {"network": "192.168.7.0", "netmask": "255.255.255.0", "gateway": "10.0.0.9"}],
				 "network_id": "9d0e8f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a", "services": [{"type": "dns", "address": "10.0.0.2"}]},
				{"id": "network1", "type": "ipv6_slaac", "link": "tap3f1c2a9e-5b", "ip_address": "fd00:1::f816:3eff:fe12:3456", "netmask": "ffff:ffff:ffff:ffff::",
				 "routes": [{"network": "::", "netmask": "::", "gateway": "fd00:1::1"}],
				 "network_id": "9d0e8f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a", "services": []}
			],
			"services": [{"type": "dns", "address": "10.0.0.2"}]}`},
		{"dhcp server: ipv4_dhcp, no mtu", network.Info{dhcp}, `{
			"links": [{"id": "tap3f1c2a9e-5b", "vif_id": "3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "type": "ovs", "mtu": null, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
			"networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tap3f1c2a9e-5b", "network_id": "9d0e8f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a"}],
			"services": [{"type": "dns", "address": "10.0.0.2"}]}`},
		{"vif without subnets is skipped; unnamed, unexposed type", network.Info{noSubnets, other}, `{
			"links": [{"id": "interface0", "vif_id": "3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "type": "phy", "mtu": 1442, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
			"networks": [{"id": "network0", "type": "ipv4", "link": "interface0", "ip_address": "10.0.0.5", "netmask": "255.255.255.192",
				"routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"}, {"network": "192.168.7.0", "netmask": "255.255.255.0", "gateway": "10.0.0.9"}],
				"network_id": "9d0e8f7a-1b2c-4d3e-8f9a-0b1c2d3e4f5a", "services": [{"type": "dns", "address": "10.0.0.2"}]}],
			"services": [{"type": "dns", "address": "10.0.0.2"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(NetworkData(tc.info))
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("network_data.json:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWriteRefusesAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		c    Content
		is   error
	}{
		{"no uuid", filepath.Join(dir, "disk.config"), Content{}, ErrInvalid},
		{"unmarshalable vendor data", filepath.Join(dir, "disk.config"), Content{UUID: testUUID, VendorData: map[string]any{"x": func() {}}}, ErrInvalid},
		{"missing directory", filepath.Join(dir, "nope", "disk.config"), Content{UUID: testUUID}, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(tc.path, tc.c)
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Path != tc.path || !errors.Is(err, tc.is) {
				t.Fatalf("Write = %v, want an *Error for %s wrapping %v", err, tc.path, tc.is)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 0 {
				t.Errorf("a failed Write left %v", ents)
			}
		})
	}
}

// TestWriteReadBack writes a drive, replaces it, and reads it back with go-diskfs and with a reader that is not
// go-diskfs: the Linux kernel's isofs through a loop mount when it can, else genisoimage's isoinfo, else xorriso.
func TestWriteReadBack(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.config")
	if err := os.WriteFile(p, []byte("an older drive"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := fullContent()
	c.UserData = []byte("hello from user data\nline two\n")
	if err := Write(p, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size()%blockSize != 0 {
		t.Errorf("drive mode %v size %d, want 0600 and whole 2048-byte blocks", st.Mode().Perm(), st.Size())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("Write left more than the drive: %v", ents)
	}

	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := iso9660.Read(file.New(f, true), st.Size(), 0, blockSize)
	if err != nil {
		t.Fatalf("go-diskfs cannot read the drive back: %v", err)
	}
	if got := strings.TrimSpace(fs.Label()); got != Label {
		t.Errorf("label %q, want %q", got, Label)
	}
	files := map[string][]byte{}
	var walk func(d string)
	walk = func(d string) {
		ents, err := fs.ReadDir(d)
		if err != nil {
			t.Fatalf("ReadDir %s: %v", d, err)
		}
		for _, e := range ents {
			name := e.Name()
			if d != "." {
				name = d + "/" + name
			}
			if e.IsDir() {
				walk(name)
				continue
			}
			b, err := fs.ReadFile(name)
			if err != nil {
				t.Fatalf("ReadFile %s: %v", name, err)
			}
			files[name] = b
		}
	}
	walk(".")
	checkDrive(t, "go-diskfs", files, c)

	checkWithRealReader(t, p, c)
}

// checkDrive checks files read back from a drive against c.
func checkDrive(t *testing.T, reader string, files map[string][]byte, c Content) {
	t.Helper()
	want, err := Files(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		var names []string
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("%s reads %d files, want %d: %v", reader, len(files), len(want), names)
	}
	for name, b := range want {
		got, ok := files[name]
		if !ok {
			t.Errorf("%s: no %s on the drive", reader, name)
			continue
		}
		if strings.HasSuffix(name, "meta_data.json") {
			// random_seed differs per call; everything else must match.
			g, w := decode(t, name, got), decode(t, name, b)
			delete(g, "random_seed")
			delete(w, "random_seed")
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s: %s = %s, want %s", reader, name, got, b)
			}
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: %s = %q, want %q", reader, name, got, b)
		}
	}
	if md := decode(t, "meta_data.json", files["openstack/latest/meta_data.json"]); md["uuid"] != c.UUID {
		t.Errorf("%s: openstack/latest/meta_data.json uuid %v, want %s", reader, md["uuid"], c.UUID)
	}
}

func checkWithRealReader(t *testing.T, iso string, c Content) {
	t.Helper()
	var tried []string
	// 1. The kernel: a read-only loop mount, as a guest mounts its CD-ROM.
	if os.Geteuid() == 0 {
		mnt := t.TempDir()
		out, err := exec.Command("mount", "-o", "loop,ro", "-t", "iso9660", iso, mnt).CombinedOutput()
		if err == nil {
			defer func() {
				if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", mnt, err, out)
				}
			}()
			files := map[string][]byte{}
			err := filepath.WalkDir(mnt, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				rel, _ := filepath.Rel(mnt, p)
				files[filepath.ToSlash(rel)] = b
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			checkDrive(t, "the Linux kernel (mount -t iso9660)", files, c)
			if out, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", iso).Output(); err == nil && strings.TrimSpace(string(out)) != Label {
				t.Errorf("blkid label %q, want %q", out, Label)
			}
			t.Logf("read back by the Linux kernel's isofs")
			return
		}
		tried = append(tried, "mount: "+strings.TrimSpace(string(out)))
	} else {
		tried = append(tried, "mount: not root")
	}
	// 2. genisoimage's isoinfo: Rock Ridge names, the volume id, each file's bytes.
	if _, err := exec.LookPath("isoinfo"); err == nil {
		out, err := exec.Command("isoinfo", "-d", "-i", iso).Output()
		if err != nil {
			t.Fatalf("isoinfo -d: %v", err)
		}
		if !strings.Contains(string(out), "Volume id: "+Label+"\n") || !strings.Contains(string(out), "Rock Ridge") || !strings.Contains(string(out), "NO Joliet present") {
			t.Errorf("isoinfo -d: want volume id %s with Rock Ridge and without go-diskfs's broken Joliet:\n%s", Label, out)
		}
		out, err = exec.Command("isoinfo", "-R", "-f", "-i", iso).Output()
		if err != nil {
			t.Fatalf("isoinfo -R -f: %v", err)
		}
		files := map[string][]byte{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			name := strings.TrimPrefix(line, "/")
			if !strings.Contains(name, ".") && !strings.HasSuffix(name, "user_data") && !strings.HasSuffix(name, "user-data") {
				continue // a directory
			}
			b, err := exec.Command("isoinfo", "-R", "-i", iso, "-x", line).Output()
			if err != nil {
				t.Fatalf("isoinfo -R -x %s: %v", line, err)
			}
			files[name] = b
		}
		checkDrive(t, "isoinfo (genisoimage)", files, c)
		if out, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", iso).Output(); err != nil || strings.TrimSpace(string(out)) != Label {
			t.Errorf("blkid label %q (%v), want %q", out, err, Label)
		}
		t.Logf("read back by isoinfo (the kernel could not mount it: %s)", strings.Join(tried, "; "))
		return
	}
	tried = append(tried, "isoinfo: not installed (apt-get install genisoimage)")
	t.Fatalf("no reader other than go-diskfs could check the drive: %s", strings.Join(tried, "; "))
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	c := fullContent()
	for b.Loop() {
		if err := Write(filepath.Join(dir, "disk.config"), c); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzWrite(f *testing.F) {
	f.Add("web", "host", "k", "ssh-rsa AAA", []byte("#cloud-config\n"), "pw", "role", "db")
	f.Add("../../etc", "/abs", "../x", "\x00", []byte{0, 0xff, '\n'}, "", "a/b", "\xff\xfe")
	f.Fuzz(func(t *testing.T, name, host, keyName, key string, userData []byte, pass, mk, mv string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "disk.config")
		c := Content{
			UUID: testUUID, Name: name, Hostname: host, AdminPass: pass, UserData: userData,
			Meta: map[string]string{mk: mv}, PublicKeys: map[string]string{keyName: key},
			VendorData: map[string]any{name: host},
		}
		if err := Write(p, c); err != nil {
			t.Fatalf("Write: %v", err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 || ents[0].Name() != "disk.config" {
			t.Fatalf("Write left %v (%v), want only disk.config", ents, err)
		}
		files, err := Files(c)
		if err != nil {
			t.Fatal(err)
		}
		for n := range files {
			if !strings.HasPrefix(n, "ec2/") && !strings.HasPrefix(n, "openstack/") {
				t.Fatalf("file %q outside the drive's trees", n)
			}
		}
	})
}
