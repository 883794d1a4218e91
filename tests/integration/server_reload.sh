#!/usr/bin/env bash
# server_reload.sh — `nginx -s reload` (SIGHUP to keygate serve, passed on
# to nginx) in the middle of a stream of requests loses none of them, and
# the reloaded workers still answer with the store's keys.
#
# A reload does not load the store whole (issue 13: that stalled requests):
# the master only opens and checks it, and the new writer adopts the
# published shared index and brings it up to date by sequence
# (docs/server.md, "One index per server"). So: every reload's takeover
# adopts, no worker loads the store whole, a key revoked before the
# reloads never answers 200 through them (a second stream), and a key
# created and one deleted between reloads are answered as the store says
# by every worker afterwards.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme stream)
IFS=$'\t' read -r IDR KR < <(new_key acme revoked)
IFS=$'\t' read -r IDD KD < <(new_key acme deleted-between)
start_serve --workers 2 --refresh 200ms
"$KEYGATE" keys delete "$IDR" >/dev/null
wait_for_answer "KR revoked before the reloads" "$KR" "401 invalid_api_key" 3
all_answer "KR revoked on every worker" "$KR" 10 "401 invalid_api_key"

# The stream runs until told to stop (at most 100000 requests or 60 s).
: >"$T/progress"
python3 "$HERE/server_stream.py" "$PORT" "$K" 100000 "$T/progress" \
  "$T/stop" >"$T/stream.out" 2>&1 &
STREAM=$!
kg_track "$STREAM"
: >"$T/revoked"
python3 "$HERE/server_stream.py" "$PORT" "$KR" 100000 "$T/revoked" \
  "$T/stop" >/dev/null 2>&1 &
REVOKED=$!
kg_track "$REVOKED"

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
# Between the first and second a key is created, between the second and
# third one is deleted.
reloads=0
for r in 1 2 3; do
  wait_for $(($(answered) + 200)) answered || break
  case $r in
  2) IFS=$'\t' read -r _ KN < <(new_key acme created-between) ;;
  3) "$KEYGATE" keys delete "$IDD" >/dev/null ;;
  esac
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
wait "$REVOKED" 2>/dev/null || true
assert_eq 1 "$(($(wc -l <"$T/revoked") > 100))" "the revoked key's stream ran through the reloads"
assert_eq 0 "$(grep -c '^200$' "$T/revoked" || true)" \
  "the revoked KR never answered 200 through the reloads ($(wc -l <"$T/revoked") requests)"

# The reloads really happened: nginx logged them, and new workers started.
assert_eq 3 "$(grep -c ': reconfiguring$' "$T/logs/error.log")" "nginx reconfigured three times"
send "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "after the reloads: 200"

# Each reload's new writer adopted the published index; no full load. The
# old writer is either still draining its connections (in place of its pid)
# or gone already (it left the role on exit), as the machine's pace has it.
LOG=$T/logs/error.log
assert_eq 3 "$(grep -Ec 'now writes the shared index of ".*keys.db" (in place of pid [0-9]* \(a worker of an older configuration\)|\(none, or it left\)); adopting its published index' "$LOG")" \
  "each reload's new writer adopts the published index"
assert_eq 3 "$(grep -c 'keygate: adopted the shared index of ".*keys.db" ([0-9]* keys, change sequence [0-9]*): bringing it up to date by sequence, no full load' "$LOG")" \
  "... and says so"
assert_eq 0 "$(grep -c 'keygate: loaded "\|not taking over the shared index' "$LOG" || true)" \
  "no worker loaded the store whole"
assert_eq 1 "$(grep -c 'keygate: published the shared index' "$LOG")" \
  "one index published (at the start), then adopted by each reload"
wait_for_answer "KN, created between reloads" "$KN" "200 " 3
all_answer "KN served by every worker" "$KN" 10 "200 "
wait_for_answer "KD, deleted between reloads" "$KD" "401 invalid_api_key" 3
all_answer "KD refused by every worker" "$KD" 10 "401 invalid_api_key"

# An index file this build cannot read (another build's layout: issue 14's
# ninth pass changed it; here its layout word set to the old one's, 0x4002)
# is not adopted: the next reload's writer says why and builds its own, and
# every answer stays the store's.
for f in "$KEYGATE_DB"-index.*; do
  case $f in *.tmp) continue ;; esac
  python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(8); f.write((0x4002).to_bytes(4, "little"))' "$f"
done
loads=$(grep -c 'keygate: loaded "' "$LOG" || true)
published=$(grep -c 'keygate: published the shared index' "$LOG" || true)
started=$(workers_started)
kill -HUP "$SERVE_PID"
wait_for $((started + 2)) workers_started || kg_fail "the fourth reload's workers did not start"
refused="not taking over the shared index of \".*keys.db\": it is not an index this build reads (another build's layout, or damaged)"
wait_for 1 grep -c "$refused" "$LOG" || kg_fail "no line refusing the index of another layout"
assert_eq 1 "$(grep -c "$refused" "$LOG" || true)" \
  "an index of another layout is not adopted, and the log says why"
assert_eq 0 "$(grep -c 'a change to it was left half made' "$LOG" || true)" \
  "... not that a change to it was left half made"
# The new writer has no snapshot after a reload (the master only checks
# the store): it loads the store whole and publishes an index of its own.
wait_for $((loads + 1)) grep -c 'keygate: loaded "' "$LOG" || kg_fail "no full load after the refusal"
wait_for $((published + 1)) grep -c 'keygate: published the shared index' "$LOG" ||
  kg_fail "no index published after the refusal"
assert_eq $((published + 1)) "$(grep -c 'keygate: published the shared index' "$LOG")" \
  "one index published by the writer that refused the old one"
wait_for_answer "K after the refused adoption" "$K" "200 " 5
all_answer "K served by every worker after it" "$K" 10 "200 "
all_answer "KR still refused by every worker" "$KR" 10 "401 invalid_api_key"
all_answer "KD still refused by every worker" "$KD" 10 "401 invalid_api_key"
assert_eq 0 "$(grep -c "${K#sk_live_}\|${KR#sk_live_}" "$LOG" || true)" "no key in the error log"
kg_done
