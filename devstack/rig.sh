#!/bin/bash
# rig.sh — an all-in-one OpenStack control plane (Keystone, Glance, Placement, Nova API and
# metadata, conductor, scheduler, nova-serialproxy on 127.0.0.1:6083; cells v2; Neutron with ML2/OVN,
# OVN and Open vSwitch) from Debian packages in a debootstrapped root, for novabsd's end-to-end tests. Services run
# chrooted, as their own users, in the host's network namespace on 127.0.0.1, and use the
# host's MariaDB (127.0.0.1:3306) and RabbitMQ (127.0.0.1:5672, vhost novabsd-rig).
#
# Networking: Open vSwitch runs its userspace datapath (br-int and br-ex are datapath_type
# netdev); its database is at ROOT/run/openvswitch/db.sock for the host (OVS_DB_SOCK_HOST in
# `info`). The rig's one ovn-controller is one chassis, whose hostname is the compute host
# that ports are bound to (`chassis HOST`; the last one is kept across restarts). Networks
# made by start: `private` (geneve, 10.0.0.0/24, OVN DHCP, shared) and `public` (flat
# provider network on physnet public, 172.24.4.0/24, shared and external), whose bridge br-ex
# has 172.24.4.1 in the host's namespace, so the host reaches a server's address on `public`.
# The admin project's default security group lets ICMP and SSH in.
#
# usage: rig.sh [--release forky|trixie|sid] COMMAND
#   install            debootstrap the root and install the packages (idempotent)
#   start              configure, sync databases, bootstrap and start every service (repairs)
#   stop               stop exactly what start started and unmount the root's /proc, /sys, /dev
#   status             each service with its port, pid and log file
#   discover           nova-manage cell_v2 discover_hosts
#   openrc             print the path of the admin openrc
#   info               print this rig's names as KEY=VALUE lines (release, directories, vhost, databases)
#   chassis HOST       make the rig's one chassis be compute host HOST: ovn-controller's hostname,
#                      which Neutron binds ports to (the chassis's name, its system-id, stays
#                      novabsd-rig); waits until Neutron lists HOST's OVN controller and metadata
#                      agents alive, deletes dead agents of other hosts. Idempotent (0.1 s when
#                      HOST already is the chassis; ~3 s to change it).
#   compute-conf HOST  print a nova.conf for a compute host (novabsd) named HOST (with [neutron]
#                      and [os_vif_ovs] ovsdb_connection for the rig's Open vSwitch)
#   tempest-conf       print a tempest.conf for Tempest (installed in the root) against this rig: admin
#                      credentials, images tiny and tiny-qcow2, flavors tiny and tiny-alt (made if missing),
#                      network private, and the compute feature flags of a `compute-conf` host (see
#                      rig/tempest.sh); the rig must be running
#   service start|stop NAME  start or stop an optional service of the running rig: nova-api-reclaim, a
#                      second compute API on 8764 whose deletes are soft deletes
#                      (reclaim_instance_interval = 3600), for the soft delete and restore tests
#   exec CMD...        run CMD inside the root with the admin openrc (e.g. exec openstack server list)
#
# Releases: forky is Nova 2026.1 (the default; Neutron 29 and OVN 26.03 from sid, OVS 4.0),
# trixie is Nova 2025.1, sid is Nova 2026.2. Each release is its own rig
# and both may be installed on one machine: forky in /var/lib/novabsd-rig with databases keystone,
# nova, ... and vhost novabsd-rig; any other release R in /var/lib/novabsd-rig-R with databases
# R_keystone, R_nova, ... and vhost novabsd-rig-R. They share the ports, so one runs at a time.
#
# Environment: NOVABSD_RIG_RELEASE (default release when --release is not given), NOVABSD_RIG_DIR
# (overrides the release's directory), NOVABSD_IMAGE_DIR (tiny image, default
# /var/cache/novabsd/image), NOVABSD_RIG_MIRROR (default http://deb.debian.org/debian).
set -eEuo pipefail

RIG_SRC=$(dirname "$(readlink -f "$0")")
RELEASE=${NOVABSD_RIG_RELEASE:-forky}
IMAGE_DIR=${NOVABSD_IMAGE_DIR:-/var/cache/novabsd/image}
MIRROR=${NOVABSD_RIG_MIRROR:-http://deb.debian.org/debian}
PASSWORD=${NOVABSD_RIG_PASSWORD:-novabsd-rig}   # databases and service users; loopback only
ADMIN_PASSWORD=admin
REGION=RegionOne
DB_HOST=127.0.0.1

# shellcheck source=rig/common.sh
. "$RIG_SRC/rig/common.sh"

usage() { sed -n '2,/^set -eEuo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
	case $1 in
	--release) RELEASE=${2:-}; shift 2 ;;
	--release=*) RELEASE=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) break ;;
	esac
done
case $RELEASE in forky | trixie | sid) ;; *) die "unknown release '$RELEASE' (forky, trixie or sid)" ;; esac
# Everything a rig owns outside its root is named from its release, so that two rigs never share a
# database or a vhost; forky keeps the names it always had (CI and existing roots depend on them).
if [[ $RELEASE == forky ]]; then
	RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
	DB_PREFIX=
	RABBIT_VHOST=novabsd-rig
else
	RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig-$RELEASE}
	DB_PREFIX=${RELEASE}_
	RABBIT_VHOST=novabsd-rig-$RELEASE
fi
ROOT=$RIG_DIR/root
STATE=$RIG_DIR/state
LOGDIR=$ROOT/var/log/novabsd-rig   # inside the root so that services can write them; named by host path
TRANSPORT_URL="rabbit://guest:guest@127.0.0.1:5672/$RABBIT_VHOST"

# The phases read the paths above when sourced.
# shellcheck source=rig/install.sh
. "$RIG_SRC/rig/install.sh"
# shellcheck source=rig/configure.sh
. "$RIG_SRC/rig/configure.sh"
# shellcheck source=rig/services.sh
. "$RIG_SRC/rig/services.sh"
# shellcheck source=rig/network.sh
. "$RIG_SRC/rig/network.sh"
# shellcheck source=rig/tempest.sh
. "$RIG_SRC/rig/tempest.sh"

[[ $# -ge 1 ]] || usage
CMD=$1; shift

case $CMD in
install) need_root; rig_install ;;
start) need_root; rig_start ;;
stop) need_root; rig_stop ;;
status) rig_status ;;
discover) need_root; rig_discover ;;
info) rig_info ;;
openrc) [[ -f $STATE/openrc ]] || die "no openrc yet: run '$0 start'"; echo "$STATE/openrc" ;;
chassis) need_root; [[ $# -eq 1 ]] || die "usage: rig.sh chassis HOST"; rig_chassis "$1" ;;
compute-conf) [[ $# -eq 1 ]] || die "usage: rig.sh compute-conf HOST"; compute_conf "$1" ;;
tempest-conf) need_root; [[ $# -eq 0 ]] || die "usage: rig.sh tempest-conf"; tempest_conf ;;
service) need_root; [[ $# -eq 2 ]] || die "usage: rig.sh service start|stop NAME"; rig_service "$1" "$2" ;;
exec) need_root; [[ $# -ge 1 ]] || die "usage: rig.sh exec CMD..."; in_root_admin "$@" ;;
*) usage ;;
esac
