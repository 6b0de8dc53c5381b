package tlsclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki is a CA made for the test, a server certificate for 127.0.0.1 and a client certificate, all signed by it,
// written as PEM files.
type pki struct {
	dir                               string
	caFile, certFile, keyFile, bundle string
	pool                              *x509.CertPool
	serverCert                        tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey, caDER := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	ca, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", pemBlock("CERTIFICATE", caDER))

	srvKey, srvDER := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	p.serverCert = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	cliKey, cliDER := makeCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "nova"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := pemBlock("CERTIFICATE", cliDER), pemBlock("EC PRIVATE KEY", keyDER)
	p.certFile = p.write(t, "client.pem", certPEM)
	p.keyFile = p.write(t, "client.key", keyPEM)
	p.bundle = p.write(t, "client-bundle.pem", append(append([]byte{}, certPEM...), keyPEM...))
	return p
}

func makeCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func (p *pki) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// server answers only clients presenting a certificate signed by the test CA.
func (p *pki) server(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConfigConnects(t *testing.T) {
	p := newPKI(t)
	url := p.server(t)
	tests := []struct {
		name   string
		opts   Options
		works  bool
		reason string
	}{
		{"CA, certificate and key", Options{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}, true, ""},
		{"key read from the certificate file", Options{CAFile: p.caFile, CertFile: p.bundle}, true, ""},
		{"insecure needs no CA", Options{Insecure: true, CertFile: p.certFile, KeyFile: p.keyFile}, true, ""},
		{"system roots do not know the test CA", Options{CertFile: p.certFile, KeyFile: p.keyFile}, false, "server not verified"},
		{"no client certificate", Options{CAFile: p.caFile}, false, "server requires one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
			resp, err := c.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.works {
				t.Fatalf("GET: %v; want success %v (%s)", err, tc.works, tc.reason)
			}
		})
	}
}

func TestConfigRefusesBadFiles(t *testing.T) {
	p := newPKI(t)
	missing := filepath.Join(p.dir, "missing.pem")
	garbage := p.write(t, "garbage.pem", []byte("not a certificate\n"))
	tests := []struct {
		name  string
		opts  Options
		field string
		path  string
		cause error
		msg   string
	}{
		{"missing CA file", Options{CAFile: missing}, FieldCAFile, missing, fs.ErrNotExist,
			"cafile " + missing + ": no such file or directory"},
		{"CA file without PEM", Options{CAFile: garbage}, FieldCAFile, garbage, ErrNoCertificate,
			"cafile " + garbage + ": holds no PEM certificate"},
		{"certificate without its key", Options{CertFile: p.certFile}, FieldCertFile, p.certFile, nil, ""},
		{"key that is not the certificate's", Options{CertFile: p.certFile, KeyFile: p.caFile}, FieldCertFile, p.certFile, nil, ""},
		{"key without certificate", Options{KeyFile: p.keyFile}, FieldKeyFile, p.keyFile, nil,
			"keyfile " + p.keyFile + ": is set without a certfile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Config(tc.opts)
			var te *Error
			if !errors.As(err, &te) || cfg != nil {
				t.Fatalf("Config = %v, %v; want an *Error", cfg, err)
			}
			if te.Field != tc.field || te.Path != tc.path {
				t.Errorf("error names %s %s, want %s %s", te.Field, te.Path, tc.field, tc.path)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap %v", err, tc.cause)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
		})
	}
}

func TestConfigVersions(t *testing.T) {
	for _, tc := range []struct{ in, want uint16 }{{0, tls.VersionTLS12}, {tls.VersionTLS13, tls.VersionTLS13}} {
		cfg, err := Config(Options{MinVersion: tc.in})
		if err != nil || cfg.MinVersion != tc.want || cfg.InsecureSkipVerify || cfg.RootCAs != nil {
			t.Errorf("Config(MinVersion %x) = %+v, %v; want MinVersion %x, verifying with the system's roots", tc.in, cfg, err, tc.want)
		}
	}
}
