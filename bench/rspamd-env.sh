# Sourced by the bench scripts: Rspamd 3.4 offline (every network module off, DNS pointed at
# a port where nothing listens, ../shared/notes/peers.md), its Bayes in a Redis of its own.
# Its workers listen on ports of their own, beside Rspamd's defaults, so that a Rspamd serving
# real mail on 11332-11334 keeps them (bench/ports.sh refuses to start when these are taken).
#   start_rspamd WORK   → normal worker on 127.0.0.1:11393, controller on 127.0.0.1:11394
#   train_rspamd SPAM_LIST HAM_LIST
#   stop_rspamd WORK
RSPAMD_NORMAL=11393
RSPAMD_CONTROLLER=11394
RSPAMD_PROXY=11395
RSPAMD_PORTS=("$RSPAMD_NORMAL" "$RSPAMD_CONTROLLER" "$RSPAMD_PROXY" 6390)

start_rspamd() {
  local work=$1
  redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no --daemonize yes --pidfile "$work/redis.pid" >/dev/null
  local L=$work/rspamd
  mkdir -p "$L/local.d" "$L/override.d" "$L/db" "$L/run" "$L/log"
  echo 'dns { nameserver = ["127.0.0.1:53"]; timeout = 0.2s; retransmits = 1; }' > "$L/local.d/options.inc"
  echo 'servers = "127.0.0.1:6390";' > "$L/local.d/redis.conf"
  echo 'min_learns = 50; autolearn = false;' > "$L/local.d/classifier-bayes.conf"
  printf 'count = 2;\nbind_socket = "127.0.0.1:%s";\n' "$RSPAMD_NORMAL" > "$L/local.d/worker-normal.inc"
  printf 'bind_socket = "127.0.0.1:%s";\n' "$RSPAMD_CONTROLLER" > "$L/local.d/worker-controller.inc"
  printf 'bind_socket = "127.0.0.1:%s";\n' "$RSPAMD_PROXY" > "$L/local.d/worker-proxy.inc"
  for m in rbl surbl emails spf dkim dmarc arc asn hfilter fuzzy_check rspamd_update phishing url_redirector \
           mx_check dcc bimi greylist p0f external_services antivirus replies; do
    echo 'enabled = false;' > "$L/override.d/$m.conf"
  done
  chown -R _rspamd:_rspamd "$L"
  local vars=(--var=LOCAL_CONFDIR="$L" --var=DBDIR="$L/db" --var=RUNDIR="$L/run" --var=LOGDIR="$L/log")
  rspamd -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf "${vars[@]}" -p "$work/rspamd.pid" >"$work/rspamd.out" 2>&1
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$RSPAMD_NORMAL/ping" >/dev/null && return 0; sleep 0.5; done
  echo "rspamd did not start: $work/rspamd.out"; return 1
}

train_rspamd() {
  xargs -a "$1" -d '\n' rspamc -h "127.0.0.1:$RSPAMD_CONTROLLER" -n 8 --header 'Learn-Type: bulk' learn_spam >/dev/null
  xargs -a "$2" -d '\n' rspamc -h "127.0.0.1:$RSPAMD_CONTROLLER" -n 8 --header 'Learn-Type: bulk' learn_ham >/dev/null
}

stop_rspamd() {
  kill "$(cat "$1/rspamd.pid")" "$(cat "$1/redis.pid")" 2>/dev/null || true
}
