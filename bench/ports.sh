# Sourced by the bench scripts: they bind fixed loopback ports, and a port that is taken may be
# a user's own Rspamd, Redis or Warden serving real mail. They refuse to start instead of
# stopping whatever holds it, and stop only the processes they started, by the PIDs they kept.
#   refuse_busy_ports PORT…   exits 1, naming the ports, when any is taken on 127.0.0.1
refuse_busy_ports() {
  local busy=()
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      busy+=("$port")
    fi
  done
  if [ ${#busy[@]} -gt 0 ]; then
    echo "refusing to start: 127.0.0.1 port(s) ${busy[*]} already in use (stop what holds them, or run elsewhere)" >&2
    exit 1
  fi
}
