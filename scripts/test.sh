#!/usr/bin/env bash
# The whole test suite, as README.md tells newcomers and .ci/run runs it.
# It installs what the tests need when missing (Debian packages), then runs
# vet, the Go tests, and the race detector on the concurrent packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)      # browser tests (e2e/)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]}: install them (apt-get install ${need_apt[*]}) or run as root" >&2
    exit 1
  fi
fi

if [ ! -d e2e/node_modules/playwright-core ]; then
  echo "== npm ci (e2e)"
  (cd e2e && npm ci --no-audit --no-fund >/dev/null)
fi

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 15m ./...
echo "== go test -race (pagi, engine, handlers, middleware, pubsub, reload)"
go test -count=1 -race -timeout 15m . ./engine/... ./handlers/... ./middleware/... ./pubsub/... ./reload/...
