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
assert_eq 3 "$reloads" "three reloads during the stream"
assert_eq yes "$(kill -0 "$STREAM" 2>/dev/null && echo yes)" "the stream was still running"
wait_for $(($(answered) + 200)) answered || true
touch "$T/stop"
stream_rc=0
wait "$STREAM" || stream_rc=$?
COUNT=$(answered)
assert_match '^([89][0-9]{2}|[0-9]{4,})$' "$COUNT" "at least 800 requests in the stream"
assert_eq "ok=$COUNT failed=0" "$(cat "$T/stream.out")" "every request answered 200"
assert_eq 0 "$stream_rc" "stream exit code"
assert_eq 0 "$(grep -vc '^200$' "$T/progress" || true)" "no error line"

# The reloads really happened: nginx logged them, and new workers started.
assert_eq 3 "$(grep -c ': reconfiguring$' "$T/logs/error.log")" "nginx reconfigured three times"
send "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "after the reloads: 200"
kg_done
