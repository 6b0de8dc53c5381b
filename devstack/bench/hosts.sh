# hosts.sh — sourced by the bench scripts that run novabsd and the stock nova-compute side by side as two compute
# hosts of the rig (lifecycle.sh, shelve.sh): a glance-api both computes can upload snapshots to, the two hosts,
# the whole start-up (start_side_by_side) and the clean-up (cleanup_hosts, the EXIT trap).
#
# The caller defines RIG, RIG_DIR, ROOT, TAG, WORK, LOG, HOST_NB, HOST_PY, IN_ROOT_DIR, IN_ROOT_ETC, GLANCE,
# GLANCE_PORT, NOVA, PLACEMENT, PYTHON_CONF (extra nova.conf lines for the stock compute, may be empty),
# NOVABSD_CONF (extra nova.conf lines for novabsd, may be empty), DOMAINS (libvirt domain log files of the stock
# compute's servers, removed by cleanup_hosts), and the helpers say, die, sql, in_root and those of libvirt.sh
# and cloud.sh, sourced first. start_side_by_side sets BIN, TOKEN, IMAGE and FLAVOR.

# ---------------------------------------------------------------------------------------------------------------
# The rig's glance-api (uwsgi http-socket) keeps uwsgi's default chunked-input-limit of 1 MiB, and glanceclient
# uploads in 1 MiB chunks: every stock nova-compute snapshot upload fails there ("OSError: unable to receive
# chunked part", HTTP 500). devstack/rig/configure.sh now sets chunked-input-limit; on a rig whose ini predates
# that, both computes use a second glance-api of the same root, config, database and store, that differs only
# in that limit (so both see the same Glance). Sets GLANCE_COMPUTE to the endpoint the computes use.
start_glance() {
	local ini=$ROOT/etc/novabsd-rig/glance-api-uwsgi.ini ids i
	GLANCE_COMPUTE=$GLANCE
	[[ -f $ini ]] || die "no $ini: is the rig installed by this tree's rig.sh?"
	grep -q '^chunked-input-limit' "$ini" && return 0
	ss -Hltn "sport = :$GLANCE_PORT" | grep -q . && die "port $GLANCE_PORT (our second glance-api) is taken: set GLANCE_PORT (LIFECYCLE_GLANCE_PORT, SHELVE_GLANCE_PORT)"
	sed -e "s/^http-socket = .*/http-socket = 127.0.0.1:$GLANCE_PORT/" "$ini" >"$ROOT$IN_ROOT_ETC/glance-api-uwsgi.ini"
	printf 'chunked-input-limit = 16777216\n' >>"$ROOT$IN_ROOT_ETC/glance-api-uwsgi.ini"
	chmod 0644 "$ROOT$IN_ROOT_ETC/glance-api-uwsgi.ini"
	ids=$(awk -F: '$1 == "glance" {print $3 ":" $4}' "$ROOT/etc/passwd")
	[[ -n $ids ]] || die "no glance user in $ROOT/etc/passwd"
	setsid chroot --userspec="$ids" --groups="${ids#*:}" "$ROOT" /usr/bin/env -i HOME=/var/lib/glance LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 uwsgi --ini "$IN_ROOT_ETC/glance-api-uwsgi.ini" \
		>"$LOG/glance-api-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/glance.pid"
	disown
	for i in $(seq 150); do
		[[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$GLANCE_PORT/versions") == 2* ]] && {
			GLANCE_COMPUTE=http://127.0.0.1:$GLANCE_PORT
			return 0
		}
		kill -0 "$(cat "$WORK/glance.pid")" 2>/dev/null || { tail -n 15 "$LOG/glance-api-$TAG.log" >&2; die "our glance-api exited (log $LOG/glance-api-$TAG.log)"; }
		sleep 0.2
	done
	die "our glance-api does not answer on 127.0.0.1:$GLANCE_PORT after 30 s (log $LOG/glance-api-$TAG.log)"
}

# ---------------------------------------------------------------------------------------------------------------
# 3. the two compute hosts. Both get cpu_allocation_ratio = 16 (10 one-vCPU servers on a 2-core machine).
start_computes() {
	local conf=$WORK/$HOST_NB.conf h
	$RIG compute-conf "$HOST_NB" >"$conf"
	printf '[DEFAULT]\ncpu_allocation_ratio = 16\n[glance]\nendpoint_override = %s\n' "$GLANCE_COMPUTE" >"$WORK/$HOST_NB.override.conf"
	[[ -z ${NOVABSD_CONF:-} ]] || printf '%s\n' "$NOVABSD_CONF" >>"$WORK/$HOST_NB.override.conf"
	mkdir -p "$RIG_DIR/compute/$HOST_NB"
	"$BIN" compute --config-file "$conf" --config-file "$WORK/$HOST_NB.override.conf" >"$WORK/novabsd.log" 2>&1 </dev/null &
	echo $! >"$WORK/novabsd.pid"
	disown

	$RIG compute-conf "$HOST_PY" | sed -e "s#$RIG_DIR/compute/$HOST_PY#$IN_ROOT_DIR/$HOST_PY#" >"$ROOT$IN_ROOT_ETC/$HOST_PY.conf"
	stock_override_conf "$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf" 'cpu_allocation_ratio = 16'
	printf '[glance]\nendpoint_override = %s\n' "$GLANCE_COMPUTE" >>"$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf"
	# Experiments only (the tables are for the stock defaults): e.g. PYTHON_CONF=$'[DEFAULT]\npointer_model = none'
	[[ -z ${PYTHON_CONF:-} ]] || printf '%s\n' "$PYTHON_CONF" >>"$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf"
	mkdir -p "$ROOT$IN_ROOT_DIR/$HOST_PY/instances"
	start_stock_compute "$HOST_PY"

	wait_hosts 120 0.5 has_inventory "VCPU inventory (allocation ratio 16)"
	$RIG discover >"$WORK/discover.log" 2>&1 || { cat "$WORK/discover.log" >&2; die "rig.sh discover failed"; }
	for h in "$HOST_NB" "$HOST_PY"; do
		[[ -n $(sql "select 1 from nova_api.host_mappings where host = '$h'") ]] || die "discover did not map $h"
	done
}

# has_inventory HOST: its provider has a VCPU inventory (standard class id 0) with our allocation ratio.
has_inventory() {
	[[ -n $(sql "select 1 from placement.inventories i join placement.resource_providers p
		on p.id = i.resource_provider_id where p.name = '$1' and i.resource_class_id = 0 and i.allocation_ratio = 16") ]] || return 1
	say "$1 is up with its inventory"
}

# ---------------------------------------------------------------------------------------------------------------
# start_side_by_side: checks the tools and the rig, sets cleanup_hosts as the EXIT trap, makes the project, builds
# novabsd, starts libvirtd, the glance-api and both hosts, and finds the tiny image and flavor.
start_side_by_side() {
	local tool
	for tool in curl jq mariadb awk unshare setsid; do command -v "$tool" >/dev/null || die "missing tool '$tool'"; done
	[[ $(id -u) -eq 0 ]] || die "must run as root (chroot, namespaces)"
	wait_rig
	trap cleanup_hosts EXIT
	trap 'exit 130' INT TERM
	open_project
	build_novabsd
	install_packages
	configure_libvirt
	say "starting virtlogd and libvirtd in $ROOT"
	start_libvirt
	start_glance
	say "starting compute hosts $HOST_NB (novabsd) and $HOST_PY (stock nova-compute, libvirt)"
	start_computes
	find_tiny
}

# ---------------------------------------------------------------------------------------------------------------
# cleanup_hosts, whatever happened: servers and images (those listed in WORK/servers and WORK/images), processes,
# services, providers, project, state.
cleanup_hosts() {
	local rc=$? id h
	trap - EXIT INT TERM
	set +e
	say "cleaning up"
	if [[ -n ${TOKEN:-} ]]; then
		if [[ -f $WORK/servers ]]; then
			# shellcheck disable=SC2046
			delete_servers $(sort -u "$WORK/servers") >/dev/null 2>&1
		fi
		if [[ -f $WORK/images ]]; then
			for id in $(sort -u "$WORK/images"); do api DELETE "$GLANCE/v2/images/$id" -o /dev/null; done
		fi
	fi
	stop_tree "$WORK/novabsd.pid"
	stop_tree "$WORK/python.pid"
	destroy_guests
	stop_tree "$WORK/libvirtd.pid"
	stop_tree "$WORK/virtlogd.pid"
	stop_tree "$WORK/glance.pid"
	if [[ -n ${TOKEN:-} ]]; then
		for h in "$HOST_NB" "$HOST_PY"; do forget_compute "$h"; done
	fi
	close_project
	rm -rf "${RIG_DIR:?}/compute/$HOST_NB" "$ROOT$IN_ROOT_DIR/$HOST_PY" "$ROOT$IN_ROOT_ETC/$HOST_PY".*conf "$ROOT$IN_ROOT_ETC/glance-api-uwsgi.ini"
	if [[ $rc -ne 0 ]]; then
		say "failed (exit $rc); logs kept: $WORK/novabsd.log $LOG/nova-compute-$TAG.log $LOG/libvirtd-$TAG.log"
	else
		rm -rf "$WORK" "$LOG"/*-"$TAG".log
		# libvirt's per-domain logs: only our libvirtd wrote there.
		[[ ${#DOMAINS[@]} -eq 0 ]] || rm -f "${DOMAINS[@]/#/$ROOT/var/log/libvirt/qemu/}"
	fi
	exit "$rc"
}
