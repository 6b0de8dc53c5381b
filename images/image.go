package images

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gimages "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
)

// Image is Glance's image record as nova translates it
// (_extract_attributes_v2): schema attributes as fields, every other attribute
// under Properties.
type Image struct {
	ID              string
	Name            string
	Status          string // queued, saving, active, killed, deleted, pending_delete, deactivated, ...
	DiskFormat      string
	ContainerFormat string
	Size            int64 // bytes; 0 when Glance says null
	VirtualSize     int64
	Checksum        string // MD5 hex, the fallback when there is no multihash
	OSHashAlgo      string // e.g. "sha512"
	OSHashValue     string // hex
	MinDisk         int    // GiB
	MinRAM          int    // MiB
	Owner           string
	Visibility      string
	Protected       bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// Properties holds the non-schema attributes; values that are not JSON
	// strings are kept as their JSON text.
	Properties map[string]string

	raw map[string]any // as Glance sent it: tells Update which keys exist
}

// schemaKeys are Glance v2 image schema attributes: not properties.
var schemaKeys = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true, "os_hidden": true,
	"checksum": true, "os_hash_algo": true, "os_hash_value": true, "owner": true, "size": true,
	"virtual_size": true, "container_format": true, "disk_format": true, "created_at": true,
	"updated_at": true, "tags": true, "direct_url": true, "min_ram": true, "min_disk": true,
	"self": true, "file": true, "schema": true, "locations": true, "stores": true,
}

func imageFromMap(m map[string]any) (*Image, error) {
	img := &Image{Properties: map[string]string{}, raw: m}
	str := func(k string) string { s, _ := m[k].(string); return s }
	img.ID, img.Name, img.Status = str("id"), str("name"), str("status")
	img.DiskFormat, img.ContainerFormat = str("disk_format"), str("container_format")
	img.Checksum, img.OSHashAlgo, img.OSHashValue = str("checksum"), str("os_hash_algo"), str("os_hash_value")
	img.Owner, img.Visibility = str("owner"), str("visibility")
	img.Protected, _ = m["protected"].(bool)
	var err error
	num := func(k string) int64 {
		if err != nil {
			return 0
		}
		var n int64
		n, err = toInt(m[k])
		if err != nil {
			err = fmt.Errorf("image attribute %s: %w", k, err)
		}
		return n
	}
	img.Size, img.VirtualSize = num("size"), num("virtual_size")
	img.MinDisk, img.MinRAM = int(num("min_disk")), int(num("min_ram"))
	if err != nil {
		return nil, err
	}
	img.CreatedAt, _ = time.Parse(time.RFC3339, str("created_at"))
	img.UpdatedAt, _ = time.Parse(time.RFC3339, str("updated_at"))
	if img.ID == "" {
		return nil, fmt.Errorf("image record has no id")
	}
	for k, v := range m {
		if schemaKeys[k] || v == nil {
			continue
		}
		if s, ok := v.(string); ok {
			img.Properties[k] = s
			continue
		}
		b, _ := json.Marshal(v)
		img.Properties[k] = string(b)
	}
	return img, nil
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return int64(n), nil
	case json.Number:
		return strconv.ParseInt(string(n), 10, 64)
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// Get reads the image record (GET /v2/images/{id}).
func (c *Client) Get(ctx context.Context, id string) (*Image, error) {
	var img *Image
	err := c.call(ctx, id, "get", func(sc *gophercloud.ServiceClient) error {
		r := gimages.Get(ctx, sc, id)
		if r.Err != nil {
			return r.Err
		}
		var err error
		img, err = decodeImage(r.Result)
		return err
	})
	return img, err
}

func decodeImage(r gophercloud.Result) (*Image, error) {
	var m map[string]any
	if err := r.ExtractInto(&m); err != nil {
		return nil, fmt.Errorf("decoding image record: %w", err)
	}
	return imageFromMap(m)
}

// CheckActive returns a typed error unless the image can be downloaded.
func (img *Image) CheckActive() error {
	switch img.Status {
	case "active":
		return nil
	case "killed":
		return newErr(img.ID, "check status", ErrKilled, nil, "status is killed: its upload failed")
	case "deleted", "pending_delete":
		return newErr(img.ID, "check status", ErrDeleted, nil, "status is %s", img.Status)
	}
	return newErr(img.ID, "check status", ErrNotActive, nil, "status is %q", img.Status)
}
