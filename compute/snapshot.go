package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/novabsd/novabsd/hypervisor"
	"github.com/novabsd/novabsd/hypervisor/storage"
	"github.com/novabsd/novabsd/images"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

type snapshotArgs struct {
	Instance *vo.Object `json:"instance"`
	ImageID  string     `json:"image_id"`
}

type backupArgs struct {
	Instance   *vo.Object `json:"instance"`
	ImageID    string     `json:"image_id"`
	BackupType string     `json:"backup_type"`
	Rotation   int        `json:"rotation"`
}

// snapshotInstance runs in the background like 2026.1's (the cast returns at once), at most
// max_concurrent_snapshots at a time.
func (s *Service) snapshotInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a snapshotArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	if a.ImageID == "" {
		return nil, &rpc.ArgsError{Err: errors.New("snapshot_instance: image_id is empty")}
	}
	s.background(ctx, func(bctx context.Context, rc *rpc.RequestContext) {
		_ = s.doSnapshot(bctx, rc, a.Instance, a.ImageID, "compute_snapshot_instance", taskImageSnapshotPending,
			taskImageSnapshot, nil)
	})
	return nil, nil
}

// backupInstance is backup_instance: a snapshot whose task is image_backup, then the rotation that deletes the
// instance's backups of that type beyond the newest rotation ones. Both run under the one compute_backup_instance
// event, as in nova; only a failed snapshot deletes the new image.
func (s *Service) backupInstance(ctx context.Context, args json.RawMessage) (any, error) {
	var a backupArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	s.background(ctx, func(bctx context.Context, rc *rpc.RequestContext) {
		rotate := func(ctx context.Context, glance *images.Client) error {
			return rotateBackups(ctx, logInstance(s.log, a.Instance), glance, instanceUUID(a.Instance), a.BackupType,
				a.Rotation)
		}
		_ = s.doSnapshot(bctx, rc, a.Instance, a.ImageID, "compute_backup_instance", "", taskImageBackup, rotate)
	})
	return nil, nil
}

func (s *Service) background(ctx context.Context, fn func(context.Context, *rpc.RequestContext)) {
	rc := requestContext(ctx)
	s.lc.startWork(ctx, s.lc.snapshots, func(bctx context.Context) { fn(bctx, rc) })
}

// doSnapshot is snapshot_instance / _snapshot_instance with libvirt's cold snapshot: the guest is paused while
// its root disk is copied out, then the copy is uploaded to the image nova-api created, streamed from disk.
// pending is the task state nova-api set ("" when the method starts from task, as backups do). after, when set,
// runs once the snapshot is done, inside the same event and fault handling; its failure leaves the image.
func (s *Service) doSnapshot(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, imageID, event, pending, task string,
	after func(ctx context.Context, glance *images.Client) error) error {
	uuid := instanceUUID(inst)
	if pending != "" {
		asInstance(inst).SetTaskState(task)
		if err := s.saveInstance(ctx, rc, inst, pending); err != nil {
			s.log.Info("Instance changed before snapshot; not snapshotting", "instance", uuid, "error", err)
			return err
		}
	}
	var glance *images.Client
	snapshotted := false // the image is complete: a later failure must not delete it
	log := logInstance(s.log, inst)
	start := time.Now()
	err := s.run(ctx, rc, inst, op{event: event, revertsTask: true, fault: true}, func() error {
		log.Info("Snapshotting the instance", "image", imageID)
		var err error
		glance, err = s.snapshotTo(ctx, rc, inst, imageID, snapshotSteps{expect: task,
			pendingUpload: taskImagePendingUpload, uploading: taskImageUploading, clear: true})
		if err != nil {
			return err
		}
		log.Info(fmt.Sprintf("Took %.2f seconds to snapshot the instance", time.Since(start).Seconds()), "image", imageID)
		snapshotted = true
		if after != nil {
			return after(ctx, glance)
		}
		return nil
	})
	if err != nil && glance != nil && !snapshotted {
		// @delete_image_on_error: a failed snapshot leaves no half image behind.
		if derr := glance.Delete(ctx, imageID); derr != nil {
			s.log.Warn("Cannot delete the image of a failed snapshot", "image", imageID, "error", derr)
		}
	}
	return err
}

// snapshotSteps are the task states a snapshot moves through, as the libvirt driver's update_task_state calls
// them: pendingUpload (saved expecting expect), then uploading; with clear, no task once uploaded (a snapshot or
// backup), without it the caller's final save ends the task (a shelve).
type snapshotSteps struct {
	expect, pendingUpload, uploading string
	clear                            bool
}

// snapshotTo is the driver's snapshot: the root disk extracted (the guest paused meanwhile if it runs) and
// uploaded to the image nova-api created, with the task states of steps. It returns the Glance client it used
// (nil when it failed before having one).
func (s *Service) snapshotTo(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, imageID string,
	steps snapshotSteps) (*images.Client, error) {
	log := logInstance(s.log, inst)
	g, err := s.guestOf(inst)
	if err != nil {
		return nil, err
	}
	v := asInstance(inst)
	v.SetPowerState(s.powerState(ctx, g))
	if err := s.saveInstance(ctx, rc, inst); err != nil {
		return nil, err
	}
	glance, err := s.lc.eng.glance(rc)
	if err != nil {
		return nil, err
	}
	meta, err := glance.Get(ctx, imageID)
	if err != nil {
		return glance, err
	}
	v.SetTaskState(steps.pendingUpload)
	if err := s.saveInstance(ctx, rc, inst, steps.expect); err != nil {
		return glance, err
	}
	extract := time.Now()
	file, format, err := s.extractRoot(ctx, inst, g)
	if err != nil {
		return glance, err
	}
	defer os.Remove(file)
	log.Info(fmt.Sprintf("Root disk extracted in %.2f seconds; uploading it", time.Since(extract).Seconds()),
		"image", imageID, "disk_format", format)
	v.SetTaskState(steps.uploading)
	if err := s.saveInstance(ctx, rc, inst, steps.pendingUpload); err != nil {
		return glance, err
	}
	sm, err := v.SystemMetadata()
	if err != nil {
		return glance, err
	}
	// Checked on receipt (decodeInstance), so these reads cannot fail here.
	upd := images.SnapshotUpload(images.SnapshotFile{Name: meta.Name, FileFormat: format,
		SourceContainerFormat: sm["image_container_format"], KernelID: checkedRead(v.KernelID()),
		RamdiskID: checkedRead(v.RamdiskID()), ProjectID: checkedRead(v.ProjectID()), OSType: checkedRead(v.OSType())})
	if _, err := glance.Update(ctx, imageID, upd); err != nil {
		return glance, err
	}
	upload := time.Now()
	if err := glance.UploadFile(ctx, imageID, file); err != nil {
		return glance, err
	}
	log.Info(fmt.Sprintf("Snapshot image uploaded in %.2f seconds", time.Since(upload).Seconds()), "image", imageID)
	if steps.clear {
		v.ClearTaskState()
		if err := s.saveInstance(ctx, rc, inst, steps.uploading); err != nil {
			return glance, err
		}
	}
	return glance, nil
}

// extractRoot copies the root disk to a file under instances_path/snapshots, the guest paused meanwhile so the
// copy is consistent (QEMU flushes its disks when it stops the vCPUs). With qemu-img the copy is qcow2 (small,
// as nova's libvirt snapshots of qcow2 disks are); without, a sparse raw file.
func (s *Service) extractRoot(ctx context.Context, inst *vo.Object, g hypervisor.Guest) (string, string, error) {
	eng := s.lc.eng
	disks, err := eng.storage.Disks(ctx, instanceUUID(inst))
	if err != nil {
		return "", "", err
	}
	var root *storage.Disk
	for i := range disks {
		if disks[i].Name == storage.RootDisk {
			root = &disks[i]
		}
	}
	if root == nil {
		return "", "", translateEngineError(inst, fmt.Errorf("%w: no root disk for %s", hypervisor.ErrNotFound, g.Name))
	}
	if info, err := eng.driver.Info(ctx, g); err == nil && info.State == hypervisor.Running {
		if err := eng.driver.Pause(ctx, g); err == nil {
			defer func() {
				if err := eng.driver.Unpause(context.WithoutCancel(ctx), g); err != nil {
					s.log.Error("Cannot unpause guest after snapshot", "instance", g.UUID, "error", err)
				}
			}()
		} else {
			s.log.Warn("Cannot pause guest for snapshot; copying its disk live", "instance", g.UUID, "error", err)
		}
	}
	dir := filepath.Join(eng.instancesPath, "snapshots")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	f, err := os.CreateTemp(dir, g.UUID+"-*")
	if err != nil {
		return "", "", err
	}
	path := f.Name()
	if eng.qemuImg != "" {
		f.Close()
		out, err := exec.CommandContext(ctx, eng.qemuImg, "convert", "-U", "-f", "raw", "-O", "qcow2", root.Path, path).CombinedOutput()
		if err != nil {
			os.Remove(path)
			return "", "", fmt.Errorf("qemu-img convert of %s: %w: %s", root.Path, err, bytes.TrimSpace(out))
		}
		return path, "qcow2", nil
	}
	src, err := os.Open(root.Path)
	if err == nil {
		err = sparseCopy(f, src)
		src.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", "", fmt.Errorf("copying root disk %s: %w", root.Path, err)
	}
	return path, "raw", nil
}

// sparseCopy copies src to dst, leaving holes where src has zero blocks.
func sparseCopy(dst *os.File, src io.Reader) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				off += int64(n)
			} else {
				if _, werr := dst.WriteAt(buf[:n], off); werr != nil {
					return werr
				}
				off += int64(n)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dst.Truncate(off)
		}
		if err != nil {
			return err
		}
	}
}
