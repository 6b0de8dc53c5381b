package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
	amqp "github.com/rabbitmq/amqp091-go"
)

// schedulerTap is a scheduler of the test's own: a queue bound to the fanout exchange of a topic unique to the
// test, which the service's instance-info casts are pointed at. Fanout exchanges are named after the topic alone
// (<topic>_fanout), not the control exchange, so a unique topic keeps other users of the broker out.
type schedulerTap struct {
	topic      string
	deliveries <-chan amqp.Delivery
	stop       func() // stops the service's sender once it has sent (or refused) everything queued
}

// tapScheduler points h's service at a fresh scheduler topic with tracking set to track and the version cap to
// versionCap, and binds a queue to its fanout exchange. The exchange is declared with the flags oslo.messaging
// gives fanout exchanges (durable as rabbit_transient_quorum_queue, false here; auto-delete): the service's own
// declaration must match them or the broker refuses it and nothing arrives.
func tapScheduler(t *testing.T, h *harness, track bool, versionCap string) *schedulerTap {
	t.Helper()
	tap := &schedulerTap{topic: fmt.Sprintf("novabsd-scheduler-test-%d-%d", os.Getpid(), exchangeSeq.Add(1))}
	conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ex := tap.topic + "_fanout"
	if err := ch.ExchangeDeclare(ex, "fanout", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, "", ex, false, nil); err != nil {
		t.Fatal(err)
	}
	if tap.deliveries, err = ch.Consume(q.Name, "", true, true, false, false, nil); err != nil {
		t.Fatal(err)
	}

	cfg := *h.s.cfg.Load()
	cfg.FilterScheduler.TrackInstanceChanges = track
	h.s.cfg.Store(&cfg)
	h.s.sched = newSchedulerInfo(h.s.transport, tap.topic, versionCap, 10*time.Second, h.s.log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.s.sched.run(ctx) }()
	tap.stop = func() { cancel(); <-done }
	t.Cleanup(tap.stop)
	return tap
}

// next returns the next message the tap received, decoded.
func (tap *schedulerTap) next(t *testing.T) *rpc.Request {
	t.Helper()
	select {
	case d, ok := <-tap.deliveries:
		if !ok {
			t.Fatal("the tap's consumer closed")
		}
		inner, err := rpc.UnwrapEnvelope(d.Body)
		if err != nil {
			t.Fatal(err)
		}
		req, err := rpc.DecodeRequest(inner)
		if err != nil {
			t.Fatal(err)
		}
		return req
	case <-time.After(10 * time.Second):
		t.Fatalf("no message on %s_fanout within 10 s", tap.topic)
	}
	return nil
}

// userContext is ctx carrying a non-admin user's request context, as nova-api's casts arrive.
func userContext(reqID string) context.Context {
	rc := rpc.RequestContext{UserID: "user-1", ProjectID: "project-1", RequestID: reqID, Roles: []string{"member"},
		ReadDeleted: "no", Timestamp: time.Now().UTC()}
	return rpc.WithRequestContext(context.Background(), &rc)
}

// onHost stores an ACTIVE instance of this host (or another) in the fake database.
func onHost(t *testing.T, h *harness, uuid, host string, id int) *vo.Object {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	if err := setAll(inst, map[string]any{"host": host, "node": "node-a", "compute_id": 7, "id": id,
		"vm_state": vmActive, "task_state": nil}); err != nil {
		t.Fatal(err)
	}
	inst.ResetChanges()
	h.cond.put(inst)
	return inst
}

// terminate sends terminate_instance for uuid as nova-api would, under ctx.
func terminate(t *testing.T, h *harness, ctx context.Context, uuid string) {
	t.Helper()
	inst := h.cond.object(uuid)
	_ = inst.Set("task_state", taskDeleting)
	h.cond.put(inst)
	inst.ResetChanges()
	raw, _ := json.Marshal(map[string]any{"instance": inst, "bdms": json.RawMessage(`{"nova_object.name": ` +
		`"BlockDeviceMappingList", "nova_object.namespace": "nova", "nova_object.version": "1.18", ` +
		`"nova_object.data": {"objects": []}}`)})
	if _, err := h.s.terminateInstance(ctx, raw); err != nil {
		t.Fatal(err)
	}
}

// buildAs runs a build to its end under ctx.
func buildAs(t *testing.T, h *harness, ctx context.Context, uuid string) {
	t.Helper()
	inst := instanceFromWire(t, uuid)
	h.cond.put(inst)
	h.runBuild(t, ctx, buildMessage(t, inst, false))
}

// wantCast is what one scheduler fanout must carry.
type wantCast struct {
	method    string
	uuids     []string // update: the InstanceList's instances; delete: [instance_uuid]; sync: instance_uuids
	fresh     bool     // update: the list is new ("objects" in its changes)
	instVer   string   // update: the Instance version the compute holds (2.7 as the captured build sent it)
	requestID string   // "" for a context of the service's own (a fresh req-... id)
	roles     []string
}

func checkCast(t *testing.T, req *rpc.Request, w wantCast) {
	t.Helper()
	if req.Method != w.method || req.Version != "4.2" || req.Namespace != "" || req.IsCall() {
		t.Fatalf("got %s version %q namespace %q call %v, want cast %s version 4.2 without namespace",
			req.Method, req.Version, req.Namespace, req.IsCall(), w.method)
	}
	if rc := req.Context; !rc.IsAdmin || !slices.Equal(rc.Roles, w.roles) ||
		(w.requestID != "" && rc.RequestID != w.requestID) || (w.requestID == "" && rc.UserID != "") {
		t.Errorf("%s context: is_admin %v roles %v request %s user %q; want admin, roles %v, request %q",
			w.method, rc.IsAdmin, rc.Roles, rc.RequestID, rc.UserID, w.roles, w.requestID)
	}
	var args map[string]json.RawMessage
	if err := json.Unmarshal(req.Args, &args); err != nil {
		t.Fatal(err)
	}
	var host string
	_ = json.Unmarshal(args["host_name"], &host)
	if host != testHost {
		t.Errorf("%s host_name = %s, want %q", w.method, args["host_name"], testHost)
	}
	var got []string
	switch w.method {
	case "update_instance_info":
		if len(args) != 2 {
			t.Errorf("update_instance_info args = %v, want host_name and instance_info", keys(args))
		}
		// The envelope as the scheduler's NovaObjectSerializer reads it.
		var env map[string]json.RawMessage
		if err := json.Unmarshal(args["instance_info"], &env); err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"nova_object.name": `"InstanceList"`,
			"nova_object.namespace": `"nova"`, "nova_object.version": `"2.6"`} {
			if string(env[k]) != want {
				t.Errorf("instance_info %s = %s, want %s", k, env[k], want)
			}
		}
		wantChanges := "" // a loaded list carries no change set
		if w.fresh {
			wantChanges = `["objects"]`
		}
		if changes := string(env["nova_object.changes"]); changes != wantChanges {
			t.Errorf("instance_info changes = %q, want %q", changes, wantChanges)
		}
		var list vo.Object
		if err := json.Unmarshal(args["instance_info"], &list); err != nil {
			t.Fatal(err)
		}
		objs, err := list.Objects()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Name != "Instance" || o.Version != w.instVer {
				t.Errorf("list element %s %s, want Instance %s", o.Name, o.Version, w.instVer)
			}
			// Sent as the compute has it: the record's fields, not just the uuid.
			for _, f := range []string{"host", "node", "vm_state", "flavor", "project_id"} {
				if !o.Has(f) {
					t.Errorf("instance %s sent without %s", instanceUUID(o), f)
				}
			}
			got = append(got, instanceUUID(o))
		}
	case "delete_instance_info":
		var u string
		if err := json.Unmarshal(args["instance_uuid"], &u); err != nil {
			t.Fatal(err)
		}
		got = []string{u}
	case "sync_instance_info":
		if err := json.Unmarshal(args["instance_uuids"], &got); err != nil || got == nil {
			t.Fatalf("instance_uuids = %s (%v), want a list", args["instance_uuids"], err)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(w.uuids))
	if !slices.Equal(got, want) {
		t.Errorf("%s instances = %v, want %v", w.method, got, want)
	}
}

func keys(m map[string]json.RawMessage) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

// TestSchedulerInstanceInfo drives each compute path that informs the schedulers and checks the fanouts on the
// wire, in the order sent.
func TestSchedulerInstanceInfo(t *testing.T) {
	const (
		a     = "88888888-0000-4000-8000-00000000000a"
		b     = "88888888-0000-4000-8000-00000000000b"
		other = "88888888-0000-4000-8000-00000000000c"
		gone  = "88888888-0000-4000-8000-00000000000d"
	)
	user := []string{"member", "admin"}
	admin := []string{"admin"}
	tests := []struct {
		name    string
		trigger func(t *testing.T, h *harness)
		want    []wantCast
	}{
		{
			name:    "build reaches ACTIVE",
			trigger: func(t *testing.T, h *harness) { buildAs(t, h, userContext("req-build"), a) },
			want: []wantCast{{method: "update_instance_info", uuids: []string{a}, fresh: true,
				instVer: "2.7", requestID: "req-build", roles: user}},
		},
		{
			name: "build then delete, in order",
			trigger: func(t *testing.T, h *harness) {
				buildAs(t, h, userContext("req-build"), a)
				terminate(t, h, userContext("req-delete"), a)
			},
			want: []wantCast{
				{method: "update_instance_info", uuids: []string{a}, fresh: true, instVer: "2.7",
					requestID: "req-build", roles: user},
				{method: "delete_instance_info", uuids: []string{a}, requestID: "req-delete", roles: user},
			},
		},
		{
			name: "start-up with instances",
			trigger: func(t *testing.T, h *harness) {
				onHost(t, h, a, testHost, 70)
				onHost(t, h, b, testHost, 71)
				onHost(t, h, other, "elsewhere", 72)
				if err := h.s.reconcile(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			want: []wantCast{{method: "update_instance_info", uuids: []string{a, b}, instVer: "2.8", roles: admin}},
		},
		{
			name: "periodic sync",
			trigger: func(t *testing.T, h *harness) {
				onHost(t, h, a, testHost, 70)
				onHost(t, h, b, testHost, 71)
				onHost(t, h, other, "elsewhere", 72)
				onHost(t, h, gone, testHost, 73)
				h.cond.deleted[gone] = true
				if err := h.s.syncSchedulerInstanceInfo(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			want: []wantCast{{method: "sync_instance_info", uuids: []string{a, b}, roles: admin}},
		},
		{
			name: "periodic sync of a host without instances, from the loop",
			trigger: func(t *testing.T, h *harness) {
				cfg := *h.s.cfg.Load()
				cfg.Default.SchedulerInstanceSyncInterval = 1
				h.s.cfg.Store(&cfg)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); h.s.schedulerSyncLoop(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
			},
			want: []wantCast{{method: "sync_instance_info", uuids: []string{}, roles: admin}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tap := tapScheduler(t, h, true, "")
			tt.trigger(t, h)
			for _, w := range tt.want {
				checkCast(t, tap.next(t), w)
			}
		})
	}
}

// TestSchedulerInstanceInfoNotSent: with track_instance_changes off, or a scheduler version cap below 4.2, the
// operations succeed and nothing reaches the schedulers. A marker sent afterwards is the first message the tap
// gets, so nothing was merely late.
func TestSchedulerInstanceInfoNotSent(t *testing.T) {
	tests := []struct {
		name       string
		track      bool
		versionCap string
	}{
		{"track_instance_changes false", false, ""},
		{"version cap juno (3.0)", true, "juno"},
		{"version cap 4.1", true, "4.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tap := tapScheduler(t, h, tt.track, tt.versionCap)
			uuid := "99999999-0000-4000-8000-000000000001"
			buildAs(t, h, context.Background(), uuid)
			if got := h.cond.object(uuid); fieldString(got, "vm_state") != vmActive {
				t.Fatalf("build ended %s", fieldString(got, "vm_state"))
			}
			if err := h.s.reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := h.s.syncSchedulerInstanceInfo(context.Background()); err != nil {
				t.Fatal(err)
			}
			terminate(t, h, context.Background(), uuid)
			if !h.cond.deleted[uuid] {
				t.Fatal("the delete did not complete")
			}
			tap.stop()

			marker := newSchedulerInfo(h.s.transport, tap.topic, "", 10*time.Second,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			marker.send(context.Background(), schedulerCast{rc: rpc.AdminContext(), method: "marker",
				args: json.RawMessage(`{}`)})
			if req := tap.next(t); req.Method != "marker" {
				t.Errorf("the schedulers got %s", req.Method)
			}
		})
	}
}

// TestSchedulerVersionCap: [upgrade_levels] scheduler takes versions and nova's release aliases; 4.2 must be
// allowed for the casts to go out.
func TestSchedulerVersionCap(t *testing.T) {
	tr, err := rpc.NewTransport(rpc.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tests := []struct {
		cap  string
		send bool
	}{
		{"", true}, {"4.5", true}, {"4.2", true}, {"kilo", true}, {"liberty", true}, {"pike", true},
		{"4.1", false}, {"juno", false}, {"grizzly", false}, {"3.0", false}, {"5.0", false}, {"not-a-version", false},
	}
	for _, tt := range tests {
		q := newSchedulerInfo(tr, schedulerTopic, tt.cap, 0, slog.Default())
		if got := q.client.CanSendVersion(schedulerInfoVersion); got != tt.send {
			t.Errorf("cap %q: can send 4.2 = %v, want %v", tt.cap, got, tt.send)
		}
	}
}

// TestSchedulerQueueNeverBlocks: with the broker out of reach the queue fills, and further casts are dropped
// rather than holding up the operation that sends them.
func TestSchedulerQueueNeverBlocks(t *testing.T) {
	q := &schedulerInfo{log: slog.New(slog.NewTextHandler(io.Discard, nil)), queue: make(chan schedulerCast, 4)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			q.enqueue(rpc.AdminContext(), "sync_instance_info", map[string]any{"host_name": "h", "n": i})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("enqueue blocked on a full queue")
	}
	if len(q.queue) != 4 {
		t.Errorf("queued %d, want the 4 that fit", len(q.queue))
	}
}
