package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/novabsd/novabsd/images"
)

// backupStore is what backup rotation needs from Glance; *images.Client is one.
type backupStore interface {
	List(ctx context.Context, filters map[string]string, sortKey, sortDir string) ([]*images.Image, error)
	Delete(ctx context.Context, id string) error
}

var _ backupStore = (*images.Client)(nil)

// rotateBackups is nova's _rotate_backups: of the instance's backups of backupType (the images nova-api marked
// image_type=backup with that backup_type and instance_uuid), the newest rotation are kept and the others
// deleted, oldest first. Rotation 0 keeps none, not even the backup just made, as in nova.
//
// A failed listing is returned, so the backup action fails with an instance fault while the new backup stays,
// as nova lets _rotate_backups' exception through wrap_instance_fault. A failed deletion only logs and moves on
// to the next image, as nova does: the backup itself succeeded.
func rotateBackups(ctx context.Context, log *slog.Logger, glance backupStore, uuid, backupType string, rotation int) error {
	filters := map[string]string{"image_type": "backup", "backup_type": backupType, "instance_uuid": uuid}
	listed, err := glance.List(ctx, filters, "created_at", "desc")
	if err != nil {
		return fmt.Errorf("listing the instance's %q backups to rotate: %w", backupType, err)
	}
	excess := excessBackups(listed, rotation)
	log.Debug("Rotating backups", "backup_type", backupType, "found", len(listed), "rotation", rotation,
		"excess", len(excess))
	for _, img := range excess {
		log.Info("Deleting a backup beyond the rotation", "image", img.ID, "backup_type", backupType,
			"rotation", rotation)
		err := glance.Delete(ctx, img.ID)
		switch {
		case errors.Is(err, images.ErrNotFound):
			log.Info("Backup beyond the rotation already deleted", "image", img.ID)
		case err != nil:
			// Nova logs this at INFO; a backup left behind is worth an operator's look.
			log.Warn("Cannot delete a backup beyond the rotation; continuing with the next", "image", img.ID,
				"error", err)
		}
	}
	return nil
}

// excessBackups chooses the backups to delete: all but the newest rotation by created_at, oldest first (the
// order nova deletes them in). Glance already sorts the list newest first; sorting again, stably, changes
// nothing then, and keeps the choice right should a Glance ignore sort_key. A negative rotation, which nova-api
// refuses, deletes nothing.
func excessBackups(listed []*images.Image, rotation int) []*images.Image {
	if rotation < 0 || len(listed) <= rotation {
		return nil
	}
	sorted := slices.Clone(listed)
	slices.SortStableFunc(sorted, func(a, b *images.Image) int { return b.CreatedAt.Compare(a.CreatedAt) })
	excess := sorted[rotation:]
	slices.Reverse(excess)
	return excess
}
