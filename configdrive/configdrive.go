// Package configdrive writes Nova's config drive: an ISO 9660 volume labelled "config-2" holding the instance's
// metadata in the layout cloud-init and Nova's own metadata API use (openstack/<version>/meta_data.json,
// network_data.json, user_data, vendor_data2.json, and the ec2 tree).
package configdrive

import (
	"errors"

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
	// VendorData is vendor_data2.json's content by provider name; nil writes "{}".
	VendorData map[string]any
}

// Write writes the drive for c to path (mode 0600), atomically: a failed write leaves no file.
func Write(path string, c Content) error {
	return errors.New("configdrive: not implemented yet")
}
