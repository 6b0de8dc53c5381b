# install.sh — `rig.sh install`: debootstrap the root and install the OpenStack packages.
# Sourced by rig.sh.

# Packages from the release itself. No MariaDB or RabbitMQ: the host's are reused.
# python3-oslo.messaging comes first on its own because other tests use it as an interop oracle.
RIG_EARLY_PKGS=(python3-oslo.messaging)
RIG_PKGS=(
	keystone placement-api nova-api nova-conductor nova-scheduler nova-consoleproxy
	python3-openstackclient python3-osc-placement tempest
	uwsgi-core uwsgi-plugin-python3 python3-pymysql
	ca-certificates procps iproute2 curl
)
# Glance is not in forky, and glance from sid needs oslo.policy >= 6 from sid (notes 3).
RIG_SID_PKGS_FORKY=(glance-api glance-common python3-glance python3-oslo.policy)
# Networking: Neutron's API (uwsgi), the OVN maintenance worker and metadata agent, OVN's central and host
# parts, Open vSwitch, and haproxy (the metadata agent's proxy in each network's namespace).
RIG_NET_PKGS=(
	neutron-api neutron-ovn-maintenance-worker neutron-ovn-metadata-agent
	ovn-central ovn-host openvswitch-switch haproxy sudo
)
# In forky, OVN 26.03 is only in sid, and forky's neutron 28 cannot live beside sid's oslo.policy 6 (which
# glance needs): neutron 29 and OVN come from sid, Open vSwitch 4.0 and haproxy from forky (Neutron notes).
RIG_SID_NET_PKGS_FORKY=(
	neutron-api neutron-ovn-maintenance-worker neutron-ovn-metadata-agent neutron-common python3-neutron
	python3-neutron-lib ovn-central ovn-host ovn-common
)
RIG_NET_PKGS_FORKY=(openvswitch-switch openvswitch-common haproxy sudo)

installed_stamp() { echo "$ROOT/.novabsd-rig-installed"; }

rig_install() {
	local t0
	t0=$(now)
	preflight_install
	if [[ -f $(installed_stamp) ]] && (verify_pkgs >/dev/null 2>&1); then
		say "already installed: $ROOT (Debian $RELEASE; $(pkg_version python3-nova | sed 's/^/nova /'))"
		return 0
	fi
	step "debootstrap $RELEASE" install_debootstrap
	step "apt configuration" install_apt_config
	# A running rig keeps its mounts; otherwise they exist only for the install.
	local was_running=
	mounted "$ROOT/proc" && was_running=1
	step "mount root" mount_root
	[[ -n $was_running ]] || trap 'umount_root || true' EXIT
	step "apt-get update" install_apt_update
	step "install ${RIG_EARLY_PKGS[*]}" install_pkgs "${RIG_EARLY_PKGS[@]}"
	say "root usable for oslo.messaging: chroot $ROOT /usr/bin/python3 ($(pkg_version python3-oslo.messaging))"
	step "install OpenStack packages" install_pkgs "${RIG_PKGS[@]}"
	if [[ $RELEASE == forky ]]; then
		step "install from sid: ${RIG_SID_PKGS_FORKY[*]}" install_pkgs_from sid "${RIG_SID_PKGS_FORKY[@]}"
	else
		step "install glance" install_pkgs glance-api
	fi
	if [[ $RELEASE == forky ]]; then
		step "install networking from sid: ${RIG_SID_NET_PKGS_FORKY[*]}" install_pkgs_from sid "${RIG_SID_NET_PKGS_FORKY[@]}"
		step "install ${RIG_NET_PKGS_FORKY[*]}" install_pkgs "${RIG_NET_PKGS_FORKY[@]}"
	else
		step "install networking: ${RIG_NET_PKGS[*]}" install_pkgs "${RIG_NET_PKGS[@]}"
	fi
	step "placement and oslo.policy" patch_placement
	step "verify packages" verify_pkgs
	if [[ -z $was_running ]]; then
		step "unmount root" umount_root
		trap - EXIT
	fi
	{ echo "release=$RELEASE"; pkg_versions; } >"$(installed_stamp)"
	say "install done in $(elapsed "$t0"); root $ROOT ($(du -sh --one-file-system "$ROOT" 2>/dev/null | cut -f1))"
}

preflight_install() {
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"
	if [[ -f $ROOT/.novabsd-release ]]; then
		local have
		have=$(cat "$ROOT/.novabsd-release")
		[[ $have == "$RELEASE" ]] || die "$ROOT holds Debian $have, not $RELEASE: rig.sh stop, then remove $RIG_DIR or set NOVABSD_RIG_DIR"
	fi
	local avail
	avail=$(df -Pk "$(dirname "$RIG_DIR")" 2>/dev/null | awk 'NR==2{print $4}')
	[[ -z $avail || $avail -gt 3000000 ]] || die "less than 3 GB free under $(dirname "$RIG_DIR")"
}

install_debootstrap() {
	[[ -f $ROOT/.novabsd-debootstrap-done ]] && { say "already bootstrapped"; return 0; }
	# A half-made root from an interrupted run is removed, but never while anything is
	# mounted below it (that would delete the host's /dev).
	if [[ -e $ROOT ]]; then
		any_mount_below && die "$ROOT has mounts below it: run rig.sh stop first"
		say "removing incomplete root $ROOT"
		rm -rf --one-file-system "$ROOT"
	fi
	mkdir -p "$RIG_DIR" "$STATE"
	STEP_LOG=$STATE/debootstrap.log
	# bookworm's debootstrap has no forky script; sid's works for any current suite.
	local script=/usr/share/debootstrap/scripts/sid
	[[ -f /usr/share/debootstrap/scripts/$RELEASE ]] && script=/usr/share/debootstrap/scripts/$RELEASE
	debootstrap --variant=minbase --include=apt-utils,ca-certificates \
		"$RELEASE" "$ROOT" "$MIRROR" "$script" >"$STEP_LOG" 2>&1 ||
		fail debootstrap "$STEP_LOG" "debootstrap of $RELEASE from $MIRROR failed"
	echo "$RELEASE" >"$ROOT/.novabsd-release"
	touch "$ROOT/.novabsd-debootstrap-done"
}

install_apt_config() {
	local src="deb $MIRROR $RELEASE main"
	printf '%s\n' "$src" >"$ROOT/etc/apt/sources.list"
	if [[ $RELEASE == forky ]]; then
		printf 'deb %s sid main\n' "$MIRROR" >>"$ROOT/etc/apt/sources.list"
		# sid only when asked for by name (glance and oslo.policy).
		printf 'Package: *\nPin: release n=sid\nPin-Priority: 100\n' >"$ROOT/etc/apt/preferences.d/novabsd-sid"
	fi
	# testing's Release files expire; this machine's clock may be past them (notes 2).
	printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
		>"$ROOT/etc/apt/apt.conf.d/99novabsd-rig"
	# Nothing starts at install time: start/stop is rig.sh's job (notes 5).
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
	# Every package question answered "no": the rig writes config files itself (notes 4).
	local p q sel=
	for p in keystone glance glance-api glance-common placement placement-api placement-common nova-common nova-api \
		nova-conductor nova-scheduler neutron-common neutron-api neutron-server neutron-ovn-metadata-agent; do
		for q in configure_db configure_rabbit configure_ksat register-endpoint configure_api-endpoint \
			create-admin-tenant configure_neutron configure_placement; do
			sel+="$p $p/$q boolean false"$'\n'
		done
		sel+="$p $p/dbconfig-install boolean false"$'\n'
	done
	sel+="nova-common nova/my-ip string 127.0.0.1"$'\n'
	sel+="nova-common nova/configure_neutron boolean false"$'\n'
	sel+="nova-common nova/configure_placement boolean false"$'\n'
	# nova-consoleproxy carries nova-serialproxy (the rig starts it itself); its one question picks a daemon for
	# the init scripts, which never run here.
	sel+="nova-consoleproxy nova-consoleproxy/daemon_type select novnc"$'\n'
	printf '%s' "$sel" >"$STATE/debconf-selections"
	in_root debconf-set-selections <"$STATE/debconf-selections"
}

install_apt_update() {
	STEP_LOG=$STATE/apt.log
	in_root apt-get update >>"$STEP_LOG" 2>&1 || fail apt "$STEP_LOG" "apt-get update in the root failed"
}

apt_install() {
	in_root apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
install_pkgs() {
	STEP_LOG=$STATE/apt.log
	apt_install "$@" >>"$STEP_LOG" 2>&1 || fail apt "$STEP_LOG" "apt-get install $* failed"
	verify_pkgs "$@"
}
install_pkgs_from() {
	local rel=$1 p args=()
	shift
	for p in "$@"; do args+=("$p/$rel"); done
	STEP_LOG=$STATE/apt.log
	apt_install "${args[@]}" >>"$STEP_LOG" 2>&1 || fail apt "$STEP_LOG" "apt-get install ${args[*]} failed"
	verify_pkgs "$@"
}

pkg_version() { in_root dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
pkg_versions() {
	in_root dpkg-query -W -f='${Package}=${Version}\n' "${RIG_EARLY_PKGS[@]}" "${RIG_PKGS[@]}" glance-api \
		"${RIG_NET_PKGS[@]}" python3-nova python3-keystone python3-placement python3-oslo.policy python3-neutron \
		python3-neutron-lib 2>/dev/null | sort
}

# verify_pkgs [PKG...]: every package is fully installed; names the first that is not.
verify_pkgs() {
	local p status pkgs=("$@")
	[[ ${#pkgs[@]} -gt 0 ]] || pkgs=("${RIG_EARLY_PKGS[@]}" "${RIG_PKGS[@]}" glance-api "${RIG_NET_PKGS[@]}")
	for p in "${pkgs[@]}"; do
		status=$(in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $status == "install ok installed" ]] ||
			fail "package $p" "$STATE/apt.log" "did not install (dpkg status: '${status:-not known}')"
	done
}

# placement 15 reads [oslo_policy] enforce_scope, which oslo.policy 6 removed (notes 3). An
# oslo.policy that still has the option (4.5 in trixie) needs no patch.
patch_placement() {
	local f
	f=$(ls "$ROOT"/usr/lib/python3/dist-packages/placement/deploy.py 2>/dev/null || true)
	[[ -n $f ]] || fail placement "" "placement/deploy.py not found in the root"
	if grep -q "BoolOpt('enforce_scope'" "$ROOT"/usr/lib/python3/dist-packages/oslo_policy/opts.py 2>/dev/null; then
		say "oslo.policy $(pkg_version python3-oslo.policy) still has [oslo_policy] enforce_scope: no patch"
		return 0
	fi
	if grep -q 'conf\.oslo_policy\.enforce_scope' "$f"; then
		sed -i 's/conf\.oslo_policy\.enforce_scope/getattr(conf.oslo_policy, "enforce_scope", True)/' "$f"
		say "patched $f"
	fi
}
