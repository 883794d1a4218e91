#!/usr/bin/env bash
# server_nginx_stop.sh — kg_nginx_stop (scripts/lib/nginx-stop.bash), the
# one way every test and bench script stops an nginx it started, leaves no
# nginx behind: after a graceful stop, and after the master died on its own
# (KILL) with its workers still holding the port. A plain nginx, two
# workers, no module: what is tested is the stop, not the gateway.
. "$(dirname "$0")/lib.sh"

EXTRA="daemon off; master_process on; worker_processes 2;"
if [ "$(id -u)" -eq 0 ]; then EXTRA="$EXTRA user root root;"; fi

# plain_on PORT — one try at starting nginx on PORT (lib.sh's contract).
plain_on() {
  PORT=$1
  mkdir -p "$TMP/ngx/logs"
  cat >"$TMP/ngx/nginx.conf" <<EOF
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $TMP/ngx/body;
  proxy_temp_path $TMP/ngx/proxy;
  fastcgi_temp_path $TMP/ngx/fastcgi;
  uwsgi_temp_path $TMP/ngx/uwsgi;
  scgi_temp_path $TMP/ngx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / { return 204; }
  }
}
EOF
  rm -f "$TMP/ngx/nginx.pid" "$TMP/ngx/error.log"
  kg_nginx_start "$TMP/ngx/nginx.pid" "$TMP/ngx/error.log" "$TMP/ngx/out" \
    "$PORT" -- nginx -p "$TMP/ngx/" -c "$TMP/ngx/nginx.conf" -g "$EXTRA"
}

# workers_of PID — the pids of PID's child processes, one a line.
workers_of() {
  pgrep -P "$1" || true
}

# group_left PGID — how many nginx processes process group PGID holds.
group_left() {
  pgrep -c -g "$1" -x nginx || true
}

# port_free PORT — "free" when nothing accepts on 127.0.0.1:PORT.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo taken
  else
    echo free
  fi
}

# wait_workers PID N — until PID has N children (5 s at most).
wait_workers() {
  local _
  for _ in $(seq 1 50); do
    if [ "$(workers_of "$1" | wc -l)" -ge "$2" ]; then
      return 0
    fi
    sleep 0.1
  done
  kg_fail "nginx $1 did not start $2 workers"
}

kg_on_exit 'kg_nginx_stop "${NGINX_PID:-}"'

# ---- a graceful stop ------------------------------------------------------
kg_start_on_free_port plain_on || exit 1
wait_workers "$NGINX_PID" 2
assert_eq "$NGINX_PID" "$(ps -o pgid= -p "$NGINX_PID" | tr -d ' ')" \
  "the master leads its own process group (kg_nginx_spawn)"
assert_eq 3 "$(group_left "$NGINX_PID")" "before the stop: the master and 2 workers in its group"
master=$NGINX_PID
kg_nginx_stop "$master"
assert_eq 0 "$(group_left "$master")" "graceful stop: no nginx left in the group"
assert_eq free "$(port_free "$PORT")" "graceful stop: the port is free"
NGINX_PID=""

# ---- the master died before the stop ----------------------------------------
kg_start_on_free_port plain_on || exit 1
wait_workers "$NGINX_PID" 2
master=$NGINX_PID
mapfile -t workers < <(workers_of "$master")
kill -KILL "$master"
wait "$master" 2>/dev/null || true
alive=0
for w in "${workers[@]}"; do
  if kill -0 "$w" 2>/dev/null; then alive=$((alive + 1)); fi
done
assert_eq 2 "$alive" "a master killed alone leaves both workers running"
assert_eq taken "$(port_free "$PORT")" "...and they still hold the port"
kg_nginx_stop "$master"
for w in "${workers[@]}"; do
  assert_eq gone "$(kill -0 "$w" 2>/dev/null && echo alive || echo gone)" \
    "worker $w of the dead master is stopped"
done
assert_eq 0 "$(group_left "$master")" "dead master: no nginx left in the group"
assert_eq free "$(port_free "$PORT")" "dead master: the port is free"
NGINX_PID=""

kg_done
