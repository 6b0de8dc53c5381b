// Package images fetches Glance v2 images for the compute node and keeps them
// in the image cache, as nova-compute's image API and image cache manager do.
//
// A Glance value holds the [glance] options and one HTTP transport; Client
// makes a per-request client from the user's token and service catalog carried
// in the RPC context. Cache streams downloads into <instances_path>/_base,
// verifying os_hash_value (or the MD5 checksum) while writing, with one
// download per image however many callers ask at once, and evicts unused
// images as nova's cache manager does. SnapshotCreate and SnapshotUpload give
// the image metadata nova sets on snapshots; List pages through filtered image
// lists, as backup rotation needs.
//
// The package knows nothing of compute/ or conf/: callers map [glance],
// [service_user] and [image_cache] onto GlanceOptions and CacheOptions.
package images
