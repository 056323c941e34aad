#!/usr/bin/env bash
# Benchmark of pagi's live connections, in one run on this machine:
#
#   ws    WebSocket echo: pagi `websocket { echo = true }` against a plain
#         gorilla/websocket echo (bench/baseline -ws), the same bench/ws client
#         settings for both, alternating which goes first; median round
#         trips/s of REPS runs and the ratio pagi/gorilla (target >= 0.9);
#         also round trips per CPU-second of each server, which a busy
#         machine disturbs less than round trips per second.
#   idle  memory of IDLE idle WebSocket connections on a channel route:
#         /_stats?gc=1 RSS and heap in use before and while they are open,
#         per connection (target < 24 KiB); the gorilla echo's RSS per idle
#         connection beside it, for scale.
#   sse   fan-out of EVENTS messages, 200 ms apart, to SUBS SSE subscribers
#         (bench/sse), with the memory and the Redis pubsub backend (a
#         throwaway redis-server); p50/p99 delivery latency (target p99 <
#         100 ms), and the CPU time server and client spend per event; then
#         the same against a plain net/http broadcaster (bench/baseline
#         -sse), the floor of what this machine can do.
#
#   bench/live.sh                    # all parts
#   DUR=5s REPS=1 bench/live.sh ws   # some parts
#   IDLE=2000 SUBS=2000 bench/live.sh idle sse
#
# Servers (pagi, the baseline, redis-server) run pinned to CPU 0 and the
# clients to CPU 1 when taskset exists; everything is on 127.0.0.1. Each
# client run is bounded with timeout. Prints a markdown table and the load
# average at the end (a loaded machine starves the pinned processes: compare
# the CPU figures); progress goes to stderr. ulimit -n is raised to 100000,
# or to the hard limit where that is lower (a container without
# CAP_SYS_RESOURCE); 10,000 connections need a little over 10,000.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s} # seconds, with the s
REPS=${REPS:-3}
CONNS=${CONNS:-50}
SIZE=${SIZE:-64}
IDLE=${IDLE:-10000}
SUBS=${SUBS:-10000}
EVENTS=${EVENTS:-20}
SOURCES=${SOURCES:-1} # client source addresses 127.0.0.1..127.0.0.N
PARTS=${*:-ws idle sse}
. bench/lib.sh # PIN_SERVER, PIN_CLIENT, median
P_BASE=18381 P_ECHO=18391 P_IDLE=18392 P_SSE=18393 P_REDIS=18399

ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((IDLE > SUBS ? IDLE + 1000 : SUBS + 1000)) ]; then
  echo "warning: ulimit -n is $(ulimit -n), too low for $IDLE idle connections or $SUBS streams" >&2
fi
case " $PARTS " in *" sse "*)
  command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install redis-server" >&2; exit 1; } ;;
esac
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
for p in $P_BASE $P_ECHO $P_IDLE $P_SSE $P_REDIS; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is in use on 127.0.0.1" >&2
    exit 1
  fi
done
go build -o "$tmp/pagi" ./cmd/pagi
go build -o "$tmp/baseline" ./bench/baseline
go build -o "$tmp/ws" ./bench/ws
go build -o "$tmp/sse" ./bench/sse

log() { echo "$*" >&2; }
row() { echo "$*" >>"$tmp/rows"; }
wait_port() { # wait_port PORT
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  log "nothing listens on port $1"
  return 1
}
stop() { # stop PID...
  kill "$@" 2>/dev/null || true
  for pid; do wait "$pid" 2>/dev/null || true; done
}
field() { # field KEY < JSON -> value, or NA
  /usr/bin/python3 -c "import json,sys
try: print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])
except Exception: print('NA')"
}
calc() { # calc EXPR [DECIMALS]: awk arithmetic; NA when an operand is NA
  case $1 in *NA*) echo NA ;; *) awk "BEGIN {printf \"%.${2:-3}f\", ($1)}" 2>/dev/null || echo NA ;; esac
}
yesno() { sed 's/^1$/yes/;s/^0$/no/'; }
server_hcl() { # server_hcl PORT: server and listener blocks
  cat <<HCL
server {
  log_level = "warn"
}
listener "live" {
  address         = "127.0.0.1:$1"
  max_connections = 0
}
HCL
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo NA; } # user+system clock ticks
TICKS=$(getconf CLK_TCK)
start_pagi() { # start_pagi NAME: runs $tmp/NAME.hcl, sets pagi_pid
  "${PIN_SERVER[@]}" "$tmp/pagi" run --no-watch "$tmp/$1.hcl" 2>"$tmp/$1.log" &
  pagi_pid=$!
}

part_ws() {
  local secs=${DUR%s}
  { server_hcl $P_ECHO; cat <<'HCL'; } >"$tmp/echo.hcl"
site "live" {
  route "/echo" {
    websocket {
      echo = true
    }
  }
}
HCL
  "${PIN_SERVER[@]}" "$tmp/baseline" -hello '' -static '' -ws 127.0.0.1:$P_BASE 2>"$tmp/baseline.log" &
  local base_pid=$!
  start_pagi echo
  wait_port $P_BASE
  wait_port $P_ECHO
  # Besides throughput, round trips per CPU-second of the server: on a
  # shared machine it is steadier than round trips per wall-clock second.
  local raw=() pg=() rawp99=() pgp99=() raweff=() pgeff=() errs=0
  for rep in $(seq "$REPS"); do
    if ((rep % 2)); then order=(raw pagi); else order=(pagi raw); fi
    for who in "${order[@]}"; do
      local url=ws://127.0.0.1:$P_ECHO/echo spid=$pagi_pid
      [ "$who" = raw ] && url=ws://127.0.0.1:$P_BASE/ spid=$base_pid
      local out t0 t1
      t0=$(cpu_ticks "$spid")
      out=$(timeout -k 5 $((secs + 60)) "${PIN_CLIENT[@]}" "$tmp/ws" -url "$url" -conns "$CONNS" -duration "$DUR" -size "$SIZE") || out='{}'
      t1=$(cpu_ticks "$spid")
      local r p e eff
      r=$(field round_trips_per_s <<<"$out") p=$(field p99_ms <<<"$out") e=$(field errors <<<"$out")
      eff=$(calc "$(field round_trips <<<"$out") / (($t1 - $t0) / $TICKS)" 0)
      log "ws echo rep $rep $who: $out server_cpu_s=$(calc "($t1 - $t0) / $TICKS" 2)"
      [ "$e" = 0 ] || errs=$((errs + 1))
      if [ "$who" = raw ]; then raw+=("$r") rawp99+=("$p") raweff+=("$eff"); else pg+=("$r") pgp99+=("$p") pgeff+=("$eff"); fi
      sleep 1
    done
  done
  stop "$pagi_pid" "$base_pid"
  local rm pm re pe ratio
  rm=$(calc "$(printf "%s\n" "${raw[@]}" | median)" 0) pm=$(calc "$(printf "%s\n" "${pg[@]}" | median)" 0)
  re=$(printf '%s\n' "${raweff[@]}" | median) pe=$(printf '%s\n' "${pgeff[@]}" | median)
  ratio=$(calc "$pm / $rm")
  row "| WebSocket echo, $CONNS conns × $SIZE B, median of $REPS × $DUR | $pm round trips/s (p99 $(printf '%s\n' "${pgp99[@]}" | median) ms) | $rm round trips/s (p99 $(printf '%s\n' "${rawp99[@]}" | median) ms) | ratio **$ratio** | ≥ 0.9 | $(calc "$ratio >= 0.9" 0 | yesno)$( ((errs)) && echo ", $errs runs with errors") |"
  row "| WebSocket echo, round trips per server CPU-second | $pe | $re | ratio $(calc "$pe / $re") | | |"
  local pairs i
  pairs=$(for i in "${!raw[@]}"; do calc "${pg[$i]} / ${raw[$i]}" 4; echo; done | median)
  row "| WebSocket echo, median of the reps' own ratios (each rep runs both back to back) | | | ratio $pairs | ≥ 0.9 | $(calc "$pairs >= 0.9" 0 | yesno) |"
}

# hold_idle URL FILE: hold $IDLE idle connections to URL in the background
# (sets idle_pid), returning once all are open; the client's line goes to FILE.
hold_idle() {
  timeout -k 5 300 "${PIN_CLIENT[@]}" "$tmp/ws" -url "$1" -idle "$IDLE" -hold 240s -sources "$SOURCES" >"$2" 2>&1 &
  idle_pid=$!
  for _ in $(seq 1200); do
    grep -q '"mode":"idle"' "$2" 2>/dev/null && break
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 2 # let the server finish setting up the last sessions
}
vmrss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$1/status" 2>/dev/null || echo NA; }

part_idle() {
  { server_hcl $P_IDLE; cat <<'HCL'; } >"$tmp/idle.hcl"
site "live" {
  route "/idle" {
    websocket {
      channel = "idle"
    }
  }
  route "GET /_stats" {
    stats {}
  }
}
HCL
  start_pagi idle
  wait_port $P_IDLE
  local stats=http://127.0.0.1:$P_IDLE/_stats?gc=1 url=ws://127.0.0.1:$P_IDLE/idle
  # Warm up (first connections, pools, the channel's topic), then measure.
  timeout -k 5 60 "${PIN_CLIENT[@]}" "$tmp/ws" -url "$url" -idle 100 -hold 1s >/dev/null || true
  sleep 2
  local before after out
  before=$(curl -fsS "$stats")
  log "idle pagi before: $before"
  hold_idle "$url" "$tmp/idle.out"
  after=$(curl -fsS "$stats") || after='{}'
  out=$(cat "$tmp/idle.out")
  log "idle pagi client: $out"
  log "idle pagi after: $after"
  stop "$idle_pid"
  stop "$pagi_pid"
  local open rss0 rss1 heap0 heap1 g0 g1
  open=$(field open <<<"$out")
  rss0=$(field rss_bytes <<<"$before") rss1=$(field rss_bytes <<<"$after")
  heap0=$(field heap_inuse_bytes <<<"$before") heap1=$(field heap_inuse_bytes <<<"$after")
  g0=$(field goroutines <<<"$before") g1=$(field goroutines <<<"$after")
  local rssper heapper gper
  rssper=$(calc "($rss1 - $rss0) / $open" 0) heapper=$(calc "($heap1 - $heap0) / $open" 0)
  gper=$(calc "($g1 - $g0) / $open" 2)

  # The same with the gorilla echo (its RSS from /proc, no forced GC).
  "${PIN_SERVER[@]}" "$tmp/baseline" -hello '' -static '' -ws 127.0.0.1:$P_BASE 2>"$tmp/baseline.log" &
  local base_pid=$!
  wait_port $P_BASE
  timeout -k 5 60 "${PIN_CLIENT[@]}" "$tmp/ws" -url ws://127.0.0.1:$P_BASE/ -idle 100 -hold 1s >/dev/null || true
  sleep 2
  local brss0 brss1 bout
  brss0=$(vmrss "$base_pid")
  hold_idle ws://127.0.0.1:$P_BASE/ "$tmp/idle-base.out"
  brss1=$(vmrss "$base_pid")
  bout=$(cat "$tmp/idle-base.out")
  log "idle gorilla client: $bout; VmRSS $brss0 -> $brss1"
  stop "$idle_pid"
  stop "$base_pid"
  local brssper
  brssper=$(calc "($brss1 - $brss0) / $(field open <<<"$bout")" 0)
  row "| idle WebSocket memory, $open conns open ($(field failed <<<"$out") failed), pagi channel route | RSS **$rssper B**/conn ($(calc "$rssper / 1024" 1) KiB), heap in use **$heapper B**/conn ($(calc "$heapper / 1024" 1) KiB), $gper goroutines/conn | echo: RSS $brssper B/conn ($(calc "$brssper / 1024" 1) KiB) | | < 24 KiB | $(calc "$rssper < 24576 && $heapper < 24576" 0 | yesno) |"
}

part_sse() {
  local redis_pid=""
  for backend in memory redis baseline; do
    local pubsub="pubsub {
  backend = \"memory\"
}"
    if [ "$backend" = redis ]; then
      "${PIN_SERVER[@]}" redis-server --port $P_REDIS --bind 127.0.0.1 --save '' --appendonly no \
        >"$tmp/redis.log" 2>&1 &
      redis_pid=$!
      wait_port $P_REDIS
      pubsub="pubsub {
  backend = \"redis\"
  url     = \"redis://127.0.0.1:$P_REDIS/0\"
}"
    fi
    if [ "$backend" = baseline ]; then
      "${PIN_SERVER[@]}" "$tmp/baseline" -hello '' -static '' -sse 127.0.0.1:$P_SSE 2>"$tmp/baseline-sse.log" &
      pagi_pid=$!
    else
      { server_hcl $P_SSE; echo "$pubsub"; cat <<'HCL'; } >"$tmp/sse-$backend.hcl"
site "live" {
  route "GET /events" {
    sse {
      channel = "news"
    }
  }
  route "POST /publish/{channel}" {
    publish {
      channel = "{channel}"
    }
  }
}
HCL
      start_pagi "sse-$backend"
    fi
    wait_port $P_SSE
    local out
    out=$(timeout -k 5 300 "${PIN_CLIENT[@]}" "$tmp/sse" -url http://127.0.0.1:$P_SSE/events -subs "$SUBS" \
      -publish http://127.0.0.1:$P_SSE/publish/news -events "$EVENTS" -sources "$SOURCES" -server-pid "$pagi_pid") || out='{}'
    log "sse $backend: $out"
    stop "$pagi_pid"
    [ -n "$redis_pid" ] && stop "$redis_pid" && redis_pid=""
    local p99 who="$backend backend" tgt="p99 < 100 ms" met
    p99=$(field p99_ms <<<"$out")
    met=$(calc "$p99 < 100 && $(field delivered <<<"$out") == $(field expected <<<"$out")" 0 | yesno)
    if [ "$backend" = baseline ]; then
      # The floor on this machine: plain net/http, one write per event and stream.
      who="plain net/http broadcaster (bench/baseline -sse), for scale" tgt="" met=""
    fi
    row "| SSE fan-out, $SUBS subscribers × $EVENTS events, $who | p50 $(field p50_ms <<<"$out") ms, p99 **$p99 ms**, max $(field max_ms <<<"$out") ms; delivered $(field delivered <<<"$out") of $(field expected <<<"$out"); CPU per event (all subscribers): server $(calc "1000 * $(field publish_server_cpu_s <<<"$out") / $(field published <<<"$out")" 0) ms, client $(calc "1000 * $(field publish_client_cpu_s <<<"$out") / $(field published <<<"$out")" 0) ms | | | $tgt | $met |"
  done
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for part in $PARTS; do
  case $part in
    ws) part_ws ;;
    idle) part_idle ;;
    sse) part_sse ;;
    *) echo "unknown part $part (ws, idle, sse)" >&2; exit 1 ;;
  esac
done
echo "| measure | pagi | gorilla/websocket baseline | result | target | met |"
echo "|---|---|---|---|---|---|"
cat "$tmp/rows"
echo
echo "$(nproc) CPUs; load average at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
