module github.com/novabsd/novabsd

go 1.26.0

require (
	github.com/google/uuid v1.2.0
	github.com/gophercloud/gophercloud/v2 v2.15.0
	github.com/mistifyio/go-zfs/v3 v3.0.1
	github.com/rabbitmq/amqp091-go v1.16.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
	libvirt.org/go/libvirtxml v1.12008.0
)
