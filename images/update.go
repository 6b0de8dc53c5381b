package images

import (
	"context"
	"fmt"
	"sort"

	"github.com/gophercloud/gophercloud/v2"
	gimages "github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"
)

// ImageCreate is the record nova-api creates before a snapshot or backup
// (POST /v2/images). Empty DiskFormat and ContainerFormat are omitted, as
// nova omits them for snapshots.
type ImageCreate struct {
	Name            string
	Visibility      string // "private" or "shared"
	DiskFormat      string
	ContainerFormat string
	MinRAM          int
	MinDisk         int
	Properties      map[string]string
	// MemberProject, when set, is added as an image member (an admin
	// snapshotting another project's server shares the image with it).
	MemberProject string
}

type createBody map[string]any

func (b createBody) ToImageCreateMap() (map[string]any, error) { return b, nil }

// Create creates an image record in status queued.
func (c *Client) Create(ctx context.Context, in ImageCreate) (*Image, error) {
	if in.Name == "" {
		return nil, newErr("(new)", "create", ErrBadRequest, nil, "the image has no name")
	}
	body := createBody{"name": in.Name, "min_ram": in.MinRAM, "min_disk": in.MinDisk}
	for k, v := range in.Properties {
		if schemaKeys[k] {
			return nil, newErr("(new)", "create", ErrBadRequest, nil, "property %q is an image attribute", k)
		}
		body[k] = v
	}
	for k, v := range map[string]string{"visibility": in.Visibility, "disk_format": in.DiskFormat,
		"container_format": in.ContainerFormat} {
		if v != "" {
			body[k] = v
		}
	}
	var img *Image
	err := c.call(ctx, "(new)", "create", func(sc *gophercloud.ServiceClient) error {
		r := gimages.Create(ctx, sc, body)
		if r.Err != nil {
			return r.Err
		}
		var err error
		img, err = decodeImage(r.Result)
		return err
	})
	if err != nil {
		return nil, err
	}
	if in.MemberProject != "" {
		err := c.call(ctx, img.ID, "add member", func(sc *gophercloud.ServiceClient) error {
			return members.Create(ctx, sc, img.ID, in.MemberProject).Err
		})
		if err != nil {
			return img, err
		}
	}
	return img, nil
}

// ImageUpdate changes an image record. Empty strings leave the attribute as
// it is.
type ImageUpdate struct {
	Name            string
	DiskFormat      string
	ContainerFormat string
	// Properties are set: added when absent, replaced when present.
	Properties map[string]string
	// RemoveProperties are removed when present (absent ones are ignored).
	RemoveProperties []string
}

type patchOp struct {
	op, path string
	value    any
}

func (p patchOp) ToImagePatchMap() map[string]any {
	m := map[string]any{"op": p.op, "path": "/" + p.path}
	if p.op != "remove" {
		m["value"] = p.value
	}
	return m
}

// Update changes the image as glanceclient's images.update does for nova:
// it reads the image, then sends one JSON-patch (the v2.1 media type) with
// "replace" for attributes that exist and "add" for the others.
func (c *Client) Update(ctx context.Context, id string, u ImageUpdate) (*Image, error) {
	cur, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var ops gimages.UpdateOpts
	set := func(k string, v any) {
		op := "add"
		if _, ok := cur.raw[k]; ok {
			op = "replace"
		}
		ops = append(ops, patchOp{op, k, v})
	}
	for k, v := range map[string]string{"name": u.Name, "disk_format": u.DiskFormat, "container_format": u.ContainerFormat} {
		if v != "" {
			set(k, v)
		}
	}
	keys := make([]string, 0, len(u.Properties))
	for k := range u.Properties {
		if schemaKeys[k] {
			return nil, newErr(id, "update", ErrBadRequest, nil, "property %q is an image attribute", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if cur.Properties[k] == u.Properties[k] {
			if _, ok := cur.raw[k]; ok {
				continue
			}
		}
		set(k, u.Properties[k])
	}
	for _, k := range u.RemoveProperties {
		if _, ok := cur.raw[k]; ok && !schemaKeys[k] {
			ops = append(ops, patchOp{"remove", k, nil})
		}
	}
	if len(ops) == 0 {
		return cur, nil
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].(patchOp).path < ops[j].(patchOp).path })
	var img *Image
	err = c.call(ctx, id, "update", func(sc *gophercloud.ServiceClient) error {
		r := gimages.Update(ctx, sc, id, ops)
		if r.Err != nil {
			return r.Err
		}
		var err error
		img, err = decodeImage(r.Result)
		return err
	})
	if err != nil {
		return nil, err
	}
	return img, nil
}

// Delete deletes the image (DELETE /v2/images/{id}). Callers cleaning up a
// failed snapshot ignore ErrNotFound, as nova's delete_image does.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.call(ctx, id, "delete", func(sc *gophercloud.ServiceClient) error {
		return gimages.Delete(ctx, sc, id).Err
	})
}

// String names the client's endpoint for logs.
func (c *Client) String() string { return fmt.Sprintf("glance client for %s", c.Endpoint()) }
