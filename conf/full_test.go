package conf

import (
	"reflect"
	"testing"
)

func intp(n int) *int           { return &n }
func floatp(f float64) *float64 { return &f }

// TestFullConfig loads testdata/full.conf, which sets every declared option, and checks the typed result group by
// group against values written out by hand.
func TestFullConfig(t *testing.T) {
	pinMachine(t)
	cfg, err := Load(Sources{ConfigFiles: []string{"testdata/full.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range registry() {
		if cfg.Source(o.Group, o.Name) == "default" {
			t.Errorf("testdata/full.conf does not set [%s] %s", o.Group, o.Name)
		}
	}
	if len(cfg.Unknown) != 0 {
		t.Errorf("unknown options: %+v", cfg.Unknown)
	}
	want := map[string][2]any{
		"Default": {cfg.Default, DefaultGroup{
			Host: "compute-1.example.org", MyIP: "10.0.0.5",
			TransportURL:    "rabbit://nova:s3cret@10.0.0.2:5672,nova:s3cret@10.0.0.3:5672/nova",
			ControlExchange: "openstack", RPCResponseTimeout: 90, ExecutorThreadPoolSize: 32, RPCPingEnabled: true,
			PyBaseDir: "/opt/nova", StatePath: "/var/db/nova", InstancesPath: "/var/db/nova/guests",
			ComputeDriver: "libvirt.LibvirtDriver", ReservedHostMemoryMB: 2048, ReservedHostDiskMB: 10240,
			ReservedHostCPUs: 2, CPUAllocationRatio: floatp(8), RAMAllocationRatio: floatp(1.5),
			DiskAllocationRatio: floatp(2), InitialCPUAllocationRatio: 16, InitialRAMAllocationRatio: 1.25,
			InitialDiskAllocationRatio: 1.1, ReportInterval: 5, ServiceDownTime: 30, PeriodicEnable: false,
			PeriodicFuzzyDelay: 0, UpdateResourcesInterval: -1, SyncPowerStateInterval: -1,
			HealInstanceInfoCacheInterval: 120, SchedulerInstanceSyncInterval: 300, ShelvedOffloadTime: 7200,
			ShelvedPollInterval: 600, RescueTimeout: 1800, ReclaimInstanceInterval: 86400, MaxConcurrentBuilds: 4, RebootTimeout: 300,
			InstanceBuildTimeout: 1800, ShutdownTimeout: 30, ResumeGuestsStateOnHostBoot: true,
			GracefulShutdownTimeout: 0, ManagerShutdownTimeout: 100, Debug: true, LogFile: "nova-compute.log",
			LogDir: "/var/log/nova", UseJSON: true,
			VIFPluggingTimeout: 30, VIFPluggingIsFatal: false, ForceConfigDrive: true, ConfigDriveFormat: "iso9660",
			DefaultEphemeralFormat: "xfs", VirtMkfs: []string{"windows=mkfs.ntfs --fast --label %(fs_label)s %(target)s",
				"default=mkfs.ext4 -L %(fs_label)s -F %(target)s"},
		}},
		"Placement": {cfg.Placement, PlacementGroup{
			Session: Session{CAFile: "/etc/ssl/ca.pem", CertFile: "/etc/ssl/client.pem", KeyFile: "/etc/ssl/client.key",
				Timeout: intp(30), CollectTiming: true, SplitLoggers: true},
			Auth: Auth{AuthType: "password", AuthSection: "keystone_authtoken",
				AuthURL: "http://keystone.example.org:5000/v3", SystemScope: "all", DomainID: "d1",
				DomainName: "Domain1", ProjectID: "p1", ProjectName: "service", ProjectDomainID: "default",
				ProjectDomainName: "Default", TrustID: "t1", DefaultDomainID: "dd", DefaultDomainName: "DefaultDomain",
				UserID: "u1", Username: "placement", UserDomainID: "ud", UserDomainName: "Default",
				Password: "pass word$1", TenantID: "ten1", TenantName: "tenant"},
			Adapter: Adapter{ServiceType: "placement", ServiceName: "placement-api", ValidInterfaces: []string{"internal"},
				RegionName: "RegionTwo", EndpointOverride: "http://placement.example.org:8778", ConnectRetries: intp(3),
				ConnectRetryDelay: floatp(0.5), StatusCodeRetries: intp(2), StatusCodeRetryDelay: floatp(1),
				RetriableStatusCodes: []int{502, 503, 504}},
		}},
		"Glance": {cfg.Glance, GlanceGroup{
			Session: Session{CAFile: "/etc/ssl/glance-ca.pem", CertFile: "/etc/ssl/glance.pem",
				KeyFile: "/etc/ssl/glance.key", Insecure: true, Timeout: intp(60)},
			Adapter: Adapter{ServiceType: "image", ServiceName: "glance", ValidInterfaces: []string{"public", "internal"},
				RegionName: "RegionTwo", EndpointOverride: "http://glance.example.org:9292", ConnectRetries: intp(1),
				ConnectRetryDelay: floatp(2.5), StatusCodeRetries: intp(4), StatusCodeRetryDelay: floatp(3),
				RetriableStatusCodes: []int{503}},
			NumRetries: 5, VerifyGlanceSignatures: true, EnableCertificateValidation: true,
			DefaultTrustedCertificateIDs: []string{"cert-a", "cert-b"}, EnableRBDDownload: true, RBDUser: "glance",
			RBDConnectTimeout: 7, RBDPool: "images", RBDCephConf: "/etc/ceph/ceph.conf", Debug: true,
		}},
		"ServiceUser": {cfg.ServiceUser, ServiceUserGroup{
			Session: Session{CAFile: "/etc/ssl/su-ca.pem", CertFile: "/etc/ssl/su.pem", KeyFile: "/etc/ssl/su.key",
				Timeout: intp(10), CollectTiming: true},
			Auth: Auth{AuthType: "v3password", AuthSection: "su_auth", AuthURL: "http://keystone.example.org:5000/v3",
				SystemScope: "all", DomainID: "sd", DomainName: "SD", ProjectID: "sp", ProjectName: "service",
				ProjectDomainID: "spd", ProjectDomainName: "Default", TrustID: "st", DefaultDomainID: "sdd",
				DefaultDomainName: "SDD", UserID: "su", Username: "nova", UserDomainID: "sud",
				UserDomainName: "Default", Password: "nova-secret", TenantID: "sten", TenantName: "stenant"},
			SendServiceUserToken: true,
		}},
		"KeystoneAuthtoken": {cfg.KeystoneAuthtoken, KeystoneAuthtokenGroup{
			Auth: Auth{AuthType: "password", AuthSection: "ks_auth", AuthURL: "http://keystone.example.org:5000",
				SystemScope: "all", DomainID: "kd", DomainName: "KD", ProjectID: "kp", ProjectName: "service",
				ProjectDomainID: "kpd", ProjectDomainName: "Default", TrustID: "kt", DefaultDomainID: "kdd",
				DefaultDomainName: "KDD", UserID: "ku", Username: "nova", UserDomainID: "kud",
				UserDomainName: "Default", Password: "ks-secret", TenantID: "kten", TenantName: "ktenant"},
			WWWAuthenticateURI: "http://keystone.example.org:5000", Interface: "public", RegionName: "RegionTwo",
			MemcachedServers:  []string{"10.0.0.2:11211", "10.0.0.3:11211"},
			ServiceTokenRoles: []string{"service", "admin"}, ServiceTokenRolesRequired: true, ServiceType: "compute",
			CAFile: "/etc/ssl/ks-ca.pem", CertFile: "/etc/ssl/ks.pem", KeyFile: "/etc/ssl/ks.key", Insecure: true,
		}},
		"Rabbit": {cfg.Rabbit, RabbitGroup{
			RPCConnPoolSize: 10, ConnPoolMinSize: 1, ConnPoolTTL: 600, SSL: true, SSLVersion: "TLSv1_2",
			SSLKeyFile: "/etc/ssl/rabbit.key", SSLCertFile: "/etc/ssl/rabbit.pem", SSLCAFile: "/etc/ssl/rabbit-ca.pem",
			SSLEnforceHostnameVerification: false, SSLEnforceFIPSMode: true, HeartbeatInPthread: true,
			KombuReconnectDelay: 2.5, KombuReconnectSplay: 0.5, KombuCompression: "gzip",
			KombuMissingConsumerRetryTimeout: 30, KombuFailoverStrategy: "shuffle", RabbitLoginMethod: "PLAIN",
			RabbitRetryInterval: 2, RabbitRetryBackoff: 4, RabbitIntervalMax: 60, RabbitHAQueues: true,
			RabbitQuorumQueue: true, RabbitTransientQuorumQueue: true, RabbitQuorumDeliveryLimit: 5,
			RabbitQuorumMaxMemoryLength: 1000, RabbitQuorumMaxMemoryBytes: 1048576, RabbitTransientQueuesTTL: 0,
			RabbitQOSPrefetchCount: 50, HeartbeatTimeoutThreshold: 0, HeartbeatRate: 2, DirectMandatoryFlag: false,
			EnableCancelOnFailover: true, UseQueueManager: true, Hostname: "compute-1.example.org",
			Processname: "nova-compute", RabbitStreamFanout: true, AMQPDurableQueues: true, AMQPAutoDelete: true,
		}},
		"Notifications": {cfg.Notifications, NotificationsGroup{Driver: []string{"messagingv2", "log"},
			TransportURL: "rabbit://notify:n0t1fy@10.0.0.4:5672/",
			Topics:       []string{"notifications", "versioned_notifications"}, Retry: 3}},
		"Concurrency": {cfg.Concurrency, ConcurrencyGroup{LockPath: "/var/db/nova/lock", DisableProcessLocking: true}},
		"Compute": {cfg.Compute, ComputeGroup{ProviderConfigLocation: "/usr/local/etc/nova/provider_config/",
			CPUSharedSet: "0-1", CPUDedicatedSet: "2-7,^5", MaxConcurrentDiskOps: 2,
			ResourceProviderAssociationRefresh: 0, ShutdownRetryInterval: 5,
			ImageTypeExcludeList: []string{"vmdk", "vhd"}, MaxDiskDevicesToAttach: 16}},
		"VNC": {cfg.VNC, VNCGroup{Enabled: false, ServerListen: "0.0.0.0", ServerProxyclientAddress: "10.0.0.5",
			NoVNCProxyBaseURL: "https://console.example.org:6080/vnc_auto.html"}},
		"SerialConsole": {cfg.SerialConsole, SerialConsoleGroup{Enabled: true, PortRange: "11000:11100",
			BaseURL: "wss://console.example.org:6083/", ProxyclientAddress: "10.0.0.5", SerialproxyHost: "10.0.0.4",
			SerialproxyPort: 6093}},
		"ImageCache": {cfg.ImageCache, ImageCacheGroup{ManagerInterval: -1, SubdirectoryName: "_cache",
			RemoveUnusedBaseImages: false, RemoveUnusedOriginalMinimumAgeSeconds: 3600,
			RemoveUnusedResizedMinimumAgeSeconds: 600, PrecacheConcurrency: 4}},
		"FilterScheduler": {cfg.FilterScheduler, FilterSchedulerGroup{TrackInstanceChanges: false}},
		"PCI": {cfg.PCI, PCIGroup{DeviceSpec: []string{`{"vendor_id": "10de", "product_id": "1eb8"}`,
			`[{"address": "*:3b:02.*"}, {"address": {"bus": "af", "function": "[0-3]"}, "resource_class": "qat"}]`},
			Alias: []string{`{"name": "t4", "vendor_id": "10de", "product_id": "1eb8"}`}, ReportInPlacement: true}},
		"UpgradeLevels": {cfg.UpgradeLevels, UpgradeLevelsGroup{Compute: "epoxy", Scheduler: "kilo"}},
		"Libvirt":       {cfg.Libvirt, LibvirtGroup{VirtType: "qemu"}},
		"Bhyve": {cfg.Bhyve, BhyveGroup{BhyvePath: "/usr/sbin/bhyve.test", BhyvectlPath: "/usr/sbin/bhyvectl.test",
			BhyveloadPath: "/usr/sbin/bhyveload.test", VMMDir: "/var/run/vmm.test",
			UEFIFirmware: "/usr/local/share/uefi-firmware/BHYVE_UEFI_CSM.fd", StorageBackend: "file",
			UEFIVarsTemplate: "/usr/local/share/uefi-firmware/VARS.fd", ZFSPool: "tank",
			ZFSDatasetPrefix: "openstack/nova", NmdmEnabled: false, TapNamePrefix: "vtap", VNCListen: "0.0.0.0",
			VNCPortMin: 6000, VNCPortMax: 6099, VNCWait: true}},
		"Qemu": {cfg.Qemu, QemuGroup{QemuPath: "/usr/bin/qemu-system-x86_64", QemuImgPath: "/usr/bin/qemu-img",
			Accel: "tcg", MachineType: "pc", User: "qemu", Sandbox: false, UEFIFirmware: "/usr/share/OVMF/OVMF_CODE_4M.fd",
			UEFIVarsTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd", StorageBackend: "zfs", ZFSPool: "data",
			ZFSDatasetPrefix: "vms"}},
		"Neutron": {cfg.Neutron, NeutronGroup{
			Session: Session{CAFile: "/etc/ssl/neutron-ca.pem", CertFile: "/etc/ssl/neutron.pem",
				KeyFile: "/etc/ssl/neutron.key", Insecure: true, Timeout: intp(20), CollectTiming: true},
			Auth: Auth{AuthType: "password", AuthSection: "neutron_auth", AuthURL: "http://keystone.example.org:5000/v3",
				SystemScope: "all", DomainID: "nd", DomainName: "ND", ProjectID: "np", ProjectName: "service",
				ProjectDomainID: "npd", ProjectDomainName: "Default", TrustID: "nt", DefaultDomainID: "ndd",
				DefaultDomainName: "NDD", UserID: "nu", Username: "neutron", UserDomainID: "nud",
				UserDomainName: "Default", Password: "n3utr0n", TenantID: "nten", TenantName: "ntenant"},
			Adapter: Adapter{ServiceType: "network", ServiceName: "neutron", ValidInterfaces: []string{"internal"},
				RegionName: "RegionTwo", EndpointOverride: "http://neutron.example.org:9696", ConnectRetries: intp(2),
				ConnectRetryDelay: floatp(1), StatusCodeRetries: intp(1), StatusCodeRetryDelay: floatp(2),
				RetriableStatusCodes: []int{503}},
			OVSBridge: "br-test", DefaultFloatingPool: "public", ExtensionSyncInterval: 0,
			Physnets: []string{"physnet1", "physnet2"}, HTTPRetries: 5, ServiceMetadataProxy: true,
			MetadataProxySharedSecret: "m3ta",
		}},
		"NovaBSD": {cfg.NovaBSD, NovaBSDGroup{USBDeviceSpec: []string{"0781:5581@1-1.2", "046D:c31c"},
			SysfsRoot: "/var/tmp/sysfs-fixture"}},
		"OSVIFOVS": {cfg.OSVIFOVS, OSVIFOVSGroup{OVSVsctlTimeout: 30,
			OVSDBConnection: "unix:/run/openvswitch/db.sock"}},
	}
	for name, gw := range want {
		if !reflect.DeepEqual(gw[0], gw[1]) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, gw[0], gw[1])
		}
	}
	// Every group struct of Config is compared above.
	if n := reflect.TypeFor[Config]().NumField() - 4; len(want) != n {
		t.Errorf("compared %d groups, Config has %d", len(want), n)
	}
}

// TestDefaults checks the typed defaults of a config without files, with the machine pinned.
func TestDefaults(t *testing.T) {
	pinMachine(t)
	cfg, err := Load(Sources{ConfigFiles: []string{writeTemp(t, "empty.conf", "")}})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"host", cfg.Default.Host, "node1"},
		{"my_ip", cfg.Default.MyIP, "192.0.2.10"},
		{"state_path", cfg.Default.StatePath, "/opt/novabsd"},
		{"instances_path", cfg.Default.InstancesPath, "/opt/novabsd/instances"},
		{"transport_url", cfg.Default.TransportURL, "rabbit://"},
		{"control_exchange", cfg.Default.ControlExchange, "nova"},
		{"cpu_allocation_ratio", cfg.Default.CPUAllocationRatio, (*float64)(nil)},
		{"initial_cpu_allocation_ratio", cfg.Default.InitialCPUAllocationRatio, 4.0},
		{"heal_instance_info_cache_interval", cfg.Default.HealInstanceInfoCacheInterval, -1},
		{"graceful_shutdown_timeout", cfg.Default.GracefulShutdownTimeout, 180},
		{"rabbit hostname", cfg.Rabbit.Hostname, "node1"},
		{"rabbit processname", cfg.Rabbit.Processname, "novabsd"},
		{"heartbeat_rate", cfg.Rabbit.HeartbeatRate, 3},
		{"kombu_reconnect_delay", cfg.Rabbit.KombuReconnectDelay, 1.0},
		{"placement service_type", cfg.Placement.ServiceType, "placement"},
		{"glance service_type", cfg.Glance.ServiceType, "image"},
		{"valid_interfaces", cfg.Placement.ValidInterfaces, []string{"internal", "public"}},
		{"placement timeout", cfg.Placement.Timeout, (*int)(nil)},
		{"retriable_status_codes", cfg.Placement.RetriableStatusCodes, []int(nil)},
		{"notifications driver", cfg.Notifications.Driver, []string{}},
		{"bhyve vnc_listen", cfg.Bhyve.VNCListen, "127.0.0.1"},
		{"bhyve storage_backend", cfg.Bhyve.StorageBackend, "zfs"},
		{"qemu storage_backend", cfg.Qemu.StorageBackend, "file"},
		{"qemu accel", cfg.Qemu.Accel, "auto"},
		{"libvirt virt_type", cfg.Libvirt.VirtType, "kvm"},
		{"max_disk_devices_to_attach", cfg.Compute.MaxDiskDevicesToAttach, -1},
		{"manager_interval", cfg.ImageCache.ManagerInterval, 2400},
		{"scheduler_instance_sync_interval", cfg.Default.SchedulerInstanceSyncInterval, 120},
		{"track_instance_changes", cfg.FilterScheduler.TrackInstanceChanges, true},
		{"upgrade_levels scheduler", cfg.UpgradeLevels.Scheduler, ""},
		{"vif_plugging_timeout", cfg.Default.VIFPluggingTimeout, 300},
		{"vif_plugging_is_fatal", cfg.Default.VIFPluggingIsFatal, true},
		{"force_config_drive", cfg.Default.ForceConfigDrive, false},
		{"config_drive_format", cfg.Default.ConfigDriveFormat, "iso9660"},
		{"neutron service_type", cfg.Neutron.ServiceType, "network"},
		{"neutron ovs_bridge", cfg.Neutron.OVSBridge, "br-int"},
		{"neutron http_retries", cfg.Neutron.HTTPRetries, 3},
		{"neutron default_floating_pool", cfg.Neutron.DefaultFloatingPool, "nova"},
		{"neutron valid_interfaces", cfg.Neutron.ValidInterfaces, []string{"internal", "public"}},
		{"ovsdb_connection", cfg.OSVIFOVS.OVSDBConnection, "tcp:127.0.0.1:6640"},
		{"ovs_vsctl_timeout", cfg.OSVIFOVS.OVSVsctlTimeout, 120},
		{"usb_device_spec", cfg.NovaBSD.USBDeviceSpec, []string{}},
		{"sysfs_root", cfg.NovaBSD.SysfsRoot, "/sys"},
		{"pci device_spec", cfg.PCI.DeviceSpec, []string{}},
		{"pci alias", cfg.PCI.Alias, []string{}},
		{"pci report_in_placement", cfg.PCI.ReportInPlacement, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestRegistryBinding checks that every option has one typed field and that defaults have the field's type.
func TestRegistryBinding(t *testing.T) {
	if _, err := fieldPaths(); err != nil {
		t.Fatal(err)
	}
	seen := map[Name]bool{}
	for _, o := range registry() {
		n := Name{o.Group, o.Name}
		if seen[n] {
			t.Errorf("[%s] %s declared twice", o.Group, o.Name)
		}
		seen[n] = true
		if o.Help == "" {
			t.Errorf("[%s] %s has no help", o.Group, o.Name)
		}
		if o.Default == nil {
			continue
		}
		want := goType(o)
		if want.Kind() == reflect.Pointer {
			want = want.Elem()
		}
		if reflect.TypeOf(o.Default) != want && reflect.TypeOf(o.Default) != reflect.TypeFor[string]() {
			t.Errorf("[%s] %s default is %T, field is %v", o.Group, o.Name, o.Default, want)
		}
	}
}
