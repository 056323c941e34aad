#!/usr/bin/env bash
# Load benchmark of pagi against a raw net/http server doing the same job, in
# one run on this machine, reported as ratios (pagi / net/http).
#
#   bench/run.sh                 # all scenarios, 3 reps of 10 s each
#   DUR=5s REPS=1 bench/run.sh hello
#
# Scenarios: hello (respond vs a HandlerFunc), 1k, 64k, 10m (static vs
# http.FileServer). Servers run pinned to CPU 0 and wrk to CPU 1 when
# taskset exists, alternating which server goes first in each rep.
#
# Two ratios per scenario: requests/s (median of the reps) and server CPU
# time per request (read from /proc/PID/stat around each wrk run; the
# baseline's over pagi's, so above 1 means pagi spends less). On a shared
# virtual machine the second is the steadier one: time other tenants take
# from the servers' core lowers requests/s but is not counted as their CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
REPS=${REPS:-5}
SCENARIOS=${*:-hello 1k 64k 10m}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
go build -o "$tmp/baseline" ./bench/baseline
mkdir -p "$tmp/static"
head -c 1024 /dev/urandom >"$tmp/static/1k.bin"
head -c 65536 /dev/urandom >"$tmp/static/64k.bin"
head -c 10485760 /dev/urandom >"$tmp/static/10m.bin"
cat >"$tmp/bench.hcl" <<HCL
server {
  log_level = "warn"
}
listener "web" {
  address = "127.0.0.1:18190"
}
site "bench" {
  route "GET /{\$}" {
    respond {
      headers = { "content-type" = "text/plain" }
      body    = "Hello, World!"
    }
  }
  route "/static/" {
    static {
      root = "$tmp/static"
    }
  }
}
HCL

pin_server=() pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
"${pin_server[@]}" "$tmp/baseline" -hello 127.0.0.1:18180 -static 127.0.0.1:18181 -root "$tmp/static" &
raw_pid=$!
"${pin_server[@]}" "$tmp/pagi" run --no-watch "$tmp/bench.hcl" 2>"$tmp/pagi.log" &
pagi_pid=$!
for port in 18180 18181 18190; do
  for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
done

url() { # url SERVER SCENARIO
  case "$1:$2" in
    raw:hello) echo "http://127.0.0.1:18180/" ;;
    pagi:hello) echo "http://127.0.0.1:18190/" ;;
    raw:*) echo "http://127.0.0.1:18181/$2.bin" ;;
    pagi:*) echo "http://127.0.0.1:18190/static/$2.bin" ;;
  esac
}
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() { # load PID URL CONNS -> "requests/s cpu-µs/request"
  local t0 t1 out
  t0=$(cputicks "$1")
  out=$("${pin_client[@]}" wrk -t1 -c"$3" -d"$DUR" --timeout 10s "$2")
  t1=$(cputicks "$1")
  echo "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
    / requests in / {n = $1} /^Requests\/sec/ {r = $2}
    END {printf "%s %.2f\n", r, (t1 - t0) / hz * 1e6 / n}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "| scenario | conns | net/http req/s (median of $REPS) | pagi req/s | ratio pagi/net/http | net/http CPU µs/req | pagi CPU µs/req | CPU ratio net/http/pagi |"
echo "|---|---|---|---|---|---|---|---|"
for sc in $SCENARIOS; do
  c=$CONNS
  [ "$sc" = 10m ] && c=8
  raw=() pg=() rawc=() pgc=()
  for rep in $(seq "$REPS"); do
    if ((rep % 2)); then order=(raw pagi); else order=(pagi raw); fi
    for who in "${order[@]}"; do
      if [ "$who" = raw ]; then
        read -r r cpu < <(load "$raw_pid" "$(url raw "$sc")" "$c")
        raw+=("$r") rawc+=("$cpu")
      else
        read -r r cpu < <(load "$pagi_pid" "$(url pagi "$sc")" "$c")
        pg+=("$r") pgc+=("$cpu")
      fi
      sleep 1
    done
  done
  rm=$(printf '%s\n' "${raw[@]}" | median)
  pm=$(printf '%s\n' "${pg[@]}" | median)
  rc=$(printf '%s\n' "${rawc[@]}" | median)
  pc=$(printf '%s\n' "${pgc[@]}" | median)
  ratio=$(awk -v a="$pm" -v b="$rm" 'BEGIN {printf "%.3f", a/b}')
  cratio=$(awk -v a="$rc" -v b="$pc" 'BEGIN {printf "%.3f", a/b}')
  echo "| $sc | $c | $rm | $pm | $ratio | $rc | $pc | $cratio |"
done
