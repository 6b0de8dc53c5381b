package compute

import (
	"context"
	"fmt"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc"
)

// imageCacheTask is nova's _run_image_cache_manager_pass, every [image_cache] manager_interval (0: every 60 s,
// negative: never, as oslo's periodic tasks read a spacing), first run one interval after start as in nova.
func (s *Service) imageCacheTask() periodicTask {
	return periodicTask{
		interval: func(c *conf.Config) int { return c.ImageCache.ManagerInterval },
		run:      s.imageCacheManagerPass,
		failed: func(err error) {
			s.log.Error("Image cache manager pass failed; retrying next period", "error", err)
		},
	}
}

// imageCacheLoop runs the image cache manager until ctx ends.
func (s *Service) imageCacheLoop(ctx context.Context) { s.periodic(ctx, s.imageCacheTask()) }

// imageCacheManagerPass marks the images of every instance of this host (image_ref, kernel_id, ramdisk_id;
// soft-deleted instances count, as in nova) as in use, so the cache touches them, and lets the cache remove the
// others once unused for the minimum age when remove_unused_base_images is set. Images builds in progress hold
// are kept by the cache itself: their instances may not name this host yet.
func (s *Service) imageCacheManagerPass(ctx context.Context) error {
	cache := s.lc.eng.cache
	if cache == nil {
		return nil
	}
	rc := rpc.AdminContext()
	insts, err := s.instancesOnHost(ctx, &rc, s.cfg.Load().Default.Host, []string{})
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, inst := range insts {
		v := asInstance(inst)
		for _, read := range []func() (string, error){v.ImageRef, v.KernelID, v.RamdiskID} {
			id, err := read()
			if err != nil {
				// Eviction must never remove an image an instance may use: an unreadable record stops it.
				return fmt.Errorf("image cache: %w", err)
			}
			if id != "" {
				inUse[id] = true
			}
		}
	}
	res, err := cache.Evict(inUse, time.Now())
	for _, p := range res.Removed {
		s.log.Info("Removed unused base image", "path", p)
	}
	if len(res.TooYoung) > 0 {
		s.log.Debug("Unused base images younger than the minimum age kept", "count", len(res.TooYoung))
	}
	return err
}

// sweepImageCache removes the partial downloads and conversions a previous process left in the image cache.
// Failures are logged: a leftover costs space, not correctness.
func (s *Service) sweepImageCache(started time.Time) {
	cache := s.lc.eng.cache
	if cache == nil {
		return
	}
	removed, err := cache.SweepLeftovers(started)
	for _, p := range removed {
		s.log.Info("Removed a partial image file left by an earlier run", "path", p)
	}
	if err != nil {
		s.log.Warn("Cannot remove every partial image file left by an earlier run", "error", err)
	}
}
