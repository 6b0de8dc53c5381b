package compute

import (
	"testing"
	"time"

	"github.com/novabsd/novabsd/conf"
)

func TestOptionMapping(t *testing.T) {
	dir := t.TempDir()
	path := writeConf(t, dir, `[DEFAULT]
transport_url = rabbit://nova:pw@127.0.0.1:5672/
rpc_response_timeout = 30
executor_thread_pool_size = 8
reserved_host_memory_mb = 1024
cpu_allocation_ratio = 2.5
[oslo_messaging_rabbit]
rabbit_quorum_queue = true
heartbeat_timeout_threshold = 20
kombu_reconnect_delay = 0.5
[placement]
auth_url = http://127.0.0.1:5000/v3
username = placement
password = pw
project_name = service
valid_interfaces = internal
timeout = 7
`)
	cfg, err := conf.Load(conf.Sources{ConfigFiles: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	o := rpcOptions(cfg, nil)
	if o.ControlExchange != "nova" || o.RPCResponseTimeout != 30*time.Second || o.ExecutorPoolSize != 8 ||
		!o.Rabbit.QuorumQueue || o.Rabbit.HeartbeatTimeoutThreshold != 20*time.Second ||
		o.Rabbit.ReconnectDelay != 500*time.Millisecond {
		t.Errorf("rpc options = %+v", o)
	}
	p := placementOptions(cfg, "novabsd/test")
	if p.AuthURL != "http://127.0.0.1:5000/v3" || p.Username != "placement" || p.Timeout != 7*time.Second ||
		len(p.ValidInterfaces) != 1 || p.ValidInterfaces[0] != "internal" {
		t.Errorf("placement options = %+v", p)
	}
	rc := resourceConfig(cfg)
	if rc.ReservedHostMemoryMB != 1024 || rc.CPUAllocationRatio == nil || *rc.CPUAllocationRatio != 2.5 ||
		rc.InitialCPUAllocationRatio != 4.0 {
		t.Errorf("resource config = %+v", rc)
	}
}
