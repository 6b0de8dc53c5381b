# configure.sh — the config files rig.sh writes itself (the packages' debconf answers are all
# "no"): keystone, glance (file store), placement, nova, uwsgi inis, and the compute template.
# Sourced by rig.sh.

KEYSTONE_URL=http://127.0.0.1:5000
ETC_RIG=/etc/novabsd-rig   # inside the root: uwsgi inis

# db_url USER DB: both names get the release's DB_PREFIX (empty for forky), so that rigs of two
# releases on one MariaDB never share a database or a user.
db_url() { echo "mysql+pymysql://$DB_PREFIX$1:$PASSWORD@$DB_HOST/$DB_PREFIX$2?charset=utf8"; }

# authtoken USER: a [keystone_authtoken] section for service USER.
authtoken() {
	cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PASSWORD
region_name = $REGION
service_token_roles_required = true
EOF
}

# ksa_auth GROUP USER: keystoneauth password credentials for a [GROUP] client section.
ksa_auth() {
	cat <<EOF
[$1]
auth_type = password
auth_url = $KEYSTONE_URL/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $PASSWORD
region_name = $REGION
EOF
}

# write_file PATH OWNER MODE: stdin to PATH inside the root, owned by the root's OWNER.
write_file() {
	local path=$ROOT$1 owner=$2 mode=$3 tmp
	mkdir -p "$(dirname "$path")"
	tmp=$(mktemp "$path.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	chown "$(user_ids "$owner")" "$tmp"
	mv -f "$tmp" "$path"
}

write_keystone_conf() {
	write_file /etc/keystone/keystone.conf keystone 0640 <<EOF
[DEFAULT]
log_dir =
use_stderr = true
[database]
connection = $(db_url keystone keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = /etc/keystone/fernet-keys/
[credential]
key_repository = /etc/keystone/credential-keys/
[cache]
enabled = false
EOF
}

write_glance_conf() {
	write_file /etc/glance/glance-api.conf glance 0640 <<EOF
[DEFAULT]
enabled_backends = fs:file
use_stderr = true
[database]
connection = $(db_url glance glance)
$(authtoken glance)
[paste_deploy]
flavor = keystone
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = /var/lib/glance/images/
[os_glance_staging_store]
filesystem_store_datadir = /var/lib/glance/staging/
[os_glance_tasks_store]
filesystem_store_datadir = /var/lib/glance/tasks_work_dir/
[oslo_concurrency]
lock_path = /var/lib/glance/lock
EOF
	local d
	for d in images staging tasks_work_dir lock; do
		mkdir -p "$ROOT/var/lib/glance/$d"
		chown "$(user_ids glance)" "$ROOT/var/lib/glance/$d"
	done
}

write_placement_conf() {
	write_file /etc/placement/placement.conf placement 0640 <<EOF
[DEFAULT]
use_stderr = true
[placement_database]
connection = $(db_url placement placement)
[api]
auth_strategy = keystone
$(authtoken placement)
EOF
}

write_nova_conf() {
	write_file /etc/nova/nova.conf nova 0640 <<EOF
[DEFAULT]
transport_url = $TRANSPORT_URL
my_ip = 127.0.0.1
host = novabsd-rig-controller
state_path = /var/lib/nova
use_stderr = true
graceful_shutdown_timeout = 5
[api]
auth_strategy = keystone
[api_database]
connection = $(db_url nova nova_api)
[database]
connection = $(db_url nova nova)
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = -1
[oslo_concurrency]
lock_path = /var/lib/nova/tmp
[oslo_messaging_notifications]
driver = noop
$(authtoken nova)
[service_user]
send_service_user_token = true
auth_type = password
auth_url = $KEYSTONE_URL/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $PASSWORD
$(ksa_auth placement nova)
$(ksa_auth glance nova)
$(ksa_auth neutron nova)
valid_interfaces = internal,public
# nova's metadata API (8775) answers the OVN metadata agent's proxies, which sign with this secret.
service_metadata_proxy = true
metadata_proxy_shared_secret = $METADATA_SECRET
[cinder]
os_region_name = $REGION
[serial_console]
# nova-serialproxy (started by the rig) listens here; computes hand out base_url with a token.
serialproxy_host = 127.0.0.1
serialproxy_port = 6083
base_url = ws://127.0.0.1:6083/
EOF
	mkdir -p "$ROOT/var/lib/nova/tmp"
	chown "$(user_ids nova)" "$ROOT/var/lib/nova" "$ROOT/var/lib/nova/tmp"
}

# uwsgi_ini NAME USER PORT APP [EXTRA]: an ini that dies on SIGTERM (rather than
# reloading) and listens on 127.0.0.1 only. APP is an ini line naming the application; WORKERS (default 2)
# is the number of processes.
uwsgi_ini() {
	write_file "$ETC_RIG/$1-uwsgi.ini" root 0644 <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$3
$4
master = true
processes = ${WORKERS:-2}
threads = 1
lazy-apps = true
need-app = true
die-on-term = true
vacuum = true
buffer-size = 65535
thunder-lock = true
add-header = Connection: close
${5:-}
EOF
}

# wsgi_app MODULE SCRIPT: the ini line for an application: the module where the release has it
# (2026.1 removed the pbr wsgi scripts), else the package's script (glance 30 of 2025.1 has
# no glance.wsgi module).
wsgi_app() {
	local file=$ROOT/usr/lib/python3/dist-packages/${1//.//}.py
	if [[ -f $file ]]; then
		echo "module = $1:application"
	elif [[ -f $ROOT$2 ]]; then
		echo "wsgi-file = $2"
	else
		fail "uwsgi" "" "neither the module $1 nor the script $2 exists in the root"
	fi
}

write_uwsgi_inis() {
	uwsgi_ini keystone keystone 5000 "$(wsgi_app keystone.wsgi.api /usr/bin/keystone-wsgi-public)"
	# glanceclient uploads in 1 MiB chunks, uwsgi's default chunked-input-limit: a snapshot uploaded by the
	# stock nova-compute fails there ("unable to receive chunked part").
	uwsgi_ini glance-api glance 9292 "$(wsgi_app glance.wsgi.api /usr/bin/glance-wsgi-api)" \
		$'http-chunked-input = true\nhttp-raw-body = true\nhttp-auto-chunked = true\nchunked-input-limit = 16777216'
	uwsgi_ini placement-api placement 8778 "$(wsgi_app placement.wsgi.api /usr/bin/placement-api)"
	uwsgi_ini nova-api nova 8774 "$(wsgi_app nova.wsgi.osapi_compute /usr/bin/nova-api-wsgi)"
	uwsgi_ini nova-metadata nova 8775 "$(wsgi_app nova.wsgi.metadata /usr/bin/nova-metadata-wsgi)"
	# The optional second compute API (rig.sh service start nova-api-reclaim): nova.conf plus nova-reclaim.conf,
	# so that its DELETE soft-deletes while the main API's deletes stay immediate for every other client.
	WORKERS=1 uwsgi_ini nova-api-reclaim nova 8764 "$(wsgi_app nova.wsgi.osapi_compute /usr/bin/nova-api-wsgi)" \
		'env = OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf;nova-reclaim.conf'
	write_file /etc/nova/nova-reclaim.conf nova 0640 <<EOF2
[DEFAULT]
# nova-api soft-deletes (SOFT_DELETED, restorable) when this is above 0; the compute host reclaims such a server
# once its own reclaim_instance_interval has passed.
reclaim_instance_interval = 3600
EOF2
	# The OVN mechanism driver keeps its OVSDB connections in threads of each worker. One worker: on Python 3.14
	# (sid) two workers loading the OVN driver at once race for multiprocessing's resource tracker, and the loser's
	# BrokenPipeError ends uwsgi ("no app loaded").
	WORKERS=1 uwsgi_ini neutron-api neutron 9696 "$(wsgi_app neutron.wsgi.api /usr/bin/neutron-api)" 'enable-threads = true'
}

# write_serialproxy: nova-serialproxy's launcher. websockify serves each connection in a multiprocessing child;
# Python 3.14 (forky's and sid's roots) starts children with forkserver by default, which must pickle the server
# and fails ("Can't pickle <enum 'AddressFamily'>"), so every websocket is reset. The launcher asks for fork, the
# default websockify was written for, then runs the package's own entry point.
write_serialproxy() {
	write_file "$ETC_RIG/nova-serialproxy.py" root 0644 <<'EOF'
import multiprocessing
import sys

multiprocessing.set_start_method("fork")
from nova.cmd.serialproxy import main  # noqa: E402

sys.argv[0] = "nova-serialproxy"
sys.exit(main())
EOF
}

write_configs() {
	write_keystone_conf
	write_glance_conf
	write_placement_conf
	write_nova_conf
	write_neutron_confs
	write_uwsgi_inis
	write_serialproxy
}

write_openrc() {
	mkdir -p "$STATE"
	cat >"$STATE/openrc.tmp" <<EOF
# novabsd rig: admin credentials (source me; also valid inside the root)
export OS_AUTH_URL=$KEYSTONE_URL/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION
export OS_INTERFACE=public
export OS_COMPUTE_API_VERSION=2.latest
EOF
	mv -f "$STATE/openrc.tmp" "$STATE/openrc"
}

# compute_conf HOST: nova.conf for a compute host (novabsd) named HOST that joins this cloud
# from the host side: same broker, keystone, placement, glance and neutron, all on 127.0.0.1, and the
# rig's Open vSwitch (whose chassis is HOST after `rig.sh chassis HOST`).
compute_conf() {
	local host=$1 dir
	[[ $host =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "compute-conf: bad host name '$host'"
	dir=$RIG_DIR/compute/$host
	cat <<EOF
# nova.conf for compute host $host, generated by devstack/rig.sh compute-conf
[DEFAULT]
host = $host
transport_url = $TRANSPORT_URL
my_ip = 127.0.0.1
state_path = $dir
instances_path = $dir/instances
graceful_shutdown_timeout = 5
# Nova's defaults, written out: the guest starts once Neutron's network-vif-plugged events arrive, and a
# port that is never plugged fails the build after 300 s.
vif_plugging_timeout = 300
vif_plugging_is_fatal = true
[serial_console]
# Guests' serial consoles on 127.0.0.1, ports 10000-19999, reached through the rig's nova-serialproxy.
enabled = true
base_url = ws://127.0.0.1:6083/
proxyclient_address = 127.0.0.1
port_range = 10000:20000
[qemu]
# /dev/kvm on these machines is kvm_pvm, which kills real-mode guests.
accel = tcg
[libvirt]
# For the stock nova-compute as a baseline (same reason).
virt_type = qemu
[oslo_concurrency]
lock_path = $dir/lock
$(authtoken nova)
[service_user]
send_service_user_token = true
auth_type = password
auth_url = $KEYSTONE_URL/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $PASSWORD
$(ksa_auth placement nova)
$(ksa_auth glance nova)
$(ksa_auth neutron nova)
valid_interfaces = public
[os_vif_ovs]
# The rig's Open vSwitch, as the host reaches its database (ovs-vsctl --db=...).
ovsdb_connection = unix:$OVS_DB_SOCK_HOST
EOF
}
