package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// schedulerTopic is nova's scheduler RPC topic. Instance-info casts are fanouts, so they go to the exchange
// "scheduler_fanout" whatever the control exchange.
const schedulerTopic = "scheduler"

// schedulerInfoVersion is the scheduler RPC version that added update_instance_info, delete_instance_info and
// sync_instance_info; nova still sends all three at it.
const schedulerInfoVersion = "4.2"

// schedulerVersionAliases are the release names [upgrade_levels] scheduler may give in place of a version, as nova's
// SchedulerAPI knows them; any other value is taken as a version.
var schedulerVersionAliases = map[string]string{
	"grizzly": "2.6", "havana": "2.9", "icehouse": "3.0", "juno": "3.0", "kilo": "4.2", "liberty": "4.2",
	"mitaka": "4.3", "newton": "4.3", "ocata": "4.3", "pike": "4.4",
}

// Bounds of the instance-info sender. The queue absorbs a broker outage of a few hundred operations; beyond it
// casts are dropped, which the periodic sync repairs. At shutdown what is queued has the flush timeout to go out.
const (
	schedulerQueueSize    = 256
	schedulerFlushTimeout = 5 * time.Second
)

// schedulerCast is one queued fanout, its arguments already encoded so later changes to the instance (a delete
// running right after its build) cannot race with the encoding.
type schedulerCast struct {
	rc     rpc.RequestContext
	method string
	args   json.RawMessage
}

// schedulerInfo sends the casts that keep the schedulers' HostManager informed of this host's instances. Nova
// sends them in line with the operation; here they are queued and sent in order by one goroutine, so neither a
// slow broker nor a refused cast holds up or fails a build or a delete. A lost cast only leaves the scheduler's
// view stale until the next sync.
type schedulerInfo struct {
	client  *rpc.Client
	log     *slog.Logger
	timeout time.Duration // bound on each cast's wait for the broker
	queue   chan schedulerCast
}

// newSchedulerInfo makes the sender for topic's fanout exchange, capped at versionCap ([upgrade_levels] scheduler:
// a version or one of nova's release aliases; "" for no cap).
func newSchedulerInfo(t *rpc.Transport, topic, versionCap string, timeout time.Duration,
	log *slog.Logger) *schedulerInfo {
	c := t.NewClient(rpc.Target{Topic: topic, Version: schedulerInfoVersion}).WithFanout()
	if versionCap != "" {
		if v, ok := schedulerVersionAliases[versionCap]; ok {
			versionCap = v
		}
		c = c.WithVersionCap(versionCap)
	}
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	return &schedulerInfo{client: c, log: log, timeout: timeout, queue: make(chan schedulerCast, schedulerQueueSize)}
}

// enqueue queues method(args) for the sender; it never blocks.
func (q *schedulerInfo) enqueue(rc rpc.RequestContext, method string, args map[string]any) {
	raw, err := json.Marshal(args)
	if err != nil {
		q.log.Warn("Cannot encode the scheduler instance-info cast; the scheduler's view stays stale until the next sync",
			"method", method, "error", err)
		return
	}
	select {
	case q.queue <- schedulerCast{rc: rc, method: method, args: raw}:
	default:
		q.log.Warn("Too many scheduler instance-info casts waiting for the broker; dropped one, the next sync repairs it",
			"method", method)
	}
}

// run sends queued casts in order until ctx ends, then flushes what is left; a cast in flight or queued when
// ctx ends has schedulerFlushTimeout more to go out.
func (q *schedulerInfo) run(ctx context.Context) {
	sendCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(schedulerFlushTimeout, cancel) })
	defer stop()
	for {
		select {
		case c := <-q.queue:
			q.send(sendCtx, c)
		case <-ctx.Done():
			for {
				select {
				case c := <-q.queue:
					q.send(sendCtx, c)
				default:
					return
				}
			}
		}
	}
}

func (q *schedulerInfo) send(ctx context.Context, c schedulerCast) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	if err := q.client.Cast(ctx, &c.rc, c.method, c.args); err != nil {
		q.log.Warn("Cannot send instance info to the schedulers; their view stays stale until the next sync",
			"method", c.method, "error", err)
	}
}

// tracksInstances reports whether the scheduler casts are on ([filter_scheduler] track_instance_changes) and can
// be sent.
func (s *Service) tracksInstances() bool {
	return s.sched != nil && s.cfg.Load().FilterScheduler.TrackInstanceChanges
}

// updateSchedulerInstanceInfo is nova's _update_scheduler_instance_info: the instances as we have them, in an
// InstanceList. A single instance after an operation goes in a new list (its "objects" field recorded as
// changed, as a freshly constructed InstanceList has it); the start-up list is sent as loaded.
func (s *Service) updateSchedulerInstanceInfo(rc *rpc.RequestContext, insts []*vo.Object, fresh bool) {
	if !s.tracksInstances() {
		return
	}
	list, err := vo.NewList("InstanceList", s.release.ObjectVersion("InstanceList"), insts)
	if err != nil {
		s.log.Warn("Cannot build the InstanceList for the schedulers", "error", err)
		return
	}
	if fresh {
		list.Changes = []string{"objects"}
	}
	s.sched.enqueue(rc.Elevated(), "update_instance_info", map[string]any{
		"host_name": s.cfg.Load().Default.Host, "instance_info": list})
}

// deleteSchedulerInstanceInfo is _delete_scheduler_instance_info: the uuid of an instance gone from this host.
func (s *Service) deleteSchedulerInstanceInfo(rc *rpc.RequestContext, uuid string) {
	if !s.tracksInstances() {
		return
	}
	s.sched.enqueue(rc.Elevated(), "delete_instance_info", map[string]any{
		"host_name": s.cfg.Load().Default.Host, "instance_uuid": uuid})
}

// syncSchedulerInstanceInfo is the _sync_scheduler_instance_info periodic task: the uuids of every instance the
// cell records on this host, for the schedulers to compare with their view.
func (s *Service) syncSchedulerInstanceInfo(ctx context.Context) error {
	if !s.tracksInstances() {
		return nil
	}
	admin := rpc.AdminContext()
	rc := admin.Elevated()
	host := s.cfg.Load().Default.Host
	raw, err := s.cond.classAction(ctx, &rc, "InstanceList", "get_by_host", instanceListManifest, []any{host},
		map[string]any{"expected_attrs": []string{}, "use_slave": true})
	if err != nil {
		return err
	}
	insts, err := objectList(raw)
	if err != nil {
		return fmt.Errorf("InstanceList.get_by_host: %w", err)
	}
	uuids := make([]string, 0, len(insts))
	for _, inst := range insts {
		uuids = append(uuids, instanceUUID(inst))
	}
	s.sched.enqueue(rc, "sync_instance_info", map[string]any{"host_name": host, "instance_uuids": uuids})
	return nil
}

// schedulerSyncLoop runs syncSchedulerInstanceInfo every scheduler_instance_sync_interval. The first run waits
// one interval, as nova's does: the start-up update went out already.
func (s *Service) schedulerSyncLoop(ctx context.Context) {
	s.periodic(ctx, periodicTask{
		interval: func(c *conf.Config) int { return c.Default.SchedulerInstanceSyncInterval },
		run:      s.syncSchedulerInstanceInfo,
		failed: func(err error) {
			s.log.Warn("Cannot list this host's instances for the scheduler sync; retrying next period", "error", err)
		},
	})
}
