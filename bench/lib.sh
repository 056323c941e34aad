# Shared helpers of the load scripts (bench/run.sh, bench/chain.sh,
# bench/live.sh); source it after `set -euo pipefail` and `cd` to the
# repository root.
#
# compare NAME_A PID_A URL_A NAME_B PID_B URL_B CONNS [wrk args...] runs
# REPS alternating pairs of DUR-long wrk runs (A first in odd reps, B first
# in even ones, so a machine slowing down or speeding up does not favour a
# side) and sets, from the medians of the reps:
#   CMP_RPS_A CMP_RPS_B CMP_RATIO        requests/s and B/A
#   CMP_CPU_A CMP_CPU_B CMP_CPU_RATIO    server CPU µs per request and A/B
#   CMP_PAIR_RATIO                       median of the reps' own B/A ratios
# The CPU figures come from /proc/PID/stat around each run; the servers run
# pinned to CPU 0 and wrk to CPU 1 when taskset exists and there are two or
# more CPUs (PIN_SERVER and PIN_CLIENT, arrays, for the scripts' own use).

DUR=${DUR:-5s}
REPS=${REPS:-5}

PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  PIN_SERVER=(taskset -c 0) PIN_CLIENT=(taskset -c 1)
fi

# need_wrk: exits with a message when wrk is missing.
need_wrk() { command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }; }

# wait_http URL [PID]: waits up to 5 s for URL to answer (and PID, when
# given, to be alive: a server that failed to bind must not be measured
# through another one that holds the port).
wait_http() {
  for _ in $(seq 50); do
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
      echo "server $2 for $1 exited" >&2
      return 1
    fi
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# median: the median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# load PID URL CONNS [wrk args...]: one wrk run; prints "requests/s cpu-µs/request".
load() {
  local pid=$1 url=$2 conns=$3 t0 t1 out
  shift 3
  t0=$(cputicks "$pid")
  out=$("${PIN_CLIENT[@]}" wrk -t1 -c"$conns" -d"$DUR" --timeout 10s "$@" "$url")
  t1=$(cputicks "$pid")
  if echo "$out" | grep -q "Non-2xx"; then
    echo "$url answered with errors:" >&2
    echo "$out" >&2
    return 1
  fi
  echo "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
    / requests in / {n = $1} /^Requests\/sec/ {r = $2}
    END {printf "%s %.2f\n", r, (t1 - t0) / hz * 1e6 / n}'
}

compare() {
  cmp_reset
  cmp_measure "$@"
  cmp_summary "$1" "$4"
}

# cmp_reset clears the samples that cmp_measure collects.
cmp_reset() { CMP_RA=() CMP_RB=() CMP_CA=() CMP_CB=(); }

# cmp_measure NAME_A PID_A URL_A NAME_B PID_B URL_B CONNS [wrk args...]
# runs REPS alternating pairs and appends their samples to CMP_RA, CMP_RB
# (requests/s) and CMP_CA, CMP_CB (CPU µs/request). The order alternates by
# the number of pairs already collected, so samples gathered in several
# calls (with fresh server processes between them, see bench/run.sh
# RESTART) keep alternating.
cmp_measure() {
  local pid_a=$2 url_a=$3 pid_b=$5 url_b=$6 conns=$7 rep r cpu
  shift 7
  for rep in $(seq "$REPS"); do
    local order=(a b)
    ((${#CMP_RA[@]} % 2 == 0)) || order=(b a)
    for who in "${order[@]}"; do
      if [ "$who" = a ]; then
        read -r r cpu < <(load "$pid_a" "$url_a" "$conns" "$@")
        CMP_RA+=("$r") CMP_CA+=("$cpu")
      else
        read -r r cpu < <(load "$pid_b" "$url_b" "$conns" "$@")
        CMP_RB+=("$r") CMP_CB+=("$cpu")
      fi
      sleep 1
    done
  done
}

# cmp_summary NAME_A NAME_B sets the CMP_* figures (see compare) from every
# sample collected since cmp_reset, and prints the samples to stderr.
cmp_summary() {
  CMP_RPS_A=$(printf '%s\n' "${CMP_RA[@]}" | median)
  CMP_RPS_B=$(printf '%s\n' "${CMP_RB[@]}" | median)
  CMP_CPU_A=$(printf '%s\n' "${CMP_CA[@]}" | median)
  CMP_CPU_B=$(printf '%s\n' "${CMP_CB[@]}" | median)
  CMP_RATIO=$(awk -v a="$CMP_RPS_A" -v b="$CMP_RPS_B" 'BEGIN {printf "%.3f", b/a}')
  CMP_CPU_RATIO=$(awk -v a="$CMP_CPU_A" -v b="$CMP_CPU_B" 'BEGIN {printf "%.3f", a/b}')
  # The median of the reps' own ratios: each rep runs a and b back to back,
  # so a slow drift of the machine's speed cancels within the pair.
  CMP_PAIR_RATIO=$(for i in "${!CMP_RA[@]}"; do awk -v a="${CMP_RA[$i]}" -v b="${CMP_RB[$i]}" 'BEGIN {printf "%.4f\n", b/a}'; done | median)
  echo "  $1 req/s: ${CMP_RA[*]}" >&2
  echo "  $2 req/s: ${CMP_RB[*]}" >&2
}

# bench_config ADDR ROOT: the config of the benchmark routes, on one listener
# at ADDR: GET / answered by `respond` with "Hello, World!" (the job of the
# baseline's hello server) and /static/ served by `static` from ROOT.
bench_config() {
  cat <<HCL
server {
  log_level = "warn"
}
listener "web" {
  address = "$1"
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
      root = "$2"
    }
  }
}
HCL
}
