#!/usr/bin/env bash
# tempest.sh — Tempest's compute API tests (Debian's tempest 47, installed in the rig's root by rig.sh install)
# against the rig, with one compute host that every server lands on: novabsd (the default) or, for comparison,
# the stock Python nova-compute 2026.1 with its libvirt driver (TCG), started the way devstack/bench/network.sh
# starts it. Both run with the same tempest.conf (`rig.sh tempest-conf`: the feature flags novabsd supports).
#
# usage: devstack/tempest.sh          (as root; the rig must be running: devstack/rig.sh start)
#   make tempest [TEMPEST_COMPUTE=stock] [TEMPEST_REGEX=...]
#
# Prints the passed / failed / skipped counts and the wall time of the Tempest run, and keeps under the results
# directory: tempest.subunit (the subunit v2 stream), tempest.html (subunit2html), run.txt (Tempest's output
# with each test's result and the totals), failures.txt (the tracebacks of the failed tests), tempest.conf,
# tempest.log, and the compute service's log. Exits with Tempest's status (non-zero when a test failed).
#
# The compute host is new for each run (tempest-<tag>) and becomes the rig's OVN chassis for the run (so that
# its ports bind); at the end the servers left on it, its compute service and resource provider go, the chassis
# is set back, and the engine (and, for stock, libvirtd and virtlogd) stops. Tempest makes and removes its own
# projects and users (dynamic credentials, from the rig's admin). A run refuses to start while another
# nova-compute host is up in the cloud: servers must land on the host under test.
#
# Environment: TEMPEST_COMPUTE (novabsd | stock, default novabsd), TEMPEST_REGEX (default tempest.api.compute),
# TEMPEST_CONCURRENCY (test workers, default 2), TEMPEST_RESULTS (results directory, default
# results/tempest/COMPUTE-DATE in the repository), NOVABSD_BIN (prebuilt binary; otherwise bin/novabsd is built).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RIG=devstack/rig.sh
COMPUTE=${TEMPEST_COMPUTE:-novabsd}
REGEX=${TEMPEST_REGEX:-tempest.api.compute}
CONCURRENCY=${TEMPEST_CONCURRENCY:-2}
NOVA=http://127.0.0.1:8774/v2.1
PLACEMENT=http://127.0.0.1:8778

TAG=tp$$-$(date +%s)
HOST=tempest-$TAG        # the one compute host (and chassis) of the run
HOST_PY=$HOST            # libvirt.sh: the host name libvirtd reports (the stock driver's node name)
IN_ROOT_DIR=/var/lib/novabsd-bench   # the stock compute's state, inside the root (as the benchmarks)
IN_ROOT_ETC=/etc/novabsd-bench
IN_ROOT_LOG=/var/log/novabsd-bench
WS_IN_ROOT=/var/lib/novabsd-tempest/$TAG   # Tempest's workspace, inside the root
WORK=$(mktemp -d /tmp/tempest.XXXXXX)

say() { printf 'tempest.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
sql() { mariadb -h 127.0.0.1 -u root -N -B -e "$1"; }
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

case $COMPUTE in novabsd | stock) ;; *) die "TEMPEST_COMPUTE: unknown compute '$COMPUTE' (novabsd or stock)" ;; esac
[[ $CONCURRENCY =~ ^[1-9][0-9]*$ ]] || die "TEMPEST_CONCURRENCY: not a positive number: '$CONCURRENCY'"
RESULTS=${TEMPEST_RESULTS:-$REPO/results/tempest/$COMPUTE-$(date -u +%Y%m%dT%H%M%SZ)}

# The rig's names (rig.sh info).
declare -A INFO
while IFS='=' read -r k v; do [[ -n $k ]] && INFO[$k]=$v; done < <($RIG info)
RIG_DIR=${INFO[RIG_DIR]:?rig.sh info printed no RIG_DIR}
ROOT=${INFO[ROOT]}
DB_PREFIX=${INFO[DB_PREFIX]:-}
OLD_CHASSIS=${INFO[CHASSIS]:-}
LOG=$ROOT$IN_ROOT_LOG

# libvirt.sh: install_packages, configure_libvirt, start_libvirt, stop_tree; cloud.sh: api, forget_compute.
# shellcheck source=devstack/bench/libvirt.sh
source devstack/bench/libvirt.sh
# shellcheck source=devstack/bench/cloud.sh
source devstack/bench/cloud.sh

start_novabsd() {
	$RIG compute-conf "$HOST" >"$WORK/compute.conf"
	mkdir -p "$RIG_DIR/compute/$HOST"
	"$BIN" compute --config-file "$WORK/compute.conf" >"$WORK/compute.log" 2>&1 </dev/null &
	echo $! >"$WORK/compute.pid"
	disown
	ENGINE_LOG=$WORK/compute.log
}

# The stock service: nova.cmd.compute from the root's python3-nova, like /usr/bin/nova-compute, with the same
# compute conf (its state inside the root, the rig's Open vSwitch as the root sees it) and the libvirt driver.
start_stock() {
	install_packages
	configure_libvirt
	say "starting virtlogd and libvirtd in $ROOT"
	start_libvirt
	$RIG compute-conf "$HOST" | sed -e "s#$RIG_DIR/compute/$HOST#$IN_ROOT_DIR/$HOST#" \
		-e "s#unix:$ROOT/run/#unix:/run/#" >"$ROOT$IN_ROOT_ETC/$HOST.conf"
	cat >"$ROOT$IN_ROOT_ETC/$HOST.override.conf" <<EOF
[DEFAULT]
compute_driver = libvirt.LibvirtDriver
[libvirt]
# /dev/kvm here is kvm_pvm, which kills real-mode guests: TCG, as for novabsd.
virt_type = qemu
cpu_mode = none
sysinfo_serial = none
EOF
	mkdir -p "$ROOT$IN_ROOT_DIR/$HOST/instances"
	setsid chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 \
		/usr/bin/python3 -c 'import sys; sys.argv = ["nova-compute"] + sys.argv[1:]
from nova.cmd.compute import main; main()' \
		--config-file "$IN_ROOT_ETC/$HOST.conf" --config-file "$IN_ROOT_ETC/$HOST.override.conf" \
		>"$LOG/nova-compute-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/compute.pid"
	disown
	ENGINE_LOG=$LOG/nova-compute-$TAG.log
}

# wait_ready: the host's provider has its VCPU inventory, discover mapped it, and nova-api reports its
# service up.
wait_ready() {
	local deadline=$(($(date +%s) + 180))
	until [[ -n $(sql "select 1 from ${DB_PREFIX}placement.inventories i join ${DB_PREFIX}placement.resource_providers p
		on p.id = i.resource_provider_id where p.name = '$HOST' and i.resource_class_id = 0") ]]; do
		kill -0 "$(cat "$WORK/compute.pid")" 2>/dev/null || { tail -n 15 "$ENGINE_LOG" >&2; die "$COMPUTE exited (log $ENGINE_LOG)"; }
		[[ $(date +%s) -lt $deadline ]] || { tail -n 20 "$ENGINE_LOG" >&2; die "$COMPUTE: no VCPU inventory for $HOST after 180 s (log $ENGINE_LOG)"; }
		sleep 0.5
	done
	$RIG discover >"$WORK/discover.log" 2>&1 || { cat "$WORK/discover.log" >&2; die "rig.sh discover failed"; }
	[[ -n $(sql "select 1 from ${DB_PREFIX}nova_api.host_mappings where host = '$HOST'") ]] || die "discover did not map $HOST"
	until [[ $(api GET "$NOVA/os-services?binary=nova-compute&host=$HOST" | jq -r '.services[0].state // empty') == up ]]; do
		[[ $(date +%s) -lt $deadline ]] || die "$COMPUTE: nova-api does not report $HOST up after 180 s (log $ENGINE_LOG)"
		sleep 1
	done
	say "$COMPUTE is up as $HOST"
}

# only_host: no other nova-compute is up (enabled or not: an operator may enable it during the run). A host
# that just stopped (another suite's, before this run took the rig) counts as up until its last report is
# service_down_time (60 s) old: wait that long for it.
only_host() {
	local others deadline=$(($(date +%s) + 90))
	while :; do
		others=$(api GET "$NOVA/os-services?binary=nova-compute" |
			jq -r --arg h "$HOST" '.services[] | select(.state == "up" and .host != $h) | .host' | sort -u | tr '\n' ' ')
		[[ -n $others ]] || return 0
		[[ $(date +%s) -lt $deadline ]] || die "other compute hosts are up ($others): servers could land there; stop them first"
		sleep 5
	done
}

# forget_host: the servers left on HOST, its compute service and its provider go.
forget_host() {
	local ids
	ids=$(api GET "$NOVA/servers/detail?all_tenants=1&host=$HOST" | jq -r '.servers[]?.id')
	# shellcheck disable=SC2086
	[[ -z $ids ]] || { say "deleting servers Tempest left on $HOST: $(echo $ids)"; delete_servers $ids >/dev/null 2>&1; }
	forget_compute "$HOST"
}

stop_engine() {
	stop_tree "$WORK/compute.pid"
	if [[ -f $WORK/libvirtd.pid ]]; then
		local dom
		# Guests the stock compute left behind (only ours: this libvirtd is ours).
		for dom in $(in_root virsh -q -c qemu:///system list --all --name 2>/dev/null); do
			in_root virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1
			in_root virsh -q -c qemu:///system undefine --nvram "$dom" >/dev/null 2>&1 ||
				in_root virsh -q -c qemu:///system undefine "$dom" >/dev/null 2>&1
		done
		stop_tree "$WORK/libvirtd.pid"
		stop_tree "$WORK/virtlogd.pid"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	say "cleaning up"
	[[ -z ${TOKEN:-} ]] || forget_host
	stop_engine
	if [[ -n $OLD_CHASSIS && ${CHASSIS_SET:-} == 1 ]]; then
		$RIG chassis "$OLD_CHASSIS" >/dev/null 2>&1 || say "warning: could not set the chassis back to $OLD_CHASSIS"
	fi
	mkdir -p "$RESULTS"
	[[ -z ${ENGINE_LOG:-} ]] || cp "$ENGINE_LOG" "$RESULTS/$COMPUTE.log"
	cp "$ROOT$WS_IN_ROOT/tempest.log" "$RESULTS/" 2>/dev/null
	rm -rf "${RIG_DIR:?}/compute/$HOST" "$ROOT$IN_ROOT_DIR/$HOST" "$ROOT$IN_ROOT_ETC/$HOST".*conf "$ROOT$WS_IN_ROOT" \
		"$WORK" "$LOG/nova-compute-$TAG.log" "$LOG/libvirtd-$TAG.log" "$LOG/virtlogd-$TAG.log"
	# The workspace's entry in the root's ~/.tempest/workspace.yaml goes with it.
	in_root tempest workspace remove --name "$TAG" >/dev/null 2>&1
	say "results in $RESULTS"
	exit "$rc"
}

# count NAME: the number in Tempest's totals line " - NAME: N" of run.txt (0 when absent).
count() { awk -v k=" - $1: " 'index($0, k) == 1 {n = substr($0, length(k) + 1) + 0} END {print n + 0}' "$RESULTS/run.txt"; }

# ---------------------------------------------------------------------------------------------------------------
for tool in curl jq mariadb awk unshare setsid; do command -v "$tool" >/dev/null || die "missing tool '$tool'"; done
[[ $(id -u) -eq 0 ]] || die "must run as root (chroot, namespaces)"
$RIG status >/dev/null || die "the rig is not running: devstack/rig.sh start"
[[ -x $ROOT/usr/bin/tempest ]] || die "no tempest in $ROOT: devstack/rig.sh install"
mkdir -p "$RESULTS" "$LOG"
trap cleanup EXIT
trap 'exit 130' INT TERM
TOKEN=$($RIG exec openstack token issue -f value -c id 2>/dev/null)
[[ -n $TOKEN ]] || die "openstack token issue gave no token"

if [[ $COMPUTE == novabsd ]]; then
	BIN=${NOVABSD_BIN:-}
	if [[ -z $BIN ]]; then
		say "building novabsd"
		PATH=/usr/local/go/bin:$PATH go build -o "$WORK/novabsd" ./cmd/novabsd
		BIN=$WORK/novabsd
	fi
fi
say "the chassis becomes $HOST (was ${OLD_CHASSIS:-unknown})"
CHASSIS_SET=1
$RIG chassis "$HOST" >"$WORK/chassis.log" 2>&1 || { cat "$WORK/chassis.log" >&2; die "rig.sh chassis $HOST failed"; }
"start_$COMPUTE"
wait_ready
only_host

mkdir -p "$ROOT$(dirname "$WS_IN_ROOT")"
in_root tempest init --name "$TAG" "$WS_IN_ROOT" >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; die "tempest init failed"; }
$RIG tempest-conf >"$RESULTS/tempest.conf" 2>"$WORK/tempest-conf.log" || { cat "$WORK/tempest-conf.log" >&2; die "rig.sh tempest-conf failed"; }
# The workspace's lock directory, as tempest init sets it (Tempest's tests serialize some steps through it).
printf '\n[oslo_concurrency]\nlock_path = %s/tempest_lock\n' "$WS_IN_ROOT" >>"$RESULTS/tempest.conf"
cp "$RESULTS/tempest.conf" "$ROOT$WS_IN_ROOT/etc/tempest.conf"

say "Tempest ($REGEX, $CONCURRENCY workers) against $COMPUTE on $HOST"
t0=$(date +%s)
rc=0
in_root /bin/sh -c 'cd "$1" && exec tempest run --regex "$2" --concurrency "$3"' sh "$WS_IN_ROOT" "$REGEX" "$CONCURRENCY" \
	>"$RESULTS/run.txt" 2>&1 || rc=$?
wall=$(($(date +%s) - t0))
in_root /bin/sh -c 'cd "$1" && stestr last --subunit' sh "$WS_IN_ROOT" >"$RESULTS/tempest.subunit" 2>/dev/null || true
in_root subunit2html /dev/stdin /dev/stdout <"$RESULTS/tempest.subunit" >"$RESULTS/tempest.html" 2>/dev/null || true
in_root /bin/sh -c 'subunit-filter --no-passthrough --no-success --no-skip --no-xfail | subunit2pyunit' \
	<"$RESULTS/tempest.subunit" >"$RESULTS/failures.txt" 2>&1 || true
passed=$(count Passed) failed=$(count Failed) skipped=$(count Skipped)
grep -q '^Totals' "$RESULTS/run.txt" || { tail -n 30 "$RESULTS/run.txt" >&2; die "Tempest printed no totals (exit $rc; output $RESULTS/run.txt)"; }
printf '\nTempest %s against %s: %s passed, %s failed, %s skipped in %s s (results %s)\n' \
	"$REGEX" "$COMPUTE" "$passed" "$failed" "$skipped" "$wall" "$RESULTS"
[[ $failed -eq 0 ]] || grep -E '^\{[0-9]+\} .* \.\.\. FAILED' "$RESULTS/run.txt" | sed 's/^{[0-9]*} /  FAILED /; s/ \.\.\. FAILED.*//' >&2 || true
exit "$rc"
