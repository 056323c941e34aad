#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: a
# figure this machine's noise does not move, beside the wrk ratios of
# bench/run.sh and bench/chain.sh. Each server is warmed with 2,000
# keep-alive requests (h2load --h1 -c1), then the instruction counter is
# read around N more; the kernel's share (the system calls, the same for
# all) is not in the figure.
#
# Scenario hello (the default): the hello route of the net/http baseline,
# of pagi as built (with cmd/pagi/default.pgo) and of pagi built with
# -pgo=off. Scenario chain (bench/chain-site.hcl, requests with Origin and
# Accept-Encoding: gzip): the net/http baseline's small JSON response bare
# and with the four fields the middleware chain adds (/bare, /fields), and
# pagi's bare, fields (the same four fields from `respond`, no middleware)
# and chained routes.
#
#   bench/instr.sh            # hello, N=8000, 3 runs per server, medians
#   N=20000 RUNS=5 bench/instr.sh hello chain
#
# Needs valgrind and h2load (apt-get install valgrind nghttp2-client). The
# servers run with GOGC=off: under valgrind a collection is stretched over
# seconds and lands in some windows and not in others; allocations, which
# drive the collector, are compared by the Go benchmarks (-benchmem) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-8000}
RUNS=${RUNS:-3}
SCENARIOS=${*:-hello}
. bench/lib.sh
for tool in valgrind callgrind_control h2load; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install valgrind nghttp2-client" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'pkill -9 -f "callgrind-out-file=$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/baseline" ./bench/baseline
go build -o "$tmp/pagi" ./cmd/pagi
go build -pgo=off -o "$tmp/pagi-nopgo" ./cmd/pagi
bench_config 127.0.0.1:18196 "$tmp" >"$tmp/bench.hcl"
{
  printf 'server {\n  log_level = "warn"\n}\nlistener "web" {\n  address = "127.0.0.1:18197"\n}\n'
  cat bench/chain-site.hcl
} >"$tmp/chain.hcl"

# count NAME URL CMD...: instructions per request of one server for URL
# (with the request headers in the array H2HEADERS).
count() {
  local name=$1 url=$2 vp a b
  shift 2
  # Asynchronous preemption signals confuse callgrind; the Go runtime
  # works without them.
  GOGC=off GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.out" "$@" >"$tmp/$name.log" 2>&1 &
  sleep 0.5
  # The valgrind command may be a wrapper: the process to ask and to kill
  # is the one running the tool.
  vp=$(pgrep -f "valgrind.bin.*callgrind-out-file=$tmp/$name.out" || echo $!)
  wait_http "$url" "$vp" >/dev/null
  h2load --h1 -n 2000 -c 1 -t 1 "${H2HEADERS[@]}" "$url" >/dev/null
  a=$(callgrind_control -e "$vp" | awk '/Th [0-9]+/ {gsub(",", "", $3); s += $3} END {printf "%d\n", s}')
  if ! h2load --h1 -n "$N" -c 1 -t 1 "${H2HEADERS[@]}" "$url" | grep -q "$N succeeded"; then
    echo "$name: requests failed" >&2
    kill -9 "$vp"
    wait 2>/dev/null || true
    echo failed
    return
  fi
  b=$(callgrind_control -e "$vp" | awk '/Th [0-9]+/ {gsub(",", "", $3); s += $3} END {printf "%d\n", s}')
  kill -9 "$vp"
  wait 2>/dev/null || true
  echo $(((b - a) / N))
}

echo "| scenario | server, route | user-space instructions per request (median of $RUNS; all runs) |"
echo "|---|---|---|"
for sc in $SCENARIOS; do
  case $sc in
  hello)
    H2HEADERS=()
    servers="net/http pagi pagi-pgo-off"
    ;;
  chain)
    H2HEADERS=(-H "Origin: https://app.example.com" -H "Accept-Encoding: gzip")
    servers="net/http-bare net/http-fields pagi-bare pagi-fields pagi-chain"
    ;;
  *)
    echo "unknown scenario $sc (hello, chain)" >&2
    exit 2
    ;;
  esac
  for who in $servers; do
    runs=()
    for _ in $(seq "$RUNS"); do
      case $who in
      net/http) runs+=("$(count raw http://127.0.0.1:18180/ "$tmp/baseline" -hello 127.0.0.1:18180 -static "")") ;;
      pagi) runs+=("$(count pagi http://127.0.0.1:18196/ "$tmp/pagi" run --no-watch "$tmp/bench.hcl")") ;;
      pagi-pgo-off) runs+=("$(count nopgo http://127.0.0.1:18196/ "$tmp/pagi-nopgo" run --no-watch "$tmp/bench.hcl")") ;;
      net/http-*) runs+=("$(count raw "http://127.0.0.1:18180/${who#net/http-}" "$tmp/baseline" -hello 127.0.0.1:18180 -static "")") ;;
      pagi-*) runs+=("$(count pagi "http://127.0.0.1:18197/${who#pagi-}" "$tmp/pagi" run --no-watch "$tmp/chain.hcl")") ;;
      esac
    done
    echo "| $sc | $who | $(printf '%s\n' "${runs[@]}" | grep -v failed | median) (${runs[*]}) |"
  done
done
