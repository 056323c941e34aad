#!/usr/bin/env bash
# Load benchmark of the middleware chain of the middleware issue: the same
# small JSON response on a bare route and behind forwarded, request_id,
# access_log (to a file), headers, cors and compress, both in one pagi
# process, loaded with wrk in alternating reps (bench/lib.sh). Reports the
# chain's throughput as a ratio of the bare route's, and its cost (1 - ratio).
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
sleep 0.2
wait_http http://127.0.0.1:18195/bare "$pid"

compare bare "$pid" http://127.0.0.1:18195/bare chain "$pid" http://127.0.0.1:18195/chain "$CONNS" \
  -H "Origin: https://app.example.com" -H "Accept-Encoding: gzip"
echo "| route | req/s (median of $REPS) | CPU µs/req |"
echo "|---|---|---|"
echo "| bare | $CMP_RPS_A | $CMP_CPU_A |"
echo "| chain | $CMP_RPS_B | $CMP_CPU_B |"
awk -v r="$CMP_RATIO" -v p="$CMP_PAIR_RATIO" -v c="$CMP_CPU_RATIO" 'BEGIN {
  printf "chain/bare throughput %.3f: the chain costs %.1f %% (median of pair ratios %.3f: %.1f %%; by CPU per request: %.1f %%)\n", r, (1 - r) * 100, p, (1 - p) * 100, (1 - c) * 100 }'
test "$(wc -l <"$tmp/access.log")" -gt 0 || { echo "access log empty: the chain did not run" >&2; exit 1; }
