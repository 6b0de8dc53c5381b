// Package rpc speaks oslo.messaging's RabbitMQ ("rabbit") driver on the wire, so Go services can serve and call
// OpenStack RPC APIs next to Python peers.
//
// A process makes one Transport (one reply queue per process, like oslo.messaging), then Servers for the targets it
// listens on and Clients for the targets it calls. Endpoints are registered by the caller with a namespace, an API
// version and a method table; the package knows nothing of Nova. Versioned-object envelopes live in rpc/vo.
//
// Wire facts follow oslo.messaging 18.3 (impl_rabbit.py, amqpdriver.py, common.py, rpc/dispatcher.py); 14.0.3 peers
// speak the same wire.
package rpc
