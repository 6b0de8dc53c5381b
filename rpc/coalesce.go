package rpc

import (
	"net"
	"sync"
)

// maxPending bounds the bytes a coalescingConn holds before Write waits for the socket, so a stalled broker
// pushes back on publishers instead of growing memory.
const maxPending = 1 << 20

// coalescingConn hands writes to one background writer. amqp091 writes and flushes every frame (an ack, a
// publish's three frames) with its own syscall while holding the connection's send lock; here a write only
// queues the bytes, and whatever publishes, acks and heartbeats queue while the previous write is on the wire
// leave together in the next one. Under load that is fewer syscalls for us and fewer, larger TCP segments for
// the broker to read, which is what it spends its time on. The bytes and their order on the wire are unchanged.
type coalescingConn struct {
	net.Conn

	mu      sync.Mutex
	drained *sync.Cond // pending shrank or err was set
	pending []byte
	spare   []byte
	err     error

	kick chan struct{} // cap 1: there is something to write
	done chan struct{} // closed by Close
	once sync.Once
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	cc := &coalescingConn{Conn: c, kick: make(chan struct{}, 1), done: make(chan struct{})}
	cc.drained = sync.NewCond(&cc.mu)
	go cc.writer()
	return cc
}

// Write queues p. An error of an earlier background write is returned here, so amqp091 sees a broken
// connection as it would have.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && len(c.pending) >= maxPending {
		c.drained.Wait()
	}
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, err
	}
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default: // the writer is already due to look
	}
	return len(p), nil
}

func (c *coalescingConn) writer() {
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		c.mu.Lock()
		for len(c.pending) > 0 && c.err == nil {
			buf := c.pending
			c.pending = c.spare[:0]
			c.mu.Unlock()
			_, err := c.Conn.Write(buf)
			c.mu.Lock()
			if cap(buf) <= 64<<10 { // keep a modest buffer; let a burst's big one go
				c.spare = buf[:0]
			} else {
				c.spare = nil
			}
			if err != nil {
				c.err = err
				// The reader must notice too, so amqp091 shuts the connection down at once.
				_ = c.Conn.Close()
			}
			c.drained.Broadcast()
		}
		c.mu.Unlock()
	}
}

// Close stops the writer and closes the socket; amqp091 closes only after the broker's close-ok, so nothing
// is pending by then.
func (c *coalescingConn) Close() error {
	c.once.Do(func() { close(c.done) })
	c.mu.Lock()
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.drained.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}
