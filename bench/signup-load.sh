#!/usr/bin/env bash
# Sign-ups over HTTP: wrk drives POST /v1/signup/check of a release `warden serve` (a fresh data
# directory, the built-in starter models) with simulated sign-ups (`warden signup synth --seed
# 201`), each request a new id and account (bench/signup.lua): 16 connections, 2 wrk threads,
# 30 s after a 10 s warm-up, on loopback. The server runs on core 1 and wrk on core 0 where
# taskset is there. Prints requests/s and p50/p99 latency.
#   bench/signup-load.sh
#   DURATION=30 CONNECTIONS=16 bench/signup-load.sh
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
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden --bin warden
warden=${CARGO_TARGET_DIR:-$here/target}/release/warden
"$warden" signup synth --seed 201 --events 20000 --out "$work/s" 2>/dev/null
export WARDEN_SIGNUP_EVENTS=$work/s/events.jsonl
# taskset execs the command: the PID kept is the server's own.
on0=(); on1=()
if command -v taskset >/dev/null; then on0=(taskset -c 0); on1=(taskset -c 1); fi
"${on1[@]}" "$warden" serve --data-dir "$work/data" --listen 127.0.0.1:11396 --controller 127.0.0.1:11397 \
  --milter 127.0.0.1:11398 >"$work/warden.log" 2>&1 &
echo $! > "$work/warden.pid"
for _ in $(seq 120); do curl -sf http://127.0.0.1:11396/healthz >/dev/null && break; sleep 0.5; done
echo "sign-ups: $(wc -l < "$WARDEN_SIGNUP_EVENTS") events in rotation; $conns connections, ${duration}s after a 10s warm-up"
"${on0[@]}" wrk -t2 -c"$conns" -d10s -s "$here/bench/signup.lua" http://127.0.0.1:11396 >/dev/null
"${on0[@]}" wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$here/bench/signup.lua" http://127.0.0.1:11396 > "$work/run.wrk"
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
