package conf

// neutronOpts are [neutron] options from nova/conf/neutron.py with the keystoneauth options Nova registers for the
// group (register_ksa_opts with service type "network"): compute authenticates to Neutron as itself, with these
// credentials, to create, bind and release the ports of its instances.
func neutronOpts() []*Option {
	own := []*Option{
		{Name: "ovs_bridge", Kind: KindString, Default: "br-int",
			Help: "Open vSwitch integration bridge, used when a port binding names none."},
		{Name: "default_floating_pool", Kind: KindString, Default: "nova",
			Help: "Name of the floating IP pool used when a binding names none."},
		{Name: "extension_sync_interval", Kind: KindInt, Default: 600, Min: ptr(0),
			Help: "Seconds before Neutron's extension list is read again; 0 reads it each time it is needed."},
		{Name: "physnets", Kind: KindList, Default: []string{},
			Help: "Physical networks present on this host (NUMA affinity is not modelled by novabsd)."},
		{Name: "http_retries", Kind: KindInt, Default: 3, Min: ptr(0),
			Help: "Retries of a Neutron request after a connection failure; 0 tries once."},
		{Name: "service_metadata_proxy", Kind: KindBool, Default: false,
			Help: "Neutron proxies the guests' metadata requests and names the instance in them; see " +
				"metadata_proxy_shared_secret."},
		{Name: "metadata_proxy_shared_secret", Kind: KindString, Default: "", Secret: true,
			Help: "Shared secret that signs the metadata requests Neutron proxies (X-Metadata-Provider-Signature)."},
	}
	return inGroup("neutron", concat(own, sessionOpts(nil), authOpts(), adapterOpts("network")))
}

// osVIFOVSOpts are the [os_vif_ovs] options os-vif's OVS plugin reads that novabsd's plugging honours.
func osVIFOVSOpts() []*Option {
	return inGroup("os_vif_ovs", []*Option{
		{Name: "ovs_vsctl_timeout", Kind: KindInt, Default: 120, Deprecated: []Name{{Group: "DEFAULT"}},
			Help: "Seconds each switch command may wait for the OVS database; 0 waits forever."},
		{Name: "ovsdb_connection", Kind: KindString, Default: "tcp:127.0.0.1:6640",
			Help: "OVSDB endpoint the switch commands use (tcp:IP:PORT or unix:PATH)."},
	})
}

// NeutronGroup is [neutron]: session, auth and adapter options, as Nova registers them, plus Nova's own.
type NeutronGroup struct {
	Session
	Auth
	Adapter
	OVSBridge                 string   `opt:"ovs_bridge"`
	DefaultFloatingPool       string   `opt:"default_floating_pool"`
	ExtensionSyncInterval     int      `opt:"extension_sync_interval"`
	Physnets                  []string `opt:"physnets"`
	HTTPRetries               int      `opt:"http_retries"`
	ServiceMetadataProxy      bool     `opt:"service_metadata_proxy"`
	MetadataProxySharedSecret string   `opt:"metadata_proxy_shared_secret"`
}

// OSVIFOVSGroup is [os_vif_ovs]: how os-vif's OVS plugin reaches the switch.
type OSVIFOVSGroup struct {
	OVSVsctlTimeout int    `opt:"ovs_vsctl_timeout"`
	OVSDBConnection string `opt:"ovsdb_connection"`
}
