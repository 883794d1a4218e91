#!/usr/bin/env bash
# probe_midway.sh — `keygate probe` against a target lost in the middle of
# a run (fake_api.py --max-answers: the port refuses connections after the
# Nth answer). What was judged before is the run's result: the table is
# printed, the --json report written (an older file at the path replaced),
# the case lost and every one after it skipped "not run: cannot reach ...",
# the JSON's "unreachable" saying where, and exit 2 with one line on
# stderr. Before, the run's judged cases were dropped and an older report
# stayed in place for CI to read. A target never reached still leaves no
# file (probe_cli.sh).
#
# Environment: KEYGATE.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
HERE=$(cd "$(dirname "$0")" && pwd)
kg_probe_test_keys # VALID, EXPIRED and their files (lib.sh)

kg_listener_start "fake_api.py --max-answers 15" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode ok --max-answers 15 --max-seconds 120
PORT=$KG_LISTENER_PORT
printf '{"stale": true}\n' >"$TMP/mid.json" # an older run's report

RC=0
timeout 60 "$KEYGATE" probe "http://127.0.0.1:$PORT/x" --key-file "$TMP/valid.key" \
  --expired-key-file "$TMP/expired.key" --interval 0 --json "$TMP/mid.json" \
  >"$TMP/mid.out" 2>"$TMP/mid.err" || RC=$?
assert_eq 2 "$RC" "a target lost midway: exit 2 ($(head -c 300 "$TMP/mid.err"))"
assert_eq 1 "$(wc -l <"$TMP/mid.err")" "one line on stderr"
assert_contains "cannot reach 127.0.0.1:$PORT (case " "$(cat "$TMP/mid.err")" \
  "stderr says the target was lost"
assert_contains "judged before are reported" "$(cat "$TMP/mid.err")" \
  "stderr says what was kept"
assert_contains "bearer_valid " "$(cat "$TMP/mid.out")" "the table is printed"
assert_match " pass, [0-9]+ deviations?, [0-9]+ skipped$" "$(tail -n 1 "$TMP/mid.out")" \
  "the table's summary line"
assert_contains "not run: cannot reach 127.0.0.1:$PORT" "$(cat "$TMP/mid.out")" \
  "the table says which cases were not run"

# the report: the judged cases as found, the rest not run, in table order
kg_json_checks "$TMP/mid.json" \
  'req = [c for c in d["cases"] if c["request"] is not None]' \
  'lost = [i for i, c in enumerate(req) if c["verdict"] == "skipped"]' \
  'first = lost[0] if lost else len(req)' <<'EOF'
written over the older file ;; d.get("schema") == "keygate-probe v1" ;; d
unreachable names the case lost ;; d["unreachable"].startswith("cannot reach 127.0.0.1:") and ("(case %s)" % req[first]["name"]) in d["unreachable"] ;; d["unreachable"]
some cases were judged ;; first >= 10 ;; first
every case before was judged ;; all(c["verdict"] in ("pass", "deviation") and c["status"] for c in req[:first]) ;; [(c["name"], c["verdict"], c["notes"]) for c in req[:first]]
the lost case is not run, saying why ;; req[first]["notes"] == "not run: " + d["unreachable"] ;; req[first]["notes"]
every case after is not run ;; all(c["verdict"] == "skipped" and c["notes"] == "not run: the target was unreachable from case %s on" % req[first]["name"] and c["status"] is None for c in req[first + 1:]) ;; [(c["name"], c["notes"]) for c in req[first:]]
cases were left ;; len(req) - first >= 10 ;; len(req) - first
the summaries judged what came ;; [c["verdict"] for c in d["cases"] if c["request"] is None] == ["pass", "pass"] ;; [(c["name"], c["got"]) for c in d["cases"] if c["request"] is None]
request_id_unique counts the answers ;; [c["got"] for c in d["cases"] if c["name"] == "request_id_unique"] == ["%d answers checked" % first] ;; first
the summary adds up ;; d["summary"]["cases"] == len(d["cases"]) and d["summary"]["skipped"] == len(req) - first and d["summary"]["pass"] + d["summary"]["deviation"] == first + 2 ;; d["summary"]
EOF
kg_probe_no_key_shown mid

# -q: no table, the report all the same
kg_listener_start "fake_api.py --max-answers 3" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode ok --max-answers 3 --max-seconds 120
RC=0
timeout 60 "$KEYGATE" probe "http://127.0.0.1:$KG_LISTENER_PORT/x" \
  --key-file "$TMP/valid.key" --interval 0 -q --json "$TMP/q.json" \
  >"$TMP/q.out" 2>"$TMP/q.err" || RC=$?
assert_eq 2 "$RC" "-q, lost midway: exit 2"
assert_eq "" "$(cat "$TMP/q.out")" "-q: no table"
assert_contains "cannot reach 127.0.0.1:$KG_LISTENER_PORT" "$(json_get "$TMP/q.json" unreachable)" \
  "-q: the report is written"
kg_done
