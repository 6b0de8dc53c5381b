# services.sh — `rig.sh start|stop|status|discover`: databases, bootstrap, daemons.
# Sourced by rig.sh.

# name:user:port:health-url; a port of - means no listener (RPC-only daemon). Open vSwitch, OVN and the OVN
# metadata agent run as root (they make devices, namespaces and flows); see network.sh.
RIG_SERVICES=(
	"ovsdb-server:root:-:"
	"ovs-vswitchd:root:-:"
	"ovn-nb:root:6641:"
	"ovn-sb:root:6642:"
	"ovn-northd:root:-:"
	"ovn-controller:root:-:"
	"keystone:keystone:5000:http://127.0.0.1:5000/v3"
	"glance-api:glance:9292:http://127.0.0.1:9292/versions"
	"placement-api:placement:8778:http://127.0.0.1:8778/"
	"nova-api:nova:8774:http://127.0.0.1:8774/"
	"nova-conductor:nova:-:"
	"nova-scheduler:nova:-:"
	"nova-metadata:nova:8775:http://127.0.0.1:8775/"
	"nova-serialproxy:nova:6083:"
	"neutron-api:neutron:9696:http://127.0.0.1:9696/"
	"neutron-ovn-maintenance-worker:neutron:-:"
	"neutron-ovn-metadata-agent:root:-:"
	# Optional, not started by `start`: rig.sh service start|stop NAME.
	"nova-api-reclaim:nova:8764:http://127.0.0.1:8764/"
)
# OPTIONAL_SERVICES start only on demand (rig.sh service start NAME); `stop` stops them with the rest.
OPTIONAL_SERVICES=(nova-api-reclaim)
PIDDIR=$STATE/pid
DONEDIR=$STATE/done
IMAGES_IN_ROOT=/var/lib/novabsd-rig/images
ENSURE_IN_ROOT=/usr/local/lib/novabsd-rig/ensure.py

svc_field() { # svc_field NAME N
	local s
	for s in "${RIG_SERVICES[@]}"; do
		if [[ ${s%%:*} == "$1" ]]; then
			if [[ $2 -eq 4 ]]; then echo "$s" | cut -d: -f4-; else echo "$s" | cut -d: -f"$2"; fi
			return 0
		fi
	done
	return 1
}
svc_log() { echo "$LOGDIR/$1.log"; }
svc_cmd() {
	case $1 in
	nova-conductor | nova-scheduler) echo "$1 --config-file /etc/nova/nova.conf" ;;
	nova-serialproxy) echo "python3 $ETC_RIG/nova-serialproxy.py --config-file /etc/nova/nova.conf" ;;
	*) net_svc_cmd "$1" || echo "uwsgi --ini $ETC_RIG/$1-uwsgi.ini" ;;
	esac
}

# svc_pid NAME: the pid of NAME if it is alive and chrooted into this root.
svc_pid() {
	local f=$PIDDIR/$1.pid pid
	[[ -f $f ]] || return 1
	pid=$(cat "$f")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$ROOT" ]] || return 1
	echo "$pid"
}

# ---------------------------------------------------------------------------------------
rig_start() {
	local t0
	t0=$(now)
	preflight_start
	step "tiny image" ensure_image
	step "MariaDB at $DB_HOST:3306" check_db
	step "RabbitMQ at 127.0.0.1:5672 (vhost $RABBIT_VHOST)" check_broker
	step "ports" check_ports
	step "mount root" mount_root
	step "write configuration" write_configs
	write_openrc
	step "databases and users" ensure_databases
	# glance, placement and nova sync their schemas while keystone comes up.
	bg_start glance-db glance "glance-manage db_sync"
	bg_start placement-db placement "placement-manage db sync"
	bg_start neutron-db neutron "neutron-db-manage $NEUTRON_CONFS upgrade heads"
	bg_start nova-cells nova "nova-manage api_db sync && nova-manage cell_v2 map_cell0 --database_connection '$(db_url nova nova_cell0)' && { nova-manage cell_v2 list_cells | grep -q ' cell1 ' || nova-manage cell_v2 create_cell --name cell1 --verbose; } && nova-manage db sync"
	step "keystone database and bootstrap" keystone_setup
	step "start keystone" start_services keystone
	step "Open vSwitch and OVN (chassis $(current_chassis))" start_ovs_ovn
	step "schema syncs (glance, placement, nova cells, neutron)" bg_wait glance-db placement-db nova-cells neutron-db
	# The APIs boot while keystone's catalog is checked: their users and endpoints are only needed by
	# their first authenticated request. nova-conductor and nova-scheduler are not started until their
	# users exist: 2026.1's conductor authenticates to Placement as it starts and exits for good on a 401
	# (seen on a fresh machine, where the users are made in this very run).
	step "start glance, placement, nova-api, nova-metadata, neutron" start_services glance-api placement-api nova-api \
		nova-metadata neutron-api neutron-ovn-maintenance-worker
	step "wait for keystone" wait_apis keystone
	step "identity: projects, users, roles, endpoints" run_ensure identity
	prepare_metadata_agent
	step "start nova-conductor, nova-scheduler, nova-serialproxy, OVN metadata agent" start_services nova-conductor \
		nova-scheduler nova-serialproxy neutron-ovn-metadata-agent
	step "wait for the APIs" wait_apis glance-api placement-api nova-api nova-metadata neutron-api
	step "wait for nova-serialproxy" wait_listening nova-serialproxy
	step "conductor and scheduler up; flavor, images, networks" run_ensure resources "$IMAGES_IN_ROOT"
	step "chassis $(current_chassis) alive" wait_chassis "$(current_chassis)"
	say "control plane up in $(elapsed "$t0"); openrc: $STATE/openrc"
}

preflight_start() {
	[[ -f $(installed_stamp) ]] || die "the root is not installed: run '$0 install' first"
	local have
	have=$(sed -n 's/^release=//p' "$(installed_stamp)")
	[[ $have == "$RELEASE" ]] || die "$ROOT holds Debian $have, not $RELEASE"
	[[ -x $ROOT/usr/bin/nova-serialproxy ]] ||
		die "$ROOT has no nova-serialproxy (package nova-consoleproxy, added to the rig since it was installed): run '$0 --release $RELEASE install'"
	mkdir -p "$PIDDIR" "$DONEDIR" "$LOGDIR"
}

ensure_image() {
	STEP_LOG=$STATE/image.log
	"$RIG_SRC/image/build.sh" "$IMAGE_DIR" >"$STEP_LOG" 2>&1 || fail "tiny image" "$STEP_LOG" "devstack/image/build.sh failed"
	mkdir -p "$ROOT$IMAGES_IN_ROOT"
	local f
	for f in tiny.raw tiny.qcow2; do
		cmp -s "$IMAGE_DIR/$f" "$ROOT$IMAGES_IN_ROOT/$f" || cp -f "$IMAGE_DIR/$f" "$ROOT$IMAGES_IN_ROOT/$f"
	done
	chmod -R a+rX "$ROOT$IMAGES_IN_ROOT"
}

check_db() {
	command -v mysql >/dev/null || die "no mysql client on the host (apt-get install -y mariadb-client)"
	mysql -h "$DB_HOST" -uroot -e 'SELECT 1' >/dev/null 2>"$STATE/mysql.err" ||
		fail MariaDB "$STATE/mysql.err" "the database at $DB_HOST:3306 does not answer as root without password (is mariadb running? 'service mariadb start')"
}

check_broker() {
	(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null ||
		die "RabbitMQ: nothing listens on 127.0.0.1:5672 (start it: rabbitmq-server -detached)"
	command -v rabbitmqctl >/dev/null || die "RabbitMQ: no rabbitmqctl on the host to create vhost $RABBIT_VHOST"
	if ! rabbitmqctl -q list_vhosts 2>"$STATE/rabbitmq.err" | grep -qx "$RABBIT_VHOST"; then
		rabbitmqctl -q add_vhost "$RABBIT_VHOST" >>"$STATE/rabbitmq.err" 2>&1 ||
			fail RabbitMQ "$STATE/rabbitmq.err" "cannot create vhost $RABBIT_VHOST"
	fi
	rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" guest '.*' '.*' '.*' >>"$STATE/rabbitmq.err" 2>&1 ||
		fail RabbitMQ "$STATE/rabbitmq.err" "cannot grant guest on vhost $RABBIT_VHOST"
}

# A port held by anything but our own running service is an error, never ignored.
check_ports() {
	local s name port
	for s in "${RIG_SERVICES[@]}"; do
		IFS=: read -r name _ port _ <<<"$s"
		[[ $port == - ]] && continue
		svc_pid "$name" >/dev/null && continue
		if port_busy "$port"; then
			local other
			other=$(port_rig "$port")
			[[ -z $other ]] || die "port $port for $name is taken by the rig in $other — stop that rig first ('rig.sh --release $(cat "$other/.novabsd-release" 2>/dev/null || echo '?') stop'): rigs of different releases share the ports"
			die "port $port for $name is already taken by $(port_owner "$port" || echo 'another process') — stop it, or 'rig.sh stop' a previous rig"
		fi
	done
}

ensure_databases() {
	local sql="" db user created
	local pairs="keystone:keystone glance:glance placement:placement nova_api:nova nova:nova nova_cell0:nova neutron:neutron"
	created=$(for p in $pairs; do
		db=$DB_PREFIX${p%%:*}
		mysql -h "$DB_HOST" -uroot -N -e "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='$db'" | grep -qx 0 && echo "$db"
	done || true)
	for p in $pairs; do
		db=$DB_PREFIX${p%%:*} user=$DB_PREFIX${p##*:}
		sql+="CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4;"
		for h in 127.0.0.1 localhost; do
			sql+="CREATE USER IF NOT EXISTS '$user'@'$h' IDENTIFIED BY '$PASSWORD';"
			sql+="ALTER USER '$user'@'$h' IDENTIFIED BY '$PASSWORD';"
			sql+="GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'$h';"
		done
	done
	mysql -h "$DB_HOST" -uroot -e "$sql" 2>"$STATE/mysql.err" || fail MariaDB "$STATE/mysql.err" "creating databases and users failed"
	# A database made just now needs its schema and bootstrap again.
	for db in $created; do
		say "created database $db"
		case ${db#"$DB_PREFIX"} in
		keystone) rm -f "$DONEDIR"/keystone-* ;;
		glance) rm -f "$DONEDIR/glance-db" ;;
		placement) rm -f "$DONEDIR/placement-db" ;;
		nova*) rm -f "$DONEDIR/nova-cells" ;;
		neutron) rm -f "$DONEDIR/neutron-db" ;;
		esac
	done
}

# done_key: what a finished schema/bootstrap step depends on: the installed package versions.
# A database created anew also clears its steps (ensure_databases).
done_key() { sha256sum <"$(installed_stamp)" | cut -d' ' -f1; }
is_done() { [[ -f $DONEDIR/$1 && $(cat "$DONEDIR/$1") == "$(done_key)" ]]; }
mark_done() { done_key >"$DONEDIR/$1"; }

keystone_setup() {
	STEP_LOG=$LOGDIR/keystone-manage.log
	if ! is_done keystone-db; then
		in_root_as keystone keystone-manage db_sync >>"$STEP_LOG" 2>&1 || fail keystone "$STEP_LOG" "keystone-manage db_sync failed"
		mark_done keystone-db
	fi
	local d
	for d in fernet credential; do
		[[ -n $(ls -A "$ROOT/etc/keystone/$d-keys" 2>/dev/null) ]] && continue
		in_root keystone-manage "${d}_setup" --keystone-user keystone --keystone-group keystone >>"$STEP_LOG" 2>&1 ||
			fail keystone "$STEP_LOG" "keystone-manage ${d}_setup failed"
	done
	if ! is_done keystone-bootstrap; then
		in_root_as keystone keystone-manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
			--bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
			--bootstrap-service-name keystone --bootstrap-region-id "$REGION" \
			--bootstrap-admin-url "$KEYSTONE_URL/v3/" --bootstrap-internal-url "$KEYSTONE_URL/v3/" \
			--bootstrap-public-url "$KEYSTONE_URL/v3/" >>"$STEP_LOG" 2>&1 ||
			fail keystone "$STEP_LOG" "keystone-manage bootstrap failed"
		mark_done keystone-bootstrap
	fi
}

# bg_start NAME USER SHELL-COMMAND: a schema step run as USER in the background, unless done.
bg_start() {
	local name=$1 user=$2 cmd=$3 log=$LOGDIR/$1.log
	rm -f "$STATE/$name.rc"
	if is_done "$name"; then echo 0 >"$STATE/$name.rc"; return 0; fi
	say "[$name] started in the background (log $log)"
	(
		rc=0
		in_root_as "$user" /bin/sh -c "$cmd" >>"$log" 2>&1 || rc=$?
		echo "$rc" >"$STATE/$name.rc"
	) &
	BG_PIDS+=($!)
}
BG_PIDS=()
bg_wait() {
	local name rc pid
	# Only the schema jobs: a bare `wait` would also wait for the daemons started meanwhile.
	for pid in "${BG_PIDS[@]}"; do wait "$pid" || true; done
	BG_PIDS=()
	for name in "$@"; do
		rc=$(cat "$STATE/$name.rc" 2>/dev/null || echo missing)
		[[ $rc == 0 ]] || fail "$name" "$LOGDIR/$name.log" "schema step failed (exit $rc)"
		mark_done "$name"
	done
}

# start_services NAME...: each as its own user, in its own session, unless already running.
start_services() {
	local name user ids log pid
	for name in "$@"; do
		log=$(svc_log "$name")
		if pid=$(svc_pid "$name"); then
			say "$name already running (pid $pid)"
			continue
		fi
		user=$(svc_field "$name" 2)
		ids=$(user_ids "$user")
		printf '\n==== %s: rig.sh start %s ====\n' "$(date -Is)" "$name" >>"$log"
		local wrap=()
		# The root bind-mounted onto itself in a mount namespace of its own (network.sh).
		[[ $name == neutron-ovn-metadata-agent ]] &&
			wrap=(unshare --mount --propagation private /bin/sh -c 'mount --rbind "$0" "$0" && exec "$@"' "$ROOT")
		# shellcheck disable=SC2046
		setsid "${wrap[@]}" chroot --userspec="$ids" --groups="${ids#*:}" "$ROOT" /usr/bin/env -i HOME="/var/lib/$user" \
			LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 \
			$(svc_cmd "$name") >>"$log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$PIDDIR/$name.pid"
		# Until chroot has run, /proc/PID/root is still the host's: wait so that svc_pid
		# (which insists on this root) does not take a starting service for a dead one.
		local i
		for i in $(seq 50); do
			[[ $(readlink "/proc/$pid/root" 2>/dev/null) == "$ROOT" ]] && break
			kill -0 "$pid" 2>/dev/null || fail "$name" "$log" "exited at once"
			sleep 0.1
		done
	done
}

# wait_apis NAME...: until each answers HTTP, failing as soon as its process dies.
# rig_service start|stop NAME: one optional service of a running rig (OPTIONAL_SERVICES).
rig_service() {
	local op=$1 name=$2 pid
	[[ " ${OPTIONAL_SERVICES[*]} " == *" $name "* ]] || die "rig.sh service: '$name' is not an optional service (${OPTIONAL_SERVICES[*]})"
	case $op in
	start)
		svc_pid nova-api >/dev/null || die "rig.sh service start $name: the rig is not running ('rig.sh start' first)"
		mkdir -p "$PIDDIR"
		start_services "$name"
		wait_apis "$name"
		;;
	stop)
		pid=$(svc_pid "$name") || { say "$name is not running"; return 0; }
		local pids=("$pid" $(descendants "$pid")) deadline=$(( $(date +%s) + 20 ))
		kill -TERM "$pid" 2>/dev/null || true
		while alive "${pids[@]}" && [[ $(date +%s) -lt $deadline ]]; do sleep 0.2; done
		alive "${pids[@]}" && kill -KILL "${pids[@]}" 2>/dev/null || true
		rm -f "$PIDDIR/$name.pid"
		say "stopped $name"
		;;
	*) die "usage: rig.sh service start|stop NAME" ;;
	esac
}

wait_apis() {
	local name url code deadline=$(( $(date +%s) + ${NOVABSD_RIG_API_TIMEOUT:-180} )) pending=("$@") left
	while [[ ${#pending[@]} -gt 0 ]]; do
		left=()
		for name in "${pending[@]}"; do
			svc_pid "$name" >/dev/null || fail "$name" "$(svc_log "$name")" "exited during start"
			url=$(svc_field "$name" 4)
			code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url" || true)
			if [[ $code =~ ^[23] ]]; then say "$name answers at $url ($code)"; else left+=("$name"); fi
		done
		pending=("${left[@]}")
		[[ ${#pending[@]} -eq 0 ]] && break
		[[ $(date +%s) -lt $deadline ]] || fail "${pending[0]}" "$(svc_log "${pending[0]}")" "does not answer at $(svc_field "${pending[0]}" 4)"
		sleep 0.5
	done
}

# wait_listening NAME: until NAME listens on its port (nova-serialproxy answers plain HTTP with 405, so
# wait_apis cannot tell), failing as soon as its process dies.
wait_listening() {
	local name=$1 port deadline=$(( $(date +%s) + ${NOVABSD_RIG_API_TIMEOUT:-180} ))
	port=$(svc_field "$name" 3)
	until port_busy "$port"; do
		svc_pid "$name" >/dev/null || fail "$name" "$(svc_log "$name")" "exited during start"
		[[ $(date +%s) -lt $deadline ]] || fail "$name" "$(svc_log "$name")" "does not listen on $port"
		sleep 0.5
	done
	say "$name listens on $port"
}

run_ensure() {
	STEP_LOG=$LOGDIR/ensure.log
	install -D -m 0755 "$RIG_SRC/rig/ensure.py" "$ROOT$ENSURE_IN_ROOT"
	in_root_admin /usr/bin/env NOVABSD_RIG_PASSWORD="$PASSWORD" /usr/bin/python3 "$ENSURE_IN_ROOT" "$@" 2> >(tee -a "$STEP_LOG" >&2) ||
		fail "ensure $1" "$STEP_LOG" "could not set up the cloud's $1"
}

# ---------------------------------------------------------------------------------------
# stop: the recorded pids and their descendants, then anything still chrooted into this root.
rig_stop() {
	local t0 name pid pids=() deadline
	t0=$(now)
	mkdir -p "$PIDDIR"
	for f in "$PIDDIR"/*.pid; do
		[[ -e $f ]] || continue
		name=$(basename "$f" .pid)
		if pid=$(svc_pid "$name"); then
			pids+=("$pid" $(descendants "$pid"))
			kill -TERM "$pid" 2>/dev/null || true
			say "stopping $name (pid $pid)"
		fi
	done
	deadline=$(( $(date +%s) + 20 ))
	while alive "${pids[@]}" && [[ $(date +%s) -lt $deadline ]]; do sleep 0.2; done
	if alive "${pids[@]}"; then
		say "killing what ignored SIGTERM for 20 s: $(alive_list "${pids[@]}")"
		kill -KILL "${pids[@]}" 2>/dev/null || true
	fi
	local stray
	stray=$(in_this_root)
	if [[ -n $stray ]]; then
		say "killing leftovers chrooted in $ROOT: $stray"
		# shellcheck disable=SC2086
		kill -KILL $stray 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$PIDDIR"/*.pid
	net_cleanup
	umount_root || die "could not unmount everything below $ROOT"
	say "stopped in $(elapsed "$t0")"
}
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
alive_list() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && printf '%s ' "$p"; done; }
in_this_root() {
	local d
	for d in /proc/[0-9]*; do
		[[ $(readlink "$d/root" 2>/dev/null) == "$ROOT" ]] && printf '%s ' "${d#/proc/}"
	done
	true
}

rig_status() {
	local s name port pid state log running=0
	printf '%-31s %-6s %-8s %-8s %s\n' SERVICE PORT PID STATE LOG
	for s in "${RIG_SERVICES[@]}"; do
		IFS=: read -r name _ port _ <<<"$s"
		log=$(svc_log "$name")
		if pid=$(svc_pid "$name" 2>/dev/null); then
			state=running
			[[ " ${OPTIONAL_SERVICES[*]} " == *" $name "* ]] || running=$((running + 1))
		else pid=-; state=stopped; fi
		printf '%-31s %-6s %-8s %-8s %s\n' "$name" "$port" "$pid" "$state" "$log"
	done
	printf '%-31s %-6s %-8s %-8s %s\n' mariadb 3306 - "$( (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null && echo host || echo down)" "(host's)"
	printf '%-31s %-6s %-8s %-8s %s\n' rabbitmq 5672 - "$( (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && echo host || echo down)" "(host's, vhost $RABBIT_VHOST)"
	[[ -f $STATE/openrc ]] && echo "openrc: $STATE/openrc"
	[[ $running -eq $(( ${#RIG_SERVICES[@]} - ${#OPTIONAL_SERVICES[@]} )) ]]
}

# port_rig PORT: the root directory of the (other) rig whose chrooted service listens on PORT, if any.
port_rig() {
	local pid root
	pid=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
	[[ -n $pid ]] || return 0
	root=$(readlink "/proc/$pid/root" 2>/dev/null) || return 0
	[[ $root != / && $root != "$ROOT" && -f $root/.novabsd-release ]] && echo "$root"
	return 0
}

# rig_info: the names this rig uses, for scripts and the e2e suite (which must not guess them).
rig_info() {
	printf '%s\n' "RELEASE=$RELEASE" "RIG_DIR=$RIG_DIR" "ROOT=$ROOT" "STATE=$STATE" "LOGDIR=$LOGDIR" \
		"RABBIT_VHOST=$RABBIT_VHOST" "TRANSPORT_URL=$TRANSPORT_URL" "DB_PREFIX=$DB_PREFIX" \
		"IMAGES_IN_ROOT=$IMAGES_IN_ROOT" "OVS_DB_SOCK_HOST=$OVS_DB_SOCK_HOST" "CHASSIS=$(current_chassis)" \
		"PRIVATE_NETWORK=private" "PRIVATE_CIDR=$PRIVATE_CIDR" "PUBLIC_NETWORK=public" "PUBLIC_CIDR=$PUBLIC_CIDR" \
		"PUBLIC_HOST_IP=$PUBLIC_HOST_IP" "PUBLIC_BRIDGE=$BR_EX"
}

# One discovery at a time: two at once can both map the same new host, and the second fails on the duplicate
# (e2e tests that start hosts side by side each ask for one).
rig_discover() {
	local log=$LOGDIR/nova-manage.log
	mounted "$ROOT/proc" || die "the rig is not running: run rig.sh start"
	exec 9>"$STATE/discover.lock"
	flock 9
	in_root_as nova nova-manage cell_v2 discover_hosts --verbose 2>>"$log" | tee -a "$log" ||
		fail nova-manage "$log" "cell_v2 discover_hosts failed"
	exec 9>&-
}
