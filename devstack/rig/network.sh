# network.sh — the rig's networking: Neutron (ML2/OVN, API under uwsgi, the OVN maintenance worker and
# metadata agent), OVN (NB and SB databases, northd, one ovn-controller) and Open vSwitch with its userspace
# datapath; their configuration, start, the chassis and the compute side's view of them. Sourced by rig.sh.
#
# Inside the root everything talks over the root's own /run (ovsdb and OVN sockets); the host (novabsd, the
# tests) reaches the same Open vSwitch database at $ROOT/run/openvswitch/db.sock. OVN's databases also listen
# on 127.0.0.1:6641 (NB) and 6642 (SB) for Neutron and ovn-controller.

OVS_DB_SOCK=/run/openvswitch/db.sock      # inside the root
OVS_DB_SOCK_HOST=$ROOT$OVS_DB_SOCK        # the same socket, from the host
OVN_NB_SOCK=/run/ovn/ovnnb_db.sock
OVN_SB_SOCK=/run/ovn/ovnsb_db.sock
OVN_NB_REMOTE=tcp:127.0.0.1:6641
OVN_SB_REMOTE=tcp:127.0.0.1:6642
# The provider network `public` is flat on physnet `public`, bridged to br-ex, whose internal port carries
# PUBLIC_HOST_IP in the host's namespace: the host reaches a server's address on `public` through it.
PHYSNET=public
BR_EX=br-ex
PUBLIC_CIDR=172.24.4.0/24
PUBLIC_HOST_IP=172.24.4.1
PRIVATE_CIDR=10.0.0.0/24
METADATA_SECRET=$PASSWORD-metadata   # loopback only, like the passwords
CHASSIS_FILE=$STATE/chassis
CHASSIS_ID=novabsd-rig   # the chassis's name (system-id); its hostname is the compute host (rig_chassis)
NEUTRON_CONFS="--config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini"
OVS_VLOG="-vconsole:info -vsyslog:off"

# ovs_vsctl/ovn_nbctl/ovn_sbctl ARGS...: the rig's databases, from inside the root.
ovs_vsctl() { in_root ovs-vsctl --db="unix:$OVS_DB_SOCK" --timeout=30 "$@"; }
ovn_nbctl() { in_root ovn-nbctl --db="unix:$OVN_NB_SOCK" --timeout=30 "$@"; }
ovn_sbctl() { in_root ovn-sbctl --db="unix:$OVN_SB_SOCK" --timeout=30 "$@"; }

# current_chassis: the compute host that is the chassis's hostname (the last `rig.sh chassis`, else this
# machine's short host name).
current_chassis() {
	local c
	c=$(cat "$CHASSIS_FILE" 2>/dev/null || true)
	[[ -n $c ]] || c=$(hostname -s)
	echo "$c"
}
valid_host() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]]; }

write_neutron_confs() {
	write_file /etc/neutron/neutron.conf neutron 0640 <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = ovn-router
auth_strategy = keystone
transport_url = $TRANSPORT_URL
state_path = /var/lib/neutron
use_stderr = true
host = novabsd-rig-controller
# Port status and data changes go to nova-api as network-vif-plugged / network-changed events.
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
api_workers = 2
rpc_workers = 0
[database]
connection = $(db_url neutron neutron)
$(authtoken neutron)
$(ksa_auth nova nova)
endpoint_type = internal
[oslo_concurrency]
lock_path = /var/lib/neutron/lock
[agent]
root_helper = sudo neutron-rootwrap /etc/neutron/rootwrap.conf
EOF
	write_file /etc/neutron/plugins/ml2/ml2_conf.ini neutron 0640 <<EOF
[ml2]
type_drivers = flat,geneve
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
[ml2_type_flat]
flat_networks = $PHYSNET
[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38
[securitygroup]
enable_security_group = true
[ovn]
ovn_nb_connection = $OVN_NB_REMOTE
ovn_sb_connection = $OVN_SB_REMOTE
ovn_metadata_enabled = true
# The compute host creates the tap and adds it to br-int (os-vif's way for OVN; Neutron notes).
ovs_create_tap = false
EOF
	write_file /etc/neutron/neutron_ovn_metadata_agent.ini neutron 0640 <<EOF
[DEFAULT]
nova_metadata_host = 127.0.0.1
nova_metadata_port = 8775
metadata_proxy_shared_secret = $METADATA_SECRET
metadata_workers = 1
state_path = /var/lib/neutron
use_stderr = true
[ovs]
ovsdb_connection = unix:$OVS_DB_SOCK
[ovn]
ovn_sb_connection = $OVN_SB_REMOTE
[agent]
root_helper = sudo neutron-rootwrap /etc/neutron/rootwrap.conf
EOF
	mkdir -p "$ROOT/var/lib/neutron/lock" "$ROOT/var/lib/neutron/external/pids"
	chown -R "$(user_ids neutron)" "$ROOT/var/lib/neutron"
}

# net_svc_cmd NAME: the command line of a networking daemon, or nothing if NAME is not one. Every daemon runs
# in the foreground (no --detach) so that start_services tracks its pid like any other.
net_svc_cmd() {
	case $1 in
	ovsdb-server) echo "ovsdb-server /etc/openvswitch/conf.db --remote=punix:$OVS_DB_SOCK --remote=db:Open_vSwitch,Open_vSwitch,manager_options --pidfile=/run/openvswitch/ovsdb-server.pid --unixctl=/run/openvswitch/ovsdb-server.ctl $OVS_VLOG" ;;
	ovs-vswitchd) echo "ovs-vswitchd unix:$OVS_DB_SOCK --pidfile=/run/openvswitch/ovs-vswitchd.pid $OVS_VLOG" ;;
	ovn-nb) echo "ovsdb-server /var/lib/ovn/ovnnb_db.db --remote=punix:$OVN_NB_SOCK --remote=ptcp:6641:127.0.0.1 --pidfile=/run/ovn/ovnnb_db.pid --unixctl=/run/ovn/ovnnb_db.ctl $OVS_VLOG" ;;
	ovn-sb) echo "ovsdb-server /var/lib/ovn/ovnsb_db.db --remote=punix:$OVN_SB_SOCK --remote=ptcp:6642:127.0.0.1 --pidfile=/run/ovn/ovnsb_db.pid --unixctl=/run/ovn/ovnsb_db.ctl $OVS_VLOG" ;;
	ovn-northd) echo "ovn-northd --ovnnb-db=unix:$OVN_NB_SOCK --ovnsb-db=unix:$OVN_SB_SOCK --pidfile=/run/ovn/ovn-northd.pid $OVS_VLOG" ;;
	ovn-controller) echo "ovn-controller unix:$OVS_DB_SOCK --pidfile=/run/ovn/ovn-controller.pid $OVS_VLOG" ;;
	neutron-ovn-maintenance-worker) echo "neutron-ovn-maintenance-worker $NEUTRON_CONFS" ;;
	neutron-ovn-metadata-agent) echo "neutron-ovn-metadata-agent --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/neutron_ovn_metadata_agent.ini" ;;
	*) return 1 ;;
	esac
}

# ovsdb_file DB SCHEMA: create the database file, or convert it when the installed schema is newer.
ovsdb_file() {
	local db=$1 schema=$2
	[[ -f $ROOT$schema ]] || fail "$(basename "$db")" "" "schema $schema is not in the root (did the package install?)"
	if [[ ! -s $ROOT$db ]]; then
		rm -f "$ROOT$db"
		in_root ovsdb-tool create "$db" "$schema" >>"$LOGDIR/ovsdb-tool.log" 2>&1 ||
			fail ovsdb-tool "$LOGDIR/ovsdb-tool.log" "cannot create $db"
	elif [[ $(in_root ovsdb-tool needs-conversion "$db" "$schema" 2>>"$LOGDIR/ovsdb-tool.log") == yes ]]; then
		in_root ovsdb-tool convert "$db" "$schema" >>"$LOGDIR/ovsdb-tool.log" 2>&1 ||
			fail ovsdb-tool "$LOGDIR/ovsdb-tool.log" "cannot convert $db to $schema"
		say "converted $db to the installed schema"
	fi
}

# wait_sock NAME PATH: until the daemon NAME has made its socket, failing as soon as it dies.
wait_sock() {
	local name=$1 path=$ROOT$2 i
	for i in $(seq 100); do
		[[ -S $path ]] && return 0
		svc_pid "$name" >/dev/null || fail "$name" "$(svc_log "$name")" "exited during start"
		sleep 0.1
	done
	fail "$name" "$(svc_log "$name")" "made no socket $2 in 10 s"
}

# A socket or pid file left by a daemon that is not running is removed before it starts again.
clean_run_dir() {
	local name=$1 dir=$ROOT$2
	shift 2
	svc_pid "$name" >/dev/null && return 0
	mkdir -p "$dir"
	local f
	# shellcheck disable=SC2086 # patterns
	for f in "$@"; do rm -f "$dir"/$f; done
}

# start_ovs_ovn: Open vSwitch (userspace datapath), OVN's databases, northd and ovn-controller, br-int and
# br-ex, br-ex's address in the host's namespace. Every step is idempotent: a running daemon is kept.
start_ovs_ovn() {
	STEP_LOG=$LOGDIR/ovsdb-tool.log
	mkdir -p "$ROOT/etc/openvswitch" "$ROOT/var/lib/ovn"
	clean_run_dir ovsdb-server /run/openvswitch db.sock ovsdb-server.pid ovsdb-server.ctl
	clean_run_dir ovs-vswitchd /run/openvswitch ovs-vswitchd.pid 'ovs-vswitchd.*.ctl'
	clean_run_dir ovn-nb /run/ovn ovnnb_db.sock ovnnb_db.pid ovnnb_db.ctl
	clean_run_dir ovn-sb /run/ovn ovnsb_db.sock ovnsb_db.pid ovnsb_db.ctl
	clean_run_dir ovn-northd /run/ovn ovn-northd.pid
	clean_run_dir ovn-controller /run/ovn ovn-controller.pid
	ovsdb_file /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
	ovsdb_file /var/lib/ovn/ovnnb_db.db /usr/share/ovn/ovn-nb.ovsschema
	ovsdb_file /var/lib/ovn/ovnsb_db.db /usr/share/ovn/ovn-sb.ovsschema
	start_services ovsdb-server ovn-nb ovn-sb
	wait_sock ovsdb-server "$OVS_DB_SOCK"
	wait_sock ovn-nb "$OVN_NB_SOCK"
	wait_sock ovn-sb "$OVN_SB_SOCK"
	local chassis
	chassis=$(current_chassis)
	valid_host "$chassis" || fail chassis "" "bad chassis name '$chassis' in $CHASSIS_FILE"
	STEP_LOG=$LOGDIR/ovs-vsctl.log
	# A chassis of another name (a root of an earlier rig.sh): ovn-controller would abort on the rename, and the
	# metadata agent keeps the name it started with. Both stop; start brings them back under CHASSIS_ID.
	local id
	id=$(ovs_vsctl get Open_vSwitch . external_ids:system-id 2>/dev/null | tr -d '"' || true)
	if [[ -n $id && $id != "$CHASSIS_ID" ]]; then
		say "renaming chassis $id to $CHASSIS_ID"
		stop_service neutron-ovn-metadata-agent
		stop_service ovn-controller
	fi
	# TCP through the userspace datapath is dropped unless TSO is on before ovs-vswitchd starts (Neutron notes).
	ovs_vsctl --no-wait -- init -- set Open_vSwitch . other_config:userspace-tso-enable=true \
		external_ids:system-id="$CHASSIS_ID" external_ids:hostname="$chassis" \
		external_ids:ovn-remote="$OVN_SB_REMOTE" external_ids:ovn-encap-type=geneve \
		external_ids:ovn-encap-ip=127.0.0.1 external_ids:ovn-bridge=br-int \
		external_ids:ovn-bridge-datapath-type=netdev external_ids:ovn-bridge-mappings="$PHYSNET:$BR_EX" \
		external_ids:ovn-cms-options=enable-chassis-as-gw >>"$STEP_LOG" 2>&1 ||
		fail ovs-vsctl "$STEP_LOG" "cannot configure Open_vSwitch"
	ovs_vsctl --no-wait -- --may-exist add-br br-int -- set Bridge br-int datapath_type=netdev fail_mode=secure \
		other_config:disable-in-band=true -- --may-exist add-br "$BR_EX" -- set Bridge "$BR_EX" datapath_type=netdev \
		>>"$STEP_LOG" 2>&1 || fail ovs-vsctl "$STEP_LOG" "cannot create br-int and $BR_EX"
	ovn_nbctl --no-wait init >>"$STEP_LOG" 2>&1 || fail ovn-nbctl "$STEP_LOG" "cannot initialise the NB database"
	ovn_sbctl init >>"$STEP_LOG" 2>&1 || fail ovn-sbctl "$STEP_LOG" "cannot initialise the SB database"
	svc_pid ovn-controller >/dev/null || drop_other_chassis "$CHASSIS_ID"
	start_services ovs-vswitchd ovn-northd ovn-controller
	# Waits for ovs-vswitchd to apply the database (the bridges' internal ports exist after this).
	ovs_vsctl -- set Open_vSwitch . external_ids:novabsd-rig=started >>"$STEP_LOG" 2>&1 ||
		fail ovs-vswitchd "$(svc_log ovs-vswitchd)" "does not apply its database"
	local i
	for i in $(seq 50); do ip link show "$BR_EX" >/dev/null 2>&1 && break; sleep 0.1; done
	ip link show "$BR_EX" >/dev/null 2>&1 || fail ovs-vswitchd "$(svc_log ovs-vswitchd)" "made no $BR_EX device"
	ip addr replace "$PUBLIC_HOST_IP/${PUBLIC_CIDR#*/}" dev "$BR_EX"
	ip link set "$BR_EX" up
}

# The metadata agent runs `ip netns exec`, which makes / rslave and fails in a chroot whose / is not a mount
# point: it runs with the root bind-mounted onto itself in a mount namespace of its own (Neutron notes).
# Its network namespaces are mounts in that namespace: a stale file of a previous run is removed first.
prepare_metadata_agent() {
	svc_pid neutron-ovn-metadata-agent >/dev/null && return 0
	mkdir -p "$ROOT/run/netns"
	local f
	for f in "$ROOT"/run/netns/ovnmeta-*; do
		[[ -e $f ]] || continue
		mountpoint -q "$f" || rm -f "$f"
	done
}

# rig_chassis HOST: the rig's single chassis becomes compute host HOST: ovn-controller's hostname, which is
# what Neutron binds ports to (requested-chassis) and lists as its agents' host. The chassis keeps its name
# (system-id $CHASSIS_ID): renaming it would make ovn-controller abort (the old chassis holds the same encap
# IP) and the metadata agent restart (it reads its chassis once), tens of seconds on these machines, where a
# new hostname is taken at once. Waits until the SB database and Neutron's agent list show HOST alive, and
# deletes dead agents of other hosts.
rig_chassis() {
	local host=$1 t0 old
	t0=$(now)
	valid_host "$host" || die "chassis: bad host name '$host' (letters, digits, '.', '_', '-')"
	svc_pid ovsdb-server >/dev/null && svc_pid ovn-sb >/dev/null && svc_pid ovn-controller >/dev/null &&
		[[ $(ovs_vsctl get Open_vSwitch . external_ids:system-id 2>/dev/null | tr -d '"') == "$CHASSIS_ID" ]] ||
		die "the rig's chassis is not running: run rig.sh start"
	old=$(ovs_vsctl get Open_vSwitch . external_ids:hostname 2>/dev/null | tr -d '"' || true)
	if [[ $old != "$host" ]]; then
		ovs_vsctl --no-wait set Open_vSwitch . external_ids:hostname="$host" >>"$LOGDIR/ovs-vsctl.log" 2>&1 ||
			fail ovs-vsctl "$LOGDIR/ovs-vsctl.log" "cannot set the chassis's hostname"
		echo "$host" >"$CHASSIS_FILE"
	elif [[ -f $CHASSIS_FILE.alive && $(cat "$CHASSIS_FILE.alive") == "$(chassis_stamp "$host")" ]] &&
		[[ -n $(ovn_sbctl --bare --columns=name find Chassis hostname="$host" 2>/dev/null) ]]; then
		# Checked alive by Neutron before, with these very processes, and still in SB.
		say "chassis is $host (already; $(elapsed "$t0"))"
		return 0
	fi
	wait_chassis "$host"
	local was=
	[[ -z $old || $old == "$host" ]] || was=" (was $old)"
	say "chassis is $host$was ($(elapsed "$t0"))"
}

# stop_service NAME: SIGTERM (ovn-controller: its `exit` command, which also removes its chassis), then
# SIGKILL after 10 s; the metadata agent's haproxies go with it.
stop_service() {
	local name=$1 pid pids i
	pid=$(svc_pid "$name") || return 0
	pids=("$pid" $(descendants "$pid"))
	if [[ $name == ovn-controller ]]; then
		in_root ovn-appctl -t ovn-controller exit >/dev/null 2>&1 ||
			in_root ovn-appctl -t "/run/ovn/ovn-controller.$pid.ctl" exit >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
	else
		kill -TERM "${pids[@]}" 2>/dev/null || true
	fi
	for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
	kill -KILL "${pids[@]}" 2>/dev/null || true
	[[ $name != neutron-ovn-metadata-agent ]] || kill -KILL $(in_this_root_cmd haproxy) 2>/dev/null || true
	rm -f "$PIDDIR/$name.pid"
}

# in_this_root_cmd COMM: pids of processes named COMM chrooted into this root.
in_this_root_cmd() {
	local p
	for p in $(in_this_root); do [[ $(cat "/proc/$p/comm" 2>/dev/null) == "$1" ]] && printf '%s ' "$p"; done
	true
}

# drop_other_chassis HOST: every SB chassis but HOST is deleted (a single-chassis rig: they are its former
# names, and one of them holding 127.0.0.1 as encap IP makes ovn-controller abort).
drop_other_chassis() {
	local c
	for c in $(ovn_sbctl --bare --columns=name list Chassis 2>/dev/null); do
		[[ $c == "$1" ]] && continue
		ovn_sbctl chassis-del "$c" >>"$LOGDIR/ovs-vsctl.log" 2>&1 || fail ovn-sbctl "$LOGDIR/ovs-vsctl.log" "cannot delete chassis $c"
		say "deleted chassis $c"
	done
}

# wait_chassis HOST: the chassis has hostname HOST in the SB database, and Neutron lists its agents alive
# (ensure.py also deletes the dead agents of other hosts).
wait_chassis() {
	local host=$1 i
	for i in $(seq 100); do
		[[ -n $(ovn_sbctl --bare --columns=name find Chassis hostname="$host" 2>/dev/null) ]] && break
		svc_pid ovn-controller >/dev/null || fail ovn-controller "$(svc_log ovn-controller)" "exited"
		sleep 0.1
	done
	[[ -n $(ovn_sbctl --bare --columns=name find Chassis hostname="$host" 2>/dev/null) ]] ||
		fail ovn-controller "$(svc_log ovn-controller)" "no chassis with hostname $host in the SB database after 10 s"
	rm -f "$CHASSIS_FILE.alive"
	run_ensure chassis "$host"
	chassis_stamp "$host" >"$CHASSIS_FILE.alive"
}

# chassis_stamp HOST: HOST and the pids of the processes that Neutron saw alive for it.
chassis_stamp() {
	echo "$1 $(svc_pid ovn-controller || echo -) $(svc_pid neutron-ovn-metadata-agent || echo -)"
}

# net_cleanup: after stop, the devices that outlive ovs-vswitchd: the userspace datapath makes its internal
# ports (br-int, br-ex, ovs-netdev) as persistent taps. Only taps of those names go; a compute's taps (tapXXX,
# made and removed by novabsd) are not the rig's.
net_cleanup() {
	local dev
	for dev in br-int "$BR_EX" ovs-netdev; do
		ip -d link show dev "$dev" 2>/dev/null | grep -q 'tun type tap' || continue
		ip link del dev "$dev" 2>/dev/null || say "warning: could not remove device $dev"
	done
	# The metadata agent's namespaces lived in its own mount namespace; their mount-point files stay behind.
	rm -f "$ROOT"/run/netns/ovnmeta-* 2>/dev/null || true
}
