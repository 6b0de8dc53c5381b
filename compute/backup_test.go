package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novabsd/novabsd/images"
)

// backupsAt makes images b<n> created n minutes after noon, in the order given.
func backupsAt(minutes ...int) []*images.Image {
	var out []*images.Image
	for _, m := range minutes {
		out = append(out, &images.Image{ID: fmt.Sprintf("b%d", m),
			CreatedAt: time.Date(2026, 3, 1, 12, m, 0, 0, time.UTC)})
	}
	return out
}

func imageIDs(imgs []*images.Image) []string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.ID)
	}
	return out
}

func TestExcessBackups(t *testing.T) {
	tests := []struct {
		name     string
		listed   []*images.Image
		rotation int
		want     []string // deleted, in order
	}{
		{"none listed", nil, 2, nil},
		{"fewer than rotation", backupsAt(3, 2), 3, nil},
		{"exactly rotation", backupsAt(3, 2, 1), 3, nil},
		{"one over", backupsAt(3, 2, 1), 2, []string{"b1"}},
		{"oldest first", backupsAt(5, 4, 3, 2, 1), 2, []string{"b1", "b2", "b3"}},
		{"rotation 1 keeps the newest", backupsAt(2, 1), 1, []string{"b1"}},
		// nova deletes every backup, the one just made included, when rotation is 0.
		{"rotation 0 deletes all", backupsAt(2, 1), 0, []string{"b1", "b2"}},
		{"Glance order not trusted", backupsAt(1, 3, 2), 1, []string{"b1", "b2"}},
		{"negative rotation deletes nothing", backupsAt(2, 1), -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := imageIDs(tc.listed)
			got := imageIDs(excessBackups(tc.listed, tc.rotation))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("excess %v, want %v", got, tc.want)
			}
			if !slices.Equal(imageIDs(tc.listed), before) {
				t.Fatalf("listed reordered to %v", imageIDs(tc.listed))
			}
		})
	}
}

// fakeBackups is a Glance holding backups, some of whose deletions fail.
type fakeBackups struct {
	listed    []*images.Image
	listErr   error
	deleteErr map[string]error
	filters   map[string]string
	sort      string
	deleted   []string // attempted, in order
}

func (f *fakeBackups) List(_ context.Context, filters map[string]string, sortKey, sortDir string) ([]*images.Image, error) {
	f.filters, f.sort = filters, sortKey+" "+sortDir
	return f.listed, f.listErr
}

func (f *fakeBackups) Delete(_ context.Context, id string) error {
	f.deleted = append(f.deleted, id)
	return f.deleteErr[id]
}

func TestRotateBackups(t *testing.T) {
	notFound := &images.Error{ImageID: "b1", Op: "delete", Kind: images.ErrNotFound}
	conflict := &images.Error{ImageID: "b2", Op: "delete", Kind: images.ErrBadRequest, Detail: "Glance answered 409"}
	tests := []struct {
		name        string
		store       fakeBackups
		rotation    int
		wantDeleted []string
		wantErr     error
		wantLog     []string
	}{
		{"deletes the oldest", fakeBackups{listed: backupsAt(3, 2, 1)}, 1, []string{"b1", "b2"}, nil,
			[]string{`level=INFO msg="Deleting a backup beyond the rotation" image=b1`,
				`level=INFO msg="Deleting a backup beyond the rotation" image=b2`}},
		{"already gone is skipped", fakeBackups{listed: backupsAt(3, 2, 1), deleteErr: map[string]error{"b1": notFound}},
			1, []string{"b1", "b2"}, nil, []string{`level=INFO msg="Backup beyond the rotation already deleted" image=b1`}},
		{"other failures do not stop the rest", fakeBackups{listed: backupsAt(3, 2, 1),
			deleteErr: map[string]error{"b2": conflict}}, 0, []string{"b1", "b2", "b3"}, nil,
			[]string{`level=WARN msg="Cannot delete a backup beyond the rotation; continuing with the next" image=b2`}},
		{"nothing beyond the rotation", fakeBackups{listed: backupsAt(1)}, 1, nil, nil, nil},
		{"list failure is returned", fakeBackups{listErr: &images.Error{ImageID: "(list)", Op: "list",
			Kind: images.ErrUnavailable}}, 1, nil, images.ErrUnavailable, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}))
			err := rotateBackups(context.Background(), log, &tc.store, "u1", "daily", tc.rotation)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			want := map[string]string{"image_type": "backup", "backup_type": "daily", "instance_uuid": "u1"}
			if len(tc.store.filters) != len(want) || tc.store.sort != "created_at desc" {
				t.Fatalf("listed with %v sorted %q", tc.store.filters, tc.store.sort)
			}
			for k, v := range want {
				if tc.store.filters[k] != v {
					t.Fatalf("filter %s = %q, want %q", k, tc.store.filters[k], v)
				}
			}
			if !slices.Equal(tc.store.deleted, tc.wantDeleted) {
				t.Fatalf("deleted %v, want %v", tc.store.deleted, tc.wantDeleted)
			}
			for _, line := range tc.wantLog {
				if !strings.Contains(buf.String(), line) {
					t.Errorf("log lacks %q:\n%s", line, buf.String())
				}
			}
		})
	}
}
