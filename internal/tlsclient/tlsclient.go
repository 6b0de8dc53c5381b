// Package tlsclient builds the TLS configuration of novabsd's clients
// (RabbitMQ, Glance, Placement) from the files an operator names in
// nova.conf: keystoneauth's cafile/certfile/keyfile/insecure and
// oslo.messaging's ssl_ca_file/ssl_cert_file/ssl_key_file mean the same
// things, so one builder reads them for all.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Options are the TLS settings of one client.
type Options struct {
	// CAFile is a PEM bundle of the authorities that sign the servers'
	// certificates; "" trusts the system's.
	CAFile string
	// CertFile is the client certificate (PEM), presented when set.
	CertFile string
	// KeyFile is the certificate's private key; "" reads it from CertFile,
	// as Python's ssl.load_cert_chain (and so keystoneauth and amqp) does.
	KeyFile string
	// Insecure skips verification of the server's certificate.
	Insecure bool
	// MinVersion is the lowest protocol version offered; 0 is TLS 1.2.
	MinVersion uint16
}

// Field names used in Error, keystoneauth's spelling; callers whose options
// are spelt otherwise (oslo.messaging's ssl_ca_file) translate them.
const (
	FieldCAFile   = "cafile"
	FieldCertFile = "certfile"
	FieldKeyFile  = "keyfile"
)

// ErrNoCertificate is the cause when a CA file holds no PEM certificate.
var ErrNoCertificate = errors.New("holds no PEM certificate")

// Error names the option whose file could not be used.
type Error struct {
	Field string // FieldCAFile, FieldCertFile or FieldKeyFile
	Path  string // the file named by the option
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Field, e.Path, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Config returns the client configuration o describes. Files are read now,
// so a bad one stops the service at start with the option named, rather
// than failing every connection later. Its errors are *Error.
func Config(o Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: o.MinVersion, InsecureSkipVerify: o.Insecure} //nolint:gosec // the operator's insecure option
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &Error{Field: FieldCAFile, Path: o.CAFile, Err: pathless(err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &Error{Field: FieldCAFile, Path: o.CAFile, Err: ErrNoCertificate}
		}
		cfg.RootCAs = pool
	}
	switch {
	case o.CertFile != "":
		key := o.KeyFile
		if key == "" {
			key = o.CertFile
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, key)
		if err != nil {
			return nil, &Error{Field: FieldCertFile, Path: o.CertFile, Err: err}
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.KeyFile != "":
		// A key alone is a half-configured client certificate: refuse it
		// rather than connect without the identity the operator meant.
		return nil, &Error{Field: FieldKeyFile, Path: o.KeyFile, Err: errors.New("is set without a certfile")}
	}
	return cfg, nil
}

// pathless drops the path from a file error; Error already names it.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
