#!/bin/bash
# rig.sh — an all-in-one OpenStack control plane (Keystone, Glance, Placement, Nova API,
# conductor, scheduler; cells v2) from Debian packages in a debootstrapped root, for
# novabsd's end-to-end tests. Services run chrooted, as their own users, in the host's
# network namespace on 127.0.0.1, and use the host's MariaDB (127.0.0.1:3306) and
# RabbitMQ (127.0.0.1:5672, vhost novabsd-rig).
#
# usage: rig.sh [--release forky|trixie|sid] COMMAND
#   install            debootstrap the root and install the packages (idempotent)
#   start              configure, sync databases, bootstrap and start every service (repairs)
#   stop               stop exactly what start started and unmount the root's /proc, /sys, /dev
#   status             each service with its port, pid and log file
#   discover           nova-manage cell_v2 discover_hosts
#   openrc             print the path of the admin openrc
#   compute-conf HOST  print a nova.conf for a compute host (novabsd) named HOST
#   exec CMD...        run CMD inside the root with the admin openrc (e.g. exec openstack server list)
#
# Environment: NOVABSD_RIG_DIR (default /var/lib/novabsd-rig), NOVABSD_IMAGE_DIR (tiny image,
# default /var/cache/novabsd/image), NOVABSD_RIG_MIRROR (default http://deb.debian.org/debian).
set -eEuo pipefail

RIG_SRC=$(dirname "$(readlink -f "$0")")
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
ROOT=$RIG_DIR/root
STATE=$RIG_DIR/state
LOGDIR=$ROOT/var/log/novabsd-rig   # inside the root so that services can write them; named by host path
IMAGE_DIR=${NOVABSD_IMAGE_DIR:-/var/cache/novabsd/image}
MIRROR=${NOVABSD_RIG_MIRROR:-http://deb.debian.org/debian}
RELEASE=forky
PASSWORD=${NOVABSD_RIG_PASSWORD:-novabsd-rig}   # databases and service users; loopback only
ADMIN_PASSWORD=admin
REGION=RegionOne
RABBIT_VHOST=novabsd-rig
TRANSPORT_URL="rabbit://guest:guest@127.0.0.1:5672/$RABBIT_VHOST"
DB_HOST=127.0.0.1

# shellcheck source=rig/common.sh
. "$RIG_SRC/rig/common.sh"
# shellcheck source=rig/install.sh
. "$RIG_SRC/rig/install.sh"
# shellcheck source=rig/configure.sh
. "$RIG_SRC/rig/configure.sh"
# shellcheck source=rig/services.sh
. "$RIG_SRC/rig/services.sh"

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
[[ $# -ge 1 ]] || usage
CMD=$1; shift

case $CMD in
install) need_root; rig_install ;;
start) need_root; rig_start ;;
stop) need_root; rig_stop ;;
status) rig_status ;;
discover) need_root; rig_discover ;;
openrc) [[ -f $STATE/openrc ]] || die "no openrc yet: run '$0 start'"; echo "$STATE/openrc" ;;
compute-conf) [[ $# -eq 1 ]] || die "usage: rig.sh compute-conf HOST"; compute_conf "$1" ;;
exec) need_root; [[ $# -ge 1 ]] || die "usage: rig.sh exec CMD..."; in_root_admin "$@" ;;
*) usage ;;
esac
