#!/usr/bin/env bash
# Collects the CPU profile pagi is built with (profile-guided optimisation,
# https://go.dev/doc/pgo): runs `pagi run --cpuprofile` on the benchmark
# routes (respond, static 1 KiB and 64 KiB, the middleware chain of
# bench/chain-site.hcl), loads each with wrk, and writes the profile to
# cmd/pagi/default.pgo, which `go build ./cmd/pagi` then uses by itself.
#
#   bench/pgo.sh            # 5 s of load per route
#   DUR=10s bench/pgo.sh
#
# Re-run it when the per-request path changes a lot; a stale profile only
# makes the build less well tuned, never wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-5s}
. bench/lib.sh
need_wrk

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
# Built without a profile, so the new one does not feed on the old one.
go build -pgo=off -o "$tmp/pagi" ./cmd/pagi
mkdir -p "$tmp/static"
head -c 1024 /dev/urandom >"$tmp/static/1k.bin"
head -c 65536 /dev/urandom >"$tmp/static/64k.bin"
bench_config 127.0.0.1:18197 "$tmp/static" >"$tmp/pgo.hcl"
sed 's/^site "s" {/site "chain" {/' bench/chain-site.hcl >>"$tmp/pgo.hcl"
(cd "$tmp" && exec "${PIN_SERVER[@]}" ./pagi run --no-watch --cpuprofile "$tmp/cpu.pgo" pgo.hcl 2>"$tmp/pagi.log") &
pid=$!
sleep 0.2
wait_http http://127.0.0.1:18197/ "$pid"
for path in / /static/1k.bin /static/64k.bin /bare /chain; do
  "${PIN_CLIENT[@]}" wrk -t1 -c64 -d"$DUR" -H "Origin: https://app.example.com" -H "Accept-Encoding: gzip" \
    "http://127.0.0.1:18197$path" | grep Requests/sec | sed "s|^|$path |"
done
kill -TERM "$pid"
wait "$pid" || { cat "$tmp/pagi.log" >&2; exit 1; }
test -s "$tmp/cpu.pgo" || { echo "no profile written" >&2; exit 1; }
cp "$tmp/cpu.pgo" cmd/pagi/default.pgo
echo "wrote cmd/pagi/default.pgo ($(wc -c <cmd/pagi/default.pgo) bytes)"
