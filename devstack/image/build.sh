#!/bin/bash
# build.sh [OUTDIR] — builds the tiny BIOS-bootable test guest from Debian packages.
#
# Outputs in OUTDIR (default /var/cache/novabsd/image):
#   tiny.raw        MBR disk, one FAT16 partition with syslinux, kernel and a busybox initramfs
#   tiny.qcow2      the same disk converted by qemu-img (exercises format conversion)
#   tiny.vmlinuz    the kernel, and tiny.initrd.gz the initramfs, for direct-kernel boots
#   SHA256SUMS      checksums of the above;  .inputs  what they were built from
#
# The guest prints NOVABSD-TINY-GUEST-READY on ttyS0 once its power button works, then a
# heartbeat line every 5 s; the ACPI power button powers it off, `reboot` reboots it. It brings every NIC up
# with DHCP (hot-plugged ones too) and reads a config drive or the metadata service: README.md lists its lines.
# No loop devices and no mounts: the FAT image is filled with mtools and syslinux's mtools installer.
# Rerunning with up-to-date outputs only verifies and prints the checksums.
set -euo pipefail

OUTDIR=${1:-/var/cache/novabsd/image}
SELF=$(readlink -f "$0")
MARKER=NOVABSD-TINY-GUEST-READY
DISK_MB=32          # whole disk; the partition starts at 1 MiB
PART_START=2048     # sectors
KPKG_META=linux-image-amd64  # generic, not cloud: see MODULES below
EPOCH=1700000000    # fixed file timestamps, so that the initramfs and kernel rebuild byte-identical

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb mkfs.vfat mcopy syslinux qemu-img cpio gzip sha256sum; do
	command -v "$tool" >/dev/null || die "missing tool '$tool' (apt-get install -y syslinux extlinux mtools dosfstools qemu-utils cpio)"
done
MBR_BIN=/usr/lib/SYSLINUX/mbr.bin
LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
[[ -r $MBR_BIN ]] || die "missing $MBR_BIN (package syslinux-common)"
[[ -r $LDLINUX_C32 ]] || die "missing $LDLINUX_C32 (package syslinux-common)"

# The kernel package the meta package currently points at, e.g. linux-image-6.1.0-56-cloud-amd64.
KPKG=$(apt-cache depends "$KPKG_META" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
[[ -n $KPKG ]] || die "apt-cache cannot resolve $KPKG_META (run apt-get update?)"
candidate() { apt-cache policy "$1" | awk '/Candidate:/{print $2}'; }
KVER=$(candidate "$KPKG"); BBVER=$(candidate busybox-static)
[[ -n $KVER && $KVER != "(none)" ]] || die "no candidate version for $KPKG"
[[ -n $BBVER && $BBVER != "(none)" ]] || die "no candidate version for busybox-static"

INPUTS="script=$(sha256sum "$SELF" | cut -d' ' -f1)
kernel=$KPKG=$KVER
busybox=busybox-static=$BBVER
syslinux=$(dpkg-query -W -f='${Version}' syslinux-common 2>/dev/null || echo unknown)"

mkdir -p "$OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
OUTPUTS=(tiny.raw tiny.qcow2 tiny.vmlinuz tiny.initrd.gz)

up_to_date() {
	[[ -f $OUTDIR/.inputs && -f $OUTDIR/SHA256SUMS ]] || return 1
	[[ $(cat "$OUTDIR/.inputs") == "$INPUTS" ]] || return 1
	(cd "$OUTDIR" && sha256sum --quiet --check SHA256SUMS >/dev/null 2>&1)
}
if up_to_date; then
	say "up to date in $OUTDIR"
	cat "$OUTDIR/SHA256SUMS"
	exit 0
fi

START=$(date +%s.%N)
WORK=$(mktemp -d "$OUTDIR/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Packages are cached next to the outputs so that a rebuild after a script change stays offline.
DEBS=$OUTDIR/.debs
mkdir -p "$DEBS"
fetch() { # fetch PKG VERSION -> path of the .deb
	local pkg=$1 ver=$2 f
	f=$(ls "$DEBS/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1 || true)
	if [[ -z $f ]]; then
		(cd "$DEBS" && apt-get download -q "$pkg=$ver" >&2 2>"$WORK/apt.err") ||
			die "apt-get download $pkg=$ver failed: $(cat "$WORK/apt.err")"
		f=$(ls "$DEBS/${pkg}_${ver//:/%3a}_"*.deb | head -1)
	fi
	echo "$f"
}
say "kernel $KPKG $KVER, busybox-static $BBVER"
dpkg-deb -x "$(fetch "$KPKG" "$KVER")" "$WORK/kernel"
dpkg-deb -x "$(fetch busybox-static "$BBVER")" "$WORK/busybox"

VMLINUZ=$(ls "$WORK"/kernel/boot/vmlinuz-* "$WORK"/kernel/usr/lib/modules/*/vmlinuz 2>/dev/null | head -1 || true)
[[ -n $VMLINUZ ]] || die "no vmlinuz in $KPKG"
MODDIR=$(ls -d "$WORK"/kernel/lib/modules/* "$WORK"/kernel/usr/lib/modules/* 2>/dev/null | head -1 || true)
[[ -n $MODDIR ]] || die "no modules in $KPKG"

# --- initramfs -------------------------------------------------------------------------
R=$WORK/initramfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,run,tmp,mnt,lib/modules}
cp "$WORK/busybox/bin/busybox" "$R/bin/busybox"
"$R/bin/busybox" --list-full | while read -r applet; do
	[[ $applet == bin/busybox ]] || ln -sf /bin/busybox "$R/$applet"
done
# Modules the guest loads, by name; their dependencies are added from each module's own .modinfo and loaded
# first by busybox modprobe through the modules.dep that busybox depmod writes below.
#   button evdev                ACPI power button as /dev/input/event* for acpid
#   virtio_pci virtio_net       the default NIC (hw_vif_model virtio); virtio_pci is the transport, no dependency
#   e1000 e1000e 8139too 8139cp the other NIC models the QEMU engine offers (hw_vif_model)
#   ahci ata_piix virtio_scsi   the CD-ROM buses: sata (q35's AHCI, the engine's default), ide (pc's PIIX), scsi
#   sr_mod isofs virtio_blk     the config drive: a CD-ROM holding ISO 9660 (or an ISO on a virtio disk)
#   nvme sd_mod                 NVMe disks (the engines' nvme disk bus); sata and scsi disks (sd_mod over ahci,
#                               virtio_scsi); virtio disks are virtio_blk
# The generic kernel, not linux-image-cloud-amd64: the cloud kernel has no AHCI (CONFIG_SATA_AHCI unset) and no
# e1000, so it could not read a config drive on the engine's default bus; the generic vmlinuz is smaller anyway.
MODULES="button evdev virtio_pci virtio_net e1000 e1000e 8139too 8139cp ahci ata_piix virtio_scsi sr_mod isofs virtio_blk nvme sd_mod"
KVERSION=$(basename "$MODDIR")
declare -A MODPATH=()
while IFS= read -r -d '' f; do
	n=$(basename "$f"); n=${n%%.ko*}; MODPATH[${n//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko*' -print0)
modinfo_depends() { # the comma-separated depends= of a module file
	case $1 in
	*.ko) cat "$1" ;;
	*.ko.xz) xz -dc "$1" ;;
	*.ko.zst) zstd -qdc "$1" ;;
	*) die "unknown module compression: $1" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1
}
declare -A NEED=()
queue=($MODULES)
while ((${#queue[@]})); do
	m=${queue[0]//-/_}; queue=("${queue[@]:1}") # modinfo may say nvme-core for nvme_core.ko
	[[ -z ${NEED[$m]:-} ]] || continue
	src=${MODPATH[$m]:-}
	[[ -n $src ]] || die "kernel module $m missing from $KPKG"
	NEED[$m]=$src
	deps=$(modinfo_depends "$src")
	[[ -z $deps ]] || queue+=(${deps//,/ })
done
for m in "${!NEED[@]}"; do
	src=${NEED[$m]}
	rel=${src#"$MODDIR/"}; rel=${rel%%.ko*}.ko
	mkdir -p "$R/lib/modules/$KVERSION/$(dirname "$rel")"
	case $src in
	*.ko) cp "$src" "$R/lib/modules/$KVERSION/$rel" ;;
	*.ko.xz) xz -dc "$src" >"$R/lib/modules/$KVERSION/$rel" ;;
	*.ko.zst) zstd -qdc "$src" >"$R/lib/modules/$KVERSION/$rel" ;;
	esac
done
cp "$MODDIR/modules.builtin" "$R/lib/modules/$KVERSION/" 2>/dev/null || true
"$R/bin/busybox" depmod -b "$R" "$KVERSION" || die "busybox depmod failed"
[[ -s $R/lib/modules/$KVERSION/modules.dep ]] || die "busybox depmod wrote no modules.dep"
printf '%s\n' $MODULES >"$R/etc/modules"
say "modules: ${!NEED[*]}"

cat >"$R/init" <<'EOF'
#!/bin/sh
# PID 1 from the initramfs: mount the basics, then hand over to busybox init, which
# handles poweroff/reboot requests (signals from `poweroff`, `reboot`, acpid) cleanly.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
exec /sbin/init
EOF
cat >"$R/etc/inittab" <<'EOF'
::sysinit:/etc/rc.sysinit
::respawn:/bin/heartbeat
::respawn:/bin/netwatch
::once:/bin/cloudmeta
::once:/bin/disks
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/rc.shutdown
EOF
cat >"$R/etc/rc.sysinit" <<EOF
#!/bin/sh
hostname novabsd-tiny
# modprobe loads each module's dependencies first, from modules.dep.
while read -r m; do modprobe "\$m" || echo "novabsd-tiny: modprobe \$m failed"; done </etc/modules
ip link set lo up
# devtmpfs creates the event nodes asynchronously, and acpid only watches the nodes present when it starts:
# wait (up to 10 s) for the power button's node, so the marker really means "the power button works".
i=0
until [ \$i -ge 100 ]; do
	for ev in /sys/class/input/event*; do
		grep -qs "Power Button" "\$ev/device/name" && [ -c "/dev/input/\${ev##*/}" ] && break 2
	done
	usleep 100000
	i=\$((i + 1))
done
[ \$i -lt 100 ] || echo "novabsd-tiny: no power button event device; ACPI power off will not work"
button=/dev/input/\${ev##*/}
# acpid opens the event devices after it starts, not before it returns: the marker waits (up to 5 s) until it
# holds the power button's open, or a button pressed right after the marker was lost (seen in CI).
acpid -f -c /etc/acpi -l /run/acpid.log &
apid=\$!
i=0
until [ \$i -ge 100 ]; do
	for fd in /proc/\$apid/fd/*; do
		[ "\$(readlink "\$fd")" = "\$button" ] && break 2
	done
	usleep 50000
	i=\$((i + 1))
done
[ \$i -lt 100 ] || echo "novabsd-tiny: acpid did not open \$button; ACPI power off will not work"
/bin/pcilist
echo
echo "$MARKER"
EOF
cat >"$R/etc/rc.shutdown" <<'EOF'
#!/bin/sh
echo "novabsd-tiny: shutting down"
EOF
# busybox acpid maps the power button (KEY_POWER) to the action PWRF/00000080.
cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "novabsd-tiny: ACPI power button, powering off" >/dev/console
exec poweroff
EOF
cat >"$R/bin/heartbeat" <<'EOF'
#!/bin/sh
while :; do
	sleep 5
	read -r up _ </proc/uptime
	echo "novabsd-tiny: alive, uptime ${up}s"
done
EOF
# The PCI functions the guest was given, one line each, before the marker: what tests check a server's devices
# (disk controllers, NICs) against.
cat >"$R/bin/pcilist" <<'EOF'
#!/bin/sh
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/class" ] || continue
	echo "novabsd-tiny: pci ${d##*/} $(cat "$d/vendor") $(cat "$d/device") $(cat "$d/class")"
done
EOF
# The disks, once their drivers have found them (AHCI's link reset is slow under TCG): up to 20 s for the first,
# 3 s more for the others, then one line per disk with the PCI function it hangs from ("-" if none).
cat >"$R/bin/disks" <<'EOF'
#!/bin/sh
disks() {
	for b in /sys/block/*; do
		case ${b##*/} in loop* | ram* | sr*) continue ;; esac
		[ -e "$b/device" ] && echo "${b##*/}"
	done
}
i=0
while [ $i -lt 40 ] && [ -z "$(disks)" ]; do
	usleep 500000
	i=$((i + 1))
done
sleep 3
for n in $(disks); do
	pci=-
	for c in $(readlink -f "/sys/block/$n/device" | tr / ' '); do
		case $c in [0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7]) pci=$c ;; esac
	done
	echo "novabsd-tiny: disk $n $pci"
done
EOF
# Every ethernet NIC gets DHCP (busybox udhcpc), now and when one is hot-plugged; a NIC that goes is reported.
# Polling /sys/class/net each second is simpler than a uevent hook and sees the NICs present at boot alike.
cat >"$R/bin/netwatch" <<'EOF'
#!/bin/sh
mkdir -p /run/net
alive() { [ -d "/proc/$1" ] && ! grep -qs '^State:.*Z' "/proc/$1/status"; }
while :; do
	for d in /sys/class/net/*; do
		n=${d##*/}
		[ "$(cat "$d/type" 2>/dev/null)" = 1 ] || continue # ARPHRD_ETHER: not lo
		if [ -e "/run/net/$n.pid" ]; then
			alive "$(cat "/run/net/$n.pid")" && continue
		fi
		ip link set "$n" up
		udhcpc -f -i "$n" -s /etc/udhcpc.script -O mtu -O staticroutes -t 4 -T 2 -A 3 \
			-x hostname:novabsd-tiny </dev/null >/dev/null 2>&1 &
		echo $! >"/run/net/$n.pid"
	done
	for p in /run/net/*.pid; do
		[ -e "$p" ] || continue
		n=${p##*/}
		n=${n%.pid}
		[ -e "/sys/class/net/$n" ] && continue
		kill "$(cat "$p")" 2>/dev/null
		rm -f "$p" "/run/net/$n.addr"
		echo "novabsd-tiny: $n gone"
	done
	jobs >/dev/null # lets ash reap the udhcpc that ended
	sleep 1
done
EOF
# udhcpc's hook: applies the lease (address, MTU, routes incl. option 121, which carries OVN's route to the
# metadata service) and prints the address once per new address.
cat >"$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
addrfile=/run/net/$interface.addr
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	rm -f "$addrfile"
	;;
bound | renew)
	bits=0
	for o in $(echo "$subnet" | tr . ' '); do
		while [ "$o" -gt 0 ]; do
			bits=$((bits + (o & 1)))
			o=$((o >> 1))
		done
	done
	new=$ip/$bits
	old=$(cat "$addrfile" 2>/dev/null)
	if [ "$new" != "$old" ]; then
		ip -4 addr flush dev "$interface"
		ip addr add "$new" dev "$interface"
	fi
	[ -z "$mtu" ] || ip link set "$interface" mtu "$mtu"
	metric=$(cat "/sys/class/net/$interface/ifindex")
	if [ -n "$staticroutes" ]; then
		set -- $staticroutes
		while [ $# -ge 2 ]; do
			if [ "$2" = 0.0.0.0 ]; then
				ip route replace "$1" dev "$interface" metric "$metric"
			else
				ip route replace "$1" via "$2" dev "$interface" metric "$metric"
			fi
			shift 2
		done
	elif [ -n "$router" ]; then
		set -- $router
		ip route replace default via "$1" dev "$interface" metric "$metric"
	fi
	[ -z "$dns" ] || for s in $dns; do echo "nameserver $s"; done >/etc/resolv.conf
	if [ "$new" != "$old" ]; then
		echo "$new" >"$addrfile"
		echo "novabsd-tiny: $interface $(cat "/sys/class/net/$interface/address") $new" >/dev/console
	fi
	;;
esac
exit 0
EOF
# The instance's metadata, once: from the config drive (label config-2) when one is attached, else from the
# metadata service once a NIC has an address.
cat >"$R/bin/cloudmeta" <<'EOF'
#!/bin/sh
iso_label() { dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | tr -d ' \000'; } # ISO 9660 volume id
find_drive() {
	findfs LABEL=config-2 2>/dev/null && return 0
	for d in /dev/sr* /dev/vd*; do
		[ -b "$d" ] && [ "$(iso_label "$d")" = config-2 ] && echo "$d" && return 0
	done
	return 1
}
uuid_of() { grep -o '"uuid": *"[^"]*"' "$1" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'; }
# User data lines (from the config drive or the metadata service) "ping A.B.C.D" make the guest ping that address once it has one of its own (up to 120 tries,
# about 4 minutes, until an answer: under load the peer may boot minutes later), printing "novabsd-tiny: ping A.B.C.D ok" or "... failed": how e2e tests prove two guests reach each
# other. Anything but a dotted quad is ignored, so user data never reaches a command line.
pings() {
	grep -E '^ping [0-9]{1,3}(\.[0-9]{1,3}){3}$' "$1" | while read -r _ ip; do
		(
			i=0
			until ls /run/net/*.addr >/dev/null 2>&1; do
				sleep 1
				i=$((i + 1))
				[ $i -lt 60 ] || break
			done
			i=0
			while [ $i -lt 120 ]; do
				if ping -c 1 -W 2 "$ip" >/dev/null 2>&1; then
					echo "novabsd-tiny: ping $ip ok"
					exit 0
				fi
				i=$((i + 1))
			done
			echo "novabsd-tiny: ping $ip failed"
		) &
	done
	wait
}
# Disks and CD-ROMs are probed asynchronously (AHCI's link reset is slow under TCG): look for up to 15 s.
i=0
while [ $i -lt 30 ]; do
	if dev=$(find_drive); then
		mkdir -p /mnt/config
		if mount -o ro "$dev" /mnt/config; then
			echo "novabsd-tiny: config-drive uuid $(uuid_of /mnt/config/openstack/latest/meta_data.json)"
			ud=none
			[ ! -f /mnt/config/openstack/latest/user_data ] ||
				ud=$(head -n 1 /mnt/config/openstack/latest/user_data | tr -d '\000-\037\177' | cut -c 1-200)
			echo "novabsd-tiny: user-data $ud"
			[ ! -f /mnt/config/openstack/latest/user_data ] || pings /mnt/config/openstack/latest/user_data
			exit 0
		fi
		echo "novabsd-tiny: cannot mount the config drive $dev"
		break
	fi
	usleep 500000
	i=$((i + 1))
done
# busybox-static 1.35's wget crashes with -T (seen: SIGSEGV before connecting): timeout(1) bounds it instead.
# fetch PATH FILE reads http://169.254.169.254/openstack/latest/PATH into FILE: 0 when read, 1 when the service
# answered 404 (nothing there), 2 when it did not answer or failed (worth trying again).
fetch() {
	rm -f "$2"
	if timeout 10 wget -q -O "$2" "http://169.254.169.254/openstack/latest/$1" 2>/run/fetch.err; then
		return 0
	fi
	grep -q ' 404' /run/fetch.err && return 1
	return 2
}
# Under load the metadata service can be slow or fail a request, so each file is tried every 5 s for up to
# 10 minutes, and the guest says on its console once a minute that it is still waiting, and why.
i=0
while :; do
	if ls /run/net/*.addr >/dev/null 2>&1 && fetch meta_data.json /run/meta_data.json; then
		echo "novabsd-tiny: metadata uuid $(uuid_of /run/meta_data.json)"
		break
	fi
	i=$((i + 1))
	[ $i -lt 120 ] || { echo "novabsd-tiny: metadata service gave no meta_data.json"; exit 0; }
	[ $((i % 12)) -ne 0 ] || echo "novabsd-tiny: metadata service: still no meta_data.json: $(head -c 120 /run/fetch.err 2>/dev/null | tr -d '\000-\037')"
	sleep 5
done
i=0
while :; do
	fetch user_data /run/user_data
	case $? in
	0)
		echo "novabsd-tiny: user-data $(head -n 1 /run/user_data | tr -d '\000-\037\177' | cut -c 1-200)"
		pings /run/user_data
		exit 0
		;;
	1)
		echo "novabsd-tiny: user-data none"
		exit 0
		;;
	esac
	i=$((i + 1))
	[ $i -lt 120 ] || { echo "novabsd-tiny: metadata service gave no user_data"; exit 0; }
	[ $((i % 12)) -ne 0 ] || echo "novabsd-tiny: metadata service: still no user_data: $(head -c 120 /run/fetch.err 2>/dev/null | tr -d '\000-\037')"
	sleep 5
done
EOF
chmod 0755 "$R/init" "$R/bin/pcilist" "$R/bin/disks" "$R/bin/netwatch" "$R/etc/udhcpc.script" "$R/bin/cloudmeta" "$R/etc/rc.sysinit" "$R/etc/rc.shutdown" "$R/etc/acpi/PWRF/00000080" "$R/bin/heartbeat"
printf 'root:x:0:0:root:/:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"

find "$R" -exec touch -h -d "@$EPOCH" {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -9 -n >"$WORK/tiny.initrd.gz"
cp "$VMLINUZ" "$WORK/tiny.vmlinuz"

# --- FAT partition with syslinux -------------------------------------------------------
cat >"$WORK/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT tiny
PROMPT 0
TIMEOUT 0
LABEL tiny
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0,115200 panic=-1
EOF
PART_SECTORS=$(( DISK_MB * 2048 - PART_START ))
PART=$WORK/part.img
mkfs.vfat -C -F 16 -n NOVABSDTINY -i 4e4f5641 --invariant "$PART" $(( PART_SECTORS / 2 )) >/dev/null 2>&1 ||
	mkfs.vfat -C -F 16 -n NOVABSDTINY -i 4e4f5641 "$PART" $(( PART_SECTORS / 2 )) >/dev/null
for f in "$WORK/tiny.vmlinuz:vmlinuz" "$WORK/tiny.initrd.gz:initrd.gz" "$WORK/syslinux.cfg:syslinux.cfg"; do
	touch -d "@$EPOCH" "${f%%:*}"
	MTOOLS_SKIP_CHECK=1 mcopy -m -i "$PART" "${f%%:*}" "::${f##*:}"
done
syslinux --install "$PART"

# --- MBR disk: syslinux's MBR code, one bootable FAT16 (LBA) partition -----------------
DISK=$WORK/tiny.raw
truncate -s "${DISK_MB}M" "$DISK"
dd if="$MBR_BIN" of="$DISK" bs=440 count=1 conv=notrunc status=none
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( $1 & 255 )) $(( ($1 >> 8) & 255 )) $(( ($1 >> 16) & 255 )) $(( ($1 >> 24) & 255 )); }
# status 0x80 (active), CHS fe ff ff (use LBA), type 0x0e (FAT16 LBA), CHS end fe ff ff, LBA start, sectors
printf "\\x80\\xfe\\xff\\xff\\x0e\\xfe\\xff\\xff$(le32 $PART_START)$(le32 $PART_SECTORS)" |
	dd of="$DISK" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$DISK" bs=1 seek=510 conv=notrunc status=none
dd if="$PART" of="$DISK" bs=512 seek=$PART_START conv=notrunc,sparse status=none

qemu-img convert -f raw -O qcow2 "$DISK" "$WORK/tiny.qcow2"

(cd "$WORK" && sha256sum "${OUTPUTS[@]}") >"$WORK/SHA256SUMS"
for f in "${OUTPUTS[@]}" SHA256SUMS; do mv -f "$WORK/$f" "$OUTDIR/$f"; done
printf '%s' "$INPUTS" >"$OUTDIR/.inputs"
say "built in $OUTDIR in $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s ($(du -k --apparent-size "$OUTDIR/tiny.raw" | cut -f1) KiB raw, $(du -k "$OUTDIR/tiny.qcow2" | cut -f1) KiB qcow2)"
cat "$OUTDIR/SHA256SUMS"
