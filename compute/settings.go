package compute

import (
	"log/slog"
	"time"

	"github.com/novabsd/novabsd/conf"
	"github.com/novabsd/novabsd/placement"
	"github.com/novabsd/novabsd/rpc"
)

// rpcOptions maps [DEFAULT] and [oslo_messaging_rabbit] onto the transport's options.
func rpcOptions(c *conf.Config, log *slog.Logger) rpc.Options {
	o := rpc.DefaultOptions()
	d, r := c.Default, c.Rabbit
	o.TransportURL = d.TransportURL
	o.ControlExchange = d.ControlExchange
	o.RPCResponseTimeout = seconds(d.RPCResponseTimeout)
	o.ExecutorPoolSize = d.ExecutorThreadPoolSize
	o.PingEnabled = d.RPCPingEnabled
	o.Logger = log
	ro := &o.Rabbit
	ro.HeartbeatTimeoutThreshold = seconds(r.HeartbeatTimeoutThreshold)
	ro.HeartbeatRate = r.HeartbeatRate
	ro.RetryInterval = seconds(r.RabbitRetryInterval)
	ro.RetryBackoff = seconds(r.RabbitRetryBackoff)
	ro.IntervalMax = seconds(r.RabbitIntervalMax)
	ro.ReconnectDelay = time.Duration(r.KombuReconnectDelay * float64(time.Second))
	ro.LoginMethod = r.RabbitLoginMethod
	ro.DurableQueues = r.AMQPDurableQueues
	ro.AutoDelete = r.AMQPAutoDelete
	ro.HAQueues = r.RabbitHAQueues
	ro.QuorumQueue = r.RabbitQuorumQueue
	ro.TransientQuorumQueue = r.RabbitTransientQuorumQueue
	ro.StreamFanout = r.RabbitStreamFanout
	ro.QuorumDeliveryLimit = r.RabbitQuorumDeliveryLimit
	ro.QuorumMaxMemoryLength = r.RabbitQuorumMaxMemoryLength
	ro.QuorumMaxMemoryBytes = r.RabbitQuorumMaxMemoryBytes
	ro.EnableCancelOnFailover = r.EnableCancelOnFailover
	ro.UseQueueManager = r.UseQueueManager
	if r.Hostname != "" {
		ro.QueueManagerHostname = r.Hostname
	}
	if r.Processname != "" {
		ro.QueueManagerProcessname = r.Processname
	}
	ro.TransientQueuesTTL = seconds(r.RabbitTransientQueuesTTL)
	ro.QoSPrefetchCount = r.RabbitQOSPrefetchCount
	ro.DirectMandatoryFlag = r.DirectMandatoryFlag
	ro.MissingConsumerRetryTimeout = seconds(r.KombuMissingConsumerRetryTimeout)
	ro.SSL = r.SSL
	ro.SSLCAFile = r.SSLCAFile
	ro.SSLCertFile = r.SSLCertFile
	ro.SSLKeyFile = r.SSLKeyFile
	ro.SSLVersion = r.SSLVersion
	return o
}

// placementOptions maps [placement] (keystoneauth's session, auth and adapter options) onto the client's.
func placementOptions(c *conf.Config, userAgent string) placement.Options {
	p := c.Placement
	o := placement.Options{
		AuthURL: p.AuthURL, Username: p.Username, UserID: p.UserID, Password: p.Password,
		UserDomainName: p.UserDomainName, UserDomainID: p.UserDomainID,
		ProjectName: p.ProjectName, ProjectID: p.ProjectID,
		ProjectDomainName: p.ProjectDomainName, ProjectDomainID: p.ProjectDomainID,
		DefaultDomainName: p.DefaultDomainName, DefaultDomainID: p.DefaultDomainID,
		RegionName: p.Adapter.RegionName, ValidInterfaces: p.ValidInterfaces,
		ServiceType: p.ServiceType, ServiceName: p.ServiceName, EndpointOverride: p.EndpointOverride,
		CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile, Insecure: p.Insecure,
		UserAgent: userAgent,
	}
	if p.Timeout != nil {
		o.Timeout = seconds(*p.Timeout)
	}
	return o
}

// resourceConfig is the part of [DEFAULT] that shapes the inventory: reserves and allocation ratios.
func resourceConfig(c *conf.Config) placement.ResourceConfig {
	d := c.Default
	rc := placement.DefaultResourceConfig()
	rc.ReservedHostCPUs = int64(d.ReservedHostCPUs)
	rc.ReservedHostMemoryMB = int64(d.ReservedHostMemoryMB)
	rc.ReservedHostDiskMB = int64(d.ReservedHostDiskMB)
	rc.CPUAllocationRatio = d.CPUAllocationRatio
	rc.RAMAllocationRatio = d.RAMAllocationRatio
	rc.DiskAllocationRatio = d.DiskAllocationRatio
	rc.InitialCPUAllocationRatio = d.InitialCPUAllocationRatio
	rc.InitialRAMAllocationRatio = d.InitialRAMAllocationRatio
	rc.InitialDiskAllocationRatio = d.InitialDiskAllocationRatio
	return rc
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
