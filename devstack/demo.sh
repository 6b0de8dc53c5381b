#!/bin/bash
# demo.sh [HOST] — the whole thing on one machine, as root: bring the all-in-one cloud up
# (rig.sh install + start), build novabsd and start it as compute host HOST (default
# novabsd-demo) with the nova.conf of `rig.sh compute-conf`, discover it into cell1 and show
# `openstack compute service list`, then boot the tiny test image with `openstack server create`
# and show its console log. novabsd and the server keep running afterwards; novabsd's pid and
# log are printed, and the next demo.sh run replaces both.
set -euo pipefail

HERE=$(dirname "$(readlink -f "$0")")
REPO=$(dirname "$HERE")
RIG=$HERE/rig.sh
HOST=${1:-novabsd-demo}
RIG_DIR=${NOVABSD_RIG_DIR:-/var/lib/novabsd-rig}
DEMO=$RIG_DIR/compute/$HOST
START=$(date +%s.%N)

say() { printf 'demo.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1fs", e-s}'; }
phase() { # phase NAME CMD...: run and time one phase
	local t0 name=$1
	shift
	t0=$(date +%s.%N)
	say "== $name"
	"$@"
	say "== $name: $(since "$t0")"
}

[[ $(id -u) -eq 0 ]] || die "run as root (the rig debootstraps and chroots)"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "no Go toolchain in PATH"

build() { (cd "$REPO" && go build -o "$RIG_DIR/bin/novabsd" ./cmd/novabsd); }

start_compute() {
	mkdir -p "$DEMO"
	if [[ -f $DEMO/novabsd.pid ]] && kill -0 "$(cat "$DEMO/novabsd.pid")" 2>/dev/null; then
		say "stopping the previous novabsd (pid $(cat "$DEMO/novabsd.pid"))"
		kill -TERM "$(cat "$DEMO/novabsd.pid")"
		for _ in $(seq 100); do kill -0 "$(cat "$DEMO/novabsd.pid")" 2>/dev/null || break; sleep 0.1; done
	fi
	"$RIG" compute-conf "$HOST" >"$DEMO/nova.conf"
	setsid "$RIG_DIR/bin/novabsd" compute --config-file "$DEMO/nova.conf" >"$DEMO/novabsd.log" 2>&1 </dev/null &
	echo $! >"$DEMO/novabsd.pid"
	say "novabsd compute started: pid $!, conf $DEMO/nova.conf, log $DEMO/novabsd.log"
}

# novabsd logs "Compute service started" once it has registered through the conductor and serves its
# topics; a service row alone may be a stale one from an earlier run.
wait_registered() {
	local deadline=$(( $(date +%s) + 90 ))
	until grep -q "Compute service started" "$DEMO/novabsd.log" 2>/dev/null; do
		kill -0 "$(cat "$DEMO/novabsd.pid")" 2>/dev/null || { tail -n 30 "$DEMO/novabsd.log" >&2; die "novabsd exited (log $DEMO/novabsd.log)"; }
		[[ $(date +%s) -lt $deadline ]] || { tail -n 30 "$DEMO/novabsd.log" >&2; die "compute host $HOST did not start within 90 s (log $DEMO/novabsd.log)"; }
		sleep 1
	done
}
phase "install the control plane root" "$RIG" install
phase "start the control plane" "$RIG" start
phase "build novabsd" build
phase "start novabsd as compute host $HOST" start_compute
phase "wait for $HOST to register" wait_registered
phase "discover hosts into cell1" "$RIG" discover
phase "compute service list" "$RIG" exec openstack compute service list

# Boot the tiny test image on this host and show its console: the guest prints the marker line.
boot_server() {
	"$RIG" exec openstack server delete --wait demo >/dev/null 2>&1 || true
	"$RIG" exec openstack server create --flavor tiny --image tiny --nic none \
		--availability-zone "nova:$HOST" --wait demo -f value -c id -c status
}
wait_console() {
	local deadline=$(( $(date +%s) + 180 ))
	until "$RIG" exec openstack console log show demo 2>/dev/null | grep -q NOVABSD-TINY-GUEST-READY; do
		[[ $(date +%s) -lt $deadline ]] || die "no marker on the console of server demo within 180 s (log $DEMO/novabsd.log)"
		sleep 2
	done
}
phase "boot the test image (openstack server create)" boot_server
phase "wait for the guest's marker on its console" wait_console
phase "openstack console log show demo" "$RIG" exec openstack console log show demo

say "done in $(since "$START"). novabsd pid $(cat "$DEMO/novabsd.pid"), log $DEMO/novabsd.log; stop it with: kill $(cat "$DEMO/novabsd.pid")"
say "admin credentials: source $("$RIG" openrc) (or: $RIG exec openstack ...)"
