# common.sh — helpers shared by rig.sh's phases: messages, timed steps, mounts, chroot runs.
# Sourced by rig.sh; expects ROOT, STATE, LOGDIR.

say() { printf 'rig.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (chroot, mounts, debootstrap)"; }
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1fs", e-s}'; }

# A step prints its elapsed time; the ERR trap names the failing step and, when the step
# set STEP_LOG, the log file to read. Every command of a step runs under errexit.
CURRENT_STEP=
STEP_LOG=
step() {
	local name=$1 t0
	shift
	CURRENT_STEP=$name STEP_LOG=
	t0=$(now)
	say "[$name] ..."
	"$@"
	say "[$name] done in $(elapsed "$t0")"
	CURRENT_STEP=
}
on_err() {
	local rc=$1 line=$2
	[[ -n $CURRENT_STEP ]] || return 0
	say "error: step '$CURRENT_STEP' failed (exit $rc, ${BASH_SOURCE[1]##*/}:$line)${STEP_LOG:+; see $STEP_LOG}"
	if [[ -n $STEP_LOG && -f $STEP_LOG ]]; then
		say "last lines of $STEP_LOG:"
		tail -n 15 "$STEP_LOG" | sed 's/^/    /' >&2
	fi
	CURRENT_STEP=
}
trap 'on_err $? $LINENO' ERR

# fail SERVICE LOG MESSAGE: a failure that names the service and its log.
fail() {
	STEP_LOG=$2
	say "error: $1: $3${2:+ (log: $2)}"
	if [[ -n $2 && -f $2 ]]; then tail -n 15 "$2" | sed 's/^/    /' >&2; fi
	CURRENT_STEP=
	exit 1
}

# mounted PATH: is PATH a mount point (exactly)?
mounted() { awk -v p="$1" '$5 == p {f=1} END {exit !f}' /proc/self/mountinfo; }

# The root's /proc, /sys, /dev, /dev/pts and /dev/shm exist only while the rig runs or
# installs; /sys and /dev are rslave so that unmounting inside never reaches the host.
# The root's /run stays its own directory: the host's holds the host MariaDB's socket.
mount_root() {
	mkdir -p "$ROOT"/{proc,sys,dev}
	mounted "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
	if ! mounted "$ROOT/sys"; then mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys"; fi
	if ! mounted "$ROOT/dev"; then mount --bind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev"; fi
	mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm" 2>/dev/null || true
	mounted "$ROOT/dev/pts" || mount --bind /dev/pts "$ROOT/dev/pts"
	mounted "$ROOT/dev/shm" || mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
}
# Unmount everything below the root, deepest first. Fails (naming the mount) if one is busy.
umount_root() {
	local m
	[[ -d $ROOT ]] || return 0
	while read -r m; do
		umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || {
			say "error: cannot unmount $m (busy: $(fuser -m "$m" 2>/dev/null | tr -s ' ' || echo '?'))"
			return 1
		}
	done < <(awk -v r="$ROOT/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo | sort -r)
}
any_mount_below() { awk -v r="$ROOT/" 'index($5, r) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; }

# in_root CMD...: run as root inside the root with a clean environment.
in_root() {
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive "$@"
}
# in_root_as USER CMD...: run as USER (numeric ids read from the root's passwd: the host
# has no such users).
in_root_as() {
	local user=$1 ids
	shift
	ids=$(user_ids "$user")
	chroot --userspec="$ids" --groups="${ids#*:}" "$ROOT" /usr/bin/env -i HOME=/var/lib/"$user" LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
user_ids() {
	awk -F: -v u="$1" '$1 == u {print $3 ":" $4; f=1} END {exit !f}' "$ROOT/etc/passwd" ||
		die "user '$1' does not exist in $ROOT/etc/passwd (did its package install?)"
}
# in_root_admin CMD...: run inside the root with the admin credentials of the openrc.
in_root_admin() {
	[[ -f $STATE/openrc ]] || die "no openrc yet: run rig.sh start"
	mounted "$ROOT/proc" || die "the rig is not running (no $ROOT/proc): run rig.sh start"
	# shellcheck disable=SC2046
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		$(sed -n 's/^export //p' "$STATE/openrc") "$@"
}

# port_busy PORT: is something listening on 127.0.0.1:PORT or *:PORT?
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
# port_owner PORT: pid/program listening on PORT, for messages.
port_owner() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1; }
