package images

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// addBackup registers an image with the properties nova-api gives a backup,
// created at the given second of 2026-03-01 12:00.
func addBackup(f *fakeGlance, id, instance, backupType string, second int) {
	f.addImage(id, "qcow2", []byte(id))
	f.setMeta(id, "created_at", fmt.Sprintf("2026-03-01T12:00:%02dZ", second))
	f.setMeta(id, "image_type", "backup")
	f.setMeta(id, "backup_type", backupType)
	f.setMeta(id, "instance_uuid", instance)
}

// backups adds n daily backups of instance u1, b1 the oldest.
func backups(n int) func(f *fakeGlance) {
	return func(f *fakeGlance) {
		for i := 1; i <= n; i++ {
			addBackup(f, fmt.Sprintf("b%d", i), "u1", "daily", i)
		}
	}
}

func TestList(t *testing.T) {
	rotation := map[string]string{"image_type": "backup", "backup_type": "daily", "instance_uuid": "u1"}
	tests := []struct {
		name     string
		setup    func(f *fakeGlance)
		prefix   string // Glance served under this path
		limitMax int    // Glance's api_limit_max; pages hold at most this many
		filters  map[string]string
		sortDir  string
		want     []string // image ids in order
		wantErr  error
		wantGets int // list requests Glance saw, retries included
	}{
		{"filters match properties", func(f *fakeGlance) {
			addBackup(f, "mine", "u1", "daily", 1)
			addBackup(f, "weekly", "u1", "weekly", 2)
			addBackup(f, "other-instance", "u2", "daily", 3)
			addBackup(f, "snapshot", "u1", "daily", 4)
			f.setMeta("snapshot", "image_type", "snapshot")
			f.addImage("plain", "raw", nil)
		}, "", 0, rotation, "desc", []string{"mine"}, nil, 1},
		{"no match", backups(2), "", 0, map[string]string{"backup_type": "weekly"}, "desc", nil, nil, 1},
		{"newest first", backups(3), "", 0, rotation, "desc", []string{"b3", "b2", "b1"}, nil, 1},
		{"oldest first", backups(3), "", 0, rotation, "asc", []string{"b1", "b2", "b3"}, nil, 1},
		{"several pages", backups(5), "", 2, rotation, "desc", []string{"b5", "b4", "b3", "b2", "b1"}, nil, 3},
		// A full last page still has a next link; the empty page after it ends the list.
		{"pages end on a full page", backups(4), "", 2, rotation, "desc", []string{"b4", "b3", "b2", "b1"}, nil, 3},
		{"next links under a path prefix", backups(3), "/image", 1, rotation, "desc", []string{"b3", "b2", "b1"}, nil, 4},
		{"503 retried then success", func(f *fakeGlance) {
			backups(3)(f)
			f.failNext("GET", "/v2/images", 503, 503)
		}, "", 2, rotation, "desc", []string{"b3", "b2", "b1"}, nil, 4},
		{"500 fails", func(f *fakeGlance) {
			backups(3)(f)
			f.failNext("GET", "/v2/images", 500)
		}, "", 0, rotation, "desc", nil, ErrUnavailable, 1},
		{"503 until out of retries", func(f *fakeGlance) {
			backups(1)(f)
			f.failNext("GET", "/v2/images", 503, 503, 503, 503)
		}, "", 0, rotation, "desc", nil, ErrUnavailable, 4},
		{"bad sort direction refused", backups(1), "", 0, rotation, "sideways", nil, ErrBadRequest, 1},
		{"paging parameter as filter refused", backups(1), "", 0, map[string]string{"marker": "b1"}, "desc", nil, ErrBadRequest, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGlance(t)
			f.prefix, f.limitMax = tc.prefix, tc.limitMax
			tc.setup(f)
			c := f.client(t, func(o *GlanceOptions) {
				if tc.prefix != "" {
					o.EndpointOverride = f.srv.URL + tc.prefix
				}
			})
			imgs, err := c.List(context.Background(), tc.filters, "created_at", tc.sortDir)
			if len(f.lists) != tc.wantGets {
				t.Errorf("%d list requests, want %d", len(f.lists), tc.wantGets)
			}
			if tc.wantErr != nil {
				var ie *Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &ie) || ie.Op != "list" {
					t.Fatalf("err = %v, want a list *Error of kind %v", err, tc.wantErr)
				}
				if imgs != nil {
					t.Fatalf("images %v returned with an error", imgs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, img := range imgs {
				ids = append(ids, img.ID)
				for k, v := range tc.filters {
					if img.Properties[k] != v {
						t.Errorf("image %s property %s = %q, want %q", img.ID, k, img.Properties[k], v)
					}
				}
				if img.CreatedAt.IsZero() || img.Status != "active" {
					t.Errorf("image %s decoded without its attributes: %+v", img.ID, img)
				}
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
			first := f.lists[0]
			if first.Get("sort_key") != "created_at" || first.Get("sort_dir") != tc.sortDir ||
				first.Get("limit") != "200" || first.Get("marker") != "" {
				t.Errorf("first request parameters %v", first)
			}
		})
	}
}

func TestPageURL(t *testing.T) {
	tests := []struct{ endpoint, next, want string }{
		{"http://g:9292/", "/v2/images?marker=a&limit=2", "http://g:9292/v2/images?marker=a&limit=2"},
		{"http://h/image/", "/v2/images?marker=a", "http://h/image/v2/images?marker=a"},
		{"http://h/image/", "v2/images?marker=a", "http://h/image/v2/images?marker=a"},
		{"http://h/image/", "https://other/v2/images?marker=a", "https://other/v2/images?marker=a"},
	}
	for _, tc := range tests {
		if got := pageURL(tc.endpoint, tc.next); got != tc.want {
			t.Errorf("pageURL(%q, %q) = %q, want %q", tc.endpoint, tc.next, got, tc.want)
		}
	}
}

// TestListRepeatingNext: a Glance whose next link never advances gets an
// error, not a caller listing forever.
func TestListRepeatingNext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"images": []map[string]any{{"id": "a", "status": "active"}},
			"next": "/v2/images?marker=a&limit=1"})
	}))
	t.Cleanup(srv.Close)
	g, err := NewGlance(GlanceOptions{EndpointOverride: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Client(Auth{Token: goodToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), nil, "", ""); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("repeating next link: %v", err)
	}
}
