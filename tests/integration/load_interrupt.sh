#!/usr/bin/env bash
# load_interrupt.sh — a `keygate load` run stopped by its first SIGINT or
# SIGTERM says so: one line on stderr, "interrupted": true and the signal in
# its JSON, a line in its table; it exits as a shell reports the signal (130,
# 143), whatever its thresholds. `keygate report` shows the mark, warns of it
# in check, merge and compare, keeps it through a merge, and still reads a
# file written before the field existed.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"

KEYS=$TMP/keys.tsv
key_file "$KEYS" valid valid expired
. "$(dirname "$0")/fake_common.bash"
fake_start ok

# cut NAME SIGNAL ARGS... — `keygate load ARGS` in the background (SIGINT at
# its default, as from a terminal), SIGNAL sent once it catches it (its run
# has begun) and a second after; exit status in RC.
cut() {
  local name=$1 sig=$2 pid caught _
  shift 2
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$KEYGATE" load "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  kg_track "$pid"
  for _ in $(seq 1 300); do
    caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    [ -z "$caught" ] || [ $((0x$caught & 2)) -eq 0 ] || break
    sleep 0.1
  done
  sleep 1
  kill -"$sig" "$pid"
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  RC=0
  wait "$pid" || RC=$?
}

# ---- SIGINT: 130, said on stderr, in the table and in the JSON --------------
cut int INT "$URL" --keys "$KEYS" -c 2 -d 30s --json "$TMP/int.json" --html "$TMP/int.html"
assert_eq 130 "$RC" "SIGINT: exit 130 ($(head -c 400 "$TMP/int.err"))"
err=$(cat "$TMP/int.err")
assert_match '^keygate load: interrupted: stopped by SIGINT after [0-9.]+ s of the 30\.0 s asked; the table and result files cover only the span that ran$' \
  "$err" "SIGINT: one line on stderr"
assert_contains "interrupted: stopped by SIGINT after" "$(cat "$TMP/int.out")" "SIGINT: the table says so"
assert_contains "thresholds: 2 of 2 hold" "$(cat "$TMP/int.out")" "SIGINT: thresholds still evaluated on the span"
assert_contains "This run was interrupted" "$(cat "$TMP/int.html")" "SIGINT: the page says so"
kg_json_checks "$TMP/int.json" <<'CHECKS'
SIGINT: marked ;; d["interrupted"] is True ;; d.get("interrupted")
SIGINT: the signal ;; d["interrupted_by"] == "SIGINT" ;; d.get("interrupted_by")
SIGINT: the version stays 1 (a field added) ;; d["version"] == 1 ;; d["version"]
SIGINT: measured something ;; d["totals"]["requests"] > 0 ;; d["totals"]
CHECKS

# ---- SIGTERM: 143 ------------------------------------------------------------
cut term TERM "$URL" --keys "$KEYS" -c 2 -d 30s --json "$TMP/term.json" -q
assert_eq 143 "$RC" "SIGTERM: exit 143 ($(head -c 400 "$TMP/term.err"))"
assert_contains "keygate load: interrupted: stopped by SIGTERM after" "$(cat "$TMP/term.err")" "SIGTERM: stderr"
assert_eq SIGTERM "$(json_get "$TMP/term.json" interrupted_by)" "SIGTERM: the signal in the JSON"

# ---- a whole run is marked as such ------------------------------------------
assert_exit 0 "a whole run" -- "$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 50 --json "$TMP/whole.json" -q
assert_eq false "$(json_get "$TMP/whole.json" interrupted)" "a whole run: interrupted false"
assert_eq null "$(json_get "$TMP/whole.json" interrupted_by)" "a whole run: no signal"

# ---- report: show, check, merge, compare ------------------------------------
for fmt in table markdown; do
  assert_exit 0 "show $fmt" -- "$KEYGATE" report show "$TMP/int.json" --format $fmt
  assert_contains "interrupted: stopped by SIGINT" "$(cat "$TMP/out")" "show $fmt: the mark"
done
assert_exit 0 "show json" -- "$KEYGATE" report show "$TMP/int.json" --format json
assert_contains '"interrupted_by": "SIGINT"' "$(cat "$TMP/out")" "show json: the mark kept"
assert_exit 0 "check an interrupted run" -- "$KEYGATE" report check "$TMP/int.json"
assert_contains "keygate report check: warning: $TMP/int.json was interrupted (stopped by SIGINT" \
  "$(cat "$TMP/err")" "check: warns"
assert_exit 0 "merge an interrupted run" -- "$KEYGATE" report merge "$TMP/int.json" "$TMP/term.json" --force --out "$TMP/m.json"
assert_contains "warning: $TMP/term.json was interrupted" "$(cat "$TMP/err")" "merge: warns"
assert_eq SIGINT "$(json_get "$TMP/m.json" interrupted_by)" "merge: the first interrupted run's signal"
assert_exit 0 "show a merge" -- "$KEYGATE" report show "$TMP/m.json"
assert_contains "at least one of the 2 runs merged was stopped by SIGINT" "$(cat "$TMP/out")" "show a merge: the mark"
"$KEYGATE" report compare "$TMP/whole.json" "$TMP/int.json" >"$TMP/cmp.out" 2>"$TMP/cmp.err" || true
assert_contains "interrupted: stopped by SIGINT" "$(cat "$TMP/cmp.out")" "compare: the new run's line"
assert_contains "warning: $TMP/int.json was interrupted" "$(cat "$TMP/cmp.err")" "compare: warns"
"$KEYGATE" report compare "$TMP/whole.json" "$TMP/int.json" --format json >"$TMP/cmp.json" 2>/dev/null || true
kg_json_checks "$TMP/cmp.json" <<'CHECKS'
compare json: new interrupted ;; d["new"]["interrupted"] is True and d["new"]["interrupted_by"] == "SIGINT" ;; d["new"]
compare json: old not ;; d["old"]["interrupted"] is False and d["old"]["interrupted_by"] is None ;; d["old"]
CHECKS

# ---- older files (no field) read as whole runs; a bad mark is refused -------
python3 - "$TMP/int.json" "$TMP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
old = dict(d)
del old["interrupted"], old["interrupted_by"]
json.dump(old, open(sys.argv[2] + "/old.json", "w"))
for name, (flag, by) in {"bad-by": (True, "SIGHUP"), "no-by": (True, None),
                         "by-only": (False, "SIGINT"), "not-bool": ("yes", "SIGINT")}.items():
    e = dict(d)
    e["interrupted"], e["interrupted_by"] = flag, by
    json.dump(e, open(sys.argv[2] + "/%s.json" % name, "w"))
PY
assert_exit 0 "a file without the field" -- "$KEYGATE" report show "$TMP/old.json"
assert_not_contains "interrupted" "$(cat "$TMP/out")" "a file without the field: a whole run"
for bad in bad-by no-by by-only not-bool; do
  assert_exit 2 "a bad mark ($bad)" -- "$KEYGATE" report show "$TMP/$bad.json"
  assert_match "^keygate report show: $TMP/$bad.json: interrupted" "$(cat "$TMP/err")" "a bad mark ($bad): names the field"
done

fake_stop
kg_done
