package conf

// Config is the effective configuration: one struct per group, each field tagged with the option it holds. Time
// intervals are int seconds as Nova uses them (several use 0 or a negative number to mean "default" or "off").
// Numbers without a default are pointers (nil = unset); strings without a default are "".
type Config struct {
	Default           DefaultGroup           `group:"DEFAULT"`
	Placement         PlacementGroup         `group:"placement"`
	Glance            GlanceGroup            `group:"glance"`
	ServiceUser       ServiceUserGroup       `group:"service_user"`
	KeystoneAuthtoken KeystoneAuthtokenGroup `group:"keystone_authtoken"`
	Rabbit            RabbitGroup            `group:"oslo_messaging_rabbit"`
	Notifications     NotificationsGroup     `group:"oslo_messaging_notifications"`
	Concurrency       ConcurrencyGroup       `group:"oslo_concurrency"`
	Compute           ComputeGroup           `group:"compute"`
	VNC               VNCGroup               `group:"vnc"`
	SerialConsole     SerialConsoleGroup     `group:"serial_console"`
	ImageCache        ImageCacheGroup        `group:"image_cache"`
	FilterScheduler   FilterSchedulerGroup   `group:"filter_scheduler"`
	PCI               PCIGroup               `group:"pci"`
	UpgradeLevels     UpgradeLevelsGroup     `group:"upgrade_levels"`
	Libvirt           LibvirtGroup           `group:"libvirt"`
	Bhyve             BhyveGroup             `group:"bhyve"`
	Qemu              QemuGroup              `group:"qemu"`
	NovaBSD           NovaBSDGroup           `group:"novabsd"`
	Neutron           NeutronGroup           `group:"neutron"`
	OSVIFOVS          OSVIFOVSGroup          `group:"os_vif_ovs"`

	// Files lists the config files read, in the order read (later ones win).
	Files []string
	// Unknown lists every assignment to a group or option this package does not declare (a nova.conf carries the
	// options of other services); callers log them at debug.
	Unknown []Location
	// Deprecated lists every value found under a deprecated name, with the name to use instead; callers log them as
	// warnings.
	Deprecated []DeprecatedUse

	values map[Name]*resolved
}

// Location is where an assignment was written.
type Location struct {
	File  string
	Line  int
	Group string // normalized: "DEFAULT" or lower case
	Key   string
}

// DeprecatedUse is a value read under a deprecated group or name.
type DeprecatedUse struct {
	Location
	Use Name // the current group and name
}

// DefaultGroup holds the [DEFAULT] options read by the compute service.
type DefaultGroup struct {
	Host                          string   `opt:"host"`
	MyIP                          string   `opt:"my_ip"`
	TransportURL                  string   `opt:"transport_url"`
	ControlExchange               string   `opt:"control_exchange"`
	RPCResponseTimeout            int      `opt:"rpc_response_timeout"`
	ExecutorThreadPoolSize        int      `opt:"executor_thread_pool_size"`
	RPCPingEnabled                bool     `opt:"rpc_ping_enabled"`
	PyBaseDir                     string   `opt:"pybasedir"`
	StatePath                     string   `opt:"state_path"`
	InstancesPath                 string   `opt:"instances_path"`
	ComputeDriver                 string   `opt:"compute_driver"`
	ReservedHostMemoryMB          int      `opt:"reserved_host_memory_mb"`
	ReservedHostDiskMB            int      `opt:"reserved_host_disk_mb"`
	ReservedHostCPUs              int      `opt:"reserved_host_cpus"`
	CPUAllocationRatio            *float64 `opt:"cpu_allocation_ratio"`
	RAMAllocationRatio            *float64 `opt:"ram_allocation_ratio"`
	DiskAllocationRatio           *float64 `opt:"disk_allocation_ratio"`
	InitialCPUAllocationRatio     float64  `opt:"initial_cpu_allocation_ratio"`
	InitialRAMAllocationRatio     float64  `opt:"initial_ram_allocation_ratio"`
	InitialDiskAllocationRatio    float64  `opt:"initial_disk_allocation_ratio"`
	ReportInterval                int      `opt:"report_interval"`
	ServiceDownTime               int      `opt:"service_down_time"`
	PeriodicEnable                bool     `opt:"periodic_enable"`
	PeriodicFuzzyDelay            int      `opt:"periodic_fuzzy_delay"`
	UpdateResourcesInterval       int      `opt:"update_resources_interval"`
	SyncPowerStateInterval        int      `opt:"sync_power_state_interval"`
	HealInstanceInfoCacheInterval int      `opt:"heal_instance_info_cache_interval"`
	SchedulerInstanceSyncInterval int      `opt:"scheduler_instance_sync_interval"`
	ShelvedOffloadTime            int      `opt:"shelved_offload_time"`
	ShelvedPollInterval           int      `opt:"shelved_poll_interval"`
	RescueTimeout                 int      `opt:"rescue_timeout"`
	ReclaimInstanceInterval       int      `opt:"reclaim_instance_interval"`
	MaxConcurrentBuilds           int      `opt:"max_concurrent_builds"`
	RebootTimeout                 int      `opt:"reboot_timeout"`
	InstanceBuildTimeout          int      `opt:"instance_build_timeout"`
	ShutdownTimeout               int      `opt:"shutdown_timeout"`
	ResumeGuestsStateOnHostBoot   bool     `opt:"resume_guests_state_on_host_boot"`
	GracefulShutdownTimeout       int      `opt:"graceful_shutdown_timeout"`
	ManagerShutdownTimeout        int      `opt:"manager_shutdown_timeout"`
	Debug                         bool     `opt:"debug"`
	LogFile                       string   `opt:"log_file"`
	LogDir                        string   `opt:"log_dir"`
	UseJSON                       bool     `opt:"use_json"`
	VIFPluggingTimeout            int      `opt:"vif_plugging_timeout"`
	VIFPluggingIsFatal            bool     `opt:"vif_plugging_is_fatal"`
	ForceConfigDrive              bool     `opt:"force_config_drive"`
	ConfigDriveFormat             string   `opt:"config_drive_format"`
	DefaultEphemeralFormat        string   `opt:"default_ephemeral_format"`
	VirtMkfs                      []string `opt:"virt_mkfs"`
}

// Session holds keystoneauth1's session options (TLS and timeouts).
type Session struct {
	CAFile        string `opt:"cafile"`
	CertFile      string `opt:"certfile"`
	KeyFile       string `opt:"keyfile"`
	Insecure      bool   `opt:"insecure"`
	Timeout       *int   `opt:"timeout"`
	CollectTiming bool   `opt:"collect_timing"`
	SplitLoggers  bool   `opt:"split_loggers"`
}

// Auth holds keystoneauth1's auth options for the "password" plugin family.
type Auth struct {
	AuthType          string `opt:"auth_type"`
	AuthSection       string `opt:"auth_section"`
	AuthURL           string `opt:"auth_url"`
	SystemScope       string `opt:"system_scope"`
	DomainID          string `opt:"domain_id"`
	DomainName        string `opt:"domain_name"`
	ProjectID         string `opt:"project_id"`
	ProjectName       string `opt:"project_name"`
	ProjectDomainID   string `opt:"project_domain_id"`
	ProjectDomainName string `opt:"project_domain_name"`
	TrustID           string `opt:"trust_id"`
	DefaultDomainID   string `opt:"default_domain_id"`
	DefaultDomainName string `opt:"default_domain_name"`
	UserID            string `opt:"user_id"`
	Username          string `opt:"username"`
	UserDomainID      string `opt:"user_domain_id"`
	UserDomainName    string `opt:"user_domain_name"`
	Password          string `opt:"password"`
	TenantID          string `opt:"tenant_id"`
	TenantName        string `opt:"tenant_name"`
}

// Adapter holds keystoneauth1's adapter options (endpoint discovery and retries).
type Adapter struct {
	ServiceType          string   `opt:"service_type"`
	ServiceName          string   `opt:"service_name"`
	ValidInterfaces      []string `opt:"valid_interfaces"`
	RegionName           string   `opt:"region_name"`
	EndpointOverride     string   `opt:"endpoint_override"`
	ConnectRetries       *int     `opt:"connect_retries"`
	ConnectRetryDelay    *float64 `opt:"connect_retry_delay"`
	StatusCodeRetries    *int     `opt:"status_code_retries"`
	StatusCodeRetryDelay *float64 `opt:"status_code_retry_delay"`
	RetriableStatusCodes []int    `opt:"retriable_status_codes"`
}

// PlacementGroup is [placement]: session, auth and adapter options, as Nova registers them.
type PlacementGroup struct {
	Session
	Auth
	Adapter
}

// GlanceGroup is [glance]: session and adapter options (Glance calls carry the user's token) plus Nova's own.
type GlanceGroup struct {
	Session
	Adapter
	NumRetries                   int      `opt:"num_retries"`
	VerifyGlanceSignatures       bool     `opt:"verify_glance_signatures"`
	EnableCertificateValidation  bool     `opt:"enable_certificate_validation"`
	DefaultTrustedCertificateIDs []string `opt:"default_trusted_certificate_ids"`
	EnableRBDDownload            bool     `opt:"enable_rbd_download"`
	RBDUser                      string   `opt:"rbd_user"`
	RBDConnectTimeout            int      `opt:"rbd_connect_timeout"`
	RBDPool                      string   `opt:"rbd_pool"`
	RBDCephConf                  string   `opt:"rbd_ceph_conf"`
	Debug                        bool     `opt:"debug"`
}

// ServiceUserGroup is [service_user]: the service token sent along with the user's token.
type ServiceUserGroup struct {
	Session
	Auth
	SendServiceUserToken bool `opt:"send_service_user_token"`
}

// KeystoneAuthtokenGroup is [keystone_authtoken] (keystonemiddleware). nova-compute does not validate tokens, but
// deployments copy this group into every nova.conf.
type KeystoneAuthtokenGroup struct {
	Auth
	WWWAuthenticateURI        string   `opt:"www_authenticate_uri"`
	Interface                 string   `opt:"interface"`
	RegionName                string   `opt:"region_name"`
	MemcachedServers          []string `opt:"memcached_servers"`
	ServiceTokenRoles         []string `opt:"service_token_roles"`
	ServiceTokenRolesRequired bool     `opt:"service_token_roles_required"`
	ServiceType               string   `opt:"service_type"`
	CAFile                    string   `opt:"cafile"`
	CertFile                  string   `opt:"certfile"`
	KeyFile                   string   `opt:"keyfile"`
	Insecure                  bool     `opt:"insecure"`
}

// RabbitGroup is [oslo_messaging_rabbit] (oslo.messaging 18.3).
type RabbitGroup struct {
	RPCConnPoolSize                  int     `opt:"rpc_conn_pool_size"`
	ConnPoolMinSize                  int     `opt:"conn_pool_min_size"`
	ConnPoolTTL                      int     `opt:"conn_pool_ttl"`
	SSL                              bool    `opt:"ssl"`
	SSLVersion                       string  `opt:"ssl_version"`
	SSLKeyFile                       string  `opt:"ssl_key_file"`
	SSLCertFile                      string  `opt:"ssl_cert_file"`
	SSLCAFile                        string  `opt:"ssl_ca_file"`
	SSLEnforceHostnameVerification   bool    `opt:"ssl_enforce_hostname_verification"`
	SSLEnforceFIPSMode               bool    `opt:"ssl_enforce_fips_mode"`
	HeartbeatInPthread               bool    `opt:"heartbeat_in_pthread"`
	KombuReconnectDelay              float64 `opt:"kombu_reconnect_delay"`
	KombuReconnectSplay              float64 `opt:"kombu_reconnect_splay"`
	KombuCompression                 string  `opt:"kombu_compression"`
	KombuMissingConsumerRetryTimeout int     `opt:"kombu_missing_consumer_retry_timeout"`
	KombuFailoverStrategy            string  `opt:"kombu_failover_strategy"`
	RabbitLoginMethod                string  `opt:"rabbit_login_method"`
	RabbitRetryInterval              int     `opt:"rabbit_retry_interval"`
	RabbitRetryBackoff               int     `opt:"rabbit_retry_backoff"`
	RabbitIntervalMax                int     `opt:"rabbit_interval_max"`
	RabbitHAQueues                   bool    `opt:"rabbit_ha_queues"`
	RabbitQuorumQueue                bool    `opt:"rabbit_quorum_queue"`
	RabbitTransientQuorumQueue       bool    `opt:"rabbit_transient_quorum_queue"`
	RabbitQuorumDeliveryLimit        int     `opt:"rabbit_quorum_delivery_limit"`
	RabbitQuorumMaxMemoryLength      int     `opt:"rabbit_quorum_max_memory_length"`
	RabbitQuorumMaxMemoryBytes       int     `opt:"rabbit_quorum_max_memory_bytes"`
	RabbitTransientQueuesTTL         int     `opt:"rabbit_transient_queues_ttl"`
	RabbitQOSPrefetchCount           int     `opt:"rabbit_qos_prefetch_count"`
	HeartbeatTimeoutThreshold        int     `opt:"heartbeat_timeout_threshold"`
	HeartbeatRate                    int     `opt:"heartbeat_rate"`
	DirectMandatoryFlag              bool    `opt:"direct_mandatory_flag"`
	EnableCancelOnFailover           bool    `opt:"enable_cancel_on_failover"`
	UseQueueManager                  bool    `opt:"use_queue_manager"`
	Hostname                         string  `opt:"hostname"`
	Processname                      string  `opt:"processname"`
	RabbitStreamFanout               bool    `opt:"rabbit_stream_fanout"`
	AMQPDurableQueues                bool    `opt:"amqp_durable_queues"`
	AMQPAutoDelete                   bool    `opt:"amqp_auto_delete"`
}

// NotificationsGroup is [oslo_messaging_notifications].
type NotificationsGroup struct {
	Driver       []string `opt:"driver"`
	TransportURL string   `opt:"transport_url"`
	Topics       []string `opt:"topics"`
	Retry        int      `opt:"retry"`
}

// ConcurrencyGroup is [oslo_concurrency].
type ConcurrencyGroup struct {
	LockPath              string `opt:"lock_path"`
	DisableProcessLocking bool   `opt:"disable_process_locking"`
}

// ComputeGroup is [compute].
type ComputeGroup struct {
	ProviderConfigLocation             string   `opt:"provider_config_location"`
	CPUSharedSet                       string   `opt:"cpu_shared_set"`
	CPUDedicatedSet                    string   `opt:"cpu_dedicated_set"`
	MaxConcurrentDiskOps               int      `opt:"max_concurrent_disk_ops"`
	ResourceProviderAssociationRefresh int      `opt:"resource_provider_association_refresh"`
	ShutdownRetryInterval              int      `opt:"shutdown_retry_interval"`
	ImageTypeExcludeList               []string `opt:"image_type_exclude_list"`
	MaxDiskDevicesToAttach             int      `opt:"max_disk_devices_to_attach"`
}

// VNCGroup is [vnc].
type VNCGroup struct {
	Enabled                  bool   `opt:"enabled"`
	ServerListen             string `opt:"server_listen"`
	ServerProxyclientAddress string `opt:"server_proxyclient_address"`
	NoVNCProxyBaseURL        string `opt:"novncproxy_base_url"`
}

// SerialConsoleGroup is [serial_console].
type SerialConsoleGroup struct {
	Enabled            bool   `opt:"enabled"`
	PortRange          string `opt:"port_range"`
	BaseURL            string `opt:"base_url"`
	ProxyclientAddress string `opt:"proxyclient_address"`
	SerialproxyHost    string `opt:"serialproxy_host"`
	SerialproxyPort    int    `opt:"serialproxy_port"`
}

// ImageCacheGroup is [image_cache].
type ImageCacheGroup struct {
	ManagerInterval                       int    `opt:"manager_interval"`
	SubdirectoryName                      string `opt:"subdirectory_name"`
	RemoveUnusedBaseImages                bool   `opt:"remove_unused_base_images"`
	RemoveUnusedOriginalMinimumAgeSeconds int    `opt:"remove_unused_original_minimum_age_seconds"`
	RemoveUnusedResizedMinimumAgeSeconds  int    `opt:"remove_unused_resized_minimum_age_seconds"`
	PrecacheConcurrency                   int    `opt:"precache_concurrency"`
}

// FilterSchedulerGroup is [filter_scheduler]: of the scheduler's options, the one that tells computes whether
// to keep the schedulers informed of their instances.
type FilterSchedulerGroup struct {
	TrackInstanceChanges bool `opt:"track_instance_changes"`
}

// PCIGroup is [pci]: the host PCI devices offered to guests and the aliases flavors ask for them by.
type PCIGroup struct {
	DeviceSpec        []string `opt:"device_spec"`
	Alias             []string `opt:"alias"`
	ReportInPlacement bool     `opt:"report_in_placement"`
}

// UpgradeLevelsGroup is [upgrade_levels]: the RPC version pins of a rolling upgrade.
type UpgradeLevelsGroup struct {
	Compute   string `opt:"compute"`
	Scheduler string `opt:"scheduler"`
}

// LibvirtGroup is [libvirt]: of Nova's libvirt driver options, the accelerator choice a drop-in host carries.
type LibvirtGroup struct {
	VirtType string `opt:"virt_type"`
}

// BhyveGroup is [bhyve], novabsd's own group for the FreeBSD engine.
type BhyveGroup struct {
	BhyvePath        string `opt:"bhyve_path"`
	BhyvectlPath     string `opt:"bhyvectl_path"`
	BhyveloadPath    string `opt:"bhyveload_path"`
	VMMDir           string `opt:"vmm_dir"`
	UEFIFirmware     string `opt:"uefi_firmware"`
	UEFIVarsTemplate string `opt:"uefi_vars_template"`
	StorageBackend   string `opt:"storage_backend"`
	ZFSPool          string `opt:"zfs_pool"`
	ZFSDatasetPrefix string `opt:"zfs_dataset_prefix"`
	NmdmEnabled      bool   `opt:"nmdm_enabled"`
	TapNamePrefix    string `opt:"tap_name_prefix"`
	VNCListen        string `opt:"vnc_listen"`
	VNCPortMin       int    `opt:"vnc_port_min"`
	VNCPortMax       int    `opt:"vnc_port_max"`
	VNCWait          bool   `opt:"vnc_wait"`
}

// QemuGroup is [qemu], novabsd's own group for the QEMU engine (Linux hosts and end-to-end tests).
type QemuGroup struct {
	QemuPath         string `opt:"qemu_path"`
	QemuImgPath      string `opt:"qemu_img_path"`
	Accel            string `opt:"accel"`
	MachineType      string `opt:"machine_type"`
	User             string `opt:"user"`
	Sandbox          bool   `opt:"sandbox"`
	UEFIFirmware     string `opt:"uefi_firmware"`
	UEFIVarsTemplate string `opt:"uefi_vars_template"`
	StorageBackend   string `opt:"storage_backend"`
	ZFSPool          string `opt:"zfs_pool"`
	ZFSDatasetPrefix string `opt:"zfs_dataset_prefix"`
}

// NovaBSDGroup is [novabsd], novabsd's own group for host options both engines share: the host devices offered to
// guests.
type NovaBSDGroup struct {
	USBDeviceSpec []string `opt:"usb_device_spec"`
	SysfsRoot     string   `opt:"sysfs_root"`
}
