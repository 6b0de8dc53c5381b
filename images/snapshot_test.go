package images

import (
	"reflect"
	"testing"
)

func TestSnapshotCreate(t *testing.T) {
	// System metadata as nova-api leaves it on an instance built from a cirros image.
	sysmeta := map[string]string{
		"image_base_image_ref":                "155d900f-4e14-4e4c-a73d-069cbf4541e6",
		"image_min_ram":                       "64",
		"image_min_disk":                      "1",
		"image_disk_format":                   "qcow2",
		"image_container_format":              "bare",
		"image_hw_disk_bus":                   "virtio",
		"image_os_distro":                     "cirros",
		"image_cache_in_nova":                 "True",
		"image_bittorrent":                    "yes",
		"image_img_signature":                 "sig",
		"image_img_signature_key_type":        "RSA-PSS",
		"image_cinder_encryption_key_id":      "k",
		"image_os_glance_importing_to_stores": "s1",
		"image_block_device_mapping":          "[]",
		"image_kernel_id":                     "none",
		"image_ramdisk_id":                    "",
		"owner_user_name":                     "demo",
		"owner_project_name":                  "demo",
		"boot_roles":                          "member,reader",
	}
	inherited := map[string]string{
		"base_image_ref": "155d900f-4e14-4e4c-a73d-069cbf4541e6", "hw_disk_bus": "virtio", "os_distro": "cirros",
		"owner_user_name": "demo", "owner_project_name": "demo", "boot_roles": "member,reader",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range inherited {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name string
		in   SnapshotRequest
		want ImageCreate
	}{
		{"owner snapshots", SnapshotRequest{Name: "s1", ImageType: "snapshot", InstanceUUID: "inst", InstanceProjectID: "p1",
			SystemMetadata: sysmeta, UserID: "u1", ProjectID: "p1", NonInheritable: DefaultNonInheritable},
			ImageCreate{Name: "s1", Visibility: "private", MinRAM: 64, MinDisk: 1,
				Properties: with(map[string]string{"instance_uuid": "inst", "user_id": "u1", "image_type": "snapshot"})}},
		{"admin snapshots another project's server", SnapshotRequest{Name: "s2", ImageType: "snapshot", InstanceUUID: "inst",
			InstanceProjectID: "p1", SystemMetadata: sysmeta, UserID: "admin", ProjectID: "adminp",
			NonInheritable: DefaultNonInheritable, ExtraProperties: map[string]string{"image_type": "custom", "k": "v"}},
			ImageCreate{Name: "s2", Visibility: "shared", MinRAM: 64, MinDisk: 1, MemberProject: "p1",
				Properties: with(map[string]string{"instance_uuid": "inst", "user_id": "admin", "image_type": "custom", "k": "v"})}},
		{"backup keeps formats", SnapshotRequest{Name: "b", ImageType: "backup", BackupType: "daily", InstanceUUID: "inst",
			InstanceProjectID: "p1", SystemMetadata: sysmeta, UserID: "u1", ProjectID: "p1", NonInheritable: DefaultNonInheritable},
			ImageCreate{Name: "b", Visibility: "private", MinRAM: 64, MinDisk: 1, DiskFormat: "qcow2", ContainerFormat: "bare",
				Properties: with(map[string]string{"instance_uuid": "inst", "user_id": "u1", "image_type": "backup",
					"backup_type": "daily"})}},
		{"empty non-inheritable list keeps cache_in_nova", SnapshotRequest{Name: "s3", ImageType: "snapshot", InstanceUUID: "inst",
			InstanceProjectID: "p1", SystemMetadata: sysmeta, UserID: "u1", ProjectID: "p1"},
			ImageCreate{Name: "s3", Visibility: "private", MinRAM: 64, MinDisk: 1,
				Properties: with(map[string]string{"instance_uuid": "inst", "user_id": "u1", "image_type": "snapshot",
					"cache_in_nova": "True", "bittorrent": "yes"})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SnapshotCreate(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	if _, err := SnapshotCreate(SnapshotRequest{ImageType: "clone"}); err == nil {
		t.Fatal("unknown image type accepted")
	}
	if _, err := SnapshotCreate(SnapshotRequest{ImageType: "snapshot", SystemMetadata: map[string]string{"image_min_ram": "lots"}}); err == nil {
		t.Fatal("non-integer min_ram accepted")
	}
}

func TestSnapshotUpload(t *testing.T) {
	tests := []struct {
		name string
		in   SnapshotFile
		want ImageUpdate
	}{
		{"plain", SnapshotFile{Name: "s1", FileFormat: "qcow2", ProjectID: "p1", KernelID: "", RamdiskID: "None"},
			ImageUpdate{Name: "s1", DiskFormat: "qcow2", ContainerFormat: "bare", Properties: map[string]string{
				"image_location": "snapshot", "image_state": "available", "owner_id": "p1"}}},
		{"kernel, ramdisk, os_type, source container", SnapshotFile{Name: "s2", FileFormat: "raw", ProjectID: "p1",
			KernelID: "k", RamdiskID: "r", OSType: "linux", SourceContainerFormat: "ami"},
			ImageUpdate{Name: "s2", DiskFormat: "raw", ContainerFormat: "ami", Properties: map[string]string{
				"image_location": "snapshot", "image_state": "available", "owner_id": "p1", "kernel_id": "k",
				"ramdisk_id": "r", "os_type": "linux"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SnapshotUpload(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
