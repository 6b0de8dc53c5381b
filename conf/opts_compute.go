package conf

// computeOpts are [compute] options from nova/conf/compute.py compute_group_opts.
func computeOpts() []*Option {
	return inGroup("compute", []*Option{
		{Name: "provider_config_location", Kind: KindString, Default: "/etc/nova/provider_config/",
			Help: "Directory of *.yaml provider configuration files (custom inventories and traits)."},
		{Name: "cpu_shared_set", Kind: KindString,
			Help: "Host CPUs (e.g. 4-12,^8,15) for guests' shared VCPUs and emulator threads."},
		{Name: "cpu_dedicated_set", Kind: KindString,
			Help: "Host CPUs (e.g. 4-12,^8,15) reserved for pinned guest CPUs, reported as PCPU."},
		{Name: "max_concurrent_disk_ops", Kind: KindInt, Default: 0, Min: ptr(0),
			Help: "Disk-heavy operations (image conversion, snapshots) run at the same time; 0 means unlimited."},
		{Name: "resource_provider_association_refresh", Kind: KindInt, Default: 300, Min: ptr(0),
			Help: "Seconds between refreshes of the cached Placement aggregates, traits and sharing providers; " +
				"0 refreshes only at start."},
		{Name: "shutdown_retry_interval", Kind: KindInt, Default: 10, Min: ptr(1),
			Help: "Seconds between repeated clean shutdown requests to a guest."},
		{Name: "image_type_exclude_list", Kind: KindList, Default: []string{},
			Help: "Image formats (e.g. qcow2, iso) not to advertise as COMPUTE_IMAGE_TYPE_* traits."},
		{Name: "max_disk_devices_to_attach", Kind: KindInt, Default: -1, Min: ptr(-1),
			Help: "Most disks one instance may have; -1 means no limit. 0 is refused at start."},
	})
}

// vncOpts are [vnc] options from nova/conf/vnc.py.
func vncOpts() []*Option {
	return inGroup("vnc", []*Option{
		{Name: "enabled", Kind: KindBool, Default: true, Deprecated: []Name{{Group: "DEFAULT", Name: "vnc_enabled"}},
			Help: "Give guests a VNC console."},
		{Name: "server_listen", Kind: KindHostAddress, Default: "127.0.0.1",
			Help: "Address the guests' VNC servers listen on."},
		{Name: "server_proxyclient_address", Kind: KindHostAddress, Default: "127.0.0.1",
			Help: "Address the VNC proxy uses to reach the guests' VNC servers on this host."},
		{Name: "novncproxy_base_url", Kind: KindURI, Default: "http://127.0.0.1:6080/vnc_auto.html",
			Deprecated: []Name{{Group: "DEFAULT"}},
			Help:       "Public URL of the noVNC proxy, handed to users for browser consoles."},
	})
}

// serialConsoleOpts are [serial_console] options from nova/conf/serial_console.py. serialproxy_host and
// serialproxy_port belong to nova-serialproxy; they are declared so a shared nova.conf reads without warnings.
func serialConsoleOpts() []*Option {
	return inGroup("serial_console", []*Option{
		{Name: "enabled", Kind: KindBool, Default: false,
			Help: "Give guests a serial console reachable through nova-serialproxy, which must run (usually on " +
				"the controller)."},
		{Name: "port_range", Kind: KindString, Default: "10000:20000",
			Help: "TCP ports guests' serial consoles listen on, as START:STOP (START included, STOP not, " +
				"START < STOP <= 65536). Each guest takes one; when none is free, a new guest is not launched."},
		{Name: "base_url", Kind: KindURI, Default: "ws://127.0.0.1:6083/",
			Help: "URL end users reach nova-serialproxy at; the console token is added to it. Use wss:// when " +
				"the proxy serves TLS."},
		{Name: "proxyclient_address", Kind: KindString, Default: "127.0.0.1",
			Help: "IP address of this host that proxy clients (nova-serialproxy) connect to for a guest's " +
				"serial console; the consoles listen on it."},
		{Name: "serialproxy_host", Kind: KindString, Default: "0.0.0.0",
			Help: "Address nova-serialproxy listens on (read by the proxy, not by this service)."},
		{Name: "serialproxy_port", Kind: KindPort, Default: 6083,
			Help: "Port nova-serialproxy listens on (read by the proxy, not by this service)."},
	})
}

// imageCacheOpts are [image_cache] options from nova/conf/imagecache.py.
func imageCacheOpts() []*Option {
	return inGroup("image_cache", []*Option{
		{Name: "manager_interval", Kind: KindInt, Default: 2400, Min: ptr(-1),
			Deprecated: []Name{{Group: "DEFAULT", Name: "image_cache_manager_interval"}},
			Help: "Seconds between image cache cleanups: 0 runs them at the default periodic interval, -1 " +
				"disables them."},
		{Name: "subdirectory_name", Kind: KindString, Default: "_base",
			Deprecated: []Name{{Group: "DEFAULT", Name: "image_cache_subdirectory_name"}},
			Help:       "Directory under instances_path that caches base images; may be an absolute path."},
		{Name: "remove_unused_base_images", Kind: KindBool, Default: true, Deprecated: []Name{{Group: "DEFAULT"}},
			Help: "Delete cached base images no instance uses."},
		{Name: "remove_unused_original_minimum_age_seconds", Kind: KindInt, Default: 86400,
			Deprecated: []Name{{Group: "DEFAULT"}},
			Help:       "Seconds an unused original base image is kept."},
		{Name: "remove_unused_resized_minimum_age_seconds", Kind: KindInt, Default: 3600,
			Deprecated: []Name{{Group: "libvirt"}},
			Help:       "Seconds an unused resized base image is kept."},
		{Name: "precache_concurrency", Kind: KindInt, Default: 1, Min: ptr(1),
			Help: "Images downloaded at the same time when precaching for an aggregate."},
	})
}

// filterSchedulerOpts are the [filter_scheduler] options a compute reads (nova/conf/scheduler.py).
func filterSchedulerOpts() []*Option {
	return inGroup("filter_scheduler", []*Option{
		{Name: "track_instance_changes", Kind: KindBool, Default: true,
			Help: "Keep the schedulers' view of this host's instances current with fanout casts (after builds " +
				"and deletions, at start and every scheduler_instance_sync_interval), so filters such as " +
				"(anti-)affinity need not query the database. Set it as the schedulers have it; it cannot work " +
				"where the cell's message queue is separate from the schedulers'."},
	})
}

// pciOpts are the [pci] options from nova/conf/pci.py.
func pciOpts() []*Option {
	return inGroup("pci", []*Option{
		{Name: "device_spec", Kind: KindMulti, Default: []string{},
			Deprecated: []Name{{Name: "passthrough_whitelist"}, {Group: "DEFAULT", Name: "pci_passthrough_whitelist"}},
			Help: "Host PCI devices offered to guests, as Nova's JSON: an object (or a list of objects) with " +
				"vendor_id, product_id, address (glob \"*:0a:00.*\" or an object of domain, bus, slot and function " +
				"regular expressions), resource_class, traits and managed. Repeat the line for several. Only devices " +
				"bound to vfio-pci (Linux) or ppt (FreeBSD) are offered. devname, physical_network, remote_managed " +
				"and trusted (SR-IOV ports for Neutron), and live_migratable or one_time_use true, are refused."},
		{Name: "alias", Kind: KindMulti, Default: []string{}, Deprecated: []Name{{Group: "DEFAULT", Name: "pci_alias"}},
			Help: "A PCI alias flavors name in pci_passthrough:alias, as Nova's JSON object: name and vendor_id, " +
				"product_id, device_type, numa_policy, resource_class, traits. Aliases sharing a name are alternatives."},
		{Name: "report_in_placement", Kind: KindBool, Default: false,
			Help: "Report the PCI devices of device_spec to Placement, one child provider per device (a physical " +
				"function's VFs share one) with resource class CUSTOM_PCI_<VENDOR>_<PRODUCT> or the spec's " +
				"resource_class. Once enabled it cannot be disabled."},
	})
}

// upgradeLevelsOpts are the [upgrade_levels] options novabsd reads (nova/conf/upgrade_levels.py). novabsd reads
// "compute" as the Nova release it serves: a release name or number picks that release's service version and
// compute RPC version; "auto" or unset reads the release from the control plane's own services.
func upgradeLevelsOpts() []*Option {
	return inGroup("upgrade_levels", []*Option{
		{Name: "compute", Kind: KindString,
			Help: "Compute RPC version cap: a release name (epoxy, gazpacho, 2026.1...), a version (6.4), or " +
				"auto. novabsd serves the matching Nova release; auto or unset detects it from the conductors' " +
				"service version."},
		{Name: "scheduler", Kind: KindString,
			Help: "Scheduler RPC version cap: a version (4.2) or an old release name (kilo...). Unset sends the " +
				"latest version; a cap below 4.2 stops the instance-info casts."},
	})
}

// libvirtOpts declares the one option of Nova's libvirt driver novabsd reads: a host moving from the libvirt driver
// carries its accelerator choice in virt_type, and the QEMU engine honours it when [qemu] accel is not set.
func libvirtOpts() []*Option {
	return inGroup("libvirt", []*Option{
		{Name: "virt_type", Kind: KindString, Default: "kvm",
			Choices: []Choice{{"kvm", "hardware virtualization"}, {"lxc", "containers (no QEMU equivalent)"},
				{"qemu", "software emulation"}, {"parallels", "Virtuozzo (no QEMU equivalent)"}},
			Help: "Libvirt domain type. Read only by the QEMU engine, and only when set in a file and [qemu] accel " +
				"is not: kvm means accel = kvm, qemu means accel = tcg, other values are an error. Nova's default " +
				"(kvm) is not taken as a choice, so without either option accel stays auto."},
	})
}
