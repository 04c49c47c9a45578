#!/usr/bin/env bash
# Warden, Rspamd 3.4 and SpamAssassin 4 on the same split of one corpus, offline.
#   bench/peers.sh [CORPUS_DIR] [SEED]      (default ../shared/corpora/spamassassin, seed 1)
#   SYSTEMS="rspamd spamassassin" bench/peers.sh …   runs only those (default: all three)
# Installs the peers from Debian's packages when missing, runs them on loopback with every
# network module off (../shared/notes/peers.md), trains each Bayes on the first 80% of
# `warden eval --mode split --shuffle SEED` and scores the last 20%. Not part of CI.
# Ports (127.0.0.1): Warden 11390-11392, Rspamd 11393-11395, its Redis 6390, spamd 7830; a
# port already taken stops the script before it starts anything, and it stops only the
# processes it started, by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(cd "${1:-$here/../shared/corpora/spamassassin}" && pwd)
seed=${2:-1}
work=$(mktemp -d /tmp/warden-peers.XXXXXX)
chmod 755 "$work"
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true' EXIT
systems=${SYSTEMS:-warden rspamd spamassassin}
. "$here/bench/rspamd-env.sh"
runs() { [[ " $systems " == *" $1 "* ]]; }
. "$here/bench/ports.sh"
# Every port this run binds must be free: it never stops a process it did not start.
refuse_busy_ports 11390 11391 11392 "${RSPAMD_PORTS[@]}" 7830

if ! command -v rspamd >/dev/null || ! command -v spamd >/dev/null || ! command -v redis-server >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rspamd spamassassin spamc redis-server
fi
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
warden=${CARGO_TARGET_DIR:-$here/target}/release/warden

echo "== split: $corpus, --mode split --shuffle $seed"
"$warden" eval --corpus "$corpus" --mode split --shuffle "$seed" --scores "$work/test.tsv" >/dev/null
python3 - "$corpus" "$work" <<'PY'
import os, sys
corpus, work = sys.argv[1], sys.argv[2]
test = {l.split("\t")[0] for l in open(f"{work}/test.tsv")}
with open(f"{work}/labels.tsv", "w") as out, open(f"{work}/train-spam.lst", "w") as s, open(f"{work}/train-ham.lst", "w") as h:
    out.write("path\tlabel\n")
    for line in list(open(f"{corpus}/labels.tsv"))[1:]:
        p, label = line.rstrip("\n").split("\t")[:2]
        full = os.path.join(corpus, p)
        if full not in test:
            out.write(f"{full}\t{label}\n")
            (s if label == "spam" else h).write(full + "\n")
PY
mkdir -p "$work/train" && mv "$work/labels.tsv" "$work/train/"
echo "train: $(wc -l < "$work/train-spam.lst") spam, $(wc -l < "$work/train-ham.lst") ham; test: $(wc -l < "$work/test.tsv")"

if runs warden; then
echo "== Warden: an empty model learns the 80%; warden serve scores the 20%"
"$warden" train --corpus "$work/train" --shuffle "$seed" --out "$work/warden.wdm" 2>&1 | tail -1
WARDEN_MAIL_AUTH__ENABLED=false "$warden" serve --model "$work/warden.wdm" --data-dir "$work/warden-data" --listen 127.0.0.1:11390 \
  --controller 127.0.0.1:11391 --milter 127.0.0.1:11392 --threads 2 2>"$work/warden.log" &
echo $! > "$work/warden.pid"
for _ in $(seq 120); do curl -sf http://127.0.0.1:11390/ping >/dev/null && break; sleep 0.5; done
python3 "$here/bench/peers.py" warden "$work/test.tsv" 11390 "$work/warden.pid"
kill "$(cat "$work/warden.pid")"
fi

if runs rspamd; then
echo "== Rspamd 3.4 (offline, Bayes in Redis)"
start_rspamd "$work"
train_rspamd "$work/train-spam.lst" "$work/train-ham.lst"
python3 "$here/bench/peers.py" rspamd "$work/test.tsv" "$RSPAMD_NORMAL" "$work/rspamd.pid" "$work/redis.pid"
stop_rspamd "$work"
fi

if runs spamassassin; then
echo "== SpamAssassin 4 (spamd -L, Bayes trained with sa-learn)"
S=$work/sa
mkdir -p "$S"
cp -r /etc/spamassassin/. "$S/"   # the stock .pre files load the plugins, Bayes among them
printf '\nuse_bayes 1\nbayes_auto_learn 0\nbayes_path %s/bayes\nbayes_file_mode 0777\n' "$S" >> "$S/local.cf"
chown -R debian-spamd:debian-spamd "$S"
sa=(--siteconfigpath="$S")
xargs -a "$work/train-spam.lst" -d '\n' runuser -u debian-spamd -- sa-learn "${sa[@]}" --no-sync --spam >/dev/null
xargs -a "$work/train-ham.lst" -d '\n' runuser -u debian-spamd -- sa-learn "${sa[@]}" --no-sync --ham >/dev/null
runuser -u debian-spamd -- sa-learn "${sa[@]}" --sync >/dev/null
spamd -d -L "${sa[@]}" --listen=127.0.0.1:7830 --max-children=2 --min-children=2 -u debian-spamd -g debian-spamd \
  --helper-home-dir="$S" --pidfile="$work/spamd.pid" --syslog="$work/spamd.log"
for _ in $(seq 120); do spamc -d 127.0.0.1 -p 7830 -K >/dev/null 2>&1 && break; sleep 0.5; done
python3 "$here/bench/peers.py" spamassassin "$work/test.tsv" 7830 "$work/spamd.pid"
kill "$(cat "$work/spamd.pid")"
fi
echo "work files: $work"
