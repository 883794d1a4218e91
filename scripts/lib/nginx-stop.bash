# scripts/lib/nginx-stop.bash — stopping an nginx this project started, in
# one place: sourced by tests/integration/lib.sh, scripts/bench-load and
# scripts/bench-server.
#
# kg_nginx_stop PID — stop the nginx master PID and its workers: QUIT (a
# graceful stop, up to 5 s), then TERM (the master stops its workers, and
# kills one that hangs, up to 5 s), then KILL to the master and to each
# worker it had or has then. A master killed alone leaves its workers
# running, still holding the port. Waits for PID when it is this shell's
# child. Returns 0.
kg_nginx_stop() {
  local pid=${1-} workers sig _
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    return 0
  fi
  workers=$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)
  for sig in QUIT TERM; do
    kill -"$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      return 0
    fi
  done
  # the workers it had, and any it started since (a reload's, a respawn)
  workers="$workers $(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)"
  # shellcheck disable=SC2086 # the workers' pids, one word each
  kill -KILL "$pid" $workers 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 0
}
