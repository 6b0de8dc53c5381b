# libvirt.sh — sourced by the bench scripts that run the stock nova-compute with its libvirt driver (lifecycle.sh,
# shelve.sh, network.sh, rpc.sh): installs libvirt, QEMU and python3-libvirt into the rig's root on first use
# (never part of rig.sh install, so that CI does not pay for it), starts libvirtd and virtlogd chrooted in that
# root, and starts the stock nova-compute there.
#
# The caller defines ROOT (before sourcing it), WORK (its scratch directory: apt log, daemons' pid files), TAG,
# HOST_PY (the host name libvirt reports), and the helpers say and die; wait_hosts also HOST_NB. Stopping the
# daemons is the caller's (their pid files are in WORK), with stop_tree and destroy_guests below.

# The benchmarks' paths inside the root: the stock compute's state, its configuration, and the daemons' logs
# (LOG is the last as the host sees it).
IN_ROOT_DIR=/var/lib/novabsd-bench
IN_ROOT_ETC=/etc/novabsd-bench
IN_ROOT_LOG=/var/log/novabsd-bench
LOG=$ROOT$IN_ROOT_LOG

# in_root CMD...: runs CMD chrooted in the root with a clean environment.
in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

PACKAGES=(python3-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-log libvirt-clients qemu-system-x86)

# 1. packages, inside the root only.
install_packages() {
	local p missing=() try
	for p in "${PACKAGES[@]}"; do
		in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	say "installing into $ROOT: ${missing[*]} (log $WORK/apt.log)"
	for try in 1 2 3 4 5 6; do
		if in_root apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1; then return 0; fi
		if grep -q 'Could not get lock\|Unable to acquire' "$WORK/apt.log"; then sleep 5; continue; fi
		[[ $try -eq 1 ]] && { in_root apt-get update -q >>"$WORK/apt.log" 2>&1 || true; continue; }
		break
	done
	tail -n 15 "$WORK/apt.log" >&2
	die "apt-get install in $ROOT failed (log $WORK/apt.log)"
}

# ---------------------------------------------------------------------------------------------------------------
# 2. libvirtd (monolithic) and virtlogd, chrooted, as root, with the settings of openstack-rig-notes.md 8/17.
# libvirtd runs in its own UTS namespace whose hostname is HOST_PY: the libvirt driver names its node (the
# hypervisor hostname, hence the Placement provider) after libvirt's hostname, and this machine's own name
# already has a provider in this cloud (a provider name must be unique).
configure_libvirt() {
	local q=$ROOT/etc/libvirt/qemu.conf
	[[ -f $q.dist ]] || cp -p "$q" "$q.dist"
	cat >"$q" <<'EOF'
# Written by novabsd devstack/bench/lifecycle.sh (the package's own file is qemu.conf.dist): libvirtd runs
# chrooted in the rig's root as root, with no cgroups, mount namespaces or security labels.
user = "root"
group = "root"
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
dynamic_ownership = 0
remember_owner = 0
EOF
	mkdir -p "$ROOT$IN_ROOT_ETC" "$LOG" "$ROOT$IN_ROOT_DIR"
	cat >"$ROOT$IN_ROOT_ETC/libvirtd.conf" <<'EOF'
# libvirtd for lifecycle.sh: only root inside the rig's root talks to it, over its unix socket.
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
EOF
}

# daemon_in_root NAME: pids of NAME chrooted in this root (someone else's libvirtd would share our sockets).
daemon_in_root() {
	local d
	for d in /proc/[0-9]*; do
		[[ $(readlink "$d/root" 2>/dev/null) == "$ROOT" && $(cat "$d/comm" 2>/dev/null) == "$1" ]] && printf '%s ' "${d#/proc/}"
	done
	true
}

start_libvirt() {
	local d pid
	for d in virtlogd libvirtd; do
		pid=$(daemon_in_root "$d")
		[[ -z $pid ]] || die "$d already runs in $ROOT (pid $pid), not started by this script: stop it first"
	done
	rm -f "$ROOT"/run/libvirt/{libvirt-sock,libvirt-sock-ro,libvirt-admin-sock,virtlogd-sock,virtlogd-admin-sock}
	setsid chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/usr/sbin/virtlogd >"$LOG/virtlogd-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/virtlogd.pid"
	disown
	setsid unshare --uts -- /bin/sh -c 'hostname "$1" && shift && exec chroot "$@"' sh "$HOST_PY" \
		"$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		/usr/sbin/libvirtd -f "$IN_ROOT_ETC/libvirtd.conf" >"$LOG/libvirtd-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/libvirtd.pid"
	disown
	local i
	for i in $(seq 100); do
		if [[ -S $ROOT/run/libvirt/libvirt-sock && -S $ROOT/run/libvirt/virtlogd-sock ]] &&
			[[ $(in_root virsh -q -c qemu:///system hostname 2>/dev/null) == "$HOST_PY" ]]; then
			return 0
		fi
		kill -0 "$(cat "$WORK/libvirtd.pid")" 2>/dev/null || { tail -n 15 "$LOG/libvirtd-$TAG.log" >&2; die "libvirtd exited (log $LOG/libvirtd-$TAG.log)"; }
		kill -0 "$(cat "$WORK/virtlogd.pid")" 2>/dev/null || { tail -n 15 "$LOG/virtlogd-$TAG.log" >&2; die "virtlogd exited (log $LOG/virtlogd-$TAG.log)"; }
		sleep 0.2
	done
	die "libvirtd does not answer on $ROOT/run/libvirt/libvirt-sock after 20 s (log $LOG/libvirtd-$TAG.log)"
}

# tree_pids PID: the process and its descendants; stop_tree PIDFILE stops such a tree (the benchmarks' services).
tree_pids() { local p=$1 c; echo "$p"; for c in $(pgrep -P "$p" || true); do tree_pids "$c"; done; }
stop_tree() { # stop_tree PIDFILE: TERM the tree, KILL what is left after 10 s
	local f=$1 pids i
	[[ -f $f ]] || return 0
	pids=$(tree_pids "$(cat "$f")")
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null || true
	for i in $(seq 50); do
		# shellcheck disable=SC2086
		kill -0 $pids 2>/dev/null || break
		sleep 0.2
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null || true
	rm -f "$f"
}

# destroy_guests: the guests the stock compute left behind go (only ours: this libvirtd is ours).
destroy_guests() {
	local dom
	[[ -f $WORK/libvirtd.pid ]] || return 0
	for dom in $(in_root virsh -q -c qemu:///system list --all --name 2>/dev/null); do
		in_root virsh -q -c qemu:///system destroy "$dom" >/dev/null 2>&1
		in_root virsh -q -c qemu:///system undefine --nvram "$dom" >/dev/null 2>&1 ||
			in_root virsh -q -c qemu:///system undefine "$dom" >/dev/null 2>&1
	done
}

# ---------------------------------------------------------------------------------------------------------------
# The stock service: nova.cmd.compute from the root's python3-nova, like /usr/bin/nova-compute.

# stock_override_conf FILE [LINE...]: writes the stock compute's override config, the libvirt driver under TCG;
# each LINE goes into its [DEFAULT] section. Callers append sections of their own.
stock_override_conf() {
	local f=$1
	shift
	{
		printf '[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n'
		[[ $# -eq 0 ]] || printf '%s\n' "$@"
		cat <<'EOF'
[libvirt]
# /dev/kvm here is kvm_pvm, which kills real-mode guests: TCG, as for novabsd.
virt_type = qemu
cpu_mode = none
sysinfo_serial = none
EOF
	} >"$f"
}

# start_stock_compute NAME: runs it chrooted with IN_ROOT_ETC/NAME.conf and NAME.override.conf (paths inside the
# root), logging to LOG/nova-compute-TAG.log; its pid goes to WORK/python.pid.
start_stock_compute() {
	setsid chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUNBUFFERED=1 \
		/usr/bin/python3 -c 'import sys; sys.argv = ["nova-compute"] + sys.argv[1:]
from nova.cmd.compute import main; main()' \
		--config-file "$IN_ROOT_ETC/$1.conf" --config-file "$IN_ROOT_ETC/$1.override.conf" \
		>"$LOG/nova-compute-$TAG.log" 2>&1 </dev/null &
	echo $! >"$WORK/python.pid"
	disown
}

# wait_hosts SECONDS PAUSE READY WHAT: with novabsd (WORK/novabsd.pid) as HOST_NB and the stock compute as
# HOST_PY running, waits every PAUSE seconds until `READY HOST` succeeds for both (READY says so itself); dies
# when either service exits, or after SECONDS with "no WHAT for HOST".
wait_hosts() {
	local secs=$1 pause=$2 ready=$3 what=$4 h deadline pending=("$HOST_NB" "$HOST_PY") left
	deadline=$(($(date +%s) + secs))
	while [[ ${#pending[@]} -gt 0 ]]; do
		kill -0 "$(cat "$WORK/novabsd.pid")" 2>/dev/null || { tail -n 15 "$WORK/novabsd.log" >&2; die "novabsd exited (log $WORK/novabsd.log)"; }
		kill -0 "$(cat "$WORK/python.pid")" 2>/dev/null || { tail -n 15 "$LOG/nova-compute-$TAG.log" >&2; die "the stock nova-compute exited (log $LOG/nova-compute-$TAG.log)"; }
		left=()
		for h in "${pending[@]}"; do "$ready" "$h" || left+=("$h"); done
		pending=("${left[@]}")
		[[ ${#pending[@]} -eq 0 ]] && break
		[[ $(date +%s) -lt $deadline ]] || {
			tail -n 20 "$LOG/nova-compute-$TAG.log" >&2
			die "no $what for ${pending[*]} after $secs s (logs $WORK/novabsd.log, $LOG/nova-compute-$TAG.log)"
		}
		sleep "$pause"
	done
}
