#!/usr/bin/env bash
# server_serve.sh — `keygate serve` as a person meets it: one clear line and
# exit 1 for a missing nginx, a missing module, a busy port and an
# unreadable store; exit 2 for usage errors; "listening on" once it
# answers; a clean stop on SIGTERM and on SIGINT (nginx gone, private
# folder removed).
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme serve)

# serve_fails NAME WANT_RC REGEX ARGS... — run a serve that must not start.
serve_fails() {
  local name=$1 want=$2 regex=$3 rc=0
  shift 3
  timeout 20 "$KEYGATE" serve "$@" >"$T/fail.out" 2>"$T/fail.err" || rc=$?
  assert_eq "$want" "$rc" "$name: exit code"
  assert_eq 1 "$(wc -l <"$T/fail.err")" "$name: one line on stderr"
  assert_match "$regex" "$(cat "$T/fail.err")" "$name: says why"
  assert_eq "" "$(cat "$T/fail.out")" "$name: nothing on stdout"
}
P=$(free_port)
M=(--module "$KEYGATE_NGINX_MODULE")
# no --db and no KEYGATE_DB (empty counts as unset)
KEYGATE_DB="" serve_fails "no --db" 2 '^keygate serve: --db PATH is required' \
  --listen "127.0.0.1:$P" "${M[@]}"
serve_fails "bad --listen" 2 "^keygate serve: --listen '127.0.0.1' is not HOST:PORT" \
  --db "$KEYGATE_DB" --listen 127.0.0.1 "${M[@]}"
serve_fails "bad --workers" 2 "^keygate serve: --workers '0' must be" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P" --workers 0 "${M[@]}"
serve_fails "unknown option" 2 "^keygate serve: unknown option '--port'" \
  --db "$KEYGATE_DB" --port 80
serve_fails "missing store" 2 "^keygate serve: cannot read the key store $T/none.db" \
  --db "$T/none.db" --listen "127.0.0.1:$P" "${M[@]}"
echo "not a database" >"$T/junk.db"
serve_fails "not a store" 2 "^keygate serve: cannot read the key store $T/junk.db: " \
  --db "$T/junk.db" --listen "127.0.0.1:$P" "${M[@]}"
# a file named by a flag or a variable is reported by the path given
serve_fails "missing nginx" 2 "^keygate serve: --nginx $T/no-nginx: No such file or directory; give the path of the nginx program\$" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P" --nginx "$T/no-nginx" "${M[@]}"
serve_fails "missing module" 2 "^keygate serve: --module $T/none.so: No such file or directory; give the path of the module ngx_http_keygate_module.so\$" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P" --module "$T/none.so"
KEYGATE_NGINX_MODULE=$T/gone.so serve_fails "missing module in the variable" 2 \
  "^keygate serve: KEYGATE_NGINX_MODULE $T/gone.so: No such file or directory; give the path of the module" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P"
serve_fails "a module that is a folder" 2 "^keygate serve: --module $T: not a file; give the path of the module" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P" --module "$T"
mkdir -p "$T/store-dir"
serve_fails "--db a directory" 2 "^keygate serve: --db $T/store-dir is a directory, not a key store file" \
  --db "$T/store-dir" --listen "127.0.0.1:$P" "${M[@]}"

# A busy port: something else listens there.
python3 -c 'import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(30)' "$P" "$T/listening" &
BLOCKER=$!
kg_track "$BLOCKER"
for _ in $(seq 1 100); do [ -f "$T/listening" ] && break; sleep 0.05; done
serve_fails "busy port" 2 "^keygate serve: 127.0.0.1:$P is already in use" \
  --db "$KEYGATE_DB" --listen "127.0.0.1:$P" "${M[@]}"

# The port start_serve picked is taken before keygate serve binds it (the
# race of kg_free_port): it starts on another one. kg_free_port hands out
# the busy port first.
eval "$(declare -f kg_free_port | sed '1s/kg_free_port/kg_real_free_port/')"
kg_free_port() {
  if [ ! -e "$T/busy-port-given" ]; then
    : >"$T/busy-port-given"
    echo "$P"
  else
    kg_real_free_port
  fi
}
start_serve --workers 1
assert_eq given "$(cat "$T/busy-port-given" && echo given)" "taken port: the busy one was tried first"
assert_match '^[0-9]+$' "$PORT" "taken port: started on another"
assert_eq other "$([ "$PORT" != "$P" ] && echo other)" "taken port: not the busy one"
assert_eq "listening on http://127.0.0.1:$PORT" "$(cat "$T/serve.out")" \
  "taken port: listening line"
send "GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "taken port: serves"
stop_serve
eval "$(declare -f kg_real_free_port | sed '1s/kg_real_free_port/kg_free_port/')"
kill "$BLOCKER"
wait "$BLOCKER" 2>/dev/null || true
assert_eq "" "$(ls "$T/tmp")" "failed starts leave no private folder"

# --listen :PORT is 127.0.0.1:PORT (loopback first, docs/cli.md), and the
# listening line names the address bound.
colon_on() {
  local port=$1
  shift
  serve_on "$port" --listen ":$port" "$@"
}
kg_start_on_free_port colon_on --workers 1 || exit 1
assert_eq "listening on http://127.0.0.1:$PORT" "$(cat "$T/serve.out")" \
  ":PORT: listening line"
assert_eq "127.0.0.1:$PORT" \
  "$(ss -Hltn "sport = :$PORT" | awk '{ print $4 }' | sort -u)" ":PORT: bound on loopback only"
send "GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" ":PORT: serves"
stop_serve

# A good start, then SIGTERM: graceful stop, nginx gone, folder removed.
for sig in TERM INT; do
  start_serve --workers 2
  assert_eq "listening on http://127.0.0.1:$PORT" "$(cat "$T/serve.out")" \
    "$sig: listening line"
  send "GET /api/v1/iocs?type=domain&limit=2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
  assert_eq 200 "$(resp_status)" "$sig: serves"
  private=$(ls -d "$T"/tmp/keygate-serve-*)
  assert_eq 700 "$(stat -c %a "$private")" "$sig: private folder mode"
  master=$(cat "$private/nginx.pid")
  assert_match '^nginx$' "$(ps -o comm= -p "$master")" "$sig: nginx master runs"
  kill -"$sig" "$SERVE_PID"
  rc=0
  for _ in $(seq 1 300); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
  wait "$SERVE_PID" || rc=$?
  SERVE_PID=""
  assert_eq 0 "$rc" "$sig: exit 0"
  assert_eq "" "$(ps -o pid= -p "$master" | tr -d ' ')" "$sig: nginx master gone"
  assert_eq "" "$(pgrep -f "$private" || true)" "$sig: no nginx of ours left"
  assert_eq "" "$(ls "$T/tmp")" "$sig: private folder removed"
  assert_eq "" "$(cat "$T/serve.err")" "$sig: nothing on stderr"
  assert_match '^[1-9]' \
    "$(grep -c 'gracefully shutting down' "$T/logs/error.log")" "$sig: nginx stopped gracefully"
  : >"$T/logs/error.log"
done
kg_done
