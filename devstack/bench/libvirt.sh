# libvirt.sh — sourced by the bench scripts that run the stock nova-compute with its libvirt driver (lifecycle.sh,
# rpc.sh): installs libvirt, QEMU and python3-libvirt into the rig's root on first use (never part of rig.sh
# install, so that CI does not pay for it) and starts libvirtd and virtlogd chrooted in that root.
#
# The caller defines ROOT, WORK (its scratch directory: apt log, daemons' pid files), LOG (the daemons' log
# directory), TAG, IN_ROOT_ETC and IN_ROOT_DIR (paths inside the root), HOST_PY (the host name libvirt reports),
# and the helpers say, die and in_root. Stopping the daemons is the caller's (their pid files are in WORK), with
# stop_tree below.
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
