#!/usr/bin/env bash
# Quality bars: `warden eval --mode online --strip-list-headers` from an empty
# model, mean (1-AUC)% over --shuffle 1..5, per corpus, and on SpamAssassin the share of
# decisions whose reasons cover half the log-odds (`reasons_cover_half`, every seed at least
# 0.9). Extra arguments go to every eval.
#   scripts/quality.sh [--check] [eval args…]
# With --check, exits non-zero when a mean misses its bar.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpora=${CORPORA:-$here/../shared/corpora}
warden=${WARDEN:-$here/target/release/warden}
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
declare -A bar=([spamassassin]=0.08 [csdmc2010]=0.003)
out=$(mktemp -d)
status=0
for c in spamassassin csdmc2010; do
  vals=()
  for seed in 1 2 3 4 5; do
    "$warden" eval --corpus "$corpora/$c" --mode online --strip-list-headers --shuffle "$seed" \
      --json "$out/$c.$seed.json" "$@" >/dev/null
    vals+=("$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['one_minus_auc_pct'])" "$out/$c.$seed.json")")
  done
  extra=$(python3 -c '
import json, sys
rs = [json.load(open(p)) for p in sys.argv[1:]]
m = lambda f: sum(f(r) for r in rs) / len(rs)
print("log-loss %.4f, FPR at 95%% recall %.3f%%, recall at 0.1%% FPR %.2f%%" % (
    m(lambda r: r["log_loss"]), 100 * m(lambda r: r["fpr_at_recall"]["0.95"]), 100 * m(lambda r: r["recall_at_fpr"]["0.001"])))
' "$out/$c".*.json)
  mean=$(python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(f'{sum(v)/len(v):.5f}')" "${vals[@]}")
  ok=$(python3 -c "import sys; print('ok' if float(sys.argv[1]) <= float(sys.argv[2]) else 'MISSED')" "$mean" "${bar[$c]}")
  printf '%-13s (1-AUC)%% mean %s  (bar %s: %s)  per seed: %s\n' "$c" "$mean" "${bar[$c]}" "$ok" "$(printf '%.4f ' "${vals[@]}")"
  printf '%-13s means: %s\n' "" "$extra"
  [ "$ok" = ok ] || status=1
  if [ "$c" = spamassassin ]; then
    # Readable reasons: the share of decisions whose reasons sum to at least half the log-odds.
    cover=$(python3 -c '
import json, sys
rs = [json.load(open(p))["reasons_cover_half"] for p in sys.argv[1:]]
print(f"{min(rs):.3f}")' "$out/$c".*.json)
    ok=$(python3 -c "import sys; print('ok' if float(sys.argv[1]) >= 0.9 else 'MISSED')" "$cover")
    printf '%-13s reasons cover half the log-odds: lowest over the seeds %s  (bar 0.9: %s)\n' "" "$cover" "$ok"
    [ "$ok" = ok ] || status=1
  fi
done
rm -rf "$out"
if [ $check = 1 ]; then exit $status; fi
