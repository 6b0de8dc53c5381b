package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func queued(t *testing.T, f *fakeGlance, c *Client) string {
	t.Helper()
	img, err := c.Create(context.Background(), ImageCreate{Name: "snap"})
	if err != nil {
		t.Fatal(err)
	}
	return img.ID
}

func TestUploadExactBytes(t *testing.T) {
	data := randomBytes(t, 5<<20+3)
	sum := sha256.Sum256(data)
	path := filepath.Join(t.TempDir(), "snap.raw")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		fail      []int
		upload    func(c *Client, id string) error
		want      error
		wantBytes bool
	}{
		{"file", nil, func(c *Client, id string) error { return c.UploadFile(context.Background(), id, path) }, nil, true},
		{"file after two 503s", []int{503, 503}, func(c *Client, id string) error {
			return c.UploadFile(context.Background(), id, path)
		}, nil, true},
		{"reader", nil, func(c *Client, id string) error {
			return c.Upload(context.Background(), id, io.MultiReader(bytes.NewReader(data)), int64(len(data)))
		}, nil, true},
		{"unrewindable reader is not retried", []int{503}, func(c *Client, id string) error {
			return c.Upload(context.Background(), id, io.MultiReader(bytes.NewReader(data)), int64(len(data)))
		}, ErrUnavailable, false},
		{"reader shorter than its size", nil, func(c *Client, id string) error {
			return c.Upload(context.Background(), id, bytes.NewReader(data[:100]), int64(len(data)))
		}, ErrSizeMismatch, false},
		{"conflict", []int{409}, func(c *Client, id string) error {
			return c.UploadFile(context.Background(), id, path)
		}, ErrBadRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGlance(t)
			c := f.client(t, nil)
			id := queued(t, f, c)
			f.failNext("PUT", "/v2/images/"+id+"/file", tc.fail...)
			err := tc.upload(c, id)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			img := f.images[id]
			if !tc.wantBytes {
				if img.meta["status"] != "queued" {
					t.Fatalf("status %v after a failed upload", img.meta["status"])
				}
				return
			}
			if img.uploaded != int64(len(data)) || img.uploadSHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("server got %d bytes, sha256 %s", img.uploaded, img.uploadSHA256)
			}
			if img.contentLength != strconv.Itoa(len(data)) || img.contentType != "application/octet-stream" {
				t.Fatalf("Content-Length %q, Content-Type %q", img.contentLength, img.contentType)
			}
		})
	}
}

// TestUploadStreams uploads a 256 MiB sparse file and watches the heap while
// it goes: memory must not grow with the image.
func TestUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB over loopback")
	}
	const size = 256 << 20
	path := filepath.Join(t.TempDir(), "big.raw")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte("head"), 0)
	fh.WriteAt([]byte("tail"), size-4)
	fh.Close()
	h := sha256.New()
	h.Write([]byte("head"))
	io.CopyN(h, zeroReader{}, size-8)
	h.Write([]byte("tail"))
	want := hex.EncodeToString(h.Sum(nil))

	f := newFakeGlance(t)
	c := f.client(t, nil)
	id := queued(t, f, c)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	err = c.UploadFile(context.Background(), id, path)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	img := f.images[id]
	if img.uploaded != size || img.uploadSHA256 != want || img.contentLength != strconv.Itoa(size) {
		t.Fatalf("server got %d bytes, sha256 %s (want %s), Content-Length %q", img.uploaded, img.uploadSHA256, want,
			img.contentLength)
	}
	peakDelta := int64(peak) - int64(base.HeapAlloc)
	allocated := after.TotalAlloc - base.TotalAlloc
	t.Logf("256 MiB upload: heap peak +%d KiB over %d KiB baseline, %d KiB allocated in total",
		peakDelta>>10, base.HeapAlloc>>10, allocated>>10)
	if peakDelta > 16<<20 {
		t.Fatalf("heap grew by %d MiB during a 256 MiB upload: the upload is not streamed", peakDelta>>20)
	}
	if allocated > 32<<20 {
		t.Fatalf("%d MiB allocated during a 256 MiB upload: data is being copied through fresh buffers", allocated>>20)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestSnapshotFlow runs the requests nova makes for a snapshot: nova-api's
// create, then the compute's get, metadata update, streamed upload and get.
func TestSnapshotFlow(t *testing.T) {
	f := newFakeGlance(t)
	c := f.client(t, nil)
	ctx := context.Background()
	create, err := SnapshotCreate(SnapshotRequest{Name: "snap", ImageType: "snapshot", InstanceUUID: "inst",
		InstanceProjectID: "p1", UserID: "u1", ProjectID: "p1",
		SystemMetadata: map[string]string{"image_base_image_ref": "base", "image_disk_format": "qcow2", "image_min_disk": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Create(ctx, create)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != "queued" || img.DiskFormat != "" || img.Properties["base_image_ref"] != "base" {
		t.Fatalf("created %+v", img)
	}
	cur, err := c.Get(ctx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, img.ID, SnapshotUpload(SnapshotFile{Name: cur.Name, FileFormat: "raw", ProjectID: "p1"})); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 1<<20)
	path := filepath.Join(t.TempDir(), "disk")
	os.WriteFile(path, data, 0o644)
	if err := c.UploadFile(ctx, img.ID, path); err != nil {
		t.Fatal(err)
	}
	done, err := c.Get(ctx, img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != "active" || done.DiskFormat != "raw" || done.ContainerFormat != "bare" || done.Size != int64(len(data)) ||
		done.Properties["image_location"] != "snapshot" || done.Properties["image_type"] != "snapshot" ||
		done.Properties["instance_uuid"] != "inst" {
		t.Fatalf("final image %+v", done)
	}
}
