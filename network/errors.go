package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/gophercloud/gophercloud/v2"
)

// More typed errors, each one of Nova's faults for a build or an attach.
var (
	// ErrPortNotUsable: a requested port belongs to another project (PortNotUsable).
	ErrPortNotUsable = errors.New("port is not usable by the instance's project")
	// ErrFixedIPInUse: the requested fixed address is taken (FixedIpAlreadyInUse).
	ErrFixedIPInUse = errors.New("fixed IP is already in use")
	// ErrNoMoreFixedIPs: the network has no free address (NoMoreFixedIps).
	ErrNoMoreFixedIPs = errors.New("no more fixed IPs in network")
	// ErrPortLimitExceeded: the project's port quota is used up (PortLimitExceeded).
	ErrPortLimitExceeded = errors.New("port quota exceeded")
	// ErrSecurityGroup: a requested security group does not exist, its name is ambiguous, or the network cannot
	// apply security groups (SecurityGroupNotFound, NoUniqueMatch, SecurityGroupCannotBeApplied).
	ErrSecurityGroup = errors.New("security group cannot be applied")
	// ErrInvalidInput: Neutron refused the request as bad (400), e.g. a fixed IP outside the network.
	ErrInvalidInput = errors.New("invalid input for neutron")
	// ErrForbidden: Neutron refused the [neutron] credentials (401 after re-authentication, 403).
	ErrForbidden = errors.New("not authorized by neutron")
	// ErrBadResponse: Neutron's answer could not be understood (not the JSON its API reference documents).
	ErrBadResponse = errors.New("unexpected answer from neutron")
)

// Error is a failed Neutron operation on one port or network. errors.Is matches its Kind (one of the Err*
// sentinels) and the underlying error.
type Error struct {
	Op      string // what was being done: "create port", "bind", "show network", ...
	Port    string // the port concerned, if any
	Network string // the network concerned, if any
	Status  int    // HTTP status Neutron answered, 0 when none
	Type    string // NeutronError type ("IpAddressAlreadyAllocated", ...) when Neutron gave one
	Message string // NeutronError message, or a description of the problem
	Kind    error  // the sentinel: ErrNotFound, ErrUnavailable, ...
	Err     error  // underlying cause, may be nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("network: ")
	if e.Port != "" {
		fmt.Fprintf(&b, "port %s: ", e.Port)
	}
	if e.Network != "" {
		fmt.Fprintf(&b, "network %s: ", e.Network)
	}
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": Neutron answered %d", e.Status)
		if e.Type != "" {
			b.WriteString(" " + e.Type)
		}
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Kind != nil {
		b.WriteString(": " + e.Kind.Error())
	}
	if e.Err != nil && e.Status == 0 {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap gives the sentinel and the cause.
func (e *Error) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// neutronError is the body Neutron answers errors with.
type neutronError struct {
	NeutronError struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Detail  string `json:"detail"`
	} `json:"NeutronError"`
}

// unexpected returns the status error gophercloud returned, if any.
func unexpected(err error) (gophercloud.ErrUnexpectedResponseCode, bool) {
	var v gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &v) {
		return v, true
	}
	var p *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &p) && p != nil {
		return *p, true
	}
	return gophercloud.ErrUnexpectedResponseCode{}, false
}

// classify turns an error of a Neutron call into an *Error, choosing the sentinel as nova's neutron API
// translates neutronclient's exceptions.
func classify(op, portID, networkID string, err error) error {
	var ne *Error
	if errors.As(err, &ne) {
		return err
	}
	e := &Error{Op: op, Port: portID, Network: networkID, Err: err}
	u, ok := unexpected(err)
	if !ok {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			e.Kind = ErrUnavailable
		case errors.As(err, &se) || errors.As(err, &te):
			e.Kind = ErrBadResponse
		default:
			// Transport errors (refused, reset, TLS, timeouts) and anything else gophercloud did not
			// get an answer for: Neutron is unreachable.
			e.Kind = ErrUnavailable
		}
		return e
	}
	e.Status = u.Actual
	var body neutronError
	if json.Unmarshal(u.Body, &body) == nil && body.NeutronError.Type != "" {
		e.Type, e.Message = body.NeutronError.Type, body.NeutronError.Message
	} else {
		e.Message = strings.TrimSpace(string(u.Body))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300] + "..."
		}
	}
	e.Err = nil // the status line says it all; gophercloud's text repeats the body
	switch {
	case u.Actual >= 500:
		e.Kind = ErrUnavailable
	case u.Actual == http.StatusNotFound:
		e.Kind = ErrNotFound
	case u.Actual == http.StatusUnauthorized || u.Actual == http.StatusForbidden:
		e.Kind = ErrForbidden
	case e.Type == "IpAddressAlreadyAllocated" || e.Type == "IpAddressInUse":
		e.Kind = ErrFixedIPInUse
	case e.Type == "IpAddressGenerationFailure":
		e.Kind = ErrNoMoreFixedIPs
	case e.Type == "OverQuota":
		e.Kind = ErrPortLimitExceeded
	case e.Type == "MacAddressInUse" || e.Type == "PortInUse":
		e.Kind = ErrPortInUse
	case u.Actual == http.StatusBadRequest || u.Actual == http.StatusConflict:
		e.Kind = ErrInvalidInput
	default:
		e.Kind = ErrInvalidInput
	}
	return e
}

// connectionError is what neutronclient retries (ConnectionFailed): no answer came back. Timeouts waiting for
// an answer are not retried, as a request that timed out may have been carried out.
func connectionError(err error) bool {
	if _, ok := unexpected(err); ok {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	var ue *url.Error
	var oe *net.OpError
	return errors.As(err, &ue) || errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// isNotFound says whether err is Neutron's 404.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
