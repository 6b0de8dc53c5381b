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
# heartbeat line every 5 s; the ACPI power button powers it off, `reboot` reboots it.
# No loop devices and no mounts: the FAT image is filled with mtools and syslinux's mtools installer.
# Rerunning with up-to-date outputs only verifies and prints the checksums.
set -euo pipefail

OUTDIR=${1:-/var/cache/novabsd/image}
SELF=$(readlink -f "$0")
MARKER=NOVABSD-TINY-GUEST-READY
DISK_MB=32          # whole disk; the partition starts at 1 MiB
PART_START=2048     # sectors
KPKG_META=linux-image-cloud-amd64
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
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,run,tmp,lib/modules}
cp "$WORK/busybox/bin/busybox" "$R/bin/busybox"
"$R/bin/busybox" --list-full | while read -r applet; do
	[[ $applet == bin/busybox ]] || ln -sf /bin/busybox "$R/$applet"
done
# The cloud kernel builds the ACPI button and evdev as modules; busybox acpid needs both
# to see the power button as /dev/input/event*. Which modules must be loaded is checked, not guessed.
for m in drivers/acpi/button.ko drivers/input/evdev.ko; do
	src=$(ls "$MODDIR/kernel/$m"* 2>/dev/null | head -1 || true)
	[[ -n $src ]] || die "kernel module $m missing from $KPKG"
	case $src in
	*.ko) cp "$src" "$R/lib/modules/" ;;
	*.ko.xz) xz -dc "$src" >"$R/lib/modules/$(basename "$m")" ;;
	*.ko.zst) zstd -qdc "$src" >"$R/lib/modules/$(basename "$m")" ;;
	*) die "unknown module compression: $src" ;;
	esac
done

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
::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/rc.shutdown
EOF
cat >"$R/etc/rc.sysinit" <<EOF
#!/bin/sh
hostname novabsd-tiny
for m in /lib/modules/*.ko; do insmod "\$m" || echo "novabsd-tiny: insmod \$m failed"; done
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
chmod 0755 "$R/init" "$R/etc/rc.sysinit" "$R/etc/rc.shutdown" "$R/etc/acpi/PWRF/00000080" "$R/bin/heartbeat"
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
