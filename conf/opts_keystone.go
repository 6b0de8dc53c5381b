package conf

// keystoneauth1 loading options, as nova/conf/utils.py register_ksa_opts registers them: session options everywhere,
// auth options (the "password" plugin family) where Nova authenticates as itself, adapter options where it discovers
// an endpoint. Nova drops the adapter's version options and sets valid_interfaces to internal,public.

// ksaDeprecated maps an option name to its deprecated names in one group.
type ksaDeprecated map[string][]Name

func sessionOpts(dep ksaDeprecated) []*Option {
	return withDeprecated(dep, []*Option{
		{Name: "cafile", Kind: KindString, Help: "PEM file of the CA certificates used to verify HTTPS servers."},
		{Name: "certfile", Kind: KindString, Help: "PEM client certificate for HTTPS."},
		{Name: "keyfile", Kind: KindString, Help: "PEM key of the client certificate."},
		{Name: "insecure", Kind: KindBool, Default: false, Help: "Do not verify HTTPS server certificates."},
		{Name: "timeout", Kind: KindInt, Help: "Timeout in seconds of HTTP requests; unset waits as long as it takes."},
		{Name: "collect_timing", Kind: KindBool, Default: false, Help: "Record the duration of each API call."},
		{Name: "split_loggers", Kind: KindBool, Default: false, Help: "Log requests to several loggers."},
	})
}

func authOpts() []*Option {
	return []*Option{
		{Name: "auth_type", Kind: KindString, Deprecated: []Name{{Name: "auth_plugin"}},
			Help: "Authentication plugin, e.g. password or v3password."},
		{Name: "auth_section", Kind: KindString, Help: "Group to read the plugin's options from instead of this one."},
		{Name: "auth_url", Kind: KindString, Help: "Identity (Keystone) URL to authenticate against."},
		{Name: "system_scope", Kind: KindString, Help: "System scope, e.g. all."},
		{Name: "domain_id", Kind: KindString, Help: "ID of the domain to scope to."},
		{Name: "domain_name", Kind: KindString, Help: "Name of the domain to scope to."},
		{Name: "project_id", Kind: KindString, Help: "ID of the project to scope to."},
		{Name: "project_name", Kind: KindString, Help: "Name of the project to scope to."},
		{Name: "project_domain_id", Kind: KindString, Help: "ID of the project's domain."},
		{Name: "project_domain_name", Kind: KindString, Help: "Name of the project's domain."},
		{Name: "trust_id", Kind: KindString, Help: "Trust to use as a trustee."},
		{Name: "default_domain_id", Kind: KindString,
			Help: "Domain ID used for the user and the project when their own domain is not given."},
		{Name: "default_domain_name", Kind: KindString,
			Help: "Domain name used for the user and the project when their own domain is not given."},
		{Name: "user_id", Kind: KindString, Help: "ID of the user."},
		{Name: "username", Kind: KindString, Deprecated: []Name{{Name: "user_name"}}, Help: "Name of the user."},
		{Name: "user_domain_id", Kind: KindString, Help: "ID of the user's domain."},
		{Name: "user_domain_name", Kind: KindString, Help: "Name of the user's domain."},
		{Name: "password", Kind: KindString, Secret: true, Help: "The user's password."},
		{Name: "tenant_id", Kind: KindString, Help: "Project ID for Identity v2."},
		{Name: "tenant_name", Kind: KindString, Help: "Project name for Identity v2."},
	}
}

func adapterOpts(serviceType string) []*Option {
	return []*Option{
		{Name: "service_type", Kind: KindString, Default: serviceType,
			Help: "Service type to look up in the service catalog."},
		{Name: "service_name", Kind: KindString, Help: "Service name to look up in the service catalog."},
		{Name: "valid_interfaces", Kind: KindList, Default: []string{"internal", "public"},
			Help: "Endpoint interfaces to use, in order of preference."},
		{Name: "region_name", Kind: KindString, Help: "Region of the endpoint."},
		{Name: "endpoint_override", Kind: KindString,
			Help: "Use this endpoint URL instead of looking one up in the catalog."},
		{Name: "connect_retries", Kind: KindInt, Help: "Retries after a connection error."},
		{Name: "connect_retry_delay", Kind: KindFloat,
			Help: "Seconds between connection retries; unset backs off exponentially from 0.5 s up to 60 s."},
		{Name: "status_code_retries", Kind: KindInt, Help: "Retries after a retriable HTTP status."},
		{Name: "status_code_retry_delay", Kind: KindFloat,
			Help: "Seconds between status-code retries; unset backs off exponentially from 0.5 s up to 60 s."},
		{Name: "retriable_status_codes", Kind: KindIntList,
			Help: "HTTP status codes that are retried; unset means 503."},
	}
}

func placementOpts() []*Option {
	return inGroup("placement", concat(sessionOpts(nil), authOpts(), adapterOpts("placement")))
}

func glanceOpts() []*Option {
	own := []*Option{
		{Name: "num_retries", Kind: KindInt, Default: 3, Min: ptr(0),
			Help: "Retries of an image upload or download after a failure."},
		{Name: "verify_glance_signatures", Kind: KindBool, Default: false,
			Help: "Verify the signature of images that carry img_signature properties."},
		{Name: "enable_certificate_validation", Kind: KindBool, Default: false, DeprecatedForRemoval: true,
			DeprecatedSince:  "16.0.0",
			DeprecatedReason: "Certificate validation will always accompany signature verification.",
			Help:             "Validate the signing certificate when verifying an image signature."},
		{Name: "default_trusted_certificate_ids", Kind: KindList, Default: []string{},
			Help: "Certificate IDs trusted to sign images when the request names none."},
		{Name: "enable_rbd_download", Kind: KindBool, Default: false,
			Help: "Download images that Glance keeps in Ceph directly over RBD."},
		{Name: "rbd_user", Kind: KindString, Default: "", Help: "Ceph user for RBD downloads."},
		{Name: "rbd_connect_timeout", Kind: KindInt, Default: 5, Help: "Seconds to wait for the Ceph cluster."},
		{Name: "rbd_pool", Kind: KindString, Default: "", Help: "Ceph pool Glance stores images in."},
		{Name: "rbd_ceph_conf", Kind: KindString, Default: "", Help: "Path of ceph.conf for RBD downloads."},
		{Name: "debug", Kind: KindBool, Default: false, Help: "Log the image client's requests at debug level."},
	}
	dep := ksaDeprecated{
		"insecure": {{Group: "glance", Name: "api_insecure"}},
		"cafile":   {{Group: "ssl", Name: "ca_file"}},
		"certfile": {{Group: "ssl", Name: "cert_file"}},
		"keyfile":  {{Group: "ssl", Name: "key_file"}},
	}
	return inGroup("glance", concat(own, sessionOpts(dep), adapterOpts("image")))
}

func serviceUserOpts() []*Option {
	own := []*Option{
		{Name: "send_service_user_token", Kind: KindBool, Default: false,
			Help: "Send a service token along with the user's token on calls to other services, so that a user " +
				"token expiring during a long operation does not fail it. Needs the auth options of this group."},
	}
	return inGroup("service_user", concat(own, sessionOpts(nil), authOpts()))
}

func keystoneAuthtokenOpts() []*Option {
	own := []*Option{
		{Name: "www_authenticate_uri", Kind: KindString, Deprecated: []Name{{Name: "auth_uri"}},
			Help: "Public Identity endpoint that unauthenticated clients are sent to."},
		{Name: "interface", Kind: KindString, Default: "internal",
			Help: "Interface of the Identity endpoint: public, internal or admin."},
		{Name: "region_name", Kind: KindString, Help: "Region of the Identity service."},
		{Name: "memcached_servers", Kind: KindList, Deprecated: []Name{{Name: "memcache_servers"}},
			Help: "memcached servers (host:port) for the token cache."},
		{Name: "service_token_roles", Kind: KindList, Default: []string{"service"},
			Help: "A service token must carry one of these roles to count as a service token."},
		{Name: "service_token_roles_required", Kind: KindBool, Default: false,
			Help: "Reject service tokens without one of service_token_roles."},
		{Name: "service_type", Kind: KindString, Help: "Service type of this service in the catalog."},
		{Name: "cafile", Kind: KindString, Help: "PEM file of the CA certificates used to verify Identity."},
		{Name: "certfile", Kind: KindString, Help: "PEM client certificate for Identity."},
		{Name: "keyfile", Kind: KindString, Help: "PEM key of the client certificate."},
		{Name: "insecure", Kind: KindBool, Default: false, Help: "Do not verify Identity's HTTPS certificate."},
	}
	return inGroup("keystone_authtoken", concat(own, authOpts()))
}

func withDeprecated(dep ksaDeprecated, opts []*Option) []*Option {
	for _, o := range opts {
		o.Deprecated = append(o.Deprecated, dep[o.Name]...)
	}
	return opts
}

func concat(lists ...[]*Option) []*Option {
	var out []*Option
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
