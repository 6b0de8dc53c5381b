// Package configdrive writes Nova's config drive: an ISO 9660 volume labelled "config-2" holding the instance's
// metadata in the layout cloud-init and Nova's own metadata API use (openstack/<version>/meta_data.json,
// network_data.json, user_data, vendor_data2.json, and the ec2 tree).
package configdrive

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/novabsd/novabsd/network"
)

// Label is the volume label guests look for.
const Label = "config-2"

// Content is what the drive holds for one instance.
type Content struct {
	UUID             string
	Name             string // display name
	Hostname         string
	AvailabilityZone string
	LaunchIndex      int
	ProjectID        string
	Meta             map[string]string // instance metadata (server properties)
	PublicKeys       map[string]string // key name -> public key
	UserData         []byte            // decoded user data; nil: none
	AdminPass        string            // "" leaves it out
	Network          network.Info      // becomes network_data.json
	// VendorData is vendor_data2.json's content by provider name; nil writes "{}". Its "static" entry (Nova's
	// StaticJSON provider) is also vendor_data.json, as Nova writes it.
	VendorData map[string]any
	// EC2 is what only the ec2 tree needs; its zero value writes the fields empty.
	EC2 EC2
}

// EC2 holds the ec2 tree's fields that have no place in the openstack tree (nova's get_ec2_metadata).
type EC2 struct {
	InstanceID    string // "i-%08x" of the instance's database id
	AMIID         string // "ami-%08x" of the image's ec2 id
	ReservationID string
	InstanceType  string // flavor name
	// SecurityGroups are the names of the instance's security groups.
	SecurityGroups []string
	// BlockDeviceMapping is nova's block-device-mapping ("ami": "vda", "root": "/dev/vda", ...).
	BlockDeviceMapping map[string]string
	KernelID           string // "" leaves it out
	RamdiskID          string // "" leaves it out
}

// OpenStackVersions are the openstack/<version> directories Nova writes (nova/api/metadata/base.py
// OPENSTACK_VERSIONS, oldest first), besides "latest", which is the newest.
var OpenStackVersions = []string{
	"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
	"2017-02-22", "2018-08-27", "2020-10-14", "2025-04-04",
}

// EC2Versions are the ec2/<version> directories Nova writes with its default config_drive_skip_versions, which
// skips every version before 2009-04-04; "latest" is 2009-04-04 again.
var EC2Versions = []string{"2009-04-04", "latest"}

// The openstack versions that added files and fields, by index into OpenStackVersions.
const (
	grizzly   = 1 // random_seed
	havana    = 2 // vendor_data.json
	liberty   = 3 // network_data.json, project_id
	newtonOne = 4 // devices
	newtonTwo = 5 // vendor_data2.json
	victoria  = 8 // dedicated_cpus
)

// Error reports a config drive that could not be made, naming the path.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("config drive %s: %v", e.Path, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by errors for content that cannot go on a drive.
var ErrInvalid = errors.New("invalid config drive content")

// Files returns the drive's files by their path on the drive, as Nova's metadata_for_config_drive yields them.
// Content is only data: names are fixed, so nothing in c can name a file.
func Files(c Content) (map[string][]byte, error) {
	if c.UUID == "" {
		return nil, fmt.Errorf("%w: no instance uuid", ErrInvalid)
	}
	files := map[string][]byte{}
	ec2, err := ec2MetaData(c)
	if err != nil {
		return nil, err
	}
	for _, v := range EC2Versions {
		files["ec2/"+v+"/meta-data.json"] = ec2
		if c.UserData != nil {
			files["ec2/"+v+"/user-data"] = c.UserData
		}
	}
	netData, err := json.Marshal(NetworkData(c.Network))
	if err != nil {
		return nil, fmt.Errorf("%w: network_data.json: %v", ErrInvalid, err)
	}
	vd2 := c.VendorData
	if vd2 == nil {
		vd2 = map[string]any{}
	}
	vendor2, err := json.Marshal(vd2)
	if err != nil {
		return nil, fmt.Errorf("%w: vendor_data2.json: %v", ErrInvalid, err)
	}
	static, ok := vd2["static"]
	if !ok || static == nil {
		static = map[string]any{}
	}
	vendor, err := json.Marshal(static)
	if err != nil {
		return nil, fmt.Errorf("%w: vendor_data.json: %v", ErrInvalid, err)
	}
	versions := append(append([]string{}, OpenStackVersions...), "latest")
	for i, v := range versions {
		dir := "openstack/" + v + "/"
		md, err := metaData(c, i)
		if err != nil {
			return nil, err
		}
		files[dir+"meta_data.json"] = md
		if c.UserData != nil {
			files[dir+"user_data"] = c.UserData
		}
		if i >= havana {
			files[dir+"vendor_data.json"] = vendor
		}
		if i >= liberty {
			files[dir+"network_data.json"] = netData
		}
		if i >= newtonTwo {
			files[dir+"vendor_data2.json"] = vendor2
		}
	}
	return files, nil
}

// key is one entry of meta_data.json's keys.
type key struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Data string `json:"data"`
}

// metaData is openstack/<version>/meta_data.json for the version at index v of OpenStackVersions ("latest" is
// past the end). Fields are in Nova's order; a random_seed is drawn per file, as Nova draws one per version.
func metaData(c Content, v int) ([]byte, error) {
	type md struct {
		UUID             string            `json:"uuid"`
		Meta             map[string]string `json:"meta,omitempty"`
		AdminPass        string            `json:"admin_pass,omitempty"`
		PublicKeys       map[string]string `json:"public_keys,omitempty"`
		Keys             []key             `json:"keys,omitempty"`
		Hostname         string            `json:"hostname"`
		Name             string            `json:"name"`
		LaunchIndex      int               `json:"launch_index"`
		AvailabilityZone *string           `json:"availability_zone"`
		RandomSeed       string            `json:"random_seed,omitempty"`
		ProjectID        *string           `json:"project_id,omitempty"`
		Devices          *[]any            `json:"devices,omitempty"`
		DedicatedCPUs    *[]int            `json:"dedicated_cpus,omitempty"`
	}
	m := md{UUID: c.UUID, AdminPass: c.AdminPass, Hostname: c.Hostname, Name: c.Name, LaunchIndex: c.LaunchIndex}
	if len(c.Meta) > 0 {
		m.Meta = c.Meta
	}
	if c.AvailabilityZone != "" {
		m.AvailabilityZone = &c.AvailabilityZone // nova writes null for an instance without one
	}
	if len(c.PublicKeys) > 0 {
		m.PublicKeys = c.PublicKeys
		for _, name := range sortedKeys(c.PublicKeys) {
			m.Keys = append(m.Keys, key{Name: name, Type: "ssh", Data: c.PublicKeys[name]})
		}
	}
	if v >= grizzly {
		seed := make([]byte, 512)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("random_seed: %w", err)
		}
		m.RandomSeed = base64.StdEncoding.EncodeToString(seed)
	}
	if v >= liberty {
		m.ProjectID = &c.ProjectID
	}
	if v >= newtonOne {
		m.Devices = &[]any{}
	}
	if v >= victoria {
		m.DedicatedCPUs = &[]int{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: meta_data.json: %v", ErrInvalid, err)
	}
	return b, nil
}

// ec2MetaData is ec2/<version>/meta-data.json at 2009-04-04, the version whose fields are all present.
func ec2MetaData(c Content) ([]byte, error) {
	var fixed, floating string
	for _, vif := range c.Network {
		if vif.Network == nil {
			continue
		}
		for _, s := range vif.Network.Subnets {
			for _, ip := range s.IPs {
				if ip.Version == 4 && fixed == "" {
					fixed = ip.Address
				}
				if len(ip.FloatingIPs) > 0 && floating == "" {
					floating = ip.FloatingIPs[0].Address
				}
			}
		}
	}
	sg := c.EC2.SecurityGroups
	if sg == nil {
		sg = []string{}
	}
	bdm := c.EC2.BlockDeviceMapping
	if bdm == nil {
		bdm = map[string]string{}
	}
	m := map[string]any{
		"ami-id":               c.EC2.AMIID,
		"ami-launch-index":     c.LaunchIndex,
		"ami-manifest-path":    "FIXME", // nova's own value
		"instance-id":          c.EC2.InstanceID,
		"hostname":             c.Hostname,
		"local-ipv4":           nil, // nova: the first fixed IPv4 address, else null on a config drive
		"reservation-id":       c.EC2.ReservationID,
		"security-groups":      sg,
		"local-hostname":       c.Hostname,
		"public-hostname":      c.Hostname,
		"public-ipv4":          floating,
		"instance-type":        c.EC2.InstanceType,
		"block-device-mapping": bdm,
		"placement":            map[string]any{"availability-zone": nullable(c.AvailabilityZone)},
		"instance-action":      "none",
	}
	if fixed != "" {
		m["local-ipv4"] = fixed
	}
	if len(c.PublicKeys) > 0 {
		// The ec2 tree has one key, the instance's key pair; nova drops the listing's "_name" on a drive.
		name := sortedKeys(c.PublicKeys)[0]
		m["public-keys"] = map[string]any{"0": map[string]string{"openssh-key": c.PublicKeys[name]}}
	}
	if c.EC2.KernelID != "" {
		m["kernel-id"] = c.EC2.KernelID
	}
	if c.EC2.RamdiskID != "" {
		m["ramdisk-id"] = c.EC2.RamdiskID
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: ec2 meta-data.json: %v", ErrInvalid, err)
	}
	return b, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Write writes the drive for c to path (mode 0600), atomically: a failed write leaves no file.
func Write(path string, c Content) error {
	files, err := Files(c)
	if err != nil {
		return &Error{Path: path, Err: err}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return &Error{Path: path, Err: err}
	}
	tmpName := tmp.Name()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod says so for umasks that would not matter anyway.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return &Error{Path: path, Err: err}
	}
	if err := writeISO(tmp, files); err != nil {
		_ = tmp.Close()
		return &Error{Path: path, Err: err}
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return &Error{Path: path, Err: err}
	}
	if err := tmp.Close(); err != nil {
		return &Error{Path: path, Err: err}
	}
	if err := os.Rename(tmpName, path); err != nil {
		return &Error{Path: path, Err: err}
	}
	done = true
	return nil
}
