#!/usr/bin/env bash
# Requests per second of one pagi process (workers = 0) against a master
# with worker processes (workers = 2 by default), measured in the same run
# on this machine with wrk, and the memory of each process (RSS from
# /proc): what a worker costs.
#
#   bench/workers.sh                         # 10 s per run, 64 connections, 2 wrk threads
#   DURATION=30s CONNS=256 WORKERS=4 bench/workers.sh
#
# Environment:
#   DURATION=10s   wrk duration per run
#   CONNS=64       wrk connections
#   THREADS=2      wrk threads (wrk competes with pagi for the same cores:
#                  compare the two rows with each other, not with numbers
#                  from another machine)
#   WORKERS=2      workers of the second run
#   PORT=18470     the port both runs listen on (one after the other)
#   ROUTE=/        respond (a fixed body), or /static (a 4 KiB file)
#
# Needs wrk (apt-get install wrk) and Go.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18470}
ROUTE=${ROUTE:-/}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/pagi" ./cmd/pagi
mkdir -p "$tmp/public"
head -c 4096 /dev/urandom | base64 -w 76 | head -c 4096 >"$tmp/public/file.txt"

config() { # workers
  cat <<HCL
server {
  log_level = "warn"
  workers   = $1
}
listener "web" {
  address = "127.0.0.1:$PORT"
}
site "bench" {
  route "GET /" {
    respond { body = "hello from pagi\n" }
  }
  route "GET /static/*" {
    static { root = "$tmp/public" }
  }
}
HCL
}

# rss_kb PID: resident memory of a process in KiB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# children PID: the pids whose parent is PID.
children() {
  for s in /proc/[0-9]*/stat; do
    awk -v p="$1" '{ sub(/^.*\) /, ""); if ($2 == p) { split(FILENAME, f, "/"); print f[3] } }' "$s" 2>/dev/null
  done
}

path=$ROUTE
[ "$ROUTE" = /static ] && path=/static/file.txt

run() { # workers
  local w=$1
  config "$w" >"$tmp/site-$w.hcl"
  "$tmp/pagi" run --no-watch "$tmp/site-$w.hcl" 2>"$tmp/pagi-$w.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT$path" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 0.5 # every worker ready
  wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:$PORT$path" >/dev/null # warm-up
  local out rps lat
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$PORT$path")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '$1 == "99%" {print $2}' <<<"$out")
  local mrss total=0 line=""
  mrss=$(rss_kb "$pid")
  total=$mrss
  if [ "$w" -gt 0 ]; then
    line="master ${mrss} KiB; workers"
    for c in $(children "$pid"); do
      local r
      r=$(rss_kb "$c")
      total=$((total + r))
      line="$line $c:${r} KiB"
    done
  else
    line="process ${mrss} KiB"
  fi
  printf '%-12s %12s %10s %10s  %s\n' "workers=$w" "$rps" "$lat" "$((total / 1024)) MiB" "$line"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  sleep 0.5
}

echo "pagi $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores, wrk -t$THREADS -c$CONNS -d$DURATION, GET $path"
printf '%-12s %12s %10s %10s  %s\n' "run" "requests/s" "p99" "RSS total" "RSS per process (after the run)"
run 0
run "$WORKERS"
