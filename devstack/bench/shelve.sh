#!/usr/bin/env bash
# shelve.sh — how fast a server is shelved, offloaded and unshelved on novabsd against the stock Python
# nova-compute 2026.1 with its libvirt/QEMU driver (both TCG), same rig, same run. Prints one table, each row the
# median of rounds that alternate which engine goes first, after one unmeasured warm-up round:
#   shelve:    shelve request → SHELVED (guest stopped, snapshot uploaded to Glance)
#   offload:   shelveOffload request → SHELVED_OFFLOADED (guest and disks gone, allocations deleted)
#   unshelve:  unshelve request (to the same host) → ACTIVE, and → NOVABSD-TINY-GUEST-READY in the console log
#              (the guest booted from the snapshot, which the compute then deletes)
#
# usage: devstack/bench/shelve.sh          (the rig must be running: devstack/rig.sh start)
#
# Both computes run with shelved_offload_time = -1, so that a shelve stops at SHELVED and the offload is measured
# on its own (with nova's default 0 the compute offloads within the shelve: shelve + offload is that time). Servers
# have no network (networks "none"), as in lifecycle.sh: the rig has one OVN chassis and both engines run side by
# side as two compute hosts (hosts.sh); the network part of an unshelve is network.sh's subject.
#
# Like lifecycle.sh it installs libvirt, QEMU and python3-libvirt into the rig's root on first use (libvirt.sh),
# starts libvirtd and virtlogd chrooted in that root, and removes everything it made on exit: servers, images,
# compute services, resource providers, the project, daemons and state directories.
#
# Timings come from the compute API directly (curl with one token): one GET of the server per poll, at most every
# POLL seconds.
#
# Environment: NOVABSD_BIN (prebuilt binary; otherwise go build), NOVABSD_RIG_DIR (default /var/lib/novabsd-rig),
# SHELVE_POLL (seconds, default 0.25), SHELVE_ROUNDS (measured rounds, alternating which engine goes first; the
# median is shown; default 3), SHELVE_BUDGET (seconds for the whole run, default 900), SHELVE_GLANCE_PORT
# (default 19293), SHELVE_PYTHON_CONF (extra nova.conf lines for the stock compute).
set -euo pipefail
cd "$(dirname "$0")/../.."
RIG=devstack/rig.sh
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
ROOT=$RIG_DIR/root
POLL=${SHELVE_POLL:-0.25}
ROUNDS=${SHELVE_ROUNDS:-3}
BUDGET=${SHELVE_BUDGET:-900}
MARKER=NOVABSD-TINY-GUEST-READY
GLANCE_PORT=${SHELVE_GLANCE_PORT:-19293}

TAG=sh$$-$(date +%s)
DOMAINS=()   # libvirt domain log files of the stock compute's servers
HOST_NB=bench-$TAG-novabsd
HOST_PY=bench-$TAG-python
WORK=$(mktemp -d /tmp/shelve.XXXXXX)
T_START=$(date +%s)
NOVABSD_CONF=$'[DEFAULT]\nshelved_offload_time = -1'
PYTHON_CONF=$'[DEFAULT]\nshelved_offload_time = -1'
[[ -z ${SHELVE_PYTHON_CONF:-} ]] || PYTHON_CONF+=$'\n'$SHELVE_PYTHON_CONF

say() { printf 'shelve.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# libvirt.sh: libvirtd and the stock nova-compute; cloud.sh: api, api_ok, delete_servers, open_project, ...;
# hosts.sh: start_side_by_side (the whole start-up: BIN, IMAGE, FLAVOR), cleanup_hosts (the EXIT trap).
# shellcheck source=devstack/bench/libvirt.sh
source devstack/bench/libvirt.sh
# shellcheck source=devstack/bench/cloud.sh
source devstack/bench/cloud.sh
# shellcheck source=devstack/bench/hosts.sh
source devstack/bench/hosts.sh

# ---------------------------------------------------------------------------------------------------------------
# wait_status ID STATUS T0 [MARKER]: polls the server until it has STATUS and no task (and, with MARKER, its
# console shows it); prints the seconds since T0. ERROR is fatal.
wait_status() {
	local id=$1 want=$2 t0=$3 marker=${4:-} s st task cyc
	while :; do
		cyc=$(now)
		over_budget && die "over the ${BUDGET}s budget waiting for $id to be $want"
		s=$(api_ok GET "$NOVA/servers/$id")
		st=$(jq -r .server.status <<<"$s")
		task=$(jq -r '.server."OS-EXT-STS:task_state" // ""' <<<"$s")
		[[ $st != ERROR ]] || die "server $id is ERROR: $(jq -r '.server.fault.message // "no fault"' <<<"$s")"
		if [[ $st == "$want" && -z $task ]]; then
			# The marker is plain ASCII, so it shows verbatim in the JSON body.
			if [[ -z $marker || $(api POST "$NOVA/servers/$id/action" -d '{"os-getConsoleOutput": {}}' || true) == *"$marker"* ]]; then
				sec "$t0" "$(now)"
				return 0
			fi
		fi
		sleep "$(awk -v c="$cyc" -v n="$(now)" -v p="$POLL" 'BEGIN{d = c + p - n; printf "%.3f", (d > 0) ? d : 0}')"
	done
}

# create HOST: one server on HOST, ACTIVE with the marker on its console; sets C_ID to its id.
create() {
	local host=$1 body
	body=$(jq -cn --arg name "$TAG-$host" --arg img "$IMAGE" --arg fl "$FLAVOR" --arg host "$host" \
		'{server: {name: $name, imageRef: $img, flavorRef: $fl, networks: "none", host: $host}}')
	C_ID=$(api_ok POST "$NOVA/servers" -d "$body" | jq -r .server.id)
	[[ $C_ID =~ ^[0-9a-f-]{36}$ ]] || die "no server id from POST /servers on $host"
	echo "$C_ID" >>"$WORK/servers"
	wait_status "$C_ID" ACTIVE "$(now)" "$MARKER" >/dev/null
	if [[ $host == "$HOST_PY" ]]; then
		DOMAINS+=("$(api_ok GET "$NOVA/servers/$C_ID" | jq -r '.server."OS-EXT-SRV-ATTR:instance_name"').log")
	fi
}

# cycle ID HOST: shelve, offload and unshelve the server once; sets C_SHELVE, C_OFFLOAD, C_ACTIVE, C_MARKER.
cycle() {
	local id=$1 host=$2 t0 img
	t0=$(now)
	api_ok POST "$NOVA/servers/$id/action" -d '{"shelve": null}' >/dev/null
	C_SHELVE=$(wait_status "$id" SHELVED "$t0")
	# The snapshot nova-api made for this shelve (named "<server name>-shelved"), for the clean-up should the
	# unshelve not delete it.
	img=$(api_ok GET "$GLANCE/v2/images?name=$TAG-$host-shelved" | jq -r '.images[].id')
	[[ -z $img ]] || echo "$img" >>"$WORK/images"
	t0=$(now)
	api_ok POST "$NOVA/servers/$id/action" -d '{"shelveOffload": null}' >/dev/null
	C_OFFLOAD=$(wait_status "$id" SHELVED_OFFLOADED "$t0")
	t0=$(now)
	api_ok POST "$NOVA/servers/$id/action" -d "{\"unshelve\": {\"host\": \"$host\"}}" >/dev/null
	C_ACTIVE=$(wait_status "$id" ACTIVE "$t0")
	C_MARKER=$(wait_status "$id" ACTIVE "$t0" "$MARKER")
	[[ $(api_ok GET "$NOVA/servers/$id" | jq -r '.server."OS-EXT-SRV-ATTR:host"') == "$host" ]] ||
		die "server $id was unshelved elsewhere than $host"
}

# ---------------------------------------------------------------------------------------------------------------
start_side_by_side

declare -A SRV R
declare -A SHELVE OFFLOAD ACTIVE MARKED
for impl in novabsd python; do
	if [[ $impl == novabsd ]]; then h=$HOST_NB; else h=$HOST_PY; fi
	create "$h"
	SRV[$impl]=$C_ID
	# Warm-up, not measured: the first shelve and unshelve pay for the control plane's cold paths (the
	# conductor's and the scheduler's first unshelve, Glance's first upload from this compute).
	say "$impl: warm-up cycle"
	cycle "${SRV[$impl]}" "$h"
done
for round in $(seq "$ROUNDS"); do
	order=(novabsd python)
	((round % 2 == 1)) || order=(python novabsd)
	for impl in "${order[@]}"; do
		if [[ $impl == novabsd ]]; then h=$HOST_NB; else h=$HOST_PY; fi
		cycle "${SRV[$impl]}" "$h"
		SHELVE[$impl]+="$C_SHELVE " OFFLOAD[$impl]+="$C_OFFLOAD " ACTIVE[$impl]+="$C_ACTIVE " MARKED[$impl]+="$C_MARKER "
		say "$impl: round $round/$ROUNDS: shelve ${C_SHELVE}s, offload ${C_OFFLOAD}s, unshelve -> ACTIVE ${C_ACTIVE}s, marker ${C_MARKER}s"
	done
done
for impl in novabsd python; do
	# shellcheck disable=SC2086
	R[$impl.shelve]=$(median ${SHELVE[$impl]}) R[$impl.offload]=$(median ${OFFLOAD[$impl]})
	# shellcheck disable=SC2086
	R[$impl.active]=$(median ${ACTIVE[$impl]}) R[$impl.marker]=$(median ${MARKED[$impl]})
done

row() { # row LABEL KEY
	local nb=${R[novabsd.$2]} py=${R[python.$2]} v
	v=$(awk -v a="$nb" -v b="$py" 'BEGIN{print (a < b) ? "yes" : "no"}')
	printf '| %-48s | %8s | %22s | %6s |\n' "$1" "$nb" "$py" "$v"
}
printf '\n| %-48s | %8s | %22s | %6s |\n' "seconds (TCG, tiny image and flavor, median)" novabsd "nova-compute (libvirt)" faster
printf '|%s|%s|%s|%s|\n' "--------------------------------------------------" "----------" "------------------------" "--------"
row "shelve -> SHELVED (snapshot uploaded)" shelve
row "shelveOffload -> SHELVED_OFFLOADED" offload
row "unshelve -> ACTIVE" active
row "unshelve -> console marker" marker
