#!/usr/bin/env bash
# load_openloop.sh — `keygate load --rate R` is an open loop: it holds the
# asked rate when the server keeps up (within 5%), counts latency from each
# request's scheduled send time so a server that stalls cannot hide the
# stall from the p99 (the closed loop need not show it), and reports how
# far it fell behind when the server cannot keep up.
#
# Against fake_api.py: ok, stall (nothing answered in the first 200 ms of
# every second), slow (every answer 50 ms late, two connections: at most
# 40 answers a second) and stall-end (nothing answered from 1.8 s on: the
# requests due then and never sent are counted, coordinated omission).
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
FAKE="$(cd "$(dirname "$0")" && pwd)/fake_api.py"

# ---- helpers --------------------------------------------------------------

# make_keys FILE — 8 valid, 2 expired, 2 deactivated random keys, as
# `keygate keys seed --out` writes them, mode 0600.
make_keys() {
  key_file "$1" valid valid valid valid valid valid valid valid expired expired deactivated deactivated
}

# fake_start / fake_stop: tests/integration/fake_common.bash
. "$(dirname "$0")/fake_common.bash"

# load NAME [options] — one run against $URL (at most 40 s); its exit
# status in RC (it must be $WANT_RC, default 0), its wall time in WALL
# (seconds), its stdout, stderr and JSON in $TMP/NAME.{out,err,json}.
load() {
  local name=$1 t0 t1
  shift
  RC=0
  t0=$(date +%s%N)
  timeout 40 "$KEYGATE" load "$URL" --keys "$KEYS" --json "$TMP/$name.json" \
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
  t1=$(date +%s%N)
  WALL=$(((t1 - t0) / 1000000))e-3
  RUN=$name
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$RC" != "${WANT_RC:-0}" ]; then
    kg_fail "$name: exit $RC, want ${WANT_RC:-0}; stderr: $(head -c 600 "$TMP/$name.err")"
  fi
}

# checks — assertions on the last run's JSON, read from stdin, one a line:
#   WHAT ;; COND [;; SHOW]
# COND and SHOW are Python: d is the document, all its latency figures
# (classes.all.latency_us), wall the run's wall time in seconds, series the
# seconds of the series that are whole (not the last one). Each line is
# one assertion; the first false COND fails the script, printing SHOW.
checks() {
  kg_json_checks "$TMP/$RUN.json" "wall = float($WALL)" \
    'lat = d["classes"]["all"]["latency_us"]' \
    'series = [s["classes"]["all"] for s in d["series"][:-1]]'
}

KEYS=$TMP/keys.tsv
make_keys "$KEYS"

# ---- a server that keeps up: the asked rate, within 5% ----------------------
fake_start ok
load steady --rate 500 --duration 4s -c 16
checks <<'EOF'
steady: rate asked ;; d['rate']['asked'] == 500 ;; d['rate']
steady: rate achieved within 5% of 500 ;; abs(d['rate']['achieved'] - 500) <= 25 ;; d['rate']
steady: requests within 5% of 2000 ;; abs(d['classes']['all']['requests'] - 2000) <= 100 ;; d['classes']['all']['requests']
steady: the run lasts its duration ;; wall < 4 + 2.5 ;; wall
steady: every answer verified ;; d['totals']['mismatches'] == 0 and d['errors']['overall'] == 0 ;; d['totals']
steady: latency recorded ;; 0 < lat['p50'] <= lat['p99'] <= lat['max'] ;; lat
EOF
assert_contains "open loop: asked 500" "$(cat "$TMP/$RUN.out")" "steady: the table's open-loop line"
fake_stop

# ---- a server that stalls 200 ms every second -------------------------------
# Open loop: the requests due during a stall wait for it, about 20% of them,
# and their latency counts from when they were due: p99 shows the stall,
# p50 does not.
fake_start stall
load stall-open --rate 200 --duration 3s -c 64
checks <<'EOF'
stall, open loop: p99 shows the 200 ms stall ;; lat['p99'] >= 100000 ;; lat
stall, open loop: max within the stall and a margin ;; lat['max'] < 1000000 ;; lat
stall, open loop: p50 does not ;; lat['p50'] < 100000 ;; lat
stall, open loop: rate reported ;; d['rate']['asked'] == 200 and abs(d['rate']['achieved'] - 200) <= 10 ;; d['rate']
stall, open loop: the latest send's lag reported ;; isinstance(d['rate']['max_lag_ms'], (int, float)) and d['rate']['max_lag_ms'] >= 0 ;; d['rate']
stall, open loop: a second of the series shows it ;; max(s['p99'] for s in series) >= 100000 ;; series
EOF
assert_contains "behind" "$(cat "$TMP/$RUN.out")" "stall, open loop: the table says how far behind"

# Closed loop: four connections simply wait out each stall; its p99 is
# recorded, whatever it is.
load stall-closed -c 4 --duration 2s
checks <<'EOF'
stall, closed loop: no rate block ;; d['rate'] is None ;; d['rate']
stall, closed loop: requests made ;; d['classes']['all']['requests'] > 0 ;; d['classes']['all']['requests']
stall, closed loop: p99 recorded ;; lat['p99'] > 0 and lat['max'] >= lat['p99'] ;; lat
EOF
fake_stop

# ---- a server that cannot keep up: the shortfall is reported -----------------
# 2 connections x 50 ms per answer = at most 40 answers a second, asked 200:
# the schedule falls further behind every second. The run still ends with
# its duration (plus at most --timeout for what is owed or in flight),
# reports a rate well below the asked one, latencies (from the schedule)
# that grow, and every request due in the span: what never got an answer
# within --timeout of its due time is a timeout (exit 1), not left out.
fake_start slow --delay-ms 50
WANT_RC=1 load slow --rate 200 --duration 3s -c 2 --timeout 2s
checks <<'EOF'
slow: rate achieved well below 200 ;; d['rate']['achieved'] < 100 ;; d['rate']
slow: no more answers than the server can give ;; d['classes']['all']['ok'] <= (3 + 2) * 40 * 1.25 ;; d['classes']['all']
slow: every request due is counted ;; abs(d['classes']['all']['requests'] - 600) <= 30 ;; d['classes']['all']['requests']
slow: the unanswered ones are timeouts ;; d['errors']['timeout'] == d['errors']['overall'] == d['classes']['all']['requests'] - d['classes']['all']['ok'] >= 300 ;; d['errors']
slow: the run ends with its duration ;; wall < 3 + 2 + 2 ;; wall
slow: the lag reported ;; d['rate']['max_lag_ms'] > 1000 ;; d['rate']
slow: latencies grow ;; len(series) >= 2 and series[-1]['p50'] > 2 * series[0]['p50'] ;; [s['p50'] for s in series]
slow: p99 shows the backlog ;; lat['p99'] >= 1000000 ;; lat
slow: every answer verified ;; d['totals']['mismatches'] == 0 ;; d['totals']
EOF
fake_stop

# ---- a server that stalls at the end: coordinated omission ------------------
# Two connections, 200 requests a second for 3 s; the server answers nothing
# from 1.8 s on. The two requests out wait; the ~240 due meanwhile cannot
# leave (no connection is free) and the duration ends. They are owed: sent
# once a connection frees, their latency from their due time, or, with no
# answer within --timeout of it, timeouts. Before, they were never counted:
# 364 requests, p99 10 ms, exit 0 for a server that stopped answering.
# (a) the stall ends 2 s later, within --timeout: every request answered,
#     and the p99 shows the stall;
fake_start stall-end --stall-at 1.8 --stall-for 2
load stall-end --rate 200 --duration 3s -c 2 --timeout 5s
checks <<'EOF'
stall at the end: every request due is counted ;; abs(d['classes']['all']['requests'] - 600) <= 15 ;; d['classes']['all']
stall at the end: all answered ;; d['errors']['overall'] == 0 and d['classes']['all']['ok'] == d['classes']['all']['requests'] ;; d['errors']
stall at the end: p99 shows the stall ;; lat['p99'] >= 1000000 ;; lat
stall at the end: the rate sent in the span shows it ;; d['rate']['achieved'] < 170 ;; d['rate']
stall at the end: the run ends when the stall does ;; wall < 3 + 2 + 2 ;; wall
EOF
fake_stop
fake_start stall-end --stall-at 1.8 --stall-for 2
WANT_RC=1 load stall-end-p99 --rate 200 --duration 3s -c 2 --threshold 'p99<100ms'
assert_contains "p99<100ms VIOLATED" "$(cat "$TMP/$RUN.err")" "stall at the end: a p99 threshold sees it"
fake_stop
# (b) the server never answers again: what was owed is a timeout each
#     (native engine and curl), the run ends --timeout after its span.
for engine in native curl; do
  fake_start stall-end --stall-at 1.8 --stall-for 60
  WANT_RC=1 load "stall-dead-$engine" --rate 200 --duration 3s -c 2 --timeout 1s --engine "$engine"
  checks <<'EOF'
stall, dead: every request due is counted ;; abs(d['classes']['all']['requests'] - 600) <= 15 ;; d['classes']['all']
stall, dead: the owed ones are timeouts ;; d['errors']['timeout'] == d['errors']['overall'] >= 200 ;; d['errors']
stall, dead: in their classes ;; all(d['classes'][c]['errors'] > 0 for c in ('valid', 'invalid', 'missing')) ;; {c: v['errors'] for c, v in d['classes'].items()}
stall, dead: the run ends --timeout after its span ;; wall < 3 + 1 + 1.5 ;; wall
EOF
  assert_contains "errors==0 VIOLATED" "$(cat "$TMP/$RUN.err")" "stall, dead ($engine): the threshold says it"
  fake_stop
done


# ---- --timeout counts from the due time, during the run and after it --------
# One rule in open loop: a request must be answered within --timeout of its
# due time (its latency counts from then too), whenever it left. A slow
# server (every answer 300 ms late, 4 connections, 100 asked a second, all
# waiting longer and longer): no latency above --timeout is recorded — the
# later answers are timeouts (before: every one of the OK answers took more
# than --timeout, counted from its send). Both engines.
for engine in native curl; do
  fake_start slow --delay-ms 300
  WANT_RC=1 load "due-slow-$engine" --rate 100 --duration 2s -c 4 --timeout 1s --engine "$engine"
  checks <<'EOF2'
due, slow: answers recorded ;; d['classes']['all']['ok'] > 0 ;; d['classes']['all']
due, slow: no recorded latency above --timeout ;; lat['max'] <= 1000000 ;; lat
due, slow: no second's latency above it ;; all(s['max'] <= 1000000 for s in series if s.get('max')) ;; series
due, slow: the late ones are timeouts ;; d['errors']['timeout'] >= 100 ;; d['errors']
EOF2
  fake_stop
done
# The same 1.25 s stall, ending inside the span or just after its end
# (shifted by 0.1 s): the requests due in its first 0.25 s wait more than
# --timeout either way, ~25 timeouts each (before: 2 when it ended inside
# the span, their latency counted up to 1.22 s; 23 when it ended after).
SHIFT=()
for at in 0.7 0.8; do
  fake_start stall-end --stall-at "$at" --stall-for 1.25
  WANT_RC=1 load "due-shift-$at" --rate 100 --duration 2s -c 2 --timeout 1s
  checks <<'EOF2'
due, stall: no recorded latency above --timeout ;; lat['max'] <= 1000000 ;; lat
due, stall: the stall's first quarter second times out ;; 10 <= d['errors']['timeout'] <= 60 ;; d['errors']
EOF2
  SHIFT+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"]["timeout"])' "$TMP/$RUN.json")")
  fake_stop
done
assert_eq 1 "$(python3 -c 'import sys; a, b = map(int, sys.argv[1:]); print(int(max(a, b) <= 2 * min(a, b)))' "${SHIFT[@]}")" \
  "due, stall shifted by 0.1 s: timeouts of the same order (${SHIFT[*]})"

kg_done
