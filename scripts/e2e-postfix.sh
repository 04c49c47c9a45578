#!/usr/bin/env bash
# End-to-end with a real MTA: Postfix (its own instance, on 127.0.0.1 at high ports) asks
# Warden's milter about each message and relays what it accepts to smtp-sink, which writes
# every message it receives to a file. Checks, with swaks as the sending client:
#   1. a ham message arrives with Warden's headers;
#   2. the GTUBE message is refused with 550 5.7.1;
#   3. with [milter] reject = "quarantine", the GTUBE message is accepted into the hold queue;
#   4. with Warden stopped, mail is tempfailed (milter_default_action = tempfail) or accepted
#      unchecked (milter_default_action = accept), as Postfix's setting says.
# Needs root (Postfix), and Debian's postfix and swaks packages (installed when missing).
#
#   WARDEN=target/release/warden scripts/e2e-postfix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
warden=${WARDEN:-$root/target/release/warden}
[ -x "$warden" ] || { echo "no warden binary at $warden (cargo build --release)"; exit 2; }

if ! command -v swaks >/dev/null || ! command -v postfix >/dev/null; then
  echo "installing postfix and swaks"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix swaks >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
smtp_port=$(free_port); sink_port=$(free_port); milter_port=$(free_port)
scan_port=$(free_port); ctl_port=$(free_port)
tmp=$(mktemp -d /tmp/warden-e2e.XXXXXX)
chmod 755 "$tmp"
conf=$tmp/postfix
mkdir -p "$conf" "$tmp/sink" "$tmp/queue" "$tmp/data"
chown postfix "$tmp/sink" "$tmp/data"
warden_pid=""; sink_pid=""

cleanup() {
  postfix -c "$conf" stop >/dev/null 2>&1 || true
  [ -n "$warden_pid" ] && kill "$warden_pid" 2>/dev/null || true
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; echo "--- postfix log"; tail -n 30 "$tmp/maillog" 2>/dev/null || true; echo "--- warden log"; tail -n 20 "$tmp/warden.log" || true; exit 1; }

cat > "$conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $tmp/queue
data_directory = $tmp/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $tmp/maillog
maillog_file_prefixes = $tmp
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.warden-e2e.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.net
relayhost = [127.0.0.1]:$sink_port
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
smtpd_milters = inet:127.0.0.1:$milter_port
milter_protocol = 6
milter_default_action = tempfail
milter_connect_timeout = 5s
EOF
cat > "$conf/master.cf" <<EOF
127.0.0.1:$smtp_port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF

start_warden() {
  # Postfix connects from 127.0.0.1: a local client, whose mail is not SPF-checked; the
  # resolver is pointed at a closed loopback port all the same.
  WARDEN_MAIL_AUTH__NAMESERVERS='["127.0.0.1:9"]' "$warden" serve --data-dir "$tmp/warden" --listen "127.0.0.1:$scan_port" \
    --controller "127.0.0.1:$ctl_port" --milter "127.0.0.1:$milter_port" >"$tmp/warden.log" 2>&1 &
  warden_pid=$!
  # Ready when it says so (it prints its addresses once every listener is bound).
  for _ in $(seq 100); do grep -q "listening on" "$tmp/warden.log" && return; sleep 0.1; done
  fail "warden did not start"
}
stop_warden() { kill "$warden_pid"; wait "$warden_pid" || true; warden_pid=""; }

send() { # send FILE: swaks's transcript; never fails (the caller reads the reply)
  swaks --server "127.0.0.1:$smtp_port" --from sender@example.org --to rcpt@example.net \
    --helo client.example.org --data "$1" --timeout 30 2>&1 || true
}

arrived() { # arrived PATTERN: a file in the sink with PATTERN, within 30 s
  for _ in $(seq 300); do
    if grep -l -- "$1" "$tmp"/sink/* >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# The sink: every message it receives goes to its own file.
smtp-sink -u postfix -d "$tmp/sink/%Y%m%d%H%M%S." "127.0.0.1:$sink_port" 10 &
sink_pid=$!
start_warden
postfix -c "$conf" check || fail "postfix check"
postfix -c "$conf" start >/dev/null

echo "== 1. ham arrives with Warden's headers"
marked=$tmp/ham1.eml
sed 's/^Subject: .*/Subject: e2e ham one/' examples/ham.eml > "$marked"
out=$(send "$marked")
grep -q "<-  250 2.0.0 Ok: queued" <<<"$out" || fail "ham not queued: $out"
arrived "e2e ham one" || fail "ham did not arrive"
file=$(grep -l "e2e ham one" "$tmp"/sink/*)
grep -q "^X-Spam-Status: No, score=" "$file" || fail "no X-Spam-Status in $(cat "$file")"
grep -q "^X-Warden-Action: deliver" "$file" || fail "no X-Warden-Action"
grep -q "^X-Warden-Reasons: MODEL" "$file" || fail "no X-Warden-Reasons"
grep -E "^X-(Spam|Warden)" "$file" | cut -c1-120
echo "ok"

echo "== 2. GTUBE is refused with 550"
out=$(send examples/gtube.eml)
grep -q "<\*\* 550 5.7.1 Message rejected as spam" <<<"$out" || fail "GTUBE not rejected: $out"
echo "ok"

echo "== 3. with reject = \"quarantine\", GTUBE goes to the hold queue"
stop_warden
WARDEN_MILTER__REJECT=quarantine start_warden
out=$(send examples/gtube.eml)
grep -q "<-  250 2.0.0 Ok: queued" <<<"$out" || fail "GTUBE not accepted for quarantine: $out"
held=$(postqueue -c "$conf" -j | python3 -c 'import json,sys; print(sum(json.loads(l)["queue_name"]=="hold" for l in sys.stdin))')
[ "$held" = 1 ] || fail "expected 1 held message, found $held"
echo "ok"

echo "== 4a. Warden stopped, milter_default_action = tempfail: 451"
stop_warden
sed 's/^Subject: .*/Subject: e2e ham two/' examples/ham.eml > "$marked"
out=$(send "$marked")
grep -q "<\*\* 451 4.7.1" <<<"$out" || fail "not tempfailed: $out"
echo "ok"

echo "== 4b. Warden stopped, milter_default_action = accept: delivered unchecked"
postconf -c "$conf" -e milter_default_action=accept
postfix -c "$conf" reload >/dev/null
out=$(send "$marked")
grep -q "<-  250 2.0.0 Ok: queued" <<<"$out" || fail "not accepted: $out"
arrived "e2e ham two" || fail "unchecked ham did not arrive"
file=$(grep -l "e2e ham two" "$tmp"/sink/*)
if grep -q "^X-Warden" "$file"; then fail "an unchecked message has Warden's headers"; fi
echo "ok"

echo "postfix end-to-end: all passed"
