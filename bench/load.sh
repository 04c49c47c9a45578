#!/usr/bin/env bash
# Load, side by side: wrk drives Warden's /v1/mail/check and /checkv2, then a trained Rspamd
# 3.4's /checkv2, with the same Lua script (bench/rotate.lua: the corpus's messages in
# rotation) and the same load: 16 connections, 2 wrk threads, 30 s after a 10 s warm-up, on
# loopback. Prints throughput and p50/p99 latency of each, and the ratios.
#   bench/load.sh [CORPUS_DIR]            (default ../shared/corpora/spamassassin)
#   DURATION=30 CONNECTIONS=16 bench/load.sh
#   MEMORY_MINUTES=10 bench/load.sh       also: Warden at half its measured maximum for that
#                                         long, its RSS sampled every 10 s
#   WARDEN_ONLY=1 bench/load.sh           Warden's figures only (no Rspamd)
#   DESK=1 WARDEN_ONLY=1 bench/load.sh    also: what the desk's writes cost the check path —
#                                         /v1/mail/check with no desk writes (audit off, no
#                                         review, no rules), with the default audit and review,
#                                         and with examples/rules/backtest.rules (its counter
#                                         journaled) on top
# Rspamd's Bayes is trained on the same messages first (../shared/notes/peers.md). Installs
# wrk, rspamd and redis-server from Debian when missing. Not part of CI. Ports (127.0.0.1):
# Warden 11390-11392, Rspamd 11393-11395, its Redis 6390; a port already taken stops the script
# before it starts anything, and it stops only the processes it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "${1:-$here/../shared/corpora/spamassassin}" && pwd)
duration=${DURATION:-30}
conns=${CONNECTIONS:-16}
work=$(mktemp -d /tmp/warden-load.XXXXXX)
chmod 755 "$work"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true' EXIT
. "$here/bench/rspamd-env.sh"
. "$here/bench/ports.sh"
if [ -n "${WARDEN_ONLY:-}" ]; then refuse_busy_ports 11390 11391 11392; else refuse_busy_ports 11390 11391 11392 "${RSPAMD_PORTS[@]}"; fi

if ! command -v wrk >/dev/null || ! command -v rspamd >/dev/null || ! command -v redis-server >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk rspamd redis-server
fi
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
warden=${CARGO_TARGET_DIR:-$here/target}/release/warden

tail -n +2 "$corpus/labels.tsv" | cut -f1 | sed "s|^|$corpus/|" > "$work/all.lst"
tail -n +2 "$corpus/labels.tsv" | awk -F'\t' '$2=="spam"{print $1}' | sed "s|^|$corpus/|" > "$work/spam.lst"
tail -n +2 "$corpus/labels.tsv" | awk -F'\t' '$2=="ham"{print $1}' | sed "s|^|$corpus/|" > "$work/ham.lst"
echo "corpus: $corpus ($(wc -l < "$work/all.lst") messages); $conns connections, ${duration}s after a 10s warm-up"
export WARDEN_LOAD_LIST=$work/all.lst WARDEN_LOAD_CONNECTIONS=$conns WARDEN_LOAD_THREADS=2
envelope='IP: 192.0.2.10|Helo: client.example.org|From: sender@example.org|Rcpt: rcpt@example.net|Queue-Id: 4ABCDEF'
export WARDEN_LOAD_HEADERS=$envelope

# run NAME URL: a warm-up, then the measured run; prints and records "NAME rps p50_ms p99_ms".
run() {
  wrk -t2 -c"$conns" -d10s -s "$here/bench/rotate.lua" "$2" >/dev/null
  wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$here/bench/rotate.lua" "$2" > "$work/$1.wrk"
  python3 - "$1" "$work/$1.wrk" <<'PY' | tee -a "$work/results"
import re, sys
name, text = sys.argv[1], open(sys.argv[2]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(p):
    v, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", text).groups()
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(f"{name} {rps:.0f} {ms(50):.2f} {ms(99):.2f}" + (f"  NON-200: {bad.group(1)}" if bad else "") + (f"  {errors.group(1)}" if errors else ""))
PY
}

# start_warden NAME [VAR=VALUE …]: a fresh data directory, the given settings.
start_warden() {
  local name=$1
  shift
  env "$@" WARDEN_MAIL_AUTH__ENABLED=false "$warden" serve --data-dir "$work/data-$name" --listen 127.0.0.1:11390 \
    --controller 127.0.0.1:11391 --milter 127.0.0.1:11392 2>"$work/warden-$name.log" &
  echo $! > "$work/warden.pid"
  for _ in $(seq 120); do curl -sf http://127.0.0.1:11390/ping >/dev/null && break; sleep 0.5; done
}

echo "name rps p50_ms p99_ms"
if [ -n "${DESK:-}" ]; then
  echo "== the desk's writes on the check path (each run: a fresh data directory)"
  start_warden nodesk WARDEN_AUDIT__DECISIONS=false 'WARDEN_REVIEW__BAND=[1.0, 0.0]'
  run warden_check_no_desk_writes http://127.0.0.1:11390/v1/mail/check
  kill "$(cat "$work/warden.pid")"; wait "$(cat "$work/warden.pid")" 2>/dev/null || true
  start_warden counters "WARDEN_RULES__FILES=[\"$here/examples/rules/backtest.rules\"]"
  run warden_check_audit_review_counters http://127.0.0.1:11390/v1/mail/check
  kill "$(cat "$work/warden.pid")"; wait "$(cat "$work/warden.pid")" 2>/dev/null || true
fi
echo "== Warden (starter model, warden serve, 2 worker threads; audit and review on, as by default)"
start_warden default
run warden_check http://127.0.0.1:11390/v1/mail/check
run warden_checkv2 http://127.0.0.1:11390/checkv2

if [ -n "${MEMORY_MINUTES:-}" ]; then
  max=$(awk '$1=="warden_check"{print $2}' "$work/results")
  rate=$((max / 2))
  echo "== memory: Warden at $rate requests/s (half of $max) for $MEMORY_MINUTES min, RSS every 10 s"
  pid=$(cat "$work/warden.pid")
  WARDEN_LOAD_RATE=$rate wrk -t2 -c"$conns" -d"$((MEMORY_MINUTES * 60))s" -s "$here/bench/rotate.lua" \
    http://127.0.0.1:11390/v1/mail/check > "$work/memory.wrk" &
  wrk_pid=$!
  : > "$work/rss"
  while kill -0 "$wrk_pid" 2>/dev/null; do
    awk '/VmRSS/{print $2}' "/proc/$pid/status" >> "$work/rss"
    sleep 10
  done
  grep -E "Requests/sec|Non-2xx" "$work/memory.wrk" || true
  python3 - "$work/rss" <<'PY'
import sys
kb = [int(l) for l in open(sys.argv[1]) if l.strip()]
mb = [k / 1024 for k in kb]
steady = mb[len(mb) // 5:]  # after the first fifth: caches filled
mid = (max(steady) + min(steady)) / 2
print(f"RSS MB: first {mb[0]:.1f}, after warm-up min {min(steady):.1f} max {max(steady):.1f}, last {mb[-1]:.1f}; "
      f"band ±{(max(steady) - min(steady)) / 2 / mid * 100:.1f}% around {mid:.1f} ({len(mb)} samples)")
PY
fi
kill "$(cat "$work/warden.pid")"; rm "$work/warden.pid"

if [ -n "${WARDEN_ONLY:-}" ]; then exit 0; fi
echo "== Rspamd 3.4 (offline, 2 normal workers, Bayes trained on the same messages)"
start_rspamd "$work"
train_rspamd "$work/spam.lst" "$work/ham.lst"
run rspamd_checkv2 "http://127.0.0.1:$RSPAMD_NORMAL/checkv2"
stop_rspamd "$work"

python3 - "$work/results" <<'PY'
import sys
r = {l.split()[0]: [float(x) for x in l.split()[1:4]] for l in open(sys.argv[1])}
rs = r["rspamd_checkv2"][0]
for name in ("warden_check", "warden_checkv2"):
    w = r[name]
    print(f"{name}: {w[0]:.0f}/s, p50 {w[1]:.2f} ms, p99 {w[2]:.2f} ms; {w[0] / rs:.1f}x Rspamd's {rs:.0f}/s")
PY
echo "work files: $work"
