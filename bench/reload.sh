#!/usr/bin/env bash
# Live reload latency: the time from saving the config to the first request
# answered by the new config (debounce included), over N saves, plus the
# "took" of each reload (load + compile + swap). See bench/reloadlat.
#
#   bench/reload.sh                       # N=100, saves written in place
#   N=200 bench/reload.sh -save rename    # extra flags go to reloadlat
#   bench/reload.sh -routes 500           # a bigger config
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
go build -o "$tmp/reloadlat" ./bench/reloadlat
"$tmp/reloadlat" -bin "$tmp/pagi" -n "$N" "$@"
