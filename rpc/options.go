package rpc

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Options configures a Transport. Start from DefaultOptions, whose values equal oslo.messaging 18.3's defaults, and
// override what the configuration sets: zero values are taken literally (for example TransientQueuesTTL 0 disables
// x-expires, as in oslo.messaging).
type Options struct {
	// TransportURL is oslo's transport_url, e.g. rabbit://user:pass@h1:5672,user:pass@h2:5672/vhost?ssl=1.
	TransportURL string
	// ControlExchange is the topic exchange RPC targets live in ([DEFAULT] control_exchange; Nova sets "nova").
	ControlExchange string
	// RPCResponseTimeout is the default call timeout ([DEFAULT] rpc_response_timeout).
	RPCResponseTimeout time.Duration
	// ExecutorPoolSize bounds concurrently running handlers per Server ([DEFAULT] executor_thread_pool_size).
	ExecutorPoolSize int
	// PingEnabled adds the oslo_rpc_server_ping endpoint to every Server ([DEFAULT] rpc_ping_enabled).
	PingEnabled bool
	// Rabbit holds the [oslo_messaging_rabbit] options; query parameters of TransportURL override them.
	Rabbit RabbitOptions
	// Logger receives one line per dropped or failed message and per reconnect; nil means slog.Default().
	Logger *slog.Logger
	// DuplicateWindow is how many recent _unique_id values each Server remembers to drop redelivered messages.
	// oslo.messaging keeps 16; a larger window also absorbs the republished casts of a broker failover.
	DuplicateWindow int
}

// RabbitOptions mirrors the [oslo_messaging_rabbit] options that change behaviour or declarations.
type RabbitOptions struct {
	HeartbeatTimeoutThreshold time.Duration // heartbeat_timeout_threshold (60 s)
	HeartbeatRate             int           // heartbeat_rate (3); amqp091 paces heartbeats itself, kept for config parity
	RetryInterval             time.Duration // rabbit_retry_interval (1 s): first reconnect delay
	RetryBackoff              time.Duration // rabbit_retry_backoff (2 s): added per failed attempt
	IntervalMax               time.Duration // rabbit_interval_max (30 s): reconnect delay cap
	ReconnectDelay            time.Duration // kombu_reconnect_delay (1 s): pause before reconnecting after a loss
	LoginMethod               string        // rabbit_login_method: AMQPLAIN, PLAIN or EXTERNAL

	DurableQueues          bool // amqp_durable_queues
	AutoDelete             bool // amqp_auto_delete
	HAQueues               bool // rabbit_ha_queues (x-ha-policy: all)
	QuorumQueue            bool // rabbit_quorum_queue (topic queues)
	TransientQuorumQueue   bool // rabbit_transient_quorum_queue (reply and fanout queues)
	StreamFanout           bool // rabbit_stream_fanout
	QuorumDeliveryLimit    int  // rabbit_quorum_delivery_limit
	QuorumMaxMemoryLength  int  // rabbit_quorum_max_memory_length
	QuorumMaxMemoryBytes   int  // rabbit_quorum_max_memory_bytes
	EnableCancelOnFailover bool // enable_cancel_on_failover

	UseQueueManager         bool   // use_queue_manager
	QueueManagerHostname    string // hostname
	QueueManagerProcessname string // processname

	TransientQueuesTTL          time.Duration // rabbit_transient_queues_ttl (1800 s); 0 disables x-expires
	QoSPrefetchCount            int           // rabbit_qos_prefetch_count (0 = no basic.qos)
	DirectMandatoryFlag         bool          // direct_mandatory_flag (true): replies are published mandatory
	MissingConsumerRetryTimeout time.Duration // kombu_missing_consumer_retry_timeout (60 s)

	SSL         bool   // ssl
	SSLCAFile   string // ssl_ca_file
	SSLCertFile string // ssl_cert_file
	SSLKeyFile  string // ssl_key_file
	SSLVersion  string // ssl_version ("" = library default)
}

// DefaultOptions returns oslo.messaging 18.3's defaults.
func DefaultOptions() Options {
	host, _ := os.Hostname()
	return Options{
		TransportURL:       "rabbit://",
		ControlExchange:    "openstack",
		RPCResponseTimeout: 60 * time.Second,
		ExecutorPoolSize:   64,
		DuplicateWindow:    16,
		Rabbit: RabbitOptions{
			HeartbeatTimeoutThreshold:   60 * time.Second,
			HeartbeatRate:               3,
			RetryInterval:               time.Second,
			RetryBackoff:                2 * time.Second,
			IntervalMax:                 30 * time.Second,
			ReconnectDelay:              time.Second,
			LoginMethod:                 "AMQPLAIN",
			QueueManagerHostname:        host,
			QueueManagerProcessname:     filepath.Base(os.Args[0]),
			TransientQueuesTTL:          1800 * time.Second,
			DirectMandatoryFlag:         true,
			MissingConsumerRetryTimeout: 60 * time.Second,
		},
	}
}

// ConfigError reports an option combination oslo.messaging refuses.
type ConfigError struct {
	Option string
	Reason string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("rpc: option %s: %s", e.Option, e.Reason) }

func (o *Options) validate() error {
	r := &o.Rabbit
	if r.QuorumQueue && r.HAQueues {
		return &ConfigError{"rabbit_quorum_queue", "cannot be combined with rabbit_ha_queues"}
	}
	if r.StreamFanout && !r.TransientQuorumQueue {
		return &ConfigError{"rabbit_stream_fanout", "requires rabbit_transient_quorum_queue"}
	}
	if r.StreamFanout && r.QoSPrefetchCount <= 0 {
		return &ConfigError{"rabbit_stream_fanout", "requires rabbit_qos_prefetch_count > 0"}
	}
	if o.ExecutorPoolSize <= 0 {
		return &ConfigError{"executor_thread_pool_size", "must be positive"}
	}
	if o.ControlExchange == "" {
		return &ConfigError{"control_exchange", "must not be empty"}
	}
	switch r.LoginMethod {
	case "AMQPLAIN", "PLAIN", "EXTERNAL":
	default:
		return &ConfigError{"rabbit_login_method", fmt.Sprintf("%q is not supported (AMQPLAIN, PLAIN, EXTERNAL)", r.LoginMethod)}
	}
	return nil
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// durable is oslo's Connection.durable: quorum queues are always durable.
func (r *RabbitOptions) durable() bool { return r.DurableQueues || r.QuorumQueue }
