#!/usr/bin/env bash
# Load benchmark of the middleware chain of the middleware issue: the same
# small JSON response on a bare route and behind forwarded, request_id,
# access_log (to a file), headers, cors and compress, both in one pagi
# process, loaded with wrk in alternating reps (bench/lib.sh). Reports the
# chain's throughput as a ratio of the bare route's, and its cost (1 - ratio).
# In the same run, the floor: the raw net/http baseline (bench/baseline)
# serving the same response bare and with the four header fields the chain
# adds (cors's two, headers' one, request_id's one), which is what net/http
# alone charges for writing them, with no middleware logic at all.
#
#   bench/chain.sh
#   DUR=3s REPS=9 bench/chain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-64}
. bench/lib.sh
need_wrk

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
go build -o "$tmp/baseline" ./bench/baseline
cat >"$tmp/chain.hcl" <<HCL
server {
  log_level = "warn"
}
listener "web" {
  address = "127.0.0.1:18195"
}
HCL
cat bench/chain-site.hcl >>"$tmp/chain.hcl"
"${PIN_SERVER[@]}" "$tmp/pagi" run --no-watch "$tmp/chain.hcl" 2>"$tmp/pagi.log" &
pid=$!
"${PIN_SERVER[@]}" "$tmp/baseline" -hello 127.0.0.1:18196 -static "" &
raw_pid=$!
sleep 0.2
wait_http http://127.0.0.1:18195/bare "$pid"
wait_http http://127.0.0.1:18196/bare "$raw_pid"

compare bare "$pid" http://127.0.0.1:18195/bare chain "$pid" http://127.0.0.1:18195/chain "$CONNS" \
  -H "Origin: https://app.example.com" -H "Accept-Encoding: gzip"
chain=("$CMP_RPS_A" "$CMP_CPU_A" "$CMP_RPS_B" "$CMP_CPU_B" "$CMP_RATIO" "$CMP_PAIR_RATIO" "$CMP_CPU_RATIO")
compare raw-bare "$raw_pid" http://127.0.0.1:18196/bare raw-fields "$raw_pid" http://127.0.0.1:18196/fields "$CONNS" \
  -H "Origin: https://app.example.com" -H "Accept-Encoding: gzip"
echo "| server, route | req/s (median of $REPS) | CPU µs/req |"
echo "|---|---|---|"
echo "| pagi, bare | ${chain[0]} | ${chain[1]} |"
echo "| pagi, chain | ${chain[2]} | ${chain[3]} |"
echo "| net/http, bare | $CMP_RPS_A | $CMP_CPU_A |"
echo "| net/http, four more fields | $CMP_RPS_B | $CMP_CPU_B |"
cost() {
  awk -v what="$1" -v r="$2" -v p="$3" -v c="$4" 'BEGIN {
    printf "%s throughput %.3f: costs %.1f %% (median of pair ratios %.3f: %.1f %%; by CPU per request: %.1f %%)\n", what, r, (1 - r) * 100, p, (1 - p) * 100, (1 - c) * 100 }'
}
cost "pagi chain/bare" "${chain[4]}" "${chain[5]}" "${chain[6]}"
cost "net/http floor, fields/bare" "$CMP_RATIO" "$CMP_PAIR_RATIO" "$CMP_CPU_RATIO"
test "$(wc -l <"$tmp/access.log")" -gt 0 || { echo "access log empty: the chain did not run" >&2; exit 1; }
