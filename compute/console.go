package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/rpc"
	"github.com/novabsd/novabsd/rpc/vo"
)

// maxConsoleBytes is how much of the console log nova's libvirt driver returns (MAX_CONSOLE_BYTES).
const maxConsoleBytes = 100 * 1024

// consoleTokenTTL is [consoleauth] token_ttl's default.
const consoleTokenTTL = 600

type consoleOutputArgs struct {
	Instance   *vo.Object      `json:"instance"`
	TailLength json.RawMessage `json:"tail_length"`
}

func (s *Service) getConsoleOutput(ctx context.Context, args json.RawMessage) (any, error) {
	var a consoleOutputArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	tail, all, err := parseTail(a.TailLength)
	if err != nil {
		return nil, &rpc.ArgsError{Err: err}
	}
	var out string
	err = s.run(ctx, requestContext(ctx), a.Instance, op{fault: true}, func() error {
		g, err := s.guestOf(a.Instance)
		if err != nil {
			return err
		}
		b, err := s.lc.eng.driver.ConsoleOutput(ctx, g, maxConsoleBytes)
		if err != nil {
			return translateEngineError(a.Instance, err)
		}
		out = consoleText(b, tail, all)
		return nil
	})
	return out, err
}

// parseTail reads tail_length: null means everything; nova's int() also accepts numeric strings.
func parseTail(raw json.RawMessage) (n int, all bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, true, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, err
	}
	switch x := v.(type) {
	case float64:
		return int(x), false, nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, false, nil // nova's _tail_log treats a non-number as 0
		}
		return n, false, nil
	}
	return 0, false, errors.New("tail_length must be an integer or null")
}

// consoleText is _tail_log then decode('ascii', 'replace'): the last n lines joined by \n, every byte above
// 0x7f shown as U+FFFD.
func consoleText(b []byte, n int, all bool) string {
	if !all {
		if n <= 0 {
			return ""
		}
		lines := bytes.Split(b, []byte("\n"))
		if n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		b = bytes.Join(lines, []byte("\n"))
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < utf8.RuneSelf {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

type consoleArgs struct {
	Instance    *vo.Object `json:"instance"`
	ConsoleType string     `json:"console_type"`
}

// consoleEndpoint is where a proxy reaches a guest's console, and how the URL a user is given carries the token.
type consoleEndpoint struct {
	host      string
	port      int
	base      string                    // the proxy's base URL (access_url_base of the token)
	accessURL func(token string) string // the access_url answered
}

// getConsole is what get_vnc_console and get_serial_console share: locate checks that the console kind is on and
// finds the guest's listener; the conductor then authorises a console token for it, and the answer is the
// connection info Nova's ConsoleAuthToken gives the API.
func (s *Service) getConsole(ctx context.Context, args json.RawMessage,
	locate func(cfg *conf.Config, a consoleArgs) (consoleEndpoint, error)) (any, error) {
	var a consoleArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	cfg := s.cfg.Load()
	rc := requestContext(ctx)
	var out map[string]any
	err := s.run(ctx, rc, a.Instance, op{fault: true}, func() error {
		ep, err := locate(cfg, a)
		if err != nil {
			return err
		}
		token, err := s.authorizeConsole(ctx, rc, a.Instance, a.ConsoleType, ep.host, ep.port, ep.base)
		if err != nil {
			return err
		}
		out = map[string]any{"host": ep.host, "port": ep.port, "internal_access_path": nil, "token": token,
			"access_url": ep.accessURL(token)}
		return nil
	})
	return out, err
}

// getVNCConsole returns the connection info of the guest's VNC server with a console token the conductor
// authorised, for nova-novncproxy.
func (s *Service) getVNCConsole(ctx context.Context, args json.RawMessage) (any, error) {
	return s.getConsole(ctx, args, func(cfg *conf.Config, a consoleArgs) (consoleEndpoint, error) {
		if !cfg.VNC.Enabled {
			return consoleEndpoint{}, novaError("ConsoleTypeUnavailable", 400, "Unavailable console type %s.", a.ConsoleType)
		}
		if a.ConsoleType != "novnc" {
			return consoleEndpoint{}, novaError("ConsoleTypeInvalid", 400, "Invalid console type %s", a.ConsoleType)
		}
		port, err := s.vncPort(a.Instance)
		if err != nil {
			return consoleEndpoint{}, err
		}
		base := cfg.VNC.NoVNCProxyBaseURL
		return consoleEndpoint{host: orDefault(cfg.VNC.ServerProxyclientAddress, "127.0.0.1"), port: port, base: base,
			accessURL: func(token string) string { return noVNCAccessURL(base, token) }}, nil
	})
}

// authorizeConsole has the conductor create a ConsoleAuthToken for the guest's console at host:port (the
// ConsoleAuthToken.authorize nova's manager calls) and returns the token.
func (s *Service) authorizeConsole(ctx context.Context, rc *rpc.RequestContext, inst *vo.Object, consoleType,
	host string, port int, accessURLBase string) (string, error) {
	tok := vo.New("ConsoleAuthToken", s.release.ObjectVersion("ConsoleAuthToken"))
	if err := setAll(tok, map[string]any{"console_type": consoleType, "host": host, "port": port,
		"internal_access_path": nil, "instance_uuid": instanceUUID(inst),
		"access_url_base": accessURLBase}); err != nil {
		return "", err
	}
	raw, err := s.cond.objectAction(ctx, rc, tok, "authorize", []any{consoleTokenTTL}, nil)
	if err != nil {
		return "", err
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil || token == "" {
		return "", errors.New("ConsoleAuthToken.authorize returned no token")
	}
	return token, nil
}

// vncPort is the guest's VNC port; InstanceNotReady while it is still being built, as nova answers.
func (s *Service) vncPort(inst *vo.Object) (int, error) {
	g, err := s.guestOf(inst)
	if err != nil {
		return 0, err
	}
	port, _, err := guestVNCPort(g)
	if err != nil || port == 0 {
		if vm, _ := asInstance(inst).VMState(); vm == vmBuilding { // checked on receipt
			return 0, novaError("InstanceNotReady", 409, "Instance %s is not ready", instanceUUID(inst))
		}
		if err != nil {
			return 0, translateEngineError(inst, err)
		}
		return 0, novaError("ConsoleTypeUnavailable", 400, "Unavailable console type novnc.")
	}
	return port, nil
}

// noVNCAccessURL is ConsoleAuthToken.access_url for novnc (2025.1+): the token goes into the "path" query
// parameter, after whatever path the base URL already names.
func noVNCAccessURL(base, token string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base + "?path=%3Ftoken%3D" + url.QueryEscape(token)
	}
	q := u.Query()
	q.Set("path", q.Get("path")+"?token="+token)
	u.RawQuery = q.Encode()
	return u.String()
}

type validatePortArgs struct {
	Instance    *vo.Object `json:"instance"`
	Port        string     `json:"port"`
	ConsoleType string     `json:"console_type"`
}

// validateConsolePort is the proxy's check that a token still points at this guest's console.
func (s *Service) validateConsolePort(ctx context.Context, args json.RawMessage) (any, error) {
	var a validatePortArgs
	if err := decodeInstance(args, &a, func() *vo.Object { return a.Instance }); err != nil {
		return nil, err
	}
	var ok bool
	err := s.run(ctx, requestContext(ctx), a.Instance, op{fault: true}, func() error {
		switch a.ConsoleType {
		case "serial":
			var err error
			ok, err = s.validSerialPort(a.Instance, a.Port)
			return err
		case "spice-html5", "spice-direct", "webmks":
			return &rpc.RemoteError{Module: "builtins", Class: "NotImplementedError",
				Message: a.ConsoleType + " consoles are not supported", Kwargs: map[string]any{}}
		}
		port, err := s.vncPort(a.Instance)
		if err != nil {
			return err
		}
		ok = strconv.Itoa(port) == a.Port
		return nil
	})
	return ok, err
}
