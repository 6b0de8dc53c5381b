package rpc

import (
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// replyWaiter consumes the process's reply queue and routes each reply to its call by _msg_id
// (amqpdriver.py ReplyWaiter).
type replyWaiter struct {
	t     *Transport
	queue string
	l     *listener
	ready chan struct{}

	mu      sync.Mutex
	waiters map[string]*pendingCall
	dups    *dupCache
}

type pendingCall struct {
	replies chan *Reply
	lost    chan struct{} // closed when the reply connection is lost: this call's reply can no longer arrive
}

func newReplyWaiter(t *Transport, queue string) *replyWaiter {
	rw := &replyWaiter{t: t, queue: queue, waiters: map[string]*pendingCall{}, dups: newDupCache(256)}
	rw.l = newListener(t, "replies "+queue, []queueSpec{t.replySpec(queue)})
	rw.l.deliver = rw.deliver
	rw.l.onLost = rw.failAll
	rw.l.autoAck = true
	rw.ready = rw.l.ready
	rw.l.start()
	return rw
}

func (rw *replyWaiter) wait() { <-rw.l.done }

func (rw *replyWaiter) listen(msgID string) *pendingCall {
	pc := &pendingCall{replies: make(chan *Reply, 16), lost: make(chan struct{})}
	rw.mu.Lock()
	rw.waiters[msgID] = pc
	rw.mu.Unlock()
	return pc
}

func (rw *replyWaiter) unlisten(msgID string) {
	rw.mu.Lock()
	delete(rw.waiters, msgID)
	rw.mu.Unlock()
}

// failAll tells every waiting call that its reply may be lost with the connection; the calls fail with a
// TimeoutError at once instead of waiting for their deadline.
func (rw *replyWaiter) failAll() {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	for id, pc := range rw.waiters {
		close(pc.lost)
		delete(rw.waiters, id)
	}
}

func (rw *replyWaiter) deliver(d *amqp.Delivery, _ <-chan struct{}) {
	inner, err := UnwrapEnvelope(d.Body)
	if err != nil {
		rw.t.log.Warn("dropping undecodable reply", "queue", rw.queue, "err", err)
		return
	}
	r, err := decodeReplyOwned(inner) // a fresh inner, or the delivery's own body
	if err != nil {
		rw.t.log.Warn("dropping undecodable reply", "queue", rw.queue, "err", err)
		return
	}
	if rw.dups.check(r.UniqueID) {
		return
	}
	rw.mu.Lock()
	pc := rw.waiters[r.MsgID]
	rw.mu.Unlock()
	if pc == nil {
		rw.t.log.Debug("no call waits for this reply (timed out?)", "msg_id", r.MsgID)
		return
	}
	select {
	case pc.replies <- r:
	default:
		rw.t.log.Warn("reply backlog full; dropping a frame", "msg_id", r.MsgID)
	}
}
