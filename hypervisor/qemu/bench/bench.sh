#!/bin/bash
# bench.sh — runs the engine benchmarks of issue 6 and prints one table:
#   QEMU spawn (TCG, tiny image) -> first console byte and -> ready marker,
#   root-disk creation from a 1 GiB image: file copy, file reflink, ZFS clone (zfs-standin),
#   qcow2 -> raw conversion, novabsd's Go reader vs qemu-img convert on the same files.
# Needs qemu-system-x86_64, qemu-img and the tiny image (devstack/image/build.sh).
# BENCHTIME (default 3x), NOVABSD_BENCH_ROOT_MB (root image, default 1024) and NOVABSD_BENCH_MB
# (qcow2 images, default 256) tune it. NOVABSD_BENCH_REFLINK_DIR names a directory on a file system with
# reflinks (XFS with reflink=1, btrfs) where the root-disk benchmark runs again, since ext4 has none:
#   truncate -s 4G x.img && mkfs.xfs -m reflink=1 x.img && mount -o loop x.img /mnt/xfs
#   NOVABSD_BENCH_REFLINK_DIR=/mnt/xfs hypervisor/qemu/bench/bench.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
BT=${BENCHTIME:-3x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench SpawnTiny -benchtime "$BT" ./hypervisor/qemu/ >>"$out" 2>&1 || true
go test -run '^$' -bench CreateRoot -benchtime "$BT" -v ./hypervisor/storage/ >>"$out" 2>&1 || true
if [ -n "${NOVABSD_BENCH_REFLINK_DIR:-}" ]; then
	TMPDIR=$NOVABSD_BENCH_REFLINK_DIR go test -run '^$' -bench 'CreateRoot/file' -benchtime "$BT" -v ./hypervisor/storage/ 2>&1 |
		sed 's#^\(BenchmarkCreateRoot/file-[a-z]*\)#\1-on-'"$(stat -f -c %T "$NOVABSD_BENCH_REFLINK_DIR")"'#' >>"$out" || true
fi
NOVABSD_BENCH_MB=${NOVABSD_BENCH_MB:-256} go test -run '^$' -bench Convert -benchtime "$BT" ./images/qcow2/ >>"$out" 2>&1 || true

printf '%-44s %14s %s\n' "benchmark" "result" "unit"
printf '%-44s %14s %s\n' "---------" "------" "----"
awk '
/^BenchmarkSpawnTiny/ {
	for (i = 1; i <= NF; i++) {
		if ($(i+1) == "ms-to-first-byte") printf "%-44s %14s %s\n", "qemu spawn -> first console byte (tcg)", $i, "ms"
		if ($(i+1) == "ms-to-marker")     printf "%-44s %14s %s\n", "qemu spawn -> NOVABSD-TINY-GUEST-READY", $i, "ms"
	}
}
/^BenchmarkCreateRoot\// && NF >= 4 {
	name = $1; sub(/^BenchmarkCreateRoot\//, "", name); sub(/-[0-9]+$/, "", name)
	printf "%-44s %14.1f %s\n", "root disk from image: " name, $3 / 1e6, "ms"
}
/bench_test.go.*no reflink/ { sub(/^[ \t]*bench_test.go:[0-9]+: /, ""); printf "%-44s %14s %s\n", "root disk from image: file-reflink", "n/a", "(" $0 ")" }
/^BenchmarkConvert\// {
	name = $1; sub(/^BenchmarkConvert\//, "", name); sub(/-[0-9]+$/, "", name)
	printf "%-44s %14s %s\n", "qcow2->raw " name, $5, "MB/s"
	split(name, p, "/"); rate[p[1] "/" p[2]] = $5
}
END {
	for (k in rate) {
		split(k, p, "/")
		if (p[2] == "novabsd" && ((p[1] "/qemu-img") in rate))
			printf "%-44s %14.2f %s\n", "qcow2->raw " p[1] ": novabsd speed / qemu-img", rate[k] / rate[p[1] "/qemu-img"], "x (>= 0.67 meets the 1.5x target)"
	}
}' "$out"
if grep -q -E '^(FAIL|panic|--- FAIL)' "$out"; then
	echo "some benchmarks failed:" >&2
	grep -E -A5 '^(FAIL|panic|--- FAIL)' "$out" >&2
	exit 1
fi
