#!/usr/bin/env bash
# Soak benchmark: 1,000,000 keep-alive requests to a respond route after a
# warm-up, with the process's RSS, Go heap and open file descriptors read
# (after a forced GC) before and after. Reports bytes per request.
#
#   bench/soak.sh              # N=1000000
#   N=200000 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
WARMUP=${WARMUP:-100000}
CONNS=${CONNS:-64}
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install nghttp2-client" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
cat >"$tmp/soak.hcl" <<'HCL'
server {
  log_level = "warn"
}
listener "web" {
  address = "127.0.0.1:18290"
}
site "soak" {
  route "GET /{$}" {
    respond {
      body = "Hello, World!"
    }
  }
  route "GET /_stats" {
    stats {}
  }
}
HCL
"$tmp/pagi" run --no-watch "$tmp/soak.hcl" 2>"$tmp/pagi.log" &
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:18290/ 2>/dev/null && break; sleep 0.1; done
stats() { curl -fsS 'http://127.0.0.1:18290/_stats?gc=1'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

h2load --h1 -n "$WARMUP" -c "$CONNS" -t 1 http://127.0.0.1:18290/ >/dev/null
sleep 1
before=$(stats)
out=$(h2load --h1 -n "$N" -c "$CONNS" -t 1 http://127.0.0.1:18290/)
sleep 2
after=$(stats)
echo "$out" | grep -E "^(finished in|requests:|status codes:)"
rss0=$(echo "$before" | field rss_bytes); rss1=$(echo "$after" | field rss_bytes)
heap0=$(echo "$before" | field heap_alloc_bytes); heap1=$(echo "$after" | field heap_alloc_bytes)
fd0=$(echo "$before" | field open_fds); fd1=$(echo "$after" | field open_fds)
g0=$(echo "$before" | field goroutines); g1=$(echo "$after" | field goroutines)
echo "| measure | before | after | delta | per request |"
echo "|---|---|---|---|---|"
awk -v a="$rss0" -v b="$rss1" -v n="$N" 'BEGIN {printf "| RSS bytes | %d | %d | %+d | %.3f B |\n", a, b, b-a, (b-a)/n}'
awk -v a="$heap0" -v b="$heap1" -v n="$N" 'BEGIN {printf "| Go heap (live) bytes | %d | %d | %+d | %.3f B |\n", a, b, b-a, (b-a)/n}'
echo "| open fds | $fd0 | $fd1 | $((fd1 - fd0)) | |"
echo "| goroutines | $g0 | $g1 | $((g1 - g0)) | |"
