package rpc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTransportURL(t *testing.T) {
	tests := []struct {
		in      string
		hosts   []Host
		vhost   string
		query   map[string]string
		wantErr string
	}{
		{in: "rabbit://", hosts: []Host{{"guest", "guest", "localhost", 5672}}},
		{in: "rabbit://u:p@h1:5673,u2:p2@h2/nova", hosts: []Host{{"u", "p", "h1", 5673}, {"u2", "p2", "h2", 0}}, vhost: "nova"},
		{in: "rabbit://us%40r:p%3Ass%2Fw@h/", hosts: []Host{{"us@r", "p:ss/w", "h", 0}}},
		{in: "rabbit://u:p@h//", hosts: []Host{{"u", "p", "h", 0}}, vhost: "/"},
		{in: "rabbit://u:p@h/%2F", hosts: []Host{{"u", "p", "h", 0}}, vhost: "/"},
		{in: "rabbit://u:p@[::1]:5672/", hosts: []Host{{"u", "p", "::1", 5672}}},
		{in: "kombu://h", hosts: []Host{{"", "", "h", 0}}},
		{in: "rabbit://u:p@h/?ssl=1&heartbeat_timeout_threshold=30", hosts: []Host{{"u", "p", "h", 0}},
			query: map[string]string{"ssl": "1", "heartbeat_timeout_threshold": "30"}},
		{in: "rabbit://u:p@a@h/", hosts: []Host{{"u", "p@a", "h", 0}}},
		{in: "amqp://h/", wantErr: "unsupported driver"},
		{in: "h:5672", wantErr: "missing scheme"},
		{in: "rabbit://u:p@h:99999/", wantErr: "invalid port"},
		{in: "rabbit://u:p@h:x/", wantErr: "invalid port"},
		{in: "rabbit://u:p@[::1/", wantErr: "unterminated"},
		{in: "rabbit://a,,b/", wantErr: "empty host"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseTransportURL(tc.in)
			if tc.wantErr != "" {
				var ue *URLError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want URLError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u.Hosts, tc.hosts) || u.VirtualHost != tc.vhost {
				t.Fatalf("got hosts %+v vhost %q", u.Hosts, u.VirtualHost)
			}
			if tc.query != nil && !reflect.DeepEqual(u.Query, tc.query) {
				t.Fatalf("query = %v", u.Query)
			}
		})
	}
}

// TestURLErrorsHidePasswords: a transport_url that does not parse is printed in its error with every password
// masked, whatever the password holds; '/', '?' and '#' unencoded used to end the masker's host part early, and
// the reason quoted the pieces the parser saw.
func TestURLErrorsHidePasswords(t *testing.T) {
	tests := []struct {
		url, pw, reason string
	}{
		{"rabbit://user:s3cret@h:bad/", "s3cret", "invalid port"},
		{"rabbit://nova:Qa/Qb?Qc#Qd@host:5672/vhost", "Qa/Qb?Qc#Qd", "unencoded"},
		{"rabbit://nova:Qa?Qb@host:5672/", "Qa?Qb", "unencoded"},
		{"rabbit://nova:Qa#Qb@host:5672/", "Qa#Qb", "unencoded"},
		{"rabbit://u:Qa/Qb@h1:5672,u:Qa/Qb@h2:5672/vhost", "Qa/Qb", "unencoded"},
		{"rabbit://nova:Qa/%zz@host/", "Qa/%zz", "unencoded"},
		{"rabbit://nova:Qa,Qb@host:5672/", "Qa,Qb", "invalid port"},
		{"rabbit://nova:Qa%zzQb@host/", "Qa%zzQb", "percent-encoded"},
		{"rabbit://nova:pw@h:1,nova:pw@[::1/", ":pw@", "unterminated"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := ParseTransportURL(tc.url)
			var ue *URLError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want a URLError saying %q", err, tc.reason)
			}
			msg := err.Error()
			if strings.Contains(msg, tc.pw) || !strings.Contains(ue.URL, ":****@") {
				t.Fatalf("err = %v: the password %q must be masked", err, tc.pw)
			}
			for _, piece := range []string{"Qa", "Qb", "Qc", "Qd", "%zz", "s3cret"} { // no fragment either
				if strings.Contains(tc.pw, piece) && strings.Contains(msg, piece) {
					t.Fatalf("err = %v holds %q of the password", err, piece)
				}
			}
		})
	}
}

func TestApplyQuery(t *testing.T) {
	u, err := ParseTransportURL("rabbit://h/?amqp_durable_queues=yes&rabbit_transient_queues_ttl=0&heartbeat_timeout_threshold=30&rabbit_qos_prefetch_count=5")
	if err != nil {
		t.Fatal(err)
	}
	r := DefaultOptions().Rabbit
	if err := u.ApplyQuery(&r); err != nil {
		t.Fatal(err)
	}
	if !r.DurableQueues || r.TransientQueuesTTL != 0 || r.HeartbeatTimeoutThreshold != 30*time.Second || r.QoSPrefetchCount != 5 {
		t.Fatalf("options = %+v", r)
	}
	for _, bad := range []string{"?no_such_option=1", "?amqp_durable_queues=maybe", "?rabbit_qos_prefetch_count=x"} {
		u, _ := ParseTransportURL("rabbit://h/" + bad)
		if err := u.ApplyQuery(&r); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"quorum and ha", func(o *Options) { o.Rabbit.QuorumQueue, o.Rabbit.HAQueues = true, true }, "rabbit_quorum_queue"},
		{"stream without transient quorum", func(o *Options) { o.Rabbit.StreamFanout = true }, "rabbit_stream_fanout"},
		{"stream without prefetch", func(o *Options) {
			o.Rabbit.StreamFanout, o.Rabbit.TransientQuorumQueue = true, true
		}, "prefetch"},
		{"login", func(o *Options) { o.Rabbit.LoginMethod = "RABBIT-CR-DEMO" }, "rabbit_login_method"},
		{"pool", func(o *Options) { o.ExecutorPoolSize = 0 }, "executor_thread_pool_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.mod(&o)
			_, err := NewTransport(o)
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ConfigError about %s", err, tc.want)
			}
		})
	}
}

// TestQueueArgs pins the declaration arguments to impl_rabbit.py _get_queue_arguments (the interop test
// TestDeclarationsMatchPython proves them against the real Python driver).
func TestQueueArgs(t *testing.T) {
	o := DefaultOptions()
	o.Rabbit.QuorumQueue, o.Rabbit.QuorumDeliveryLimit = true, 5
	tr, _ := NewTransport(o)
	defer tr.Close()
	topic := tr.topicSpec("nova", "compute")
	if !topic.durable || topic.args["x-queue-type"] != "quorum" || topic.args["x-delivery-limit"] != int32(5) ||
		topic.args["x-expires"] != nil {
		t.Fatalf("topic spec = %+v", topic)
	}
	fan := tr.fanoutSpec("compute")
	if fan.durable || fan.args["x-expires"] != int32(1800000) || fan.args["x-queue-type"] != nil ||
		!strings.HasPrefix(fan.queue, "compute_fanout_") || !fan.exAutoDelete {
		t.Fatalf("fanout spec = %+v", fan)
	}
}
