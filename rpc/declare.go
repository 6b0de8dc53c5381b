package rpc

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// queueSpec is one consumer's declaration, as impl_rabbit.py Consumer.declare makes it.
type queueSpec struct {
	exchange     string // "" = default exchange: not declared, not bound
	exchangeType string
	exDurable    bool
	exAutoDelete bool
	queue        string
	durable      bool
	autoDelete   bool
	args         amqp.Table
	routingKey   string
	consumerArgs amqp.Table
	stream       bool
}

// queueArgs is impl_rabbit.py _get_queue_arguments.
func (t *Transport) queueArgs(ha bool, ttlSeconds int, quorum, stream bool) amqp.Table {
	r := &t.opts.Rabbit
	if stream {
		args := amqp.Table{"x-queue-type": "stream"}
		if ttlSeconds > 0 {
			args["x-max-age"] = fmt.Sprintf("%ds", ttlSeconds)
		}
		return args
	}
	args := amqp.Table{}
	if ha {
		args["x-ha-policy"] = "all"
	}
	if quorum {
		args["x-queue-type"] = "quorum"
		if r.QuorumDeliveryLimit > 0 {
			args["x-delivery-limit"] = amqpInt(int64(r.QuorumDeliveryLimit))
		}
		if r.QuorumMaxMemoryLength > 0 {
			args["x-max-in-memory-length"] = amqpInt(int64(r.QuorumMaxMemoryLength))
		}
		if r.QuorumMaxMemoryBytes > 0 {
			args["x-max-in-memory-bytes"] = amqpInt(int64(r.QuorumMaxMemoryBytes))
		}
	}
	if ttlSeconds > 0 {
		args["x-expires"] = amqpInt(int64(ttlSeconds) * 1000)
	}
	return args
}

func (t *Transport) ttlSeconds() int { return int(t.opts.Rabbit.TransientQueuesTTL.Seconds()) }

func (t *Transport) consumerArgs() amqp.Table {
	if t.opts.Rabbit.EnableCancelOnFailover {
		return amqp.Table{"x-cancel-on-ha-failover": true}
	}
	return nil
}

// topicSpec is declare_topic_consumer: queue `topic` (or `topic.server`) bound to the control exchange.
func (t *Transport) topicSpec(exchange, topic string) queueSpec {
	r := &t.opts.Rabbit
	return queueSpec{
		exchange: exchange, exchangeType: "topic", exDurable: r.durable(), exAutoDelete: r.AutoDelete,
		queue: topic, durable: r.durable(), autoDelete: r.AutoDelete,
		args:       t.queueArgs(r.HAQueues, 0, r.QuorumQueue, false),
		routingKey: topic, consumerArgs: t.consumerArgs(),
	}
}

// fanoutSpec is declare_fanout_consumer: `<topic>_fanout` exchange and its per-process queue.
func (t *Transport) fanoutSpec(topic string) queueSpec {
	r := &t.opts.Rabbit
	name := topic + "_fanout_" + t.uniqueSuffix()
	if r.StreamFanout {
		name = topic + "_fanout"
	}
	durable := r.TransientQuorumQueue || r.StreamFanout
	return queueSpec{
		exchange: topic + "_fanout", exchangeType: "fanout", exDurable: durable, exAutoDelete: true,
		queue: name, durable: durable, autoDelete: false,
		args:       t.queueArgs(r.HAQueues, t.ttlSeconds(), r.TransientQuorumQueue, r.StreamFanout),
		routingKey: topic, consumerArgs: t.consumerArgs(), stream: r.StreamFanout,
	}
}

// replySpec is declare_direct_consumer for the reply queue (default exchange, routed by queue name).
func (t *Transport) replySpec(queue string) queueSpec {
	r := &t.opts.Rabbit
	return queueSpec{
		queue: queue, durable: r.TransientQuorumQueue, autoDelete: false,
		args:         t.queueArgs(r.HAQueues, t.ttlSeconds(), r.TransientQuorumQueue, false),
		consumerArgs: t.consumerArgs(),
	}
}

// DeclareError reports a declaration the broker refused, typically because the cloud declared the same name with
// other flags ([oslo_messaging_rabbit] options differ from the cloud's).
type DeclareError struct {
	Kind string // "exchange" or "queue" or "binding"
	Name string
	Err  error
}

func (e *DeclareError) Error() string {
	return fmt.Sprintf("rpc: declaring %s %q: %v (do the [oslo_messaging_rabbit] options match the cloud's?)",
		e.Kind, e.Name, e.Err)
}
func (e *DeclareError) Unwrap() error { return e.Err }

// declare makes the exchange, queue and binding on ch. Like oslo 18.3, an exchange or queue that exists as
// non-durable while we ask for durable is re-declared non-durable; any other mismatch is an error.
func (t *Transport) declare(conn *amqp.Connection, ch **amqp.Channel, s *queueSpec) error {
	if s.exchange != "" {
		err := (*ch).ExchangeDeclare(s.exchange, s.exchangeType, s.exDurable, s.exAutoDelete, false, false, nil)
		if err != nil && isDurableMismatch(err) && s.exDurable {
			t.log.Warn("exchange exists as non-durable; declaring it non-durable", "exchange", s.exchange)
			if *ch, err = conn.Channel(); err != nil {
				return &DeclareError{"exchange", s.exchange, err}
			}
			s.exDurable = false
			err = (*ch).ExchangeDeclare(s.exchange, s.exchangeType, false, s.exAutoDelete, false, false, nil)
		}
		if err != nil {
			return &DeclareError{"exchange", s.exchange, err}
		}
	}
	_, err := (*ch).QueueDeclare(s.queue, s.durable, s.autoDelete, false, false, s.args)
	if err != nil && isDurableMismatch(err) && s.durable {
		t.log.Warn("queue exists as non-durable; declaring it non-durable", "queue", s.queue)
		if *ch, err = conn.Channel(); err != nil {
			return &DeclareError{"queue", s.queue, err}
		}
		s.durable = false
		_, err = (*ch).QueueDeclare(s.queue, false, s.autoDelete, false, false, s.args)
	}
	if err != nil {
		return &DeclareError{"queue", s.queue, err}
	}
	if s.exchange != "" {
		if err := (*ch).QueueBind(s.queue, s.routingKey, s.exchange, false, nil); err != nil {
			return &DeclareError{"binding", s.queue + "->" + s.exchange, err}
		}
	}
	return nil
}

func isDurableMismatch(err error) bool {
	var aerr *amqp.Error
	if e, ok := err.(*amqp.Error); ok {
		aerr = e
	}
	return aerr != nil && aerr.Code == amqp.PreconditionFailed && strings.Contains(aerr.Reason, "inequivalent arg 'durable'")
}

// amqpInt types an integer argument as py-amqp does (signed 32-bit when it fits, else 64-bit): RabbitMQ compares
// argument types too, so a "long" x-expires against an existing "signedint" one is refused as inequivalent.
func amqpInt(n int64) any {
	if n >= -2147483648 && n <= 2147483647 {
		return int32(n)
	}
	return n
}
