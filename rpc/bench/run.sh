#!/bin/sh
# Benchmark the Go rpc server against Python oslo.messaging servers (bookworm 14.0.3, and 18.3 from the forky
# root when it exists) on the local RabbitMQ; prints one table. Runs in well under 2 minutes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here/../.."
go build -o "$tmp/bench" ./rpc/bench
exec "$tmp/bench" -peer "$here/../testdata/peer.py" -phase "${PHASE:-3s}" "$@"
