# scripts/lib/nginx-stop.bash — stopping an nginx this project started, in
# one place: sourced by tests/integration/lib.sh, scripts/bench-load and
# scripts/bench-server.
#
# kg_nginx_stop PID — stop the nginx master PID and its workers: QUIT (a
# graceful stop, up to 5 s), then TERM (the master stops its workers, and
# kills one that hangs, up to 5 s), then KILL to the master and to each
# worker it had or has then. A master killed alone leaves its workers
# running, still holding the port; so, last, KILL to every nginx left in
# process group PID: the workers of a master that died before the stop,
# when the master was started as a group's leader (kg_nginx_spawn). Waits
# for PID when it is this shell's child. Returns 0.
kg_nginx_stop() {
  local pid=${1-} workers sig _
  if [ -z "$pid" ]; then
    return 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    kg_nginx_stop_group "$pid"
    wait "$pid" 2>/dev/null || true
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
      kg_nginx_stop_group "$pid"
      return 0
    fi
  done
  # the workers it had, and any it started since (a reload's, a respawn)
  workers="$workers $(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)"
  # shellcheck disable=SC2086 # the workers' pids, one word each
  kill -KILL "$pid" $workers 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  kg_nginx_stop_group "$pid"
  return 0
}

# kg_nginx_stop_group PGID — KILL every process named nginx in process
# group PGID, and wait (5 s at most) until none is left. A group outlives
# its leader while a member lives, and Linux gives no new process the
# number of a group that exists, so PGID names the same group as when the
# master started it.
kg_nginx_stop_group() {
  local pgid=$1 left _
  for _ in $(seq 1 50); do
    left=$(pgrep -g "$pgid" -x nginx 2>/dev/null | tr '\n' ' ' || true)
    if [ -z "${left// /}" ]; then
      return 0
    fi
    # shellcheck disable=SC2086 # the pids, one word each
    kill -KILL $left 2>/dev/null || true
    sleep 0.1
  done
  return 0
}

# kg_nginx_spawn CMD... — run CMD (an nginx, perhaps behind taskset, which
# execs it) in the background as the leader of its own process group, and
# set NGINX_PID: the master's pid and its group's id, for kg_nginx_stop.
# setsid(1) execs CMD in the same process, since a background job of a
# script leads no group.
kg_nginx_spawn() {
  setsid "$@" &
  NGINX_PID=$!
}
