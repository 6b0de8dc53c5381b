#!/usr/bin/env bash
# join.sh — how fast a compute host joins the all-in-one cloud and how much memory it keeps, novabsd against the
# stock Python nova-compute (2026.1, fake driver, as run from the rig's own packages), same rig, same run.
#
# usage: devstack/bench/join.sh [IDLE_SECONDS]      (default 300: RSS is read after that long idle)
#
# For each implementation a new host name joins (so both create their records from scratch) and the script
# polls the cloud's databases every 20 ms: "up" is the moment the nova-compute service row exists (the API calls
# a service up from its creation until service_down_time passes without a heartbeat), "provider" the moment its
# Placement resource provider exists. "connected" is when the broker accepted the process's AMQP connection
# (rabbitmqctl list_connections), so "up - connected" is the time spent after reaching the broker.
# The rig must be running (devstack/rig.sh start).
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE=${1:-300}
RIG=devstack/rig.sh
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
ROOT=$RIG_DIR/root
sql() { mariadb -h 127.0.0.1 -u root -N -B -e "$1"; }
now() { date +%s.%N; }

$RIG status >/dev/null || { echo "join.sh: the rig is not running: devstack/rig.sh start" >&2; exit 1; }
# NOVABSD_BIN picks a prebuilt binary; otherwise the tree is built.
BIN=${NOVABSD_BIN:-}
if [ -z "$BIN" ]; then make -s build; BIN=bin/novabsd; fi
declare -A up provider conn rss

# wait_for SQL START → seconds from START until SQL returns a row (or "timeout" after 120 s).
wait_for() {
	local q=$1 start=$2 deadline
	deadline=$(echo "$start + 120" | bc)
	while (($(echo "$(now) < $deadline" | bc))); do
		if [ -n "$(sql "$q")" ]; then echo "$(now) - $start" | bc; return; fi
		sleep 0.02
	done
	echo timeout
}

# connected_at PID START → seconds until the broker lists a connection from PID's tree.
connected_at() {
	local pid=$1 start=$2 deadline ports
	deadline=$(echo "$start + 120" | bc)
	while (($(echo "$(now) < $deadline" | bc))); do
		ports=$(ss -Htnp state established '( dport = :5672 )' 2>/dev/null | grep -E "pid=($(tree_pids "$pid" | paste -sd'|'))," || true)
		if [ -n "$ports" ]; then echo "$(now) - $start" | bc; return; fi
		sleep 0.02
	done
	echo timeout
}

tree_pids() { local p=$1; echo "$p"; for c in $(pgrep -P "$p" || true); do tree_pids "$c"; done; }
tree_rss_mb() { local total=0 r; for p in $(tree_pids "$1"); do r=$(ps -o rss= -p "$p" 2>/dev/null || echo 0); total=$((total + ${r:-0})); done; echo "scale=1; $total / 1024" | bc; }

cleanup_host() {
	local host=$1
	$RIG exec openstack compute service list --host "$host" -f value -c ID 2>/dev/null | while read -r id; do
		$RIG exec openstack compute service delete "$id" >/dev/null 2>&1 || true
	done
	$RIG exec openstack resource provider list --name "$host" -f value -c uuid 2>/dev/null | while read -r rp; do
		$RIG exec openstack resource provider delete "$rp" >/dev/null 2>&1 || true
	done
}

run_one() {
	local impl=$1 host pid start conf
	host=bench-$impl-$(date +%s)
	if [ "$impl" = novabsd ]; then
		conf=$(mktemp /tmp/bench-novabsd.XXXX.conf)
		$RIG compute-conf "$host" >"$conf"
		mkdir -p "$RIG_DIR/compute/$host"
		start=$(now)
		"$BIN" compute --config-file "$conf" >"/tmp/bench-$impl.log" 2>&1 &
		pid=$!
	else
		conf=/tmp/bench-python.conf
		$RIG compute-conf "$host" | sed -e "s#$RIG_DIR/compute/$host#/var/lib/nova-bench/$host#" \
			-e 's/^\[DEFAULT\]$/[DEFAULT]\ncompute_driver = fake.FakeDriver/' >"$ROOT$conf"
		mkdir -p "$ROOT/var/lib/nova-bench/$host/instances"
		start=$(now)
		chroot "$ROOT" /usr/bin/python3 -c 'import sys; sys.argv = ["nova-compute", "--config-file", sys.argv[1]]
from nova.cmd.compute import main; main()' "$conf" >"/tmp/bench-$impl.log" 2>&1 &
		pid=$!
	fi
	conn[$impl]=$(connected_at "$pid" "$start")
	up[$impl]=$(wait_for "select 1 from nova.services where host='$host' and \`binary\`='nova-compute' and deleted=0" "$start")
	provider[$impl]=$(wait_for "select 1 from placement.resource_providers where name='$host'" "$start")
	sleep "$IDLE"
	rss[$impl]=$(tree_rss_mb "$pid")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	cleanup_host "$host"
}

for impl in novabsd python; do
	echo "join.sh: $impl joins (then idles ${IDLE}s)..." >&2
	run_one "$impl"
done

# sec3 X: seconds with three decimals (bc prints ".0338917" and the like).
sec3() { awk -v v="$1" 'BEGIN{printf "%.3f", v}'; }
row() { printf '| %-35s | %10s | %14s |\n' "$1" "$2" "$3"; }
printf '\n| %-35s | %10s | %14s |\n' "" novabsd "nova-compute"
printf '|%s|%s|%s|\n' "-------------------------------------" "------------" "----------------"
row "start -> broker connection (s)" "$(sec3 "${conn[novabsd]}")" "$(sec3 "${conn[python]}")"
row "start -> service up (s)" "$(sec3 "${up[novabsd]}")" "$(sec3 "${up[python]}")"
row "broker connection -> service up (s)" "$(sec3 "$(echo "${up[novabsd]} - ${conn[novabsd]}" | bc)")" \
	"$(sec3 "$(echo "${up[python]} - ${conn[python]}" | bc)")"
row "start -> resource provider (s)" "$(sec3 "${provider[novabsd]}")" "$(sec3 "${provider[python]}")"
row "RSS after ${IDLE}s idle (MB)" "${rss[novabsd]}" "${rss[python]}"
