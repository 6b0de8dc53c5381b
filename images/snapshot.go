package images

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultNonInheritable is nova's default [DEFAULT] non_inheritable_image_properties.
var DefaultNonInheritable = []string{"cache_in_nova", "bittorrent"}

// neverInherited are dropped from snapshots whatever the configuration says
// (nova's NON_INHERITABLE_IMAGE_PROPERTIES), as is the os_glance namespace.
var neverInherited = []string{
	"cinder_encryption_key_id", "cinder_encryption_key_deletion_policy",
	"img_signature", "img_signature_hash_method", "img_signature_key_type", "img_signature_certificate_uuid",
}

const glanceReservedPrefix = "os_glance"

// sysMetaSkip are image properties too large for system metadata, never
// carried over (nova's SM_SKIP_KEYS).
var sysMetaSkip = map[string]bool{
	"mappings": true, "block_device_mapping": true, "img_mappings": true, "img_block_device_mapping": true,
}

// SnapshotRequest is what nova-api knows when it creates the image record
// for a snapshot or backup of an instance.
type SnapshotRequest struct {
	Name       string
	ImageType  string // "snapshot" or "backup"
	BackupType string // for backups: "daily", "weekly", ...
	// The instance.
	InstanceUUID      string
	InstanceProjectID string
	// SystemMetadata is the instance's system_metadata: image_* keys (the
	// source image's properties, image_base_image_ref, ...) and the others
	// (owner_user_name, owner_project_name, boot_roles, ...).
	SystemMetadata map[string]string
	// The requester (context.user_id, context.project_id).
	UserID    string
	ProjectID string
	// ExtraProperties are the request's metadata; they win over everything.
	ExtraProperties map[string]string
	// NonInheritable is [DEFAULT] non_inheritable_image_properties.
	NonInheritable []string
}

// SnapshotCreate gives the image record nova creates before a snapshot or
// backup (compute/utils.py create_image and
// initialize_instance_snapshot_metadata): the instance's system metadata
// turned back into image metadata (so base_image_ref, owner_user_name and the
// source image's properties carry over), minus the non-inheritable
// properties, plus instance_uuid, user_id, image_type (and backup_type), with
// the request's extra properties last. Snapshots omit disk and container
// format (the compute sets them on upload); backups keep them. A requester
// from another project gets a "shared" image with the instance's project as a
// member.
func SnapshotCreate(in SnapshotRequest) (ImageCreate, error) {
	if in.ImageType != "snapshot" && in.ImageType != "backup" {
		return ImageCreate{}, fmt.Errorf("images: snapshot image type %q is neither snapshot nor backup", in.ImageType)
	}
	out := ImageCreate{Name: in.Name, Properties: map[string]string{}}
	for k, v := range in.SystemMetadata {
		key := strings.TrimPrefix(k, "image_")
		if sysMetaSkip[key] {
			continue
		}
		switch key {
		case "min_ram", "min_disk":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return ImageCreate{}, fmt.Errorf("images: system metadata %s=%q is not an integer", k, v)
			}
			if key == "min_ram" {
				out.MinRAM = n
			} else {
				out.MinDisk = n
			}
		case "disk_format":
			out.DiskFormat = v
		case "container_format":
			out.ContainerFormat = v
		default:
			out.Properties[key] = v
		}
	}
	extra := map[string]string{"instance_uuid": in.InstanceUUID, "user_id": in.UserID, "image_type": in.ImageType}
	if in.ImageType == "backup" {
		extra["backup_type"] = in.BackupType
	}
	for k, v := range in.ExtraProperties {
		extra[k] = v
	}
	if in.ProjectID != in.InstanceProjectID {
		out.Visibility = "shared"
		out.MemberProject = in.InstanceProjectID
	} else {
		out.Visibility = "private"
	}
	for _, k := range append(append([]string(nil), in.NonInheritable...), neverInherited...) {
		delete(out.Properties, k)
	}
	for k := range out.Properties {
		if strings.HasPrefix(k, glanceReservedPrefix) {
			delete(out.Properties, k)
		}
	}
	for k, v := range extra {
		out.Properties[k] = v
	}
	dropUnsetKernel(out.Properties)
	if in.ImageType == "snapshot" {
		out.DiskFormat, out.ContainerFormat = "", ""
	}
	return out, nil
}

// dropUnsetKernel omits kernel_id and ramdisk_id that say "none" or nothing,
// as nova's _convert_to_v2 does (Glance may refuse them otherwise).
func dropUnsetKernel(p map[string]string) {
	for _, k := range []string{"kernel_id", "ramdisk_id"} {
		if v, ok := p[k]; ok && (strings.TrimSpace(v) == "" || strings.EqualFold(strings.TrimSpace(v), "none")) {
			delete(p, k)
		}
	}
}

// SnapshotFile describes the disk a compute has extracted for upload.
type SnapshotFile struct {
	Name                  string // the image's name, as read back from Glance
	FileFormat            string // "raw" or "qcow2": what the uploaded file is
	SourceContainerFormat string // the instance's image container_format; "bare" when empty
	KernelID, RamdiskID   string // instance.kernel_id, instance.ramdisk_id
	ProjectID             string // instance.project_id
	OSType                string // instance.os_type; omitted when empty
}

// SnapshotUpload gives the update the compute makes before uploading a
// snapshot's data (libvirt's _create_snapshot_metadata, applied without
// purging the properties nova-api set).
func SnapshotUpload(in SnapshotFile) ImageUpdate {
	cf := in.SourceContainerFormat
	if cf == "" {
		cf = "bare"
	}
	props := map[string]string{
		"kernel_id": in.KernelID, "ramdisk_id": in.RamdiskID, "image_location": "snapshot",
		"image_state": "available", "owner_id": in.ProjectID,
	}
	if in.OSType != "" {
		props["os_type"] = in.OSType
	}
	dropUnsetKernel(props)
	return ImageUpdate{Name: in.Name, DiskFormat: in.FileFormat, ContainerFormat: cf, Properties: props}
}
