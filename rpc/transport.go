package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/novabsd/novabsd/internal/retry"
	"github.com/novabsd/novabsd/internal/tlsclient"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Transport is one process's link to the broker: it dials the transport_url's hosts, owns the publishing
// connection and the process's single reply queue, and makes Servers and Clients.
type Transport struct {
	opts  Options
	url   *TransportURL
	log   *slog.Logger
	hosts []Host
	next  atomic.Uint64
	tls   *tls.Config

	pub *publisher

	replyMu sync.Mutex
	reply   *replyWaiter

	qmCounter atomic.Int64

	ctx    context.Context // ends when the transport closes; bounds every background loop
	cancel context.CancelFunc
}

// NewTransport checks opts and the transport_url. It does not connect: connections are made on first use and
// re-made with backoff, across all hosts of the URL, whenever they are lost.
func NewTransport(opts Options) (*Transport, error) {
	u, err := ParseTransportURL(opts.TransportURL)
	if err != nil {
		return nil, err
	}
	if err := u.ApplyQuery(&opts.Rabbit); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.DuplicateWindow <= 0 {
		opts.DuplicateWindow = 16
	}
	t := &Transport{opts: opts, url: u, log: opts.logger().With("component", "rpc")}
	t.hosts = append([]Host(nil), u.Hosts...)
	// oslo shuffles the host list per connection object so processes spread over a cluster.
	rand.Shuffle(len(t.hosts), func(i, j int) { t.hosts[i], t.hosts[j] = t.hosts[j], t.hosts[i] })
	if opts.Rabbit.SSL {
		if t.tls, err = tlsConfig(&opts.Rabbit, t.hosts); err != nil {
			return nil, err
		}
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.pub = newPublisher(t)
	return t, nil
}

// Options returns the effective options (URL query applied).
func (t *Transport) Options() Options { return t.opts }

// Close stops the reply consumer and the publisher. Stop Servers first so their last replies go out.
func (t *Transport) Close() error {
	t.cancel()
	t.replyMu.Lock()
	rw := t.reply
	t.replyMu.Unlock()
	if rw != nil {
		rw.wait()
	}
	t.pub.close()
	return nil
}

func tlsConfig(r *RabbitOptions, hosts []Host) (*tls.Config, error) {
	o := tlsclient.Options{CAFile: r.SSLCAFile, CertFile: r.SSLCertFile, KeyFile: r.SSLKeyFile}
	switch r.SSLVersion {
	case "", "TLSv1_2", "tlsv1_2":
	case "TLSv1_3", "tlsv1_3":
		o.MinVersion = tls.VersionTLS13
	default:
		return nil, &ConfigError{"ssl_version", fmt.Sprintf("%q is not supported (TLSv1_2, TLSv1_3)", r.SSLVersion)}
	}
	cfg, err := tlsclient.Config(o)
	var te *tlsclient.Error
	if errors.As(err, &te) {
		return nil, &ConfigError{tlsOptions[te.Field], fmt.Sprintf("%s: %v", te.Path, te.Err)}
	}
	return cfg, err
}

// tlsOptions spells tlsclient's fields as [oslo_messaging_rabbit] does.
var tlsOptions = map[string]string{tlsclient.FieldCAFile: "ssl_ca_file", tlsclient.FieldCertFile: "ssl_cert_file",
	tlsclient.FieldKeyFile: "ssl_key_file"}

// dial connects to the next host of the URL, retrying with oslo's backoff (rabbit_retry_interval, +
// rabbit_retry_backoff per attempt, capped at rabbit_interval_max) until it succeeds or ctx ends. The pauses are
// shortened at random by up to a fifth: every compute node of a cloud loses the broker at the same moment when it
// restarts, and would otherwise come back in step.
func (t *Transport) dial(ctx context.Context, purpose string) (*amqp.Connection, error) {
	r := &t.opts.Rabbit
	policy := retry.Policy{Backoff: retry.Backoff{Initial: r.RetryInterval, Step: r.RetryBackoff, Max: r.IntervalMax,
		Jitter: 0.2}}
	sched := policy.Backoff // for the log: the pause before jitter, which only shortens it
	sched.Jitter = 0
	var h Host
	var err error
	for attempt := range retry.Loop(ctx, policy) {
		h = t.hosts[int(t.next.Add(1)-1)%len(t.hosts)]
		var conn *amqp.Connection
		conn, err = t.dialHost(h, purpose)
		if err == nil {
			if attempt > 0 {
				t.log.Info("connected to broker", "host", h.Addr(), "purpose", purpose, "attempts", attempt+1)
			}
			return conn, nil
		}
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
			t.log.Error("broker refused credentials", "host", h.Addr(), "err", err)
		} else {
			t.log.Warn("cannot connect to broker", "host", h.Addr(), "purpose", purpose, "attempt", attempt+1,
				"retry_within", sched.Pause(attempt+1), "err", err)
		}
	}
	return nil, fmt.Errorf("rpc: connecting to %s: %w (last error: %v)", h.Addr(), ctx.Err(), err)
}

// coalescingDial wraps dial's connections in a coalescingConn.
func coalescingDial(dial func(network, addr string) (net.Conn, error)) func(network, addr string) (net.Conn, error) {
	return func(network, addr string) (net.Conn, error) {
		c, err := dial(network, addr)
		if err != nil {
			return nil, err
		}
		return newCoalescingConn(c), nil
	}
}

func (t *Transport) dialHost(h Host, purpose string) (*amqp.Connection, error) {
	r := &t.opts.Rabbit
	user, pass := h.Username, h.Password
	if user == "" && pass == "" {
		user, pass = "guest", "guest"
	}
	var auth amqp.Authentication
	switch r.LoginMethod {
	case "PLAIN":
		auth = &amqp.PlainAuth{Username: user, Password: pass}
	case "EXTERNAL":
		auth = &amqp.ExternalAuth{}
	default:
		auth = &amqp.AMQPlainAuth{Username: user, Password: pass}
	}
	vhost := t.url.VirtualHost
	if vhost == "" {
		vhost = "/"
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(fmt.Sprintf("%s:%d:%s:%s", filepath.Base(os.Args[0]), os.Getpid(), purpose, uuid.NewString()))
	cfg := amqp.Config{
		SASL:       []amqp.Authentication{auth},
		Vhost:      vhost,
		Heartbeat:  r.HeartbeatTimeoutThreshold,
		Properties: props,
		Dial:       coalescingDial(amqp.DefaultDial(10 * time.Second)),
	}
	scheme := "amqp"
	if t.tls != nil {
		c := t.tls.Clone()
		if c.ServerName == "" {
			c.ServerName = h.Hostname
		}
		cfg.TLSClientConfig = c
		scheme = "amqps"
	}
	return amqp.DialConfig(scheme+"://"+h.Addr()+"/", cfg)
}

// uniqueSuffix names reply and fanout queues: uuid4 hex, or hostname:processname:N with use_queue_manager so a
// restarted process reuses its queue names (N counts from 1 per process, like oslo's QManager after a restart).
func (t *Transport) uniqueSuffix() string {
	r := &t.opts.Rabbit
	if !r.UseQueueManager {
		return newHexID()
	}
	return r.QueueManagerHostname + ":" + r.QueueManagerProcessname + ":" + strconv.FormatInt(t.qmCounter.Add(1), 10)
}

// replies returns the process's reply waiter, starting it on first use.
func (t *Transport) replies(ctx context.Context) (*replyWaiter, error) {
	t.replyMu.Lock()
	if t.reply == nil {
		t.reply = newReplyWaiter(t, "reply_"+t.uniqueSuffix())
	}
	rw := t.reply
	t.replyMu.Unlock()
	select {
	case <-rw.ready:
		return rw, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("rpc: reply queue %s not ready: %w", rw.queue, ctx.Err())
	case <-t.ctx.Done():
		return nil, errors.New("rpc: transport closed")
	}
}
