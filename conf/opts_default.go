package conf

// defaultOpts are the [DEFAULT] options the compute service reads. Sources: nova/conf/{netconf,paths,compute,service,
// base}.py, oslo_messaging/{transport,server,rpc/client,rpc/dispatcher}.py, oslo.log and oslo.service (through the
// forky sample nova.conf), with Nova's set_defaults applied (control_exchange "nova", graceful_shutdown_timeout 180).
func defaultOpts() []*Option {
	return inGroup("DEFAULT", []*Option{
		{Name: "host", Kind: KindHostDomain, computed: func() any { return hostname() },
			SampleDefault: "<current_hostname>",
			Help: "Name of this compute host as the rest of the cloud knows it: the RPC server name (compute.<host>), " +
				"the service record and the compute node's host. Must not change while instances exist. Defaults to " +
				"the machine's host name as gethostname(3) returns it."},
		{Name: "my_ip", Kind: KindString, computed: func() any { return primaryIPv4() }, SampleDefault: "<host_ipv4>",
			Help: "IP address of this host, recorded as the compute node's host_ip and used for guest consoles. " +
				"Defaults to the source address the host would use to reach the internet, else 127.0.0.1."},
		{Name: "transport_url", Kind: KindString, Default: "rabbit://", Secret: true,
			Help: "Messaging URL: driver://[user:pass@]host:port[,[userN:passN@]hostN:portN]/virtual_host?query. " +
				"Query parameters override [oslo_messaging_rabbit] options."},
		{Name: "control_exchange", Kind: KindString, Default: "nova",
			Help: "Exchange that RPC topics are scoped to, unless the transport URL names another. Nova sets " +
				"\"nova\" in place of oslo.messaging's \"openstack\"."},
		{Name: "rpc_response_timeout", Kind: KindInt, Default: 60,
			Help: "Seconds to wait for the reply to an RPC call."},
		{Name: "executor_thread_pool_size", Kind: KindInt, Default: 64,
			Deprecated: []Name{{Name: "rpc_thread_pool_size"}},
			Help:       "How many RPC requests are handled at the same time."},
		{Name: "rpc_ping_enabled", Kind: KindBool, Default: false,
			Help: "Answer oslo_rpc_server_ping calls, so operators can check that the service consumes its queue."},
		{Name: "pybasedir", Kind: KindString, computed: func() any { return installPrefix() }, SampleDefault: "<Path>",
			Help: "Base directory of the installation; Nova uses the directory that holds its Python package. " +
				"novabsd uses the directory above the one holding its executable. Only used through state_path."},
		{Name: "state_path", Kind: KindString, Default: "$pybasedir",
			Help: "Top-level directory for the service's state, including the compute_id file that ties this host " +
				"to its compute node record. Set it explicitly (packages use /var/lib/nova)."},
		{Name: "instances_path", Kind: KindString, Default: "$state_path/instances",
			Help: "Where instance disks, firmware variables and console logs are kept."},
		{Name: "compute_driver", Kind: KindString,
			Help: "Nova's virtualization driver. novabsd records it but always uses its own engine (bhyve on " +
				"FreeBSD, QEMU on Linux)."},
		{Name: "reserved_host_memory_mb", Kind: KindInt, Default: 512, Min: ptr(0),
			Help: "Memory in MiB kept for the host, reported as reserved MEMORY_MB in Placement."},
		{Name: "reserved_host_disk_mb", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Disk in MiB kept for the host; reported rounded up to whole GiB of DISK_GB in Placement."},
		{Name: "reserved_host_cpus", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Host CPUs kept for the host, reported as reserved VCPU in Placement."},
		{Name: "cpu_allocation_ratio", Kind: KindFloat, Min: ptr(0),
			Help: "VCPU overcommit ratio reported to Placement on every update. Unset: keep what Placement has, " +
				"starting from initial_cpu_allocation_ratio."},
		{Name: "ram_allocation_ratio", Kind: KindFloat, Min: ptr(0),
			Help: "MEMORY_MB overcommit ratio reported to Placement on every update. Unset: keep what Placement " +
				"has, starting from initial_ram_allocation_ratio."},
		{Name: "disk_allocation_ratio", Kind: KindFloat, Min: ptr(0),
			Help: "DISK_GB overcommit ratio reported to Placement on every update. Unset: keep what Placement has, " +
				"starting from initial_disk_allocation_ratio."},
		{Name: "initial_cpu_allocation_ratio", Kind: KindFloat, Default: 4.0, Min: ptr(0),
			Help: "VCPU ratio used when the compute node is first created and cpu_allocation_ratio is unset."},
		{Name: "initial_ram_allocation_ratio", Kind: KindFloat, Default: 1.0, Min: ptr(0),
			Help: "MEMORY_MB ratio used when the compute node is first created and ram_allocation_ratio is unset."},
		{Name: "initial_disk_allocation_ratio", Kind: KindFloat, Default: 1.0, Min: ptr(0),
			Help: "DISK_GB ratio used when the compute node is first created and disk_allocation_ratio is unset."},
		{Name: "report_interval", Kind: KindInt, Default: 10,
			Help: "Seconds between service heartbeats; keep it below service_down_time."},
		{Name: "service_down_time", Kind: KindInt, Default: 60,
			Help: "Seconds without a heartbeat after which other services consider a service down."},
		{Name: "periodic_enable", Kind: KindBool, Default: true,
			Help: "Run the periodic tasks (resource audit, power state sync, image cache, ...)."},
		{Name: "periodic_fuzzy_delay", Kind: KindInt, Default: 60, Min: ptr(0),
			Help: "Up to this many seconds of random delay before the first periodic run, so hosts restarted " +
				"together do not all run their tasks at once; 0 disables it."},
		{Name: "update_resources_interval", Kind: KindInt, Default: 0,
			Help: "Seconds between resource audits: 0 runs them at the default periodic interval (60 s), a " +
				"negative value disables them."},
		{Name: "sync_power_state_interval", Kind: KindInt, Default: 600,
			Help: "Seconds between syncs of instance power states with the hypervisor; negative disables."},
		{Name: "heal_instance_info_cache_interval", Kind: KindInt, Default: -1,
			Help: "Seconds between refreshes of one instance's network info cache from Neutron; 0 or negative " +
				"disables."},
		{Name: "scheduler_instance_sync_interval", Kind: KindInt, Default: 120,
			Help: "Seconds between casts telling the schedulers the uuids of this host's instances, so they find " +
				"out when their view drifted; 0 runs them at the default periodic interval (60 s), a negative " +
				"value disables them. No effect while [filter_scheduler] track_instance_changes is false."},
		{Name: "shelved_offload_time", Kind: KindInt, Default: 0,
			Help: "Seconds a shelved instance stays on its host before it is offloaded (guest and disks removed, " +
				"allocations freed): 0 offloads at once as part of the shelve, a negative value never offloads."},
		{Name: "shelved_poll_interval", Kind: KindInt, Default: 3600,
			Help: "Seconds between checks for shelved instances older than shelved_offload_time, which are then " +
				"offloaded; 0 runs them at the default periodic interval (60 s), a negative value disables them."},
		{Name: "reclaim_instance_interval", Kind: KindInt, Default: 0,
			Help: "Seconds a soft-deleted instance is kept (restorable) before the periodic reclaim deletes it for " +
				"good; 0 or negative: deletes are immediate and no reclaim runs. Set it the same on the API and " +
				"the compute hosts."},
		{Name: "max_concurrent_builds", Kind: KindInt, Default: 10, Min: ptr(0),
			Help: "Instance builds run at the same time; 0 (deprecated) means unlimited."},
		{Name: "rescue_timeout", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Seconds after which a rescued instance is unrescued automatically (checked every 60 s); 0 " +
				"disables."},
		{Name: "reboot_timeout", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Seconds after which an instance stuck rebooting is hard-rebooted; 0 disables."},
		{Name: "instance_build_timeout", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Seconds after which an instance stuck building is set to ERROR; 0 disables."},
		{Name: "shutdown_timeout", Kind: KindInt, Default: 60, Min: ptr(0),
			Help: "Seconds to wait for a guest to power off cleanly before forcing it; the image property " +
				"os_shutdown_timeout overrides it."},
		{Name: "resume_guests_state_on_host_boot", Kind: KindBool, Default: false,
			Help: "Start the instances that were running when the host went down."},
		{Name: "graceful_shutdown_timeout", Kind: KindInt, Default: 180,
			Help: "Seconds a stopping service may take before it exits anyway; 0 waits forever."},
		{Name: "manager_shutdown_timeout", Kind: KindInt, Default: 160, Min: ptr(0),
			Help: "Seconds the manager keeps serving in-flight work during a graceful shutdown; keep it below " +
				"graceful_shutdown_timeout."},
		{Name: "debug", Kind: KindBool, Default: false,
			Help: "Log at DEBUG level instead of INFO."},
		{Name: "log_file", Kind: KindString, Deprecated: []Name{{Name: "logfile"}},
			Help: "File to log to; relative names are under log_dir. Unset: log to stderr."},
		{Name: "log_dir", Kind: KindString, Deprecated: []Name{{Name: "logdir"}},
			Help: "Log directory: a relative log_file is taken from here, and with log_file unset the log goes to " +
				"<program>.log in it."},
		{Name: "use_json", Kind: KindBool, Default: false,
			Help: "Write log records as JSON objects."},
		{Name: "vif_plugging_timeout", Kind: KindInt, Default: 300, Min: ptr(0),
			Help: "Seconds to wait for Neutron's network-vif-plugged events before a guest starts; what happens " +
				"then is vif_plugging_is_fatal's choice. 0 does not wait."},
		{Name: "vif_plugging_is_fatal", Kind: KindBool, Default: true,
			Help: "Fail the build when the network-vif-plugged events do not arrive within vif_plugging_timeout; " +
				"false starts the guest anyway."},
		{Name: "force_config_drive", Kind: KindBool, Default: false,
			Help: "Give every new instance a config drive, whatever the request and the image say."},
		{Name: "config_drive_format", Kind: KindString, Default: "iso9660", DeprecatedForRemoval: true,
			DeprecatedSince:  "19.0.0",
			DeprecatedReason: "A workaround for a libvirt bug resolved in libvirt 1.2.17; no longer useful.",
			Choices: []Choice{{"iso9660", "an ISO 9660 volume, widely supported"},
				{"vfat", "legacy; novabsd writes only ISO 9660 and refuses to start with it"}},
			Help: "Format of config drives. novabsd writes ISO 9660 volumes only."},
		{Name: "default_ephemeral_format", Kind: KindString,
			Choices: []Choice{{"ext2", "Linux second extended filesystem"}, {"ext3", "ext2 with a journal"},
				{"ext4", "Linux's default"}, {"xfs", "not on FreeBSD hosts"},
				{"ntfs", "only for Windows guests; not on FreeBSD hosts"}, {"vfat", "FAT32, readable by every guest"},
				{"ufs", "novabsd on FreeBSD only (newfs)"}},
			Help: "The default format an ephemeral disk is formatted with on creation. Unset: ext4 for os_type " +
				"linux, ntfs for windows, vfat otherwise. A block device mapping's guest_format wins over it, a " +
				"virt_mkfs command over both. A FreeBSD host makes ext2/3/4 with mke2fs (e2fsprogs port), vfat with " +
				"newfs_msdos and ufs with newfs; the service refuses to start with a format its host cannot make."},
		{Name: "virt_mkfs", Kind: KindMulti, Default: []string{},
			Help: "Name of the mkfs commands for ephemeral device. The format is <os_type>=<mkfs command>; the os_type " +
				"\"default\" applies to os_types without their own line. %(fs_label)s and %(target)s are replaced by " +
				"the label (ephemeral0, ...) and the disk's path, each within its word; the command runs without a " +
				"shell and must name %(target)s. Repeat the line for several os_types."},
	})
}

// inGroup sets the group of every option.
func inGroup(group string, opts []*Option) []*Option {
	for _, o := range opts {
		o.Group = group
	}
	return opts
}
