#!/usr/bin/env bash
# Sign-ups over HTTP: wrk drives POST /v1/signup/check of a release `warden serve` (a fresh data
# directory, the built-in starter models) with simulated sign-ups (`warden signup synth --seed
# 201`, 300,000 of them: no person is sent twice below 6,000/s), each request a new id
# and account (bench/signup.lua): 16 connections, 2 wrk threads, 30 s after a 10 s warm-up, on
# loopback. By default the server and wrk share both cores, as in bench/load.sh; PIN=1 puts the
# server on core 1 and wrk on core 0 (taskset). The server keeps each event's own time (`[events]
# skew_secs` of a year: the simulated week, as `warden signup eval` replays it); ARRIVAL=1 keeps
# the default skew, so that every event is taken at its arrival and the whole run is one flood
# of hundreds of thousands of sign-ups in a few minutes of event time. Prints requests/s and
# p50/p99 latency.
#   bench/signup-load.sh
#   DURATION=30 CONNECTIONS=16 PIN=1 ARRIVAL=1 bench/signup-load.sh
#   WARDEN=/path/to/another/warden bench/signup-load.sh   (that binary, not built here: A/B runs)
# Installs wrk from Debian when missing. Not part of CI. Ports (127.0.0.1): 11396-11398; a port
# already taken stops the script before it starts anything, and it stops only the server it
# started, by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
duration=${DURATION:-30}
conns=${CONNECTIONS:-16}
work=$(mktemp -d /tmp/warden-signup-load.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true' EXIT
. "$here/bench/ports.sh"
refuse_busy_ports 11396 11397 11398
command -v wrk >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
if [ -n "${WARDEN:-}" ]; then
  warden=$WARDEN
else
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden --bin warden
  warden=${CARGO_TARGET_DIR:-$here/target}/release/warden
fi
"$warden" signup synth --seed 201 --events 300000 --out "$work/s" 2>/dev/null
export WARDEN_SIGNUP_EVENTS=$work/s/events.jsonl
# taskset execs the command: the PID kept is the server's own.
on0=(); on1=()
if [ "${PIN:-0}" = 1 ] && command -v taskset >/dev/null; then on0=(taskset -c 0); on1=(taskset -c 1); fi
skew=31536000
[ "${ARRIVAL:-0}" = 1 ] && skew=300
WARDEN_EVENTS__SKEW_SECS=$skew WARDEN_AUDIT__SYNC_DECISIONS=${SYNC:-false} "${on1[@]}" "$warden" serve --data-dir "$work/data" --listen 127.0.0.1:11396 --controller 127.0.0.1:11397 \
  --milter 127.0.0.1:11398 >"$work/warden.log" 2>&1 &
echo $! > "$work/warden.pid"
for _ in $(seq 120); do curl -sf http://127.0.0.1:11396/healthz >/dev/null && break; sleep 0.5; done
echo "sign-ups: $(wc -l < "$WARDEN_SIGNUP_EVENTS") events; $conns connections, ${duration}s after a 10s warm-up, ${on1[*]:-unpinned}, event times within ${skew}s of arrival"
"${on0[@]}" wrk -t2 -c"$conns" -d10s -s "$here/bench/signup.lua" http://127.0.0.1:11396 >/dev/null
WARDEN_SIGNUP_SKIP=60000 "${on0[@]}" wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$here/bench/signup.lua" http://127.0.0.1:11396 > "$work/run.wrk"
python3 - "$work/run.wrk" "$(cat "$work/warden.pid")" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(p):
    v, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text).groups()
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
rss = [l for l in open(f"/proc/{sys.argv[2]}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"signup_check {rps:.0f}/s, p50 {ms(50):.2f} ms, p99 {ms(99):.2f} ms, server RSS {int(rss) / 1024:.0f} MB"
      + (f", NON-200: {bad.group(1)}" if bad else ""))
PY
kill "$(cat "$work/warden.pid")"; wait "$(cat "$work/warden.pid")" 2>/dev/null || true; rm "$work/warden.pid"
