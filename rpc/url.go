package rpc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/novabsd/novabsd/conf/credmask"
)

// TransportURL is a parsed oslo transport_url (oslo_messaging/transport.py TransportURL.parse).
type TransportURL struct {
	Scheme      string
	Hosts       []Host
	VirtualHost string // "" means the broker's default vhost "/"
	// Query holds the URL's query options; repeated keys are joined with "," as oslo does.
	Query map[string]string
}

// Host is one broker of a transport_url.
type Host struct {
	Username string
	Password string
	Hostname string
	Port     int // 0 means 5672
}

// Addr is host:port with the default AMQP port filled in.
func (h Host) Addr() string {
	port := h.Port
	if port == 0 {
		port = 5672
	}
	return net.JoinHostPort(h.Hostname, strconv.Itoa(port))
}

// URLError reports a transport_url that cannot be used; URL has the password masked (credmask.URL).
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string { return fmt.Sprintf("rpc: transport_url %q: %s", e.URL, e.Reason) }

// ParseTransportURL parses driver://[user[:pass]@]host[:port][,...]/[vhost][?opt=val&...]. Credentials and the
// vhost are percent-decoded; a URL without hosts means guest:guest@localhost:5672.
func ParseTransportURL(raw string) (*TransportURL, error) {
	// misparsed: an '@' after the host part means a password holding '/', '?' or '#' unencoded, which ends the
	// host part early (as urlsplit does); whatever fails then, the real reason is that, and the pieces the
	// parser saw are bits of the password, so no reason may quote them.
	misparsed := false
	fail := func(format string, a ...any) (*TransportURL, error) {
		reason := fmt.Sprintf(format, a...)
		if misparsed {
			reason = "the user name or password holds '/', '?' or '#' unencoded (write them %2F, %3F, %23)"
		}
		return nil, &URLError{URL: credmask.URL(raw), Reason: reason}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return fail("missing scheme (expected rabbit://...)")
	}
	switch {
	case scheme == "rabbit" || scheme == "kombu" || strings.HasPrefix(scheme, "kombu+"):
	default:
		return fail("unsupported driver %q (only rabbit is implemented)", scheme)
	}
	whole := rest
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	// urlsplit ends the netloc at the first '/' or '?'.
	netloc, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		netloc, tail = rest[:i], rest[i:]
	}
	misparsed = strings.LastIndexByte(whole, '@') >= len(netloc)
	path, query, _ := strings.Cut(tail, "?")
	u := &TransportURL{Scheme: scheme, Query: map[string]string{}}
	if strings.HasPrefix(path, "/") {
		vh, err := url.PathUnescape(path[1:])
		if err != nil {
			return fail("virtual host %q is not percent-encoded correctly", path[1:])
		}
		u.VirtualHost = vh
	}
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return fail("query: %v", err)
		}
		for k, v := range vals {
			u.Query[k] = strings.Join(v, ",")
		}
	}
	if netloc == "" {
		u.Hosts = []Host{{Username: "guest", Password: "guest", Hostname: "localhost", Port: 5672}}
		return u, nil
	}
	for i, part := range strings.Split(netloc, ",") {
		var h Host
		hostport := part
		if at := strings.LastIndexByte(part, '@'); at >= 0 {
			creds := part[:at]
			hostport = part[at+1:]
			user, pass, _ := strings.Cut(creds, ":")
			var err error
			if h.Username, err = url.PathUnescape(user); err != nil {
				return fail("host %d: the user name is not percent-encoded correctly", i+1)
			}
			if h.Password, err = url.PathUnescape(pass); err != nil {
				return fail("host %d: the password is not percent-encoded correctly", i+1)
			}
		}
		name, port, err := splitHostPort(hostport)
		if err != nil {
			return fail("host %d: %v", i+1, err)
		}
		h.Hostname, h.Port = name, port
		u.Hosts = append(u.Hosts, h)
	}
	return u, nil
}

// splitHostPort reads host[:port]. Its errors do not quote s: a password holding ',' unencoded splits into
// pieces that end up here (the caller's error shows the whole URL, masked).
func splitHostPort(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("empty host")
	}
	host, portStr := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("unterminated IPv6 literal")
		}
		host = s[1:end]
		after := s[end+1:]
		if after != "" {
			if !strings.HasPrefix(after, ":") {
				return "", 0, errors.New("junk after IPv6 literal")
			}
			portStr = after[1:]
		}
	} else if strings.Count(s, ":") == 1 {
		host, portStr, _ = strings.Cut(s, ":")
	} else if strings.Count(s, ":") > 1 {
		host = s // bare IPv6 address, as netutils.parse_host_port accepts
	}
	if host == "" {
		return "", 0, errors.New("empty host name")
	}
	if portStr == "" {
		return host, 0, nil
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, errors.New("invalid port")
	}
	return host, port, nil
}

// rabbitOptionSetters are the [oslo_messaging_rabbit] options a URL query may override. oslo.messaging rejects
// any key that is not an option of that group; options this package does not model are accepted and ignored.
var rabbitOptionSetters = map[string]func(r *RabbitOptions, v string) error{
	"heartbeat_timeout_threshold": durSecs(func(r *RabbitOptions) *time.Duration { return &r.HeartbeatTimeoutThreshold }),
	"heartbeat_rate":              intOpt(func(r *RabbitOptions) *int { return &r.HeartbeatRate }),
	"rabbit_retry_interval":       durSecs(func(r *RabbitOptions) *time.Duration { return &r.RetryInterval }),
	"rabbit_retry_backoff":        durSecs(func(r *RabbitOptions) *time.Duration { return &r.RetryBackoff }),
	"rabbit_interval_max":         durSecs(func(r *RabbitOptions) *time.Duration { return &r.IntervalMax }),
	"kombu_reconnect_delay":       durSecs(func(r *RabbitOptions) *time.Duration { return &r.ReconnectDelay }),
	"rabbit_login_method":         strOpt(func(r *RabbitOptions) *string { return &r.LoginMethod }),
	"amqp_durable_queues":         boolOpt(func(r *RabbitOptions) *bool { return &r.DurableQueues }),
	"amqp_auto_delete":            boolOpt(func(r *RabbitOptions) *bool { return &r.AutoDelete }),
	"rabbit_ha_queues":            boolOpt(func(r *RabbitOptions) *bool { return &r.HAQueues }),
	"rabbit_quorum_queue":         boolOpt(func(r *RabbitOptions) *bool { return &r.QuorumQueue }),
	"rabbit_transient_quorum_queue": boolOpt(func(r *RabbitOptions) *bool {
		return &r.TransientQuorumQueue
	}),
	"rabbit_stream_fanout":            boolOpt(func(r *RabbitOptions) *bool { return &r.StreamFanout }),
	"rabbit_quorum_delivery_limit":    intOpt(func(r *RabbitOptions) *int { return &r.QuorumDeliveryLimit }),
	"rabbit_quorum_max_memory_length": intOpt(func(r *RabbitOptions) *int { return &r.QuorumMaxMemoryLength }),
	"rabbit_quorum_max_memory_bytes":  intOpt(func(r *RabbitOptions) *int { return &r.QuorumMaxMemoryBytes }),
	"enable_cancel_on_failover":       boolOpt(func(r *RabbitOptions) *bool { return &r.EnableCancelOnFailover }),
	"use_queue_manager":               boolOpt(func(r *RabbitOptions) *bool { return &r.UseQueueManager }),
	"hostname":                        strOpt(func(r *RabbitOptions) *string { return &r.QueueManagerHostname }),
	"processname":                     strOpt(func(r *RabbitOptions) *string { return &r.QueueManagerProcessname }),
	"rabbit_transient_queues_ttl":     durSecs(func(r *RabbitOptions) *time.Duration { return &r.TransientQueuesTTL }),
	"rabbit_qos_prefetch_count":       intOpt(func(r *RabbitOptions) *int { return &r.QoSPrefetchCount }),
	"direct_mandatory_flag":           boolOpt(func(r *RabbitOptions) *bool { return &r.DirectMandatoryFlag }),
	"kombu_missing_consumer_retry_timeout": durSecs(func(r *RabbitOptions) *time.Duration {
		return &r.MissingConsumerRetryTimeout
	}),
	"ssl":                               boolOpt(func(r *RabbitOptions) *bool { return &r.SSL }),
	"ssl_ca_file":                       strOpt(func(r *RabbitOptions) *string { return &r.SSLCAFile }),
	"ssl_cert_file":                     strOpt(func(r *RabbitOptions) *string { return &r.SSLCertFile }),
	"ssl_key_file":                      strOpt(func(r *RabbitOptions) *string { return &r.SSLKeyFile }),
	"ssl_version":                       strOpt(func(r *RabbitOptions) *string { return &r.SSLVersion }),
	"ssl_enforce_hostname_verification": ignored,
	"ssl_enforce_fips_mode":             ignored,
	"kombu_reconnect_splay":             ignored,
	"kombu_compression":                 ignored,
	"kombu_failover_strategy":           ignored,
	"rpc_conn_pool_size":                ignored,
	"conn_pool_min_size":                ignored,
	"conn_pool_ttl":                     ignored,
}

func ignored(*RabbitOptions, string) error { return nil }

func boolOpt(f func(*RabbitOptions) *bool) func(*RabbitOptions, string) error {
	return func(r *RabbitOptions, v string) error {
		switch strings.ToLower(v) {
		case "true", "1", "on", "yes":
			*f(r) = true
		case "false", "0", "off", "no":
			*f(r) = false
		default:
			return fmt.Errorf("%q is not a boolean", v)
		}
		return nil
	}
}

func intOpt(f func(*RabbitOptions) *int) func(*RabbitOptions, string) error {
	return func(r *RabbitOptions, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*f(r) = n
		return nil
	}
}

func durSecs(f func(*RabbitOptions) *time.Duration) func(*RabbitOptions, string) error {
	return func(r *RabbitOptions, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return fmt.Errorf("%q is not a non-negative number of seconds", v)
		}
		*f(r) = time.Duration(x * float64(time.Second))
		return nil
	}
}

func strOpt(f func(*RabbitOptions) *string) func(*RabbitOptions, string) error {
	return func(r *RabbitOptions, v string) error { *f(r) = v; return nil }
}

// ApplyQuery overrides r with the URL's query options, as oslo's ConfigOptsProxy does.
func (u *TransportURL) ApplyQuery(r *RabbitOptions) error {
	for k, v := range u.Query {
		set, ok := rabbitOptionSetters[k]
		if !ok {
			return &URLError{URL: "?" + k + "=...", Reason: fmt.Sprintf("unknown [oslo_messaging_rabbit] option %q", k)}
		}
		if err := set(r, v); err != nil {
			return &URLError{URL: "?" + k + "=...", Reason: fmt.Sprintf("option %s: %v", k, err)}
		}
	}
	return nil
}
