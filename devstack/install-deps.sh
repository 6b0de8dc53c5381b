#!/usr/bin/env bash
# Installs, on Debian bookworm as root, what the tests and the all-in-one rig need, and starts the broker and the
# database if they are down. Idempotent: a machine that has everything only pays a few dpkg queries.
set -euo pipefail

packages=(
	python3-oslo.messaging   # the interop oracle for rpc/ (oslo.messaging 14 on bookworm)
	qemu-system-x86 qemu-utils ovmf   # the Linux engine, qemu-img for conversion checks, UEFI firmware
	debootstrap              # the forky root of the control plane
	busybox-static syslinux extlinux syslinux-common mtools dosfstools cpio   # the tiny test image
	genisoimage              # isoinfo reads config drives back where the kernel cannot mount iso9660
	rabbitmq-server mariadb-server
	iproute2 procps psmisc curl ca-certificates git make
	iputils-ping             # the e2e tests ping servers on the rig's provider network
	mandoc                   # make packaging-check lints novabsd(8) with mandoc -Tlint
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# novabsd on the host plugs taps into the rig's Open vSwitch with `ovs-vsctl --db=unix:<rig root>/run/openvswitch/
# db.sock`; bookworm ships ovs-vsctl in openvswitch-switch. Its daemons must not start on the host (the rig runs its
# own, and a second ovs-vswitchd would be a second switch): the install runs under a policy-rc.d that refuses
# every start unless the machine already has one.
if ! dpkg-query -W -f='${Status}' openvswitch-switch 2>/dev/null | grep -q 'install ok installed'; then
	echo "install-deps: installing openvswitch-switch (for ovs-vsctl; its daemons are not started)"
	policy=/usr/sbin/policy-rc.d own_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	rc=0
	apt-get install -y -qq --no-install-recommends openvswitch-switch >/dev/null || rc=$?
	[ -z "$own_policy" ] || rm -f "$policy"
	[ "$rc" -eq 0 ] || { echo "install-deps: apt-get install openvswitch-switch failed" >&2; exit 1; }
	# On a machine with systemd, it would start at the next boot otherwise.
	if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
		systemctl disable --now openvswitch-switch ovsdb-server ovs-vswitchd >/dev/null 2>&1 || true
	fi
fi

# The conf tests load the full sample nova.conf of Nova 2026.1 (Debian forky's nova-common), every option
# commented out. Bookworm's own nova-common is Zed, so fetch forky's package with a private apt state; nothing of
# the host's apt configuration changes.
sample_dir=/var/cache/novabsd/nova-common
if [ ! -s "$sample_dir/usr/share/nova-common/nova.conf" ]; then
	echo "install-deps: fetching Debian forky's nova-common for its sample nova.conf"
	apt_dir=/var/cache/novabsd/apt-forky
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$sample_dir"
	echo "deb [check-valid-until=no] http://deb.debian.org/debian forky main" >"$apt_dir/sources.list"
	aptopts=(-o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$apt_dir/lists"
		-o Dir::Cache="$apt_dir" -o Dir::Cache::archives="$apt_dir/archives" -o Acquire::Check-Valid-Until=false
		-o APT::Sandbox::User=root)
	apt-get "${aptopts[@]}" update -qq
	(cd "$apt_dir/archives" && apt-get "${aptopts[@]}" download nova-common >/dev/null)
	dpkg-deb -x "$apt_dir"/archives/nova-common_*.deb "$sample_dir"
fi

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	echo "install-deps: Go is at /usr/local/go/bin; add it to PATH" >&2
fi
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || { echo "install-deps: Go 1.26 is required (https://go.dev/dl)" >&2; exit 1; }

# QEMU drops to this account ([qemu] user's default) once it has opened the guest's disks, sockets and logs.
if ! getent passwd novabsd-qemu >/dev/null; then
	echo "install-deps: creating the system user novabsd-qemu"
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin novabsd-qemu
fi

# The broker and the database run on the host: the tests and the rig share them.
if ! rabbitmqctl -q status >/dev/null 2>&1; then
	echo "install-deps: starting rabbitmq-server"
	rabbitmq-server -detached
	for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
	rabbitmqctl -q status >/dev/null 2>&1 || { echo "install-deps: rabbitmq-server did not start (see /var/log/rabbitmq)" >&2; exit 1; }
fi
if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
	echo "install-deps: starting mariadb"
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	for _ in $(seq 60); do mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
	mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 || { echo "install-deps: mariadb did not start" >&2; exit 1; }
fi
