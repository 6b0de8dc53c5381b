package rpc

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// A bad TLS option is reported under its [oslo_messaging_rabbit] name, so the operator knows which line to fix.
func TestTLSConfigNamesRabbitOptions(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name   string
		opts   RabbitOptions
		option string // "" when the options are good
		minVer uint16
	}{
		{name: "defaults", minVer: tls.VersionTLS12},
		{name: "TLS 1.3", opts: RabbitOptions{SSLVersion: "TLSv1_3"}, minVer: tls.VersionTLS13},
		{name: "unknown version", opts: RabbitOptions{SSLVersion: "SSLv3"}, option: "ssl_version"},
		{name: "missing CA", opts: RabbitOptions{SSLCAFile: missing}, option: "ssl_ca_file"},
		{name: "missing certificate", opts: RabbitOptions{SSLCertFile: missing}, option: "ssl_cert_file"},
		{name: "key alone", opts: RabbitOptions{SSLKeyFile: missing}, option: "ssl_key_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tlsConfig(&tc.opts, nil)
			if tc.option == "" {
				if err != nil || cfg.MinVersion != tc.minVer {
					t.Fatalf("tlsConfig = %+v, %v; want MinVersion %x", cfg, err, tc.minVer)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Option != tc.option {
				t.Fatalf("tlsConfig error %v, want a ConfigError for %s", err, tc.option)
			}
			if tc.option != "ssl_version" && !strings.Contains(err.Error(), missing) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
