#!/usr/bin/env bash
# rpc.sh — RPC speed of the compute service: novabsd against the stock Python nova-compute 2026.1 with its libvirt
# driver (which answers get_host_uptime as a production host does: by running `env LANG=C uptime`), same rig,
# same broker, same run, through the real client: the rig root's python3 with oslo.messaging 18.3 and nova's
# own context serializer, calling as nova-api does (devstack/bench/rpc_client.py). Prints one table:
#   get_host_uptime (compute.<host>, version 6.0) and ping (namespace baseapi 1.1, nova's BaseAPI.ping)
#   at concurrency 1 and 16: calls/s, p50 and p99 latency, and novabsd's ratio to the stock service
# Each row is the median of ROUNDS rounds that alternate which service goes first.
#
# usage: devstack/bench/rpc.sh          (the rig must be running: devstack/rig.sh start)
#
# Environment: NOVABSD_BIN (prebuilt binary; otherwise go build), NOVABSD_RIG_DIR (default /var/lib/novabsd-rig),
# RPC_BENCH_CALLS1 (calls per phase at c=1, default 300), RPC_BENCH_CALLS16 (at c=16, default 2000),
# RPC_BENCH_PROCS (client processes sharing the 16 in-flight calls, as nova-api's workers would; default 4),
# RPC_BENCH_ROUNDS (default 3), RPC_BENCH_METHODS (default "get_host_uptime ping").
#
# Like lifecycle.sh it installs libvirt and QEMU into the rig's root on first use (devstack/bench/libvirt.sh),
# runs libvirtd chrooted there for the stock compute, and removes what it made on exit: both compute services
# and their providers, daemons, state directories.
set -euo pipefail
cd "$(dirname "$0")/../.."
RIG=devstack/rig.sh
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
ROOT=$RIG_DIR/root
CALLS1=${RPC_BENCH_CALLS1:-300}
CALLS16=${RPC_BENCH_CALLS16:-2000}
PROCS=${RPC_BENCH_PROCS:-4}
ROUNDS=${RPC_BENCH_ROUNDS:-3}
read -r -a METHODS <<<"${RPC_BENCH_METHODS:-get_host_uptime ping}"

TAG=rpc$$-$(date +%s)
HOST_NB=bench-$TAG-novabsd
HOST_PY=bench-$TAG-python
WORK=$(mktemp -d /tmp/rpcbench.XXXXXX)

say() { printf 'rpc.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# libvirt.sh: libvirtd and the stock nova-compute (stock_override_conf, start_stock_compute, wait_hosts, stop_tree);
# cloud.sh: build_novabsd, median (its API helpers are not used here).
# shellcheck source=devstack/bench/libvirt.sh
source devstack/bench/libvirt.sh
# shellcheck source=devstack/bench/cloud.sh
source devstack/bench/cloud.sh

# ---------------------------------------------------------------------------------------------------------------
start_computes() {
	local conf=$WORK/$HOST_NB.conf
	$RIG compute-conf "$HOST_NB" >"$conf"
	mkdir -p "$RIG_DIR/compute/$HOST_NB"
	"$BIN" compute --config-file "$conf" >"$WORK/novabsd.log" 2>&1 </dev/null &
	echo $! >"$WORK/novabsd.pid"
	disown

	mkdir -p "$ROOT$IN_ROOT_ETC" "$LOG" "$ROOT$IN_ROOT_DIR/$HOST_PY/instances"
	$RIG compute-conf "$HOST_PY" | sed -e "s#$RIG_DIR/compute/$HOST_PY#$IN_ROOT_DIR/$HOST_PY#" >"$ROOT$IN_ROOT_ETC/$HOST_PY.conf"
	stock_override_conf "$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf"
	start_stock_compute "$HOST_PY"
	wait_hosts 180 1 serves "consumer on compute.<host>"
}

# serves HOST: compute.HOST has a consumer, i.e. the service serves its topic (both create their records first).
serves() {
	local queues
	queues=$(rabbitmqctl -q list_queues -p "$VHOST" name consumers 2>/dev/null || true)
	awk -v q="compute.$1" '$1 == q && $2 > 0 {found = 1} END {exit !found}' <<<"$queues" || return 1
	say "$1 serves compute.$1"
}

# measure HOST METHOD CONCURRENCY CALLS → the client's JSON line (see rpc_client.py).
measure() {
	local procs=1
	[[ $3 -gt 1 ]] && procs=$PROCS
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/usr/bin/python3 - "$URL" "$1" "$2" "$3" "$4" "$procs" <devstack/bench/rpc_client.py
}

# ---------------------------------------------------------------------------------------------------------------
cleanup() {
	local rc=$? h id
	trap - EXIT INT TERM
	set +e
	say "cleaning up"
	stop_tree "$WORK/novabsd.pid"
	stop_tree "$WORK/python.pid"
	stop_tree "$WORK/libvirtd.pid"
	stop_tree "$WORK/virtlogd.pid"
	for h in "$HOST_NB" "$HOST_PY"; do
		$RIG exec openstack compute service list --service nova-compute --host "$h" -f value -c ID 2>/dev/null | while read -r id; do
			$RIG exec openstack compute service delete "$id" >/dev/null 2>&1
		done
		$RIG exec openstack resource provider list --name "$h" -f value -c uuid 2>/dev/null | while read -r id; do
			$RIG exec openstack resource provider delete "$id" >/dev/null 2>&1
		done
	done
	rm -rf "${RIG_DIR:?}/compute/$HOST_NB" "$ROOT$IN_ROOT_DIR/$HOST_PY" "$ROOT$IN_ROOT_ETC/$HOST_PY".*conf
	if [[ $rc -ne 0 ]]; then
		say "failed (exit $rc); logs kept: $WORK/novabsd.log $LOG/nova-compute-$TAG.log $LOG/libvirtd-$TAG.log"
	else
		rm -rf "$WORK" "$LOG"/*-"$TAG".log
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------------------------------------------
for tool in jq mariadb awk rabbitmqctl setsid unshare; do command -v "$tool" >/dev/null || die "missing tool '$tool'"; done
[[ $(id -u) -eq 0 ]] || die "must run as root (chroot, namespaces)"
$RIG status >/dev/null || die "the rig is not running: devstack/rig.sh start"
URL=$($RIG compute-conf probe | awk -F' = ' '$1 == "transport_url" {print $2; exit}')
VHOST=${URL##*/}
VHOST=${VHOST:-/}
[[ $URL == rabbit://* ]] || die "no transport_url in rig.sh compute-conf"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_novabsd
install_packages
configure_libvirt
say "starting virtlogd and libvirtd in $ROOT"
start_libvirt
say "starting compute hosts $HOST_NB (novabsd) and $HOST_PY (stock nova-compute, libvirt)"
start_computes

declare -A RATE P50 P99
for m in "${METHODS[@]}"; do
	for c in 1 16; do
		calls=$CALLS1
		[[ $c -eq 1 ]] || calls=$CALLS16
		declare -A rates=() p50s=() p99s=()
		for ((r = 0; r < ROUNDS; r++)); do
			order=(novabsd python)
			((r % 2 == 0)) || order=(python novabsd)
			for impl in "${order[@]}"; do
				h=$HOST_NB
				[[ $impl == novabsd ]] || h=$HOST_PY
				out=$(measure "$h" "$m" "$c" "$calls") || die "$impl $m c=$c: the client failed"
				say "$impl $m c=$c round $((r + 1)): $out"
				[[ $(jq -r .errors <<<"$out") == 0 ]] || die "$impl $m c=$c: calls failed: $(jq -c .error_sample <<<"$out")"
				rates[$impl]+="$(jq -r .calls_per_s <<<"$out") "
				p50s[$impl]+="$(jq -r .p50_ms <<<"$out") "
				p99s[$impl]+="$(jq -r .p99_ms <<<"$out") "
			done
		done
		for impl in novabsd python; do
			# shellcheck disable=SC2086
			RATE[$m,$c,$impl]=$(median ${rates[$impl]})
			# shellcheck disable=SC2086
			P50[$m,$c,$impl]=$(median ${p50s[$impl]})
			# shellcheck disable=SC2086
			P99[$m,$c,$impl]=$(median ${p99s[$impl]})
		done
		unset rates p50s p99s
	done
done

f() { awk -v v="$1" -v d="$2" 'BEGIN{printf "%.*f", d, v}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1fx", a / b}'; }
printf '\n| %-22s | %-12s | %10s | %12s | %7s |\n' "method, concurrency" measure novabsd nova-compute ratio
printf '|%s|%s|%s|%s|%s|\n' "------------------------" "--------------" "------------" "--------------" "---------"
for m in "${METHODS[@]}"; do
	for c in 1 16; do
		printf '| %-22s | %-12s | %10s | %12s | %7s |\n' "$m c=$c" "calls/s" "$(f "${RATE[$m,$c,novabsd]}" 0)" \
			"$(f "${RATE[$m,$c,python]}" 0)" "$(ratio "${RATE[$m,$c,novabsd]}" "${RATE[$m,$c,python]}")"
		printf '| %-22s | %-12s | %10s | %12s | %7s |\n' "" "p50 ms" "$(f "${P50[$m,$c,novabsd]}" 2)" \
			"$(f "${P50[$m,$c,python]}" 2)" "$(ratio "${P50[$m,$c,python]}" "${P50[$m,$c,novabsd]}")"
		printf '| %-22s | %-12s | %10s | %12s | %7s |\n' "" "p99 ms" "$(f "${P99[$m,$c,novabsd]}" 2)" \
			"$(f "${P99[$m,$c,python]}" 2)" "$(ratio "${P99[$m,$c,python]}" "${P99[$m,$c,novabsd]}")"
	done
done
printf '\n(median of %d rounds; %d calls per phase at c=1, %d at c=16 from %d client processes; ratio = how many times\nfaster novabsd is: calls/s novabsd/stock, latency stock/novabsd)\n' \
	"$ROUNDS" "$CALLS1" "$CALLS16" "$PROCS"
