#!/usr/bin/env bash
# Load benchmark of pagi against a raw net/http server doing the same job, in
# one run on this machine, reported as ratios (pagi / net/http).
#
#   bench/run.sh                 # all scenarios, 5 reps of 5 s each
#   DUR=5s REPS=1 bench/run.sh hello
#
# Scenarios: hello (respond vs a HandlerFunc), 1k, 64k, 10m (static vs
# http.FileServer), and aa: the net/http hello server against a second copy
# of itself, an A/A run that shows how far apart two identical servers
# measure on this machine at these REPS and DUR (the noise floor of every
# other ratio). Servers run pinned to CPU 0 and wrk to CPU 1 when taskset
# exists, alternating which server goes first in each rep.
#
# Ratios per scenario: requests/s (the ratio of the medians, and the median
# of each rep's own ratio, which cancels drift within a pair) and server CPU
# time per request (read from /proc/PID/stat around each wrk run; the
# baseline's over pagi's, so above 1 means pagi spends less). When the two
# agree the server's core was the limit, not wrk. Helpers: bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-64}
SCENARIOS=${*:-aa hello 1k 64k 10m}
. bench/lib.sh
need_wrk

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
go build -o "$tmp/baseline" ./bench/baseline
mkdir -p "$tmp/static"
head -c 1024 /dev/urandom >"$tmp/static/1k.bin"
head -c 65536 /dev/urandom >"$tmp/static/64k.bin"
head -c 10485760 /dev/urandom >"$tmp/static/10m.bin"
bench_config 127.0.0.1:18190 "$tmp/static" >"$tmp/bench.hcl"

"${PIN_SERVER[@]}" "$tmp/baseline" -hello 127.0.0.1:18180 -static 127.0.0.1:18181 -root "$tmp/static" &
raw_pid=$!
"${PIN_SERVER[@]}" "$tmp/baseline" -hello 127.0.0.1:18182 -static "" &
twin_pid=$!
"${PIN_SERVER[@]}" "$tmp/pagi" run --no-watch "$tmp/bench.hcl" 2>"$tmp/pagi.log" &
pagi_pid=$!
sleep 0.2
wait_http http://127.0.0.1:18180/ "$raw_pid"
wait_http http://127.0.0.1:18181/ "$raw_pid"
wait_http http://127.0.0.1:18182/ "$twin_pid"
wait_http http://127.0.0.1:18190/ "$pagi_pid"

echo "| scenario | conns | net/http req/s (median of $REPS) | pagi req/s | ratio pagi/net/http | median of pair ratios | net/http CPU µs/req | pagi CPU µs/req | CPU ratio net/http/pagi |"
echo "|---|---|---|---|---|---|---|---|---|"
for sc in $SCENARIOS; do
  c=$CONNS
  [ "$sc" = 10m ] && c=8
  if [ "$sc" = aa ]; then
    # A/A: "pagi" in this row is the second net/http server.
    compare net/http "$raw_pid" http://127.0.0.1:18180/ net/http-twin "$twin_pid" http://127.0.0.1:18182/ "$c"
    echo "| aa (net/http vs itself) | $c | $CMP_RPS_A | $CMP_RPS_B | $CMP_RATIO | $CMP_PAIR_RATIO | $CMP_CPU_A | $CMP_CPU_B | $CMP_CPU_RATIO |"
    continue
  fi
  if [ "$sc" = hello ]; then
    raw_url=http://127.0.0.1:18180/ pagi_url=http://127.0.0.1:18190/
  else
    raw_url=http://127.0.0.1:18181/$sc.bin pagi_url=http://127.0.0.1:18190/static/$sc.bin
  fi
  compare net/http "$raw_pid" "$raw_url" pagi "$pagi_pid" "$pagi_url" "$c"
  echo "| $sc | $c | $CMP_RPS_A | $CMP_RPS_B | $CMP_RATIO | $CMP_PAIR_RATIO | $CMP_CPU_A | $CMP_CPU_B | $CMP_CPU_RATIO |"
done
