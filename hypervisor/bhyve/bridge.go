package bhyve

import (
	"io"
	"net"
	"sync"
	"time"
)

// clientWriteTimeout bounds one write of guest output to the TCP client: a client that stops reading loses its
// connection instead of stalling the console log behind it.
const clientWriteTimeout = 5 * time.Second

// consoleBridge serves a guest's console (the nmdm B side) to one TCP client at a time, as QEMU's socket chardev
// and bhyve's own tcp= backend do, for a console proxy such as nova-serialproxy. The console logger hands it
// every byte the guest prints (send); what the client types goes to in. A second client while one is connected
// is closed at once. close stops it and waits for its goroutines.
type consoleBridge struct {
	ln net.Listener
	in io.Writer // the B side: what the client types reaches the guest
	wg sync.WaitGroup

	mu     sync.Mutex
	client net.Conn // the connected client, nil if none
	closed bool
}

// listenConsole starts serving addr ("host:port").
func listenConsole(addr string, in io.Writer) (*consoleBridge, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	br := &consoleBridge{ln: ln, in: in}
	br.wg.Add(1)
	go br.accept()
	return br, nil
}

func (br *consoleBridge) accept() {
	defer br.wg.Done()
	for {
		c, err := br.ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		br.mu.Lock()
		taken := br.client != nil || br.closed
		if !taken {
			br.client = c
			br.wg.Add(1)
		}
		br.mu.Unlock()
		if taken {
			c.Close()
			continue
		}
		go br.serve(c)
	}
}

// serve copies what client c types to the guest until either side ends.
func (br *consoleBridge) serve(c net.Conn) {
	defer br.wg.Done()
	_, _ = io.Copy(br.in, c)
	br.drop(c)
}

// drop disconnects c if it is still the client.
func (br *consoleBridge) drop(c net.Conn) {
	br.mu.Lock()
	if br.client == c {
		br.client = nil
	}
	br.mu.Unlock()
	c.Close()
}

// send gives the guest's output p to the client, if one is connected; the lock is not held while writing.
func (br *consoleBridge) send(p []byte) {
	br.mu.Lock()
	c := br.client
	br.mu.Unlock()
	if c == nil {
		return
	}
	_ = c.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
	if _, err := c.Write(p); err != nil {
		br.drop(c)
	}
}

// close stops listening, disconnects the client and waits until the bridge's goroutines have ended.
func (br *consoleBridge) close() {
	br.mu.Lock()
	br.closed = true
	c := br.client
	br.mu.Unlock()
	br.ln.Close()
	if c != nil {
		c.Close()
	}
	br.wg.Wait()
}
