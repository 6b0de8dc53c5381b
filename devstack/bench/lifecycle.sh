#!/usr/bin/env bash
# lifecycle.sh — how fast servers boot and snapshot on novabsd against the stock Python nova-compute 2026.1 with
# its libvirt/QEMU driver (both TCG), same rig, same run. Prints one table:
#   1 server:  create request → ACTIVE, and → NOVABSD-TINY-GUEST-READY in its console log (median of rounds
#              that alternate which engine goes first, after one unmeasured warm-up server on each host)
#   10 servers at once (min_count = max_count = 10): create request → the last one ACTIVE / showing the marker
#   snapshot:  createImage request → the Glance image active (median of alternating rounds)
#
# usage: devstack/bench/lifecycle.sh          (the rig must be running: devstack/rig.sh start)
#
# It installs libvirt, QEMU and python3-libvirt into the rig's root on first use (never part of rig.sh install,
# so that CI does not pay for it), starts libvirtd and virtlogd chrooted in that root with their own sockets
# under the root's /run, runs the stock nova-compute (python3-nova, libvirt driver, as root, chrooted) as one
# new compute host and novabsd as another, and removes everything it made on exit: servers, images, compute
# services, resource providers, daemons and state directories.
#
# Timings come from the compute API and Glance directly (curl with one token from `openstack token issue`):
# OSC's own start-up and its 5 s --wait poll would dominate. One poll cycle lists the servers of the
# reservation, then asks for the console of each ACTIVE server still without the marker; cycles start at most
# every POLL seconds, so with 10 servers a marker is seen up to one cycle (~1 s) late — for both alike.
# The warm-up server on each host downloads the image, so every measured boot finds it cached. The two engines
# give guests different hardware: nova's libvirt driver opens disks with cache=none (O_DIRECT) wherever the
# filesystem allows it, novabsd's QEMU with the default writeback; on this machine that is most of the stock
# service's "10 at once" marker time (LIFECYCLE_PYTHON_CONF=$'[libvirt]\ndisk_cachemodes = file=writeback' measures without it).
#
# Environment: NOVABSD_BIN (prebuilt binary; otherwise go build), NOVABSD_RIG_DIR (default /var/lib/novabsd-rig),
# LIFECYCLE_POLL (seconds, default 0.25), LIFECYCLE_BUDGET (seconds for the whole run, default 840),
# LIFECYCLE_ROUNDS (single-server boots per engine, alternating which goes first; the median is shown; default
# 3), LIFECYCLE_SNAPSHOTS (snapshots per engine, alternating; the median is shown; default 5),
# LIFECYCLE_GLANCE_PORT (default 19292), LIFECYCLE_PYTHON_CONF (extra nova.conf lines for the stock compute).
set -euo pipefail
cd "$(dirname "$0")/../.."
RIG=devstack/rig.sh
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
ROOT=$RIG_DIR/root
POLL=${LIFECYCLE_POLL:-0.25}
SNAPSHOTS=${LIFECYCLE_SNAPSHOTS:-5}
ROUNDS=${LIFECYCLE_ROUNDS:-3}
BUDGET=${LIFECYCLE_BUDGET:-840}
MARKER=NOVABSD-TINY-GUEST-READY
GLANCE_PORT=${LIFECYCLE_GLANCE_PORT:-19292}

TAG=lc$$-$(date +%s)
DOMAINS=()   # libvirt domain names of the stock compute's servers, for their logs
HOST_NB=bench-$TAG-novabsd
HOST_PY=bench-$TAG-python
WORK=$(mktemp -d /tmp/lifecycle.XXXXXX)
T_START=$(date +%s)

say() { printf 'lifecycle.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# libvirt.sh: libvirtd and the stock nova-compute (shared with shelve.sh, network.sh, rpc.sh).
# shellcheck source=devstack/bench/libvirt.sh
source devstack/bench/libvirt.sh

# ---------------------------------------------------------------------------------------------------------------
# hosts.sh: start_side_by_side (the whole start-up: HOST_NB, HOST_PY, BIN, IMAGE, FLAVOR), cleanup_hosts.
PYTHON_CONF=${LIFECYCLE_PYTHON_CONF:-}
# shellcheck source=devstack/bench/hosts.sh
source devstack/bench/hosts.sh

# ---------------------------------------------------------------------------------------------------------------
# API helpers (api, api_ok, delete_servers, open_project, find_tiny, ...): cloud.sh.
# shellcheck source=devstack/bench/cloud.sh
source devstack/bench/cloud.sh

# started_at SERVER: epoch seconds at which the guest's QEMU process (both engines pass -uuid SERVER) started,
# from /proc, or nothing while there is none. The process's age comes from /proc/uptime and its start tick
# (10 ms steps): /proc/stat's btime is whole seconds, which made a start up to a second early.
CLK_TCK=$(getconf CLK_TCK)
started_at() {
	local pid st up t
	pid=$(pgrep -o -f -- "qemu-system.*-uuid $1" || true)
	[[ -n $pid ]] || return 0
	st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $20}') || return 0
	read -r up _ </proc/uptime
	t=$(now)
	[[ -n $st ]] && awk -v t="$t" -v u="$up" -v s="$st" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t - (u - s / h)}'
}

# boot HOST N: N servers at once on HOST; sets B_ACTIVE / B_MARKER (seconds from the create request until the
# last is ACTIVE / shows the marker) and B_IDS.
boot() {
	local host=$1 n=$2 body t0 resv list id st cyc fault
	local -A active=() marked=() seen=() started=()
	body=$(jq -cn --arg name "$TAG-$host-$n" --arg img "$IMAGE" --arg fl "$FLAVOR" --arg host "$host" --argjson n "$n" \
		'{server: {name: $name, imageRef: $img, flavorRef: $fl, networks: "none", host: $host,
		  min_count: $n, max_count: $n, return_reservation_id: true}}')
	t0=$(now)
	resv=$(api_ok POST "$NOVA/servers" -d "$body" | jq -r '.reservation_id')
	[[ $resv == r-* ]] || die "no reservation id from POST /servers on $host"
	while :; do
		cyc=$(now)
		over_budget && die "over the ${BUDGET}s budget while booting $n on $host"
		list=$(api_ok GET "$NOVA/servers/detail?reservation_id=$resv")
		while read -r id st; do
			[[ -n $id ]] || continue
			[[ -n ${seen[$id]:-} ]] || { seen[$id]=1; echo "$id" >>"$WORK/servers"; }
			case $st in
			ERROR)
				fault=$(jq -r --arg id "$id" '.servers[] | select(.id == $id) | .fault.message // "no fault"' <<<"$list")
				die "server $id on $host is ERROR: $fault"
				;;
			ACTIVE)
				[[ -z ${active[$id]:-} ]] || continue
				active[$id]=$(sec "$t0" "$(now)")
				[[ $host != "$HOST_PY" ]] || DOMAINS+=("$(jq -r --arg id "$id" '.servers[] | select(.id == $id) | ."OS-EXT-SRV-ATTR:instance_name"' <<<"$list").log")
				;;
			esac
		done < <(jq -r '.servers[] | "\(.id) \(.status)"' <<<"$list")
		for id in "${!seen[@]}"; do
			[[ -z ${started[$id]:-} ]] || continue
			st=$(started_at "$id")
			[[ -z $st ]] || started[$id]=$(sec "$t0" "$st")
		done
		for id in "${!active[@]}"; do
			[[ -z ${marked[$id]:-} ]] || continue
			# The marker is plain ASCII, so it shows verbatim in the JSON body.
			if [[ $(api POST "$NOVA/servers/$id/action" -d '{"os-getConsoleOutput": {}}' || true) == *"$MARKER"* ]]; then
				marked[$id]=$(sec "$t0" "$(now)")
			fi
		done
		[[ ${#marked[@]} -eq $n ]] && break
		sleep "$(awk -v c="$cyc" -v n="$(now)" -v p="$POLL" 'BEGIN{d = c + p - n; printf "%.3f", (d > 0) ? d : 0}')"
	done
	B_ACTIVE=$(printf '%s\n' "${active[@]}" | sort -g | tail -1)
	B_MARKER=$(printf '%s\n' "${marked[@]}" | sort -g | tail -1)
	B_STARTED=$(printf '%s\n' "${started[@]}" | sort -g | tail -1)
	B_IDS="${!active[*]}"
}

# snapshot SERVER: sets S_TIME (createImage request → image active in Glance).
snapshot() {
	local id=$1 t0 img st
	t0=$(now)
	img=$(api_ok POST "$NOVA/servers/$id/action" -d "{\"createImage\": {\"name\": \"$TAG-snap-$id\"}}" | jq -r .image_id)
	[[ $img =~ ^[0-9a-f-]{36}$ ]] || die "createImage on $id returned no image id"
	echo "$img" >>"$WORK/images"
	while :; do
		over_budget && die "over the ${BUDGET}s budget while snapshotting $id"
		st=$(api_ok GET "$GLANCE/v2/images/$img" | jq -r .status)
		case $st in
		active) break ;;
		killed | deleted) die "snapshot image $img of $id is $st" ;;
		esac
		sleep "$POLL"
	done
	S_TIME=$(sec "$t0" "$(now)")
}

# ---------------------------------------------------------------------------------------------------------------
start_side_by_side

# warm_glance: the first requests a glance-api worker serves load its code (the schema alone took 0.7 s here):
# whichever engine snapshots first would pay for that. Two rounds, for the rig's two uwsgi workers.
warm_glance() {
	local i img
	for i in 1 2; do
		img=$(api_ok POST "$GLANCE/v2/images" -d "{\"name\": \"$TAG-warm-$i\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" | jq -r .id)
		[[ $img =~ ^[0-9a-f-]{36}$ ]] || die "cannot create a warm-up image in Glance"
		echo "$img" >>"$WORK/images"
		api PUT "$GLANCE/v2/images/$img/file" -H 'Content-Type: application/octet-stream' --data-binary @/dev/null -o /dev/null
		api DELETE "$GLANCE/v2/images/$img" -o /dev/null
	done
}

declare -A R ONE
warm_glance
# Warm-up, not measured: one server on each host. Whichever engine booted first paid for the control plane's
# cold paths (the scheduler's and the conductor's first build, Glance's first download) and seen here that
# alone turned a 1.4 s row into 4.0 s; the warm-up also fills both hosts' image caches, so the rows below
# compare builds from a cached image.
for impl in novabsd python; do
	if [[ $impl == novabsd ]]; then h=$HOST_NB; else h=$HOST_PY; fi
	say "$impl: warm-up server"
	boot "$h" 1
	# shellcheck disable=SC2086
	delete_servers $B_IDS
done
# Single servers: ROUNDS rounds, the engine that goes first alternating, each row the median.
declare -A ACT MARK STARTED
for round in $(seq "$ROUNDS"); do
	order=(novabsd python)
	((round % 2 == 1)) || order=(python novabsd)
	for impl in "${order[@]}"; do
		if [[ $impl == novabsd ]]; then h=$HOST_NB; else h=$HOST_PY; fi
		boot "$h" 1
		ACT[$impl]+="$B_ACTIVE " MARK[$impl]+="$B_MARKER " STARTED[$impl]+="${B_STARTED:-} "
		say "$impl: 1 server, round $round/$ROUNDS: ACTIVE ${B_ACTIVE}s, marker ${B_MARKER}s"
		if ((round < ROUNDS)); then
			# shellcheck disable=SC2086
			delete_servers $B_IDS
		else
			ONE[$impl]=$B_IDS # kept for the snapshots
		fi
	done
done
for impl in novabsd python; do
	# shellcheck disable=SC2086
	R[$impl.1a]=$(median ${ACT[$impl]}) R[$impl.1m]=$(median ${MARK[$impl]})
	# shellcheck disable=SC2086
	[[ -n ${STARTED[$impl]// /} ]] && R[$impl.1s]=$(median ${STARTED[$impl]}) || R[$impl.1s]=-
done
# Snapshots alternate between the engines, SNAPSHOTS rounds, and the table shows each one's median: one
# snapshot is a second or two, where the order or a slow Glance request would decide a single sample.
declare -A SNAPS
for round in $(seq "$SNAPSHOTS"); do
	for impl in novabsd python; do
		snapshot "${ONE[$impl]}"
		SNAPS[$impl]+="$S_TIME "
		say "$impl: snapshot $round/$SNAPSHOTS ${S_TIME}s"
	done
done
for impl in novabsd python; do
	# shellcheck disable=SC2086
	R[$impl.snap]=$(median ${SNAPS[$impl]})
	# shellcheck disable=SC2086
	delete_servers ${ONE[$impl]}
done
for impl in novabsd python; do
	if [[ $impl == novabsd ]]; then h=$HOST_NB; else h=$HOST_PY; fi
	say "$impl: 10 servers at once"
	boot "$h" 10
	R[$impl.10a]=$B_ACTIVE R[$impl.10m]=$B_MARKER R[$impl.10s]=${B_STARTED:--}
	say "$impl: all ACTIVE ${B_ACTIVE}s, all markers ${B_MARKER}s"
	# shellcheck disable=SC2086
	delete_servers $B_IDS
done

row() { # row LABEL KEY
	local nb=${R[novabsd.$2]} py=${R[python.$2]} v
	v=$(awk -v a="$nb" -v b="$py" 'BEGIN{print (a < b) ? "yes" : "no"}')
	printf '| %-48s | %8s | %22s | %6s |\n' "$1" "$nb" "$py" "$v"
}
printf '\n| %-48s | %8s | %22s | %6s |\n' "seconds (TCG, tiny image and flavor)" novabsd "nova-compute (libvirt)" faster
printf '|%s|%s|%s|%s|\n' "--------------------------------------------------" "----------" "------------------------" "--------"
row "1 server: create -> ACTIVE (median)" 1a
row "1 server: create -> console marker (median)" 1m
row "10 at once: create -> all ACTIVE" 10a
row "10 at once: create -> all console markers" 10m
row "snapshot: createImage -> image active (median)" snap
# Where the time goes: the compute service's part ends when the guest's QEMU process starts (seen in /proc, so
# up to one poll cycle late; the 10 at once row is the last of the 10).
printf '| %-48s | %8s | %22s | %6s |\n' "(1 server: create -> QEMU started, median)" "${R[novabsd.1s]}" "${R[python.1s]}" ""
printf '| %-48s | %8s | %22s | %6s |\n' "(10 at once: create -> last QEMU started)" "${R[novabsd.10s]}" "${R[python.10s]}" ""
