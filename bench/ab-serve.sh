#!/usr/bin/env bash
# Two builds of `warden serve` compared on the check path, round by round: each round starts
# one build on a fresh data directory, drives POST /v1/mail/check at its maximum rate with the
# chaos driver (16 keep-alive connections, ROUND_SECS seconds, the corpus's messages in
# rotation) and stops it; the builds alternate, and who goes first alternates, so that both
# see every phase of a machine whose speed moves. Prints each round's rates and the second
# build's rate over the first's.
#   bench/ab-serve.sh FIRST_WARDEN SECOND_WARDEN [CORPUS_DIR]
#   ROUNDS=6 ROUND_SECS=10 bench/ab-serve.sh /tmp/warden-base target/release/warden
# Builds the chaos driver (warden-mail-serve's example). Ports 127.0.0.1:11390-11392; a port
# already taken stops the script before it starts anything, and it stops only the servers it
# started, by PID. Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
first=$(realpath "$1")
second=$(realpath "$2")
corpus=$(cd "${3:-$here/../shared/corpora/spamassassin}" && pwd)
rounds=${ROUNDS:-6}
secs=${ROUND_SECS:-10}
. "$here/bench/ports.sh"
refuse_busy_ports 11390 11391 11392
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden-mail-serve --example chaos
chaos=${CARGO_TARGET_DIR:-$here/target}/release/examples/chaos
work=$(mktemp -d /tmp/warden-ab-serve.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
tail -n +2 "$corpus/labels.tsv" | cut -f1 | sed "s|^|$corpus/|" > "$work/all.lst"

# One round of `$1`: prints its checks a second.
round() {
  rm -rf "$work/data"
  WARDEN_MAIL_AUTH__ENABLED=false "$1" serve --data-dir "$work/data" --listen 127.0.0.1:11390 \
    --controller 127.0.0.1:11391 --milter 127.0.0.1:11392 2>"$work/warden.log" &
  pid=$!
  for _ in $(seq 120); do (exec 3<>/dev/tcp/127.0.0.1/11390) 2>/dev/null && break; sleep 0.5; done
  "$chaos" max --scan 127.0.0.1:11390 --corpus "$work/all.lst" --seconds "$secs" --connections 16 2>/dev/null \
    | sed -n 's/.*(\([0-9]*\)\/s).*/\1/p'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

echo "first: $first"
echo "second: $second"
ratios=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then a=$(round "$first"); b=$(round "$second"); else b=$(round "$second"); a=$(round "$first"); fi
  ratio=$(python3 -c "print(f'{$b / $a:.3f}')")
  ratios+=("$ratio")
  echo "round $r: first $a/s, second $b/s, second/first $ratio"
done
python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[1:]]; print(f'second/first: median {statistics.median(r):.3f}, range {min(r):.3f}-{max(r):.3f} over {len(r)} rounds')" "${ratios[@]}"
