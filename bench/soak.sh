#!/usr/bin/env bash
# Memory over time: Warden's maximum rate of checks is measured (20 s back to back on 16
# connections), then it is driven at half of that for MINUTES (default 30), open-loop, its RSS
# sampled every 10 s. Bar: after a 5-minute warm-up, the highest RSS sample is at most 1.1 × the
# sample at the end of the warm-up.
#   bench/soak.sh [CORPUS_DIR]        (default ../shared/corpora/spamassassin; a generated one
#                                      when that is missing)
#   MINUTES=30 WARMUP_MINUTES=5 bench/soak.sh
# Not part of CI. Binds 127.0.0.1:11390-11392 (refuses to start when one is taken) and stops
# only the server it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/serve-env.sh"
minutes=${MINUTES:-30}
warmup=${WARMUP_MINUTES:-5}
work=$(mktemp -d /tmp/warden-soak.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true' EXIT
serve_env "$work" "${1:-}"

echo "== the maximum: 20 s back to back, 16 connections"
"$chaos" max --scan 127.0.0.1:11390 --corpus "$work/all.lst" --seconds 20 --connections 16 2>"$work/max.json"
rate=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["rate"] / 2))' "$work/max.json")
echo "== $minutes minutes at $rate checks/s (half the maximum), RSS every 10 s"
"$chaos" steady --scan 127.0.0.1:11390 --corpus "$work/all.lst" --rate "$rate" --seconds $((minutes * 60)) \
  --pid "$pid" --rss-every 10 2>"$work/soak.json"
python3 - "$work/soak.json" "$warmup" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
warmup = float(sys.argv[2]) * 60
samples = [(t, kb / 1024) for t, kb in r["rss_kb"]]
before = [mb for t, mb in samples if t <= warmup]
after = [mb for t, mb in samples if t > warmup]
end_of_warmup = before[-1]
print(f"RSS MB: first {samples[0][1]:.1f}, at the end of the warm-up ({warmup / 60:.0f} min) {end_of_warmup:.1f}, "
      f"after it min {min(after):.1f} max {max(after):.1f}, last {samples[-1][1]:.1f} ({len(samples)} samples)")
ratio = max(after) / end_of_warmup
print(f"{'PASS' if ratio <= 1.1 else 'FAIL'}: highest after the warm-up / end of the warm-up = {ratio:.3f} (bar 1.1)")
print(f"checks: {r['answered']} answered, {r['ok']} with 200, {r['failed']} failed; p99 {r['p99_ms']:.2f} ms")
PY
stop_warden "$work"
echo "work files: $work"
