package conf

// rabbitOpts are [oslo_messaging_rabbit] as in oslo.messaging 18.3 (_drivers/impl_rabbit.py rabbit_opts and
// _drivers/amqp.py amqp_opts). heartbeat_in_pthread was removed in 18.x; it is still accepted (and ignored) because
// 2025.1 and older nova.conf files set it.
func rabbitOpts() []*Option {
	return inGroup("oslo_messaging_rabbit", []*Option{
		{Name: "amqp_durable_queues", Kind: KindBool, Default: false,
			Help: "Declare durable queues; ignored when rabbit_quorum_queue is on (quorum queues are durable)."},
		{Name: "amqp_auto_delete", Kind: KindBool, Default: false, Help: "Declare auto-delete queues."},
		{Name: "rpc_conn_pool_size", Kind: KindInt, Default: 30, Min: ptr(1), Help: "Size of the connection pool."},
		{Name: "conn_pool_min_size", Kind: KindInt, Default: 2,
			Help: "Connections the pool keeps when expiring idle ones."},
		{Name: "conn_pool_ttl", Kind: KindInt, Default: 1200, Help: "Seconds an idle pooled connection lives."},
		{Name: "ssl", Kind: KindBool, Default: false, Help: "Connect to RabbitMQ over TLS."},
		{Name: "ssl_version", Kind: KindString, Default: "",
			Help: "TLS protocol version name (e.g. TLSv1_2); empty lets the library choose."},
		{Name: "ssl_key_file", Kind: KindString, Default: "", Help: "Client key file for TLS."},
		{Name: "ssl_cert_file", Kind: KindString, Default: "", Help: "Client certificate file for TLS."},
		{Name: "ssl_ca_file", Kind: KindString, Default: "", Help: "CA certificates to verify the broker with."},
		{Name: "ssl_enforce_hostname_verification", Kind: KindBool, Default: true, DeprecatedForRemoval: true,
			DeprecatedReason: "The broker's host name is always verified now.",
			Help:             "Verify the broker's host name against its certificate."},
		{Name: "ssl_enforce_fips_mode", Kind: KindBool, Default: false, DeprecatedForRemoval: true,
			DeprecatedReason: "OpenSSL 3 removed the FIPS_mode_set API; the option has no effect.",
			Help:             "Require OpenSSL's FIPS mode."},
		{Name: "heartbeat_in_pthread", Kind: KindBool, Default: false, DeprecatedForRemoval: true,
			DeprecatedReason: "Removed from oslo.messaging 18; accepted and ignored.",
			Help:             "Run the AMQP heartbeat in a native thread (eventlet services only)."},
		{Name: "kombu_reconnect_delay", Kind: KindFloat, Default: 1.0, Min: ptr(0), Max: ptr(4.5),
			Help: "Seconds to wait before reconnecting after the broker cancels a consumer."},
		{Name: "kombu_reconnect_splay", Kind: KindFloat, Default: 0.0, Min: ptr(0),
			Help: "Random extra seconds (up to this many) added to kombu_reconnect_delay."},
		{Name: "kombu_compression", Kind: KindString,
			Help: "Compression of outgoing messages (gzip, bz2); unset sends them uncompressed."},
		{Name: "kombu_missing_consumer_retry_timeout", Kind: KindInt, Default: 60,
			Deprecated: []Name{{Name: "kombu_reconnect_timeout"}},
			Help:       "Seconds to wait for a reply queue's consumer to come back before dropping the reply."},
		{Name: "kombu_failover_strategy", Kind: KindString, Default: "round-robin",
			Choices: []Choice{{"round-robin", "try the brokers in turn"}, {"shuffle", "try them in random order"}},
			Help:    "How the next broker is chosen when the current one fails."},
		{Name: "rabbit_login_method", Kind: KindString, Default: "AMQPLAIN",
			Choices: []Choice{{"PLAIN", ""}, {"AMQPLAIN", ""}, {"EXTERNAL", ""}, {"RABBIT-CR-DEMO", ""}},
			Help:    "SASL mechanism used to log in to RabbitMQ."},
		{Name: "rabbit_retry_interval", Kind: KindInt, Default: 1, Min: ptr(1),
			Help: "Seconds before the first reconnection attempt."},
		{Name: "rabbit_retry_backoff", Kind: KindInt, Default: 2, Min: ptr(0),
			Help: "Seconds added to the wait after each failed reconnection attempt."},
		{Name: "rabbit_interval_max", Kind: KindInt, Default: 30, Min: ptr(1),
			Help: "Longest wait in seconds between reconnection attempts."},
		{Name: "rabbit_ha_queues", Kind: KindBool, Default: false,
			Help: "Declare classic mirrored queues (x-ha-policy: all; RabbitMQ before 3.0)."},
		{Name: "rabbit_quorum_queue", Kind: KindBool, Default: false,
			Help: "Declare quorum queues (x-queue-type: quorum), which are durable."},
		{Name: "rabbit_transient_quorum_queue", Kind: KindBool, Default: false,
			Help: "Also use quorum queues for reply and fanout queues."},
		{Name: "rabbit_quorum_delivery_limit", Kind: KindInt, Default: 0,
			Help: "Redeliveries before a quorum queue drops or dead-letters a message; 0 means no limit."},
		{Name: "rabbit_quorum_max_memory_length", Kind: KindInt, Default: 0,
			Help: "Messages a quorum queue keeps in memory; 0 means no limit."},
		{Name: "rabbit_quorum_max_memory_bytes", Kind: KindInt, Default: 0,
			Help: "Bytes a quorum queue keeps in memory; 0 means no limit."},
		{Name: "rabbit_transient_queues_ttl", Kind: KindInt, Default: 1800, Min: ptr(0),
			Help: "Seconds an unused reply or fanout queue lives (x-expires); 0 disables the expiry."},
		{Name: "rabbit_qos_prefetch_count", Kind: KindInt, Default: 0,
			Help: "Unacknowledged messages the broker may send ahead; 0 means no limit."},
		{Name: "heartbeat_timeout_threshold", Kind: KindInt, Default: 60,
			Help: "Seconds without broker heartbeats after which the connection is considered dead; 0 disables " +
				"heartbeats."},
		{Name: "heartbeat_rate", Kind: KindInt, Default: 3,
			Help: "How many times per heartbeat_timeout_threshold the heartbeat is checked."},
		{Name: "direct_mandatory_flag", Kind: KindBool, Default: true, DeprecatedForRemoval: true,
			DeprecatedReason: "The mandatory flag can no longer be turned off.",
			Help:             "Publish direct replies with the mandatory flag, so a missing reply queue is noticed."},
		{Name: "enable_cancel_on_failover", Kind: KindBool, Default: false,
			Help: "Ask the broker to cancel consumers when their mirrored queue fails over (x-cancel-on-ha-failover)."},
		{Name: "use_queue_manager", Kind: KindBool, Default: false,
			Help: "Give reply and fanout queues stable names built from hostname and processname."},
		{Name: "hostname", Kind: KindString, computed: func() any { return hostname() },
			SampleDefault: "node1.example.com", Help: "Host name used in queue names by the queue manager."},
		{Name: "processname", Kind: KindString, computed: func() any { return processName() },
			SampleDefault: "nova-compute", Help: "Process name used in queue names by the queue manager."},
		{Name: "rabbit_stream_fanout", Kind: KindBool, Default: false,
			Help: "Use one stream queue per fanout exchange instead of one queue per consumer (needs quorum queues)."},
	})
}

// notificationOpts are [oslo_messaging_notifications] (oslo_messaging/notify/notifier.py).
func notificationOpts() []*Option {
	return inGroup("oslo_messaging_notifications", []*Option{
		{Name: "driver", Kind: KindMulti, Default: []string{},
			Help: "Notification driver (messaging, messagingv2, log, noop, ...); repeat the line for several."},
		{Name: "transport_url", Kind: KindString, Secret: true,
			Help: "Messaging URL for notifications; unset uses [DEFAULT] transport_url."},
		{Name: "topics", Kind: KindList, Default: []string{"notifications"}, Help: "Topics notifications go to."},
		{Name: "retry", Kind: KindInt, Default: -1,
			Help: "Retries of a notification that cannot be sent: -1 retries forever, 0 never."},
	})
}

// concurrencyOpts are [oslo_concurrency]; lock_path defaults to $OSLO_LOCK_PATH as in oslo.concurrency.
func concurrencyOpts() []*Option {
	return inGroup("oslo_concurrency", []*Option{
		{Name: "lock_path", Kind: KindString, computed: func() any { return envOrNil("OSLO_LOCK_PATH") },
			SampleDefault: "<None>",
			Help: "Directory for lock files shared between processes; only the service's user should be able to " +
				"write to it. Defaults to the environment variable OSLO_LOCK_PATH."},
		{Name: "disable_process_locking", Kind: KindBool, Default: false,
			Help: "Disable locks between processes."},
	})
}
