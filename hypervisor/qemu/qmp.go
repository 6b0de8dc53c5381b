package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrMonitorClosed is returned for commands pending or issued after the QMP
// connection ended (usually because QEMU exited).
var ErrMonitorClosed = errors.New("qmp: monitor connection closed")

// QMPError is an error reply from QEMU.
type QMPError struct {
	Command string
	Class   string `json:"class"`
	Desc    string `json:"desc"`
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// Event is an asynchronous QMP event (SHUTDOWN, POWERDOWN, RESET, STOP,
// RESUME, ...).
type Event struct {
	Name string          `json:"event"`
	Data json.RawMessage `json:"data"`
	Time time.Time       `json:"-"`
}

type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *QMPError       `json:"error"`
}

// greetingTimeout bounds the wait for QEMU's greeting when ctx has no deadline.
const greetingTimeout = 10 * time.Second

// Monitor is a QMP client over a unix socket. Commands may be issued
// concurrently; replies are matched by id.
type Monitor struct {
	conn *net.UnixConn
	wmu  sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan reply
	subs    map[chan Event]struct{}
	closed  chan struct{}
	err     error
}

// DialQMP connects to the QMP socket at path, reads the greeting and
// negotiates capabilities.
func DialQMP(ctx context.Context, path string) (*Monitor, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: dial %s: %w", path, err)
	}
	m := &Monitor{conn: c.(*net.UnixConn), pending: map[string]chan reply{}, subs: map[chan Event]struct{}{}, closed: make(chan struct{})}
	r := bufio.NewReader(m.conn)
	// QEMU's QMP socket serves one client at a time; a second one is
	// accepted by the kernel but never greeted, so the wait is bounded.
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(greetingTimeout)
	}
	m.conn.SetReadDeadline(dl)
	line, err := r.ReadBytes('\n')
	if err != nil {
		m.conn.Close()
		return nil, fmt.Errorf("qmp: reading greeting: %w", err)
	}
	var greet struct {
		QMP *json.RawMessage `json:"QMP"`
	}
	if json.Unmarshal(line, &greet) != nil || greet.QMP == nil {
		m.conn.Close()
		return nil, fmt.Errorf("qmp: unexpected greeting %q", line)
	}
	m.conn.SetReadDeadline(time.Time{})
	go m.readLoop(r)
	if err := m.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *Monitor) readLoop(r *bufio.Reader) {
	var err error
	for {
		var line []byte
		line, err = r.ReadBytes('\n')
		if err != nil {
			break
		}
		var msg struct {
			ID        string          `json:"id"`
			Event     string          `json:"event"`
			Return    json.RawMessage `json:"return"`
			Error     *QMPError       `json:"error"`
			Data      json.RawMessage `json:"data"`
			Timestamp struct {
				Seconds      int64 `json:"seconds"`
				Microseconds int64 `json:"microseconds"`
			} `json:"timestamp"`
		}
		if json.Unmarshal(line, &msg) != nil {
			continue // QEMU only sends JSON objects; skip anything else
		}
		if msg.Event != "" {
			ev := Event{Name: msg.Event, Data: msg.Data, Time: time.Unix(msg.Timestamp.Seconds, msg.Timestamp.Microseconds*1000)}
			m.mu.Lock()
			for ch := range m.subs {
				select {
				case ch <- ev:
				default: // a slow subscriber loses events rather than stalling QEMU's replies
				}
			}
			m.mu.Unlock()
			continue
		}
		m.mu.Lock()
		ch := m.pending[msg.ID]
		delete(m.pending, msg.ID)
		m.mu.Unlock()
		if ch != nil {
			ch <- reply{Return: msg.Return, Error: msg.Error}
		}
	}
	m.mu.Lock()
	m.err = err
	for id, ch := range m.pending {
		close(ch)
		delete(m.pending, id)
	}
	for ch := range m.subs {
		close(ch)
		delete(m.subs, ch)
	}
	close(m.closed)
	m.mu.Unlock()
}

// Execute runs command with args (nil or a JSON-marshalable value) and
// decodes the return value into out (may be nil).
func (m *Monitor) Execute(ctx context.Context, command string, args, out any) error {
	return m.execute(ctx, command, args, out, nil)
}

// ExecuteWithFile sends f's descriptor with the command (SCM_RIGHTS), as
// getfd and add-fd require.
func (m *Monitor) ExecuteWithFile(ctx context.Context, command string, args any, f *os.File) error {
	return m.execute(ctx, command, args, nil, f)
}

func (m *Monitor) execute(ctx context.Context, command string, args, out any, f *os.File) error {
	ch := make(chan reply, 1)
	m.mu.Lock()
	select {
	case <-m.closed:
		m.mu.Unlock()
		return fmt.Errorf("%w (running %s)", ErrMonitorClosed, command)
	default:
	}
	m.nextID++
	id := "novabsd-" + strconv.FormatUint(m.nextID, 10)
	m.pending[id] = ch
	m.mu.Unlock()

	req := map[string]any{"execute": command, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		m.forget(id)
		return fmt.Errorf("qmp %s: %w", command, err)
	}
	b = append(b, '\n')
	m.wmu.Lock()
	if f != nil {
		_, _, err = m.conn.WriteMsgUnix(b, unixRights(int(f.Fd())), nil)
	} else {
		_, err = m.conn.Write(b)
	}
	m.wmu.Unlock()
	if err != nil {
		m.forget(id)
		return fmt.Errorf("qmp %s: %w", command, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%w (running %s)", ErrMonitorClosed, command)
		}
		if r.Error != nil {
			r.Error.Command = command
			return r.Error
		}
		if out != nil && len(r.Return) > 0 {
			if err := json.Unmarshal(r.Return, out); err != nil {
				return fmt.Errorf("qmp %s: decoding reply: %w", command, err)
			}
		}
		return nil
	case <-ctx.Done():
		m.forget(id)
		return fmt.Errorf("qmp %s: %w", command, ctx.Err())
	}
}

func (m *Monitor) forget(id string) {
	m.mu.Lock()
	delete(m.pending, id)
	m.mu.Unlock()
}

// Subscribe returns a channel receiving every event from now on, and a
// function that ends the subscription. The channel closes when the monitor
// does.
func (m *Monitor) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 32)
	m.mu.Lock()
	select {
	case <-m.closed:
		close(ch)
		m.mu.Unlock()
		return ch, func() {}
	default:
	}
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
		m.mu.Unlock()
	}
}

// Done is closed when the connection ends.
func (m *Monitor) Done() <-chan struct{} { return m.closed }

// Close ends the connection.
func (m *Monitor) Close() error { return m.conn.Close() }

// Status is query-status's reply.
type Status struct {
	Running bool   `json:"running"`
	Status  string `json:"status"`
}

// QueryStatus returns the VM run state ("running", "paused", ...).
func (m *Monitor) QueryStatus(ctx context.Context) (Status, error) {
	var s Status
	err := m.Execute(ctx, "query-status", nil, &s)
	return s, err
}
