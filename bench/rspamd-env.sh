# Sourced by the bench scripts: Rspamd 3.4 offline (every network module off, DNS pointed at
# a port where nothing listens, ../shared/notes/peers.md), its Bayes in a Redis of its own.
#   start_rspamd WORK   → normal worker on 127.0.0.1:11333, controller on 127.0.0.1:11334
#   train_rspamd SPAM_LIST HAM_LIST
#   stop_rspamd WORK
start_rspamd() {
  local work=$1
  redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no --daemonize yes --pidfile "$work/redis.pid" >/dev/null
  local L=$work/rspamd
  mkdir -p "$L/local.d" "$L/override.d" "$L/db" "$L/run" "$L/log"
  echo 'dns { nameserver = ["127.0.0.1:53"]; timeout = 0.2s; retransmits = 1; }' > "$L/local.d/options.inc"
  echo 'servers = "127.0.0.1:6390";' > "$L/local.d/redis.conf"
  echo 'min_learns = 50; autolearn = false;' > "$L/local.d/classifier-bayes.conf"
  echo 'count = 2;' > "$L/local.d/worker-normal.inc"
  for m in rbl surbl emails spf dkim dmarc arc asn hfilter fuzzy_check rspamd_update phishing url_redirector \
           mx_check dcc bimi greylist p0f external_services antivirus replies; do
    echo 'enabled = false;' > "$L/override.d/$m.conf"
  done
  chown -R _rspamd:_rspamd "$L"
  local vars=(--var=LOCAL_CONFDIR="$L" --var=DBDIR="$L/db" --var=RUNDIR="$L/run" --var=LOGDIR="$L/log")
  rspamd -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf "${vars[@]}" -p "$work/rspamd.pid" >"$work/rspamd.out" 2>&1
  for _ in $(seq 120); do curl -sf http://127.0.0.1:11333/ping >/dev/null && return 0; sleep 0.5; done
  echo "rspamd did not start: $work/rspamd.out"; return 1
}

train_rspamd() {
  xargs -a "$1" -d '\n' rspamc -h 127.0.0.1:11334 -n 8 --header 'Learn-Type: bulk' learn_spam >/dev/null
  xargs -a "$2" -d '\n' rspamc -h 127.0.0.1:11334 -n 8 --header 'Learn-Type: bulk' learn_ham >/dev/null
}

stop_rspamd() {
  kill "$(cat "$1/rspamd.pid")" "$(cat "$1/redis.pid")" 2>/dev/null || true
}
