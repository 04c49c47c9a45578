# Sourced by bench/chaos.sh and bench/soak.sh: a release `warden serve` on 127.0.0.1:11390-11392
# with a fresh data directory, the chaos driver, and a list of messages to send.
#   serve_env WORK [CORPUS_DIR]   builds, writes WORK/all.lst, starts the server (its PID in
#                                  WORK/warden.pid, and $pid); the caller's trap stops it by PID
. "$here/bench/ports.sh"

serve_env() {
  local work=$1 corpus=${2:-$here/../shared/corpora/spamassassin}
  refuse_busy_ports 11390 11391 11392
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden --bin warden
  cargo build --release --quiet --manifest-path "$here/Cargo.toml" -p warden-mail-serve --example chaos
  local target=${CARGO_TARGET_DIR:-$here/target}
  warden=$target/release/warden
  chaos=$target/release/examples/chaos
  if [ ! -f "$corpus/labels.tsv" ]; then
    corpus=$work/synth
    "$warden" synth --out "$corpus" --count 5000 >/dev/null
  fi
  corpus=$(cd "$corpus" && pwd)
  tail -n +2 "$corpus/labels.tsv" | cut -f1 | sed "s|^|$corpus/|" > "$work/all.lst"
  echo "corpus: $corpus ($(wc -l < "$work/all.lst") messages)"
  WARDEN_MAIL_AUTH__ENABLED=false "$warden" serve --data-dir "$work/data" --listen 127.0.0.1:11390 \
    --controller 127.0.0.1:11391 --milter 127.0.0.1:11392 2>"$work/warden.log" &
  echo $! > "$work/warden.pid"
  pid=$(cat "$work/warden.pid")
  for _ in $(seq 120); do (exec 3<>/dev/tcp/127.0.0.1/11390) 2>/dev/null && return 0; sleep 0.5; done
  echo "warden did not start: $work/warden.log" >&2
  return 1
}

stop_warden() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  rm "$1/warden.pid"
}
