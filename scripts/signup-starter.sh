#!/usr/bin/env bash
# Trains the sign-up starter models that ship in the binary (models/signup.wdm and its
# cluster model models/signup.clusters.wdm) on the simulator's seeds 1, 2 and 3, 50,000
# sign-ups each, one after the other. Evaluations use other seeds (101 and up).
#   scripts/signup-starter.sh            (uses target/release/warden, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
warden=${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/warden}
[ -x "$warden" ] || cargo build --release -p warden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config=""
for seed in 1 2 3; do
  "$warden" signup synth --seed "$seed" --events 50000 --out "$work/s$seed"
  fresh=()
  [ -z "$config" ] && fresh=(--fresh)
  "$warden" signup train "${fresh[@]}" ${config:+--config "$config"} \
    --source "warden signup synth --seed $seed --events 50000" \
    --events "$work/s$seed/events.jsonl" --labels "$work/s$seed/labels.tsv" --out "$work/m$seed.wdm"
  config=$work/m$seed.toml
  printf '[signup]\nmodel = "%s"\n' "$work/m$seed.wdm" > "$config"
done
cp "$work/m3.wdm" models/signup.wdm
cp "$work/m3.clusters.wdm" models/signup.clusters.wdm
ls -l models/signup.wdm models/signup.clusters.wdm
