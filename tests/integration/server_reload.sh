#!/usr/bin/env bash
# server_reload.sh — `nginx -s reload` (SIGHUP to keygate serve, passed on
# to nginx) in the middle of a stream of requests loses none of them, and
# the reloaded workers still answer with the store's keys.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme stream)
start_serve --workers 2

# The stream runs until told to stop (at most 100000 requests or 60 s).
: >"$T/progress"
python3 "$HERE/server_stream.py" "$PORT" "$K" 100000 "$T/progress" \
  "$T/stop" >"$T/stream.out" 2>&1 &
STREAM=$!
kg_track "$STREAM"

# wait_for N COMMAND... — until COMMAND prints a number >= N (at most 30 s).
wait_for() {
  local n=$1
  shift
  for _ in $(seq 1 600); do
    [ "$("$@")" -ge "$n" ] && return 0
    sleep 0.05
  done
  return 1
}
answered() { wc -l <"$T/progress"; }
workers_started() { grep -c 'start worker process' "$T/logs/error.log" || true; }

# Three reloads while the stream runs. Each waits until the new workers
# are up and 200 more requests went through before the next one.
reloads=0
for _ in 1 2 3; do
  wait_for $(($(answered) + 200)) answered || break
  started=$(workers_started)
  kill -HUP "$SERVE_PID"
  wait_for $((started + 2)) workers_started || break
  reloads=$((reloads + 1))
done
check "three reloads during the stream" "$reloads" 3
check "the stream was still running" "$(kill -0 "$STREAM" 2>/dev/null && echo yes)" yes
wait_for $(($(answered) + 200)) answered || true
touch "$T/stop"
stream_rc=0
wait "$STREAM" || stream_rc=$?
COUNT=$(answered)
check_match "at least 800 requests in the stream" "$COUNT" '^([89][0-9]{2}|[0-9]{4,})$'
check "every request answered 200" "$(cat "$T/stream.out")" "ok=$COUNT failed=0"
check "stream exit code" "$stream_rc" 0
check "no error line" "$(grep -vc '^200$' "$T/progress" || true)" 0

# The reloads really happened: nginx logged them, and new workers started.
check "nginx reconfigured three times" "$(grep -c ': reconfiguring$' "$T/logs/error.log")" 3
send "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
check "after the reloads: 200" "$(resp_status)" 200
finish
