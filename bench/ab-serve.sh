#!/usr/bin/env bash
# Two builds of `warden serve` compared on the check path. Both run at once, each on a fresh
# data directory, both pinned to the same core (CORE, default 1); the chaos driver, pinned to
# another (DRIVER_CORE, default 0), drives one then the other at its maximum rate through
# POST /v1/mail/check (16 keep-alive connections, the corpus's messages in rotation) for
# BURST_SECS each, who goes first alternating, ROUNDS times: both see every phase of a machine
# whose speed moves from second to second. Prints each round's rates and the second build's
# rate over the first's.
#   bench/ab-serve.sh FIRST_WARDEN SECOND_WARDEN [CORPUS_DIR]
#   ROUNDS=12 BURST_SECS=4 bench/ab-serve.sh /tmp/warden-base target/release/warden
# Builds the chaos driver (warden-mail-serve's example). Ports 127.0.0.1:11390-11395; a port
# already taken stops the script before it starts anything, and it stops only the servers it
# started, by PID. Not part of CI.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
first=$(realpath "$1")
second=$(realpath "$2")
corpus=$(cd "${3:-$here/../shared/corpora/spamassassin}" && pwd)
rounds=${ROUNDS:-12}
secs=${BURST_SECS:-4}
core=${CORE:-1}
driver_core=${DRIVER_CORE:-0}
. "$here/bench/ports.sh"
refuse_busy_ports 11390 11391 11392 11393 11394 11395
cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden-mail-serve --example chaos
chaos=${CARGO_TARGET_DIR:-$here/target}/release/examples/chaos
work=$(mktemp -d /tmp/warden-ab-serve.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
tail -n +2 "$corpus/labels.tsv" | cut -f1 | sed "s|^|$corpus/|" > "$work/all.lst"

# Starts build `$1` as server `$2` (0 or 1) on ports 11390+3·$2 …
start() {
  local base=$((11390 + 3 * $2))
  WARDEN_MAIL_AUTH__ENABLED=false taskset -c "$core" "$1" serve --data-dir "$work/data$2" \
    --listen 127.0.0.1:$base --controller 127.0.0.1:$((base + 1)) --milter 127.0.0.1:$((base + 2)) \
    --threads 1 2>"$work/warden$2.log" &
  pids+=($!)
  for _ in $(seq 120); do (exec 3<>/dev/tcp/127.0.0.1/$base) 2>/dev/null && return 0; sleep 0.5; done
  echo "$1 did not start: $(cat "$work/warden$2.log")" >&2
  exit 1
}

# A burst against server `$1`: prints its checks a second.
burst() {
  taskset -c "$driver_core" "$chaos" max --scan 127.0.0.1:$((11390 + 3 * $1)) --corpus "$work/all.lst" \
    --seconds "$secs" --connections 16 2>/dev/null | sed -n 's/.*(\([0-9]*\)\/s).*/\1/p'
}

start "$first" 0
start "$second" 1
echo "first: $first"
echo "second: $second"
burst 0 >/dev/null
burst 1 >/dev/null
ratios=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then a=$(burst 0); b=$(burst 1); else b=$(burst 1); a=$(burst 0); fi
  ratio=$(python3 -c "print(f'{$b / $a:.3f}')")
  ratios+=("$ratio")
  echo "round $r: first $a/s, second $b/s, second/first $ratio"
done
python3 -c "import statistics,sys; r=[float(x) for x in sys.argv[1:]]; print(f'second/first: median {statistics.median(r):.3f}, range {min(r):.3f}-{max(r):.3f} over {len(r)} rounds')" "${ratios[@]}"
