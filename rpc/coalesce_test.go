package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestCoalescingConnKeepsOrder: frames written one after another (amqp091 serialises writes under its send lock)
// arrive byte for byte in the same order, however the background writer batches them.
func TestCoalescingConnKeepsOrder(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newCoalescingConn(a)
	defer c.Close()
	var want bytes.Buffer
	var sendM sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				frame := []byte(fmt.Sprintf("<g%d f%d %s>", g, i, bytes.Repeat([]byte{'x'}, i%97)))
				sendM.Lock()
				want.Write(frame)
				if _, err := c.Write(frame); err != nil {
					sendM.Unlock()
					t.Error(err)
					return
				}
				sendM.Unlock()
			}
		}()
	}
	wg.Wait() // under maxPending in all, so no write waited for the reader
	got := make([]byte, want.Len())
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatalf("reading what was written: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the peer read the frames out of order or altered")
	}
}

// TestCoalescingConnReportsWriteErrors: once the socket fails, writes fail, as amqp091 expects of a broken
// connection, and the socket is closed so its reader stops too.
func TestCoalescingConnReportsWriteErrors(t *testing.T) {
	a, b := net.Pipe()
	c := newCoalescingConn(a)
	defer c.Close()
	b.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c.Write([]byte("frame"))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after the peer closed: %v, want io.ErrClosedPipe", err)
	}
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatal("the failed socket is still readable; amqp091's reader would not notice")
	}
}

// TestCoalescingConnPushesBack: a peer that does not read makes writes wait once maxPending bytes are queued,
// instead of growing memory; they continue when the peer reads.
func TestCoalescingConnPushesBack(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newCoalescingConn(a)
	defer c.Close()
	chunk := make([]byte, 64<<10)
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for n < 3*maxPending {
			if _, err := c.Write(chunk); err != nil {
				break
			}
			n += len(chunk)
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("wrote %d bytes to a peer that reads nothing", n)
	case <-time.After(300 * time.Millisecond):
	}
	go func() { _, _ = io.Copy(io.Discard, b) }()
	select {
	case n := <-wrote:
		if n < 3*maxPending {
			t.Fatalf("wrote only %d bytes", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes did not resume once the peer read")
	}
}
