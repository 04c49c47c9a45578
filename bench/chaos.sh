#!/usr/bin/env bash
# The server under attack while it works: a steady RATE checks a second (open-loop: a check's
# latency runs from when it was due) for SECONDS, and after 10 s the probes that once broke it —
# IDLE silent connections, STALLED uploads that send their head and stall, and FLOODS milter
# connections sending 1 MiB recipients until refused, each reconnecting when the server closes
# it. The server's RSS is sampled every second. A run of the steady load alone comes first, for
# comparison. Bars: every steady check answered (200), p99 < 50 ms, RSS < 500 MB.
#   bench/chaos.sh [CORPUS_DIR]       (default ../shared/corpora/spamassassin; a generated one
#                                      when that is missing)
#   RATE=1000 DURATION=120 IDLE=1000 STALLED=256 FLOODS=4 bench/chaos.sh
# Not part of CI. Binds 127.0.0.1:11390-11392 (refuses to start when one is taken) and stops
# only the server it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/serve-env.sh"
rate=${RATE:-1000}
seconds=${DURATION:-120}
idle=${IDLE:-1000}
stalled=${STALLED:-256}
floods=${FLOODS:-4}
work=$(mktemp -d /tmp/warden-chaos.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true' EXIT
# The descriptors 1,000 idle sockets and their churn need, for the server and the driver.
ulimit -n "$(ulimit -Hn)"
serve_env "$work" "${1:-}"
echo "$rate checks/s for ${seconds} s"

echo "== the steady load alone, 30 s"
"$chaos" steady --scan 127.0.0.1:11390 --corpus "$work/all.lst" --rate "$rate" --seconds 30 --pid "$pid" \
  2>"$work/steady.json"
echo "== the steady load with the attacks from 10 s on"
"$chaos" steady --scan 127.0.0.1:11390 --milter 127.0.0.1:11392 --corpus "$work/all.lst" --rate "$rate" \
  --seconds "$seconds" --pid "$pid" --attack-after 10 --idle "$idle" --stalled "$stalled" --floods "$floods" \
  2>"$work/chaos.json"
python3 - "$work/chaos.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bars = [
    ("every steady check answered 200", r["ok"] == r["answered"] and r["failed"] == 0),
    ("p99 < 50 ms", r["p99_ms"] < 50),
    ("RSS < 500 MB", r["max_rss_mb"] < 500),
]
for name, ok in bars:
    print(f"{'PASS' if ok else 'FAIL'}: {name}")
PY
grep -c "accept failed" "$work/warden.log" | sed 's/^/accept-failure log lines: /'
stop_warden "$work"
echo "work files: $work"
