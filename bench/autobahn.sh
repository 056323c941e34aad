#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (the Python-3 port) against a
# pagi `websocket { echo = true }` route and prints the results per case
# category. The port is not part of this repository: point AUTOBAHN_DIR at a
# checkout of it (see docs/compliance.md for the recipe) whose
# `autobahntestsuite` package runs on Debian's python3-autobahn and
# python3-twisted.
#
#   AUTOBAHN_DIR=/path/to/autobahn-testsuite bench/autobahn.sh            # core: all but 9, 12, 13
#   AUTOBAHN_DIR=... CASES='["9.*"]' bench/autobahn.sh                      # limits and performance
#   AUTOBAHN_DIR=... COMPRESSION=true CASES='["12.*","13.*"]' TIMEOUT=3000 bench/autobahn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AUTOBAHN_DIR:?set AUTOBAHN_DIR to a checkout of the Autobahn testsuite Python-3 port}"
CASES=${CASES:-'["*"]'}
EXCLUDE=${EXCLUDE:-'["9.*", "12.*", "13.*"]'}
[ "$CASES" != '["*"]' ] && EXCLUDE=${EXCLUDE_OVERRIDE:-'[]'}
COMPRESSION=${COMPRESSION:-false}
TIMEOUT=${TIMEOUT:-600}
PORT=${PORT:-18450}

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/pagi" ./cmd/pagi
cat >"$tmp/ab.hcl" <<HCL
server {
  log_level = "warn"
}
listener "ws" {
  address = "127.0.0.1:$PORT"
}
site "autobahn" {
  route "/" {
    websocket {
      echo              = true
      max_message_bytes = "64MiB"
      max_queue         = 100000
      compression       = $COMPRESSION
    }
  }
}
HCL
"$tmp/pagi" run --no-watch "$tmp/ab.hcl" 2>"$tmp/pagi.log" &
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
cat >"$tmp/spec.json" <<JSON
{"outdir": "$tmp/reports", "servers": [{"agent": "pagi", "url": "ws://127.0.0.1:$PORT/"}],
 "cases": $CASES, "exclude-cases": $EXCLUDE, "exclude-agent-cases": {}}
JSON
(cd "$tmp" && PYTHONPATH="$AUTOBAHN_DIR/autobahntestsuite" timeout "$TIMEOUT" \
  /usr/bin/python3 -m autobahntestsuite.wstest -m fuzzingclient -s "$tmp/spec.json" >"$tmp/wstest.log" 2>&1) || true
/usr/bin/python3 - "$tmp/reports/index.json" <<'PY'
import json, sys, collections
idx = json.load(open(sys.argv[1]))["pagi"]
by_cat = collections.defaultdict(collections.Counter)
total = collections.Counter()
for case, r in idx.items():
    cat = case.split(".")[0]
    by_cat[cat][r["behavior"]] += 1
    total[r["behavior"]] += 1
print("| category | cases | OK | NON-STRICT | INFORMATIONAL | FAILED | UNIMPLEMENTED |")
print("|---|---|---|---|---|---|---|")
for cat in sorted(by_cat, key=int):
    c = by_cat[cat]
    print(f"| {cat} | {sum(c.values())} | {c['OK']} | {c['NON-STRICT']} | {c['INFORMATIONAL']} | {c['FAILED']} | {c['UNIMPLEMENTED']} |")
print(f"| all | {sum(total.values())} | {total['OK']} | {total['NON-STRICT']} | {total['INFORMATIONAL']} | {total['FAILED']} | {total['UNIMPLEMENTED']} |")
info = sorted((k for k, r in idx.items() if r["behavior"] in ("INFORMATIONAL", "NON-STRICT")), key=lambda s: [int(x) for x in s.split(".")])
if info:
    print("non-strict or informational:", " ".join(f"{k}={idx[k]['behavior'][:4]}" for k in info))
bad = sorted((k for k, r in idx.items() if r["behavior"] in ("FAILED", "UNIMPLEMENTED")), key=lambda s: [int(x) for x in s.split(".")])
if bad:
    print("failed:", " ".join(bad))
    sys.exit(1)
PY
