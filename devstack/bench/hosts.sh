# hosts.sh — sourced by the bench scripts that run novabsd and the stock nova-compute side by side as two compute
# hosts of the rig (lifecycle.sh, shelve.sh): a glance-api both computes can upload snapshots to, the two hosts,
# and their removal.
#
# The caller defines RIG, RIG_DIR, ROOT, TAG, WORK, LOG, BIN, HOST_NB, HOST_PY, IN_ROOT_DIR, IN_ROOT_ETC, GLANCE,
# GLANCE_PORT, NOVA, PLACEMENT, TOKEN, PYTHON_CONF (extra nova.conf lines for the stock compute, may be empty),
# NOVABSD_CONF (extra nova.conf lines for novabsd, may be empty), and the helpers say, die, sql and the cloud.sh
# ones (api).

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
	local conf=$WORK/$HOST_NB.conf
	$RIG compute-conf "$HOST_NB" >"$conf"
	printf '[DEFAULT]\ncpu_allocation_ratio = 16\n[glance]\nendpoint_override = %s\n' "$GLANCE_COMPUTE" >"$WORK/$HOST_NB.override.conf"
	[[ -z ${NOVABSD_CONF:-} ]] || printf '%s\n' "$NOVABSD_CONF" >>"$WORK/$HOST_NB.override.conf"
	mkdir -p "$RIG_DIR/compute/$HOST_NB"
	"$BIN" compute --config-file "$conf" --config-file "$WORK/$HOST_NB.override.conf" >"$WORK/novabsd.log" 2>&1 </dev/null &
	echo $! >"$WORK/novabsd.pid"
	disown

	# The stock service: nova.cmd.compute from the root's python3-nova, like /usr/bin/nova-compute.
	$RIG compute-conf "$HOST_PY" | sed -e "s#$RIG_DIR/compute/$HOST_PY#$IN_ROOT_DIR/$HOST_PY#" >"$ROOT$IN_ROOT_ETC/$HOST_PY.conf"
	cat >"$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf" <<EOF
[glance]
endpoint_override = $GLANCE_COMPUTE
[DEFAULT]
compute_driver = libvirt.LibvirtDriver
cpu_allocation_ratio = 16
[libvirt]
# /dev/kvm here is kvm_pvm, which kills real-mode guests: TCG, as for novabsd.
virt_type = qemu
cpu_mode = none
sysinfo_serial = none
EOF
	# Experiments only (the tables are for the stock defaults): e.g. PYTHON_CONF=$'[DEFAULT]\npointer_model = none'
	[[ -z ${PYTHON_CONF:-} ]] || printf '%s\n' "$PYTHON_CONF" >>"$ROOT$IN_ROOT_ETC/$HOST_PY.override.conf"
	mkdir -p "$ROOT$IN_ROOT_DIR/$HOST_PY/instances"
	setsid chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 \
		/usr/bin/python3 -c 'import sys; sys.argv = ["nova-compute"] + sys.argv[1:]
from nova.cmd.compute import main; main()' \
		--config-file "$IN_ROOT_ETC/$HOST_PY.conf" --config-file "$IN_ROOT_ETC/$HOST_PY.override.conf" \
		>"$LOG/nova-compute-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/python.pid"
	disown

	local h deadline=$(($(date +%s) + 120)) pending=("$HOST_NB" "$HOST_PY") left
	while [[ ${#pending[@]} -gt 0 ]]; do
		kill -0 "$(cat "$WORK/novabsd.pid")" 2>/dev/null || { tail -n 15 "$WORK/novabsd.log" >&2; die "novabsd exited (log $WORK/novabsd.log)"; }
		kill -0 "$(cat "$WORK/python.pid")" 2>/dev/null || { tail -n 15 "$LOG/nova-compute-$TAG.log" >&2; die "the stock nova-compute exited (log $LOG/nova-compute-$TAG.log)"; }
		left=()
		for h in "${pending[@]}"; do
			# Ready = its provider has a VCPU inventory (standard class id 0) with our allocation ratio.
			if [[ -n $(sql "select 1 from placement.inventories i join placement.resource_providers p
				on p.id = i.resource_provider_id where p.name = '$h' and i.resource_class_id = 0 and i.allocation_ratio = 16") ]]; then
				say "$h is up with its inventory"
			else left+=("$h"); fi
		done
		pending=("${left[@]}")
		[[ ${#pending[@]} -eq 0 ]] && break
		[[ $(date +%s) -lt $deadline ]] || {
			tail -n 20 "$LOG/nova-compute-$TAG.log" >&2
			die "no VCPU inventory (allocation ratio 16) for ${pending[*]} after 120 s (logs $WORK/novabsd.log, $LOG/nova-compute-$TAG.log)"
		}
		sleep 0.5
	done
	$RIG discover >"$WORK/discover.log" 2>&1 || { cat "$WORK/discover.log" >&2; die "rig.sh discover failed"; }
	for h in "$HOST_NB" "$HOST_PY"; do
		[[ -n $(sql "select 1 from nova_api.host_mappings where host = '$h'") ]] || die "discover did not map $h"
	done
}

# ---------------------------------------------------------------------------------------------------------------
# forget_hosts: the two compute services and their resource providers go.
forget_hosts() {
	local h id node
	for h in "$HOST_NB" "$HOST_PY"; do
		# Nova's service delete fails (HTTP 500, "No such provider") for a compute node whose provider
		# was never made, e.g. when Placement was down as the host started: make it, so delete works.
		sql "select uuid, hypervisor_hostname from nova.compute_nodes where host = '$h' and deleted = 0" |
			while read -r id node; do
				api POST "$PLACEMENT/resource_providers" -H 'OpenStack-API-Version: placement 1.14' \
					-d "{\"uuid\": \"$id\", \"name\": \"$node\"}" -o /dev/null
			done
		for id in $(api GET "$NOVA/os-services?binary=nova-compute&host=$h" | jq -r '.services[]?.id'); do
			api DELETE "$NOVA/os-services/$id" -o /dev/null
		done
		for id in $(api GET "$PLACEMENT/resource_providers?name=$h" -H 'OpenStack-API-Version: placement 1.14' | jq -r '.resource_providers[]?.uuid'); do
			api DELETE "$PLACEMENT/resource_providers/$id" -H 'OpenStack-API-Version: placement 1.14' -o /dev/null
		done
	done
}
