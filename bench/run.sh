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
#
# RESTART=K starts fresh server processes every K pairs (and before each
# scenario), so one run averages over several process lifetimes: on this
# machine a process keeps a speed of its own for its whole life (a
# FileServer measured 77.8 µs of CPU per 64 KiB request in one run and 90.4
# in another, interleaved with the same pagi), which more pairs against the
# same two processes do not average out. RESTART=0 (the default) starts the
# servers once.
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

RESTART=${RESTART:-0}
raw_pid= twin_pid= pagi_pid=

# start_servers starts the baseline, its twin and pagi, and waits for them.
start_servers() {
  "${PIN_SERVER[@]}" "$tmp/baseline" -hello 127.0.0.1:18180 -static 127.0.0.1:18181 -root "$tmp/static" &
  raw_pid=$!
  "${PIN_SERVER[@]}" "$tmp/baseline" -hello 127.0.0.1:18182 -static "" &
  twin_pid=$!
  "${PIN_SERVER[@]}" "$tmp/pagi" run --no-watch "$tmp/bench.hcl" 2>>"$tmp/pagi.log" &
  pagi_pid=$!
  sleep 0.2
  wait_http http://127.0.0.1:18180/ "$raw_pid"
  wait_http http://127.0.0.1:18181/ "$raw_pid"
  wait_http http://127.0.0.1:18182/ "$twin_pid"
  wait_http http://127.0.0.1:18190/ "$pagi_pid"
}

# stop_servers stops the three servers and waits until they are gone, so
# the next start can bind the same ports.
stop_servers() {
  kill "$raw_pid" "$twin_pid" "$pagi_pid" 2>/dev/null || true
  wait "$raw_pid" "$twin_pid" "$pagi_pid" 2>/dev/null || true
}

# measure NAME_A PID_VAR_A URL_A NAME_B PID_VAR_B URL_B CONNS: REPS pairs in
# blocks of RESTART pairs, each block on fresh servers (see RESTART above);
# the PIDs are read from the named variables after each start.
measure() {
  local left=$REPS k
  cmp_reset
  while ((left > 0)); do
    k=$left
    if ((RESTART > 0)); then
      ((k > RESTART)) && k=$RESTART
      stop_servers
      start_servers
      # A fresh process's first second is slower (heap growth, first
      # connections): warm both up so neither side of the block pays it.
      "${PIN_CLIENT[@]}" wrk -t1 -c"$7" -d1s "$3" >/dev/null
      "${PIN_CLIENT[@]}" wrk -t1 -c"$7" -d1s "$6" >/dev/null
    fi
    REPS=$k cmp_measure "$1" "${!2}" "$3" "$4" "${!5}" "$6" "$7"
    left=$((left - k))
  done
  cmp_summary "$1" "$4"
}

start_servers

echo "| scenario | conns | net/http req/s (median of $REPS) | pagi req/s | ratio pagi/net/http | median of pair ratios | net/http CPU µs/req | pagi CPU µs/req | CPU ratio net/http/pagi |"
echo "|---|---|---|---|---|---|---|---|---|"
for sc in $SCENARIOS; do
  c=$CONNS
  [ "$sc" = 10m ] && c=8
  if [ "$sc" = aa ]; then
    # A/A: "pagi" in this row is the second net/http server.
    measure net/http raw_pid http://127.0.0.1:18180/ net/http-twin twin_pid http://127.0.0.1:18182/ "$c"
    echo "| aa (net/http vs itself) | $c | $CMP_RPS_A | $CMP_RPS_B | $CMP_RATIO | $CMP_PAIR_RATIO | $CMP_CPU_A | $CMP_CPU_B | $CMP_CPU_RATIO |"
    continue
  fi
  if [ "$sc" = hello ]; then
    raw_url=http://127.0.0.1:18180/ pagi_url=http://127.0.0.1:18190/
  else
    raw_url=http://127.0.0.1:18181/$sc.bin pagi_url=http://127.0.0.1:18190/static/$sc.bin
  fi
  measure net/http raw_pid "$raw_url" pagi pagi_pid "$pagi_url" "$c"
  echo "| $sc | $c | $CMP_RPS_A | $CMP_RPS_B | $CMP_RATIO | $CMP_PAIR_RATIO | $CMP_CPU_A | $CMP_CPU_B | $CMP_CPU_RATIO |"
done
