//go:build novabsd_deps

// Package novabsd pins the chosen dependencies in go.mod while packages that use them are being written.
package novabsd

import (
	_ "github.com/gophercloud/gophercloud/v2"
	_ "github.com/mistifyio/go-zfs/v3"
	_ "github.com/rabbitmq/amqp091-go"
	_ "golang.org/x/sys/unix"
	_ "libvirt.org/go/libvirtxml"
)
