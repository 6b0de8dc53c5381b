#!/usr/bin/env bash
# network.sh — how fast networked servers come up on novabsd against the stock Python nova-compute with its
# libvirt/QEMU driver (both TCG), on the rig's real Neutron with ML2/OVN, same rig, same run. Prints one table:
#   1 server on `private`:  create request → ACTIVE, and → the guest's console shows the address Neutron gave
#                           it (DHCP from OVN; median of ROUNDS servers, after one unmeasured warm-up server)
#   10 servers at once (min_count = max_count = 10): create request → the last one ACTIVE / showing its address
#   port bound → tap plugged: from the moment Neutron bound the port to the host (OVN's northbound
#                           Logical_Switch_Port gets options:requested-chassis) to the moment the host's tap is an
#                           Open vSwitch Interface carrying the port's iface-id (median over the single servers;
#                           the 10 at once row shows the slowest of the ten)
#
# usage: devstack/bench/network.sh          (the rig must be running with its networks: devstack/rig.sh start)
#
# The rig has one OVN chassis (one ovn-controller), and a server's port is only bound and brought up on the
# chassis host: both engines run in turn as the same compute host HOST (the chassis for the whole run), each
# with its own state directory; between the two the service and its resource provider are deleted, so the
# second one joins anew under the same name. The order is NETWORK_ORDER (default "novabsd python"); it cannot
# alternate per round as lifecycle.sh does, so each engine gets its own warm-up server first.
#
# Timings of create → ACTIVE / address come from the compute API directly (curl with one token): one poll cycle
# lists the servers of the reservation, then asks for the console of each ACTIVE server whose address is not
# seen yet; cycles start at most every POLL seconds. "Bound" and "plugged" are not polled: two
# `ovsdb-client monitor --timestamp` processes record, with the database server's millisecond clock, every change
# of the northbound Logical_Switch_Port table and of the switch's Interface table.
#
# It installs libvirt, QEMU and python3-libvirt into the rig's root on first use (libvirt.sh), starts libvirtd and
# virtlogd chrooted in that root for the stock service's turn, and removes everything it made on exit: servers,
# compute services, resource providers, the project, daemons and state directories, and sets the chassis back to
# what it was.
#
# Environment: NOVABSD_BIN (prebuilt binary; otherwise go build), NETWORK_POLL (seconds, default 0.25),
# NETWORK_ROUNDS (single servers per engine; the median is shown; default 3), NETWORK_BUDGET (seconds for the whole
# run, default 1500), NETWORK_ORDER (default "novabsd python"), NETWORK_PYTHON_CONF (extra nova.conf lines for the
# stock compute).
set -euo pipefail
cd "$(dirname "$0")/../.."
RIG=devstack/rig.sh
POLL=${NETWORK_POLL:-0.25}
ROUNDS=${NETWORK_ROUNDS:-3}
BUDGET=${NETWORK_BUDGET:-1500}
ORDER=${NETWORK_ORDER:-novabsd python}
NEUTRON=http://127.0.0.1:9696/v2.0

TAG=nw$$-$(date +%s)
HOST=bench-$TAG          # the one compute host name (and chassis) both engines use in turn
HOST_PY=$HOST            # libvirt.sh: the host name libvirtd reports (the stock driver's node name)
WORK=$(mktemp -d /tmp/network.XXXXXX)
T_START=$(date +%s)
DOMAINS=()   # libvirt domain log files of the stock compute's servers

say() { printf 'network.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }

# The rig's names (rig.sh info): directories, database prefix, the Open vSwitch socket as the host reaches it.
declare -A INFO
while IFS='=' read -r k v; do [[ -n $k ]] && INFO[$k]=$v; done < <($RIG info)
RIG_DIR=${INFO[RIG_DIR]:?rig.sh info printed no RIG_DIR}
ROOT=${INFO[ROOT]}
DB_PREFIX=${INFO[DB_PREFIX]:-}
OVS_SOCK=${INFO[OVS_DB_SOCK_HOST]:-}
NB_SOCK=$ROOT/run/ovn/ovnnb_db.sock
NETNAME=${INFO[PRIVATE_NETWORK]:-private}
OLD_CHASSIS=${INFO[CHASSIS]:-}

# libvirt.sh: install_packages, configure_libvirt, start_libvirt, stop_tree, destroy_guests, stock_override_conf,
# start_stock_compute; cloud.sh: api, api_ok, delete_servers, forget_compute, wait_rig, open_project, ...
# shellcheck source=devstack/bench/libvirt.sh
source devstack/bench/libvirt.sh
# shellcheck source=devstack/bench/cloud.sh
source devstack/bench/cloud.sh

# ---------------------------------------------------------------------------------------------------------------
# The two monitors: every change of the northbound Logical_Switch_Port table (name = Neutron port id; Neutron sets
# options:requested-chassis when it binds the port to a host) and of the switch's Interface table (a plugged tap
# carries external_ids:iface-id = the port id), each preceded by the database server's timestamp.
start_monitors() {
	[[ -S $OVS_SOCK ]] || die "no Open vSwitch database socket $OVS_SOCK (rig.sh info OVS_DB_SOCK_HOST): is the rig's networking running?"
	[[ -S $NB_SOCK ]] || die "no OVN northbound socket $NB_SOCK: is the rig's OVN running?"
	setsid ovsdb-client monitor "unix:$NB_SOCK" OVN_Northbound Logical_Switch_Port name,options --timestamp --format=csv \
		>"$WORK/nb.mon" 2>"$WORK/nb.err" </dev/null &
	echo $! >"$WORK/nbmon.pid"
	setsid ovsdb-client monitor "unix:$OVS_SOCK" Open_vSwitch Interface name,external_ids --timestamp --format=csv \
		>"$WORK/ovs.mon" 2>"$WORK/ovs.err" </dev/null &
	echo $! >"$WORK/ovsmon.pid"
	sleep 1
	kill -0 "$(cat "$WORK/nbmon.pid")" 2>/dev/null || die "ovsdb-client monitor of $NB_SOCK exited: $(cat "$WORK/nb.err")"
	kill -0 "$(cat "$WORK/ovsmon.pid")" 2>/dev/null || die "ovsdb-client monitor of $OVS_SOCK exited: $(cat "$WORK/ovs.err")"
}

# first_seen FILE PATTERN: epoch seconds of the first table update (insert or new row) whose row matches the
# extended regular expression PATTERN, or nothing. ovsdb-client prints each update's time (UTC, milliseconds) on
# a line of its own above the rows.
first_seen() {
	local ts
	ts=$(awk -v pat="$2" '
		/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9:.]+$/ { ts = $0; next }
		/,(initial|insert|new),/ && $0 ~ pat { print ts; exit }' "$1")
	[[ -n $ts ]] && date -u -d "$ts" +%s.%N
}

# bound_to_plugged PORT: seconds from the port's binding to its tap in Open vSwitch, or nothing.
bound_to_plugged() {
	local b p
	b=$(first_seen "$WORK/nb.mon" "$1.*requested-chassis=")
	p=$(first_seen "$WORK/ovs.mon" "iface-id=\"*$1")
	[[ -n $b && -n $p ]] && sec "$b" "$p"
}

# ---------------------------------------------------------------------------------------------------------------
# The engines, one at a time as compute host HOST. Both get cpu_allocation_ratio = 16 (10 one-vCPU servers on a
# 2-core machine).
start_novabsd() {
	$RIG compute-conf "$HOST" >"$WORK/novabsd.conf"
	printf '[DEFAULT]\ncpu_allocation_ratio = 16\n' >"$WORK/novabsd.override.conf"
	mkdir -p "$RIG_DIR/compute/$HOST"
	"$BIN" compute --config-file "$WORK/novabsd.conf" --config-file "$WORK/novabsd.override.conf" \
		>"$WORK/novabsd.log" 2>&1 </dev/null &
	echo $! >"$WORK/novabsd.pid"
	disown
	ENGINE_PID=$WORK/novabsd.pid ENGINE_LOG=$WORK/novabsd.log
}

start_python() {
	install_packages
	configure_libvirt
	say "starting virtlogd and libvirtd in $ROOT"
	start_libvirt
	# The stock service: nova.cmd.compute from the root's python3-nova, like /usr/bin/nova-compute, with its
	# state inside the root and the rig's Open vSwitch as the root sees it.
	$RIG compute-conf "$HOST" | sed -e "s#$RIG_DIR/compute/$HOST#$IN_ROOT_DIR/$HOST#" \
		-e "s#unix:$ROOT/run/#unix:/run/#" >"$ROOT$IN_ROOT_ETC/$HOST.conf"
	stock_override_conf "$ROOT$IN_ROOT_ETC/$HOST.override.conf" 'cpu_allocation_ratio = 16'
	[[ -z ${NETWORK_PYTHON_CONF:-} ]] || printf '%s\n' "$NETWORK_PYTHON_CONF" >>"$ROOT$IN_ROOT_ETC/$HOST.override.conf"
	mkdir -p "$ROOT$IN_ROOT_DIR/$HOST/instances"
	start_stock_compute "$HOST"
	ENGINE_PID=$WORK/python.pid ENGINE_LOG=$LOG/nova-compute-$TAG.log
}

# wait_ready: the engine's provider has a VCPU inventory (standard class id 0) with our allocation ratio; then
# the host is mapped into the cell.
wait_ready() {
	local deadline=$(($(date +%s) + 120))
	until [[ -n $(sql "select 1 from ${DB_PREFIX}placement.inventories i join ${DB_PREFIX}placement.resource_providers p
		on p.id = i.resource_provider_id where p.name = '$HOST' and i.resource_class_id = 0 and i.allocation_ratio = 16") ]]; do
		kill -0 "$(cat "$ENGINE_PID")" 2>/dev/null || { tail -n 15 "$ENGINE_LOG" >&2; die "$1 exited (log $ENGINE_LOG)"; }
		[[ $(date +%s) -lt $deadline ]] || { tail -n 20 "$ENGINE_LOG" >&2; die "$1: no VCPU inventory (allocation ratio 16) for $HOST after 120 s (log $ENGINE_LOG)"; }
		sleep 0.5
	done
	$RIG discover >"$WORK/discover.log" 2>&1 || { cat "$WORK/discover.log" >&2; die "rig.sh discover failed"; }
	[[ -n $(sql "select 1 from ${DB_PREFIX}nova_api.host_mappings where host = '$HOST'") ]] || die "discover did not map $HOST"
	say "$1 is up as $HOST"
}

stop_engine() { # stop_engine novabsd|python
	stop_tree "$WORK/$1.pid"
	if [[ $1 == python && -f $WORK/libvirtd.pid ]]; then
		destroy_guests
		stop_tree "$WORK/libvirtd.pid"
		stop_tree "$WORK/virtlogd.pid"
	fi
}

# ---------------------------------------------------------------------------------------------------------------
# boot N: N servers at once on HOST, on the private network; sets B_ACTIVE / B_ADDR (seconds from the create
# request until the last is ACTIVE / shows its address on its console), B_PLUG (the port bound → tap plugged times,
# one per port) and B_IDS.
boot() {
	local n=$1 body t0 resv list id st cyc fault mac addr p
	local -A active=() shown=() seen=() want=()
	body=$(jq -cn --arg name "$TAG-$n" --arg img "$IMAGE" --arg fl "$FLAVOR" --arg host "$HOST" --arg net "$NET" --argjson n "$n" \
		'{server: {name: $name, imageRef: $img, flavorRef: $fl, networks: [{uuid: $net}], host: $host,
		  min_count: $n, max_count: $n, return_reservation_id: true}}')
	t0=$(now)
	resv=$(api_ok POST "$NOVA/servers" -d "$body" | jq -r '.reservation_id')
	[[ $resv == r-* ]] || die "no reservation id from POST /servers on $HOST"
	while :; do
		cyc=$(now)
		over_budget && die "over the ${BUDGET}s budget while booting $n on $HOST"
		list=$(api_ok GET "$NOVA/servers/detail?reservation_id=$resv")
		while read -r id st mac addr; do
			[[ -n $id ]] || continue
			[[ -n ${seen[$id]:-} ]] || { seen[$id]=1; echo "$id" >>"$WORK/servers"; }
			case $st in
			ERROR)
				fault=$(jq -r --arg id "$id" '.servers[] | select(.id == $id) | .fault.message // "no fault"' <<<"$list")
				die "server $id on $HOST is ERROR: $fault"
				;;
			ACTIVE)
				[[ -z ${active[$id]:-} ]] || continue
				active[$id]=$(sec "$t0" "$(now)")
				[[ $mac != null && $addr != null ]] || die "ACTIVE server $id lists no address on $NETNAME"
				want[$id]="novabsd-tiny: eth[0-9]+ $mac $addr/"
				[[ $ENGINE != python ]] || DOMAINS+=("$(jq -r --arg id "$id" '.servers[] | select(.id == $id) | ."OS-EXT-SRV-ATTR:instance_name"' <<<"$list").log")
				;;
			esac
		done < <(jq -r --arg net "$NETNAME" '.servers[] | "\(.id) \(.status) \(
			[.addresses[$net][]? | select(.version == 4)][0] | "\(.["OS-EXT-IPS-MAC:mac_addr"] // "null") \(.addr // "null")")"' <<<"$list")
		for id in "${!active[@]}"; do
			[[ -z ${shown[$id]:-} ]] || continue
			# The console line is plain ASCII, so it shows verbatim in the JSON body.
			if api POST "$NOVA/servers/$id/action" -d '{"os-getConsoleOutput": {}}' 2>/dev/null | grep -Eq "${want[$id]}"; then
				shown[$id]=$(sec "$t0" "$(now)")
			fi
		done
		[[ ${#shown[@]} -eq $n ]] && break
		sleep "$(awk -v c="$cyc" -v n="$(now)" -v p="$POLL" 'BEGIN{d = c + p - n; printf "%.3f", (d > 0) ? d : 0}')"
	done
	B_ACTIVE=$(maxof "${active[@]}")
	B_ADDR=$(maxof "${shown[@]}")
	B_IDS="${!active[*]}"
	B_PLUG=()
	# The monitors' output reaches their files a little after the events: wait for the last tap's row.
	sleep 1
	for id in $B_IDS; do
		for p in $(api_ok GET "$NEUTRON/ports?device_id=$id&fields=id" | jq -r '.ports[].id'); do
			st=$(bound_to_plugged "$p" || true)
			if [[ -n $st ]]; then B_PLUG+=("$st"); else say "warning: no bound/plugged times for port $p of $id"; fi
		done
	done
}

# ---------------------------------------------------------------------------------------------------------------
# cleanup, whatever happened: servers, processes, services, providers, project, chassis, state.
cleanup() {
	local rc=$? id
	trap - EXIT INT TERM
	set +e
	say "cleaning up"
	if [[ -n ${TOKEN:-} && -f $WORK/servers ]]; then
		# shellcheck disable=SC2046
		delete_servers $(sort -u "$WORK/servers") >/dev/null 2>&1
	fi
	stop_engine novabsd
	stop_engine python
	stop_tree "$WORK/nbmon.pid"
	stop_tree "$WORK/ovsmon.pid"
	[[ -z ${TOKEN:-} ]] || forget_compute "$HOST"
	close_project
	if [[ -n $OLD_CHASSIS && ${CHASSIS_SET:-} == 1 ]]; then
		$RIG chassis "$OLD_CHASSIS" >/dev/null 2>&1 || say "warning: could not set the chassis back to $OLD_CHASSIS"
	fi
	rm -rf "${RIG_DIR:?}/compute/$HOST" "$ROOT$IN_ROOT_DIR/$HOST" "$ROOT$IN_ROOT_ETC/$HOST".*conf
	if [[ $rc -ne 0 ]]; then
		say "failed (exit $rc); logs kept: $WORK/novabsd.log $LOG/nova-compute-$TAG.log $LOG/libvirtd-$TAG.log $WORK/*.mon"
	else
		rm -rf "$WORK" "$LOG"/*-"$TAG".log
		[[ ${#DOMAINS[@]} -eq 0 ]] || rm -f "${DOMAINS[@]/#/$ROOT/var/log/libvirt/qemu/}"
	fi
	exit "$rc"
}

# ---------------------------------------------------------------------------------------------------------------
for tool in curl jq mariadb awk unshare setsid ovsdb-client; do command -v "$tool" >/dev/null || die "missing tool '$tool'"; done
[[ $(id -u) -eq 0 ]] || die "must run as root (chroot, namespaces)"
for engine in $ORDER; do [[ $engine == novabsd || $engine == python ]] || die "NETWORK_ORDER: unknown engine '$engine' (novabsd, python)"; done
wait_rig
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$LOG"
open_project
NET=$(api_ok GET "$NEUTRON/networks?name=$NETNAME" | jq -r '.networks[0].id // empty')
[[ -n $NET ]] || die "no network named $NETNAME (rig.sh start makes it)"
find_tiny
build_novabsd
say "the chassis becomes $HOST (was ${OLD_CHASSIS:-unknown})"
CHASSIS_SET=1
$RIG chassis "$HOST" >"$WORK/chassis.log" 2>&1 || { cat "$WORK/chassis.log" >&2; die "rig.sh chassis $HOST failed"; }
start_monitors

declare -A R
for ENGINE in $ORDER; do
	say "$ENGINE: starting as $HOST"
	"start_$ENGINE"
	wait_ready "$ENGINE"
	# Warm-up, not measured: the first build on a host pays for the image download and the control plane's
	# cold paths.
	say "$ENGINE: warm-up server"
	boot 1
	# shellcheck disable=SC2086
	delete_servers $B_IDS
	ACT=() ADDR=() PLUG=()
	for round in $(seq "$ROUNDS"); do
		boot 1
		ACT+=("$B_ACTIVE") ADDR+=("$B_ADDR") PLUG+=("${B_PLUG[@]}")
		say "$ENGINE: 1 server, round $round/$ROUNDS: ACTIVE ${B_ACTIVE}s, address ${B_ADDR}s, bound -> plugged ${B_PLUG[*]:-?}s"
		# shellcheck disable=SC2086
		delete_servers $B_IDS
	done
	R[$ENGINE.1a]=$(median "${ACT[@]}") R[$ENGINE.1n]=$(median "${ADDR[@]}")
	if [[ ${#PLUG[@]} -gt 0 ]]; then R[$ENGINE.1p]=$(median "${PLUG[@]}"); else R[$ENGINE.1p]=-; fi
	say "$ENGINE: 10 servers at once"
	boot 10
	R[$ENGINE.10a]=$B_ACTIVE R[$ENGINE.10n]=$B_ADDR
	if [[ ${#B_PLUG[@]} -gt 0 ]]; then R[$ENGINE.10p]=$(maxof "${B_PLUG[@]}"); else R[$ENGINE.10p]=-; fi
	say "$ENGINE: all ACTIVE ${B_ACTIVE}s, all addresses ${B_ADDR}s, slowest bound -> plugged ${R[$ENGINE.10p]}s"
	# shellcheck disable=SC2086
	delete_servers $B_IDS
	stop_engine "$ENGINE"
	forget_compute "$HOST"
done

row() { # row LABEL KEY
	local nb=${R[novabsd.$2]:--} py=${R[python.$2]:--} v=""
	[[ $nb == - || $py == - ]] || v=$(awk -v a="$nb" -v b="$py" 'BEGIN{print (a < b) ? "yes" : "no"}')
	printf '| %-52s | %8s | %22s | %6s |\n' "$1" "$nb" "$py" "$v"
}
printf '\n| %-52s | %8s | %22s | %6s |\n' "seconds (TCG, tiny image and flavor, network $NETNAME)" novabsd "nova-compute (libvirt)" faster
printf '|%s|%s|%s|%s|\n' "------------------------------------------------------" "----------" "------------------------" "--------"
row "1 server: create -> ACTIVE (median)" 1a
row "1 server: create -> address on the console (median)" 1n
row "10 at once: create -> all ACTIVE" 10a
row "10 at once: create -> all addresses on the consoles" 10n
row "1 server: port bound -> tap plugged (median)" 1p
row "10 at once: port bound -> tap plugged (slowest)" 10p
