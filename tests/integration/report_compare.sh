#!/usr/bin/env bash
# report_compare.sh — `keygate report compare` on real runs made side by
# side (runs made one after the other on a shared machine differ by what
# else it was doing meanwhile, which no test of the runs can see): a run against
# fake_api.py --mode slow (every answer 50 ms late) is found slower than one
# against the prompt server, with significance, and fails --fail-above
# (exit 1); the other way round it is faster (exit 0); two runs of the same
# server are not called slower (exit 0); a pair of 2 s runs, however far
# apart, is inconclusive, never "same", and does not fail. 6 s runs give
# six whole seconds a side, enough for the rank test (5 is the least).
# The delay is 50 ms, not 5: a verdict of slower on either metric wins, and
# on a busy CI host the prompt server's per-second p99 passed 5 ms, so the
# reverse comparison was (rightly) called slower on p99. The slow runs use
# 16 connections (~300 requests a second), so that every class, expired's
# 5 % too, has requests in each of its seconds (at 4, expired had ~4 a
# second and some seconds none, leaving the rank test its bare 5).
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/report_common.bash
. "$(dirname "$0")/report_common.bash"

fake_start OK ok
fake_start SLOW slow --delay-ms 50
# Side by side, so that the machine is equally busy for all of them: two
# runs of the prompt server and one of the slow one; then two short ones.
load_bg ok1 "$URL_OK" 6s
load_bg ok2 "$URL_OK" 6s --seed 3
KG_LOAD_CONNECTIONS=16 load_bg slow "$URL_SLOW" 6s
load_wait
load_bg short-ok "$URL_OK" 2s
KG_LOAD_CONNECTIONS=16 load_bg short-slow "$URL_SLOW" 2s
load_wait

# verdicts FILE — "class=verdict ..." of a --format json comparison.
verdicts() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s=%s" % (r["class"], r["verdict"]) for r in d["rows"]))' "$1"
}

# ---- runs whose answers did not all verify: compare says so ----------------
fake_start WRONG wrong-code
"$KEYGATE" load "$URL_WRONG" --keys "$KEYS" -d 1s -c 2 --json "$TMP/wrong.json" -q || true
KG_ASSERTS=$((KG_ASSERTS + 1))
[ -s "$TMP/wrong.json" ] || kg_fail "no result of the wrong-code run"
assert_exit 0 "compare ok -> wrong codes" -- "$KEYGATE" report compare "$TMP/short-ok.json" "$TMP/wrong.json"
assert_match "note: the new run has [1-9][0-9]* mismatches and 0 errors in [0-9]+ requests" \
  "$(cat "$TMP/out")" "compare ok -> wrong codes: the new run's mismatches named"
assert_not_contains "the old run has" "$(cat "$TMP/out")" "compare ok -> wrong codes: the old run's answers all verified"
assert_exit 0 "compare wrong codes -> ok, markdown" -- "$KEYGATE" report compare "$TMP/wrong.json" "$TMP/short-ok.json" --format markdown
assert_contains "- note: the old run has" "$(cat "$TMP/out")" "compare, markdown: the old run's mismatches named"

# ---- a slowed server is slower, with significance ---------------------------

assert_exit 1 "compare ok -> slow" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/slow.json" --fail-above 10% --format json
cp "$TMP/out" "$TMP/cmp-slow.json"
assert_eq "valid=slower invalid=slower missing=slower expired=slower all=slower" \
  "$(verdicts "$TMP/cmp-slow.json")" "every class is slower"
KG_ASSERTS=$((KG_ASSERTS + 1))
python3 - "$TMP/cmp-slow.json" <<'PY' || kg_fail "the slower verdict lacks its evidence"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["fails"] is True and d["fail_above_pct"] == 10
for r in d["rows"]:
    m = r["per_second"][r["decided_by"]]
    assert m["p"] < 0.05 and m["change_pct"] > 100, r
    assert r["seconds"]["old"] >= 6 and r["seconds"]["new"] >= 6, r
    assert r["latency_us"]["p50"]["new"] > 50000, r
PY
# the table names it, and says why it fails
assert_exit 1 "compare ok -> slow, table" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/slow.json"
assert_contains "FAIL: valid is slower" "$(cat "$TMP/out")" "the table's gate line"
# every failing class is named, not the first alone
for c in invalid missing expired all; do
  assert_contains "; $c is slower, p" "$(grep '^FAIL: ' "$TMP/out")" "the gate line names $c"
done
assert_contains "; each beyond --fail-above 10%" "$(cat "$TMP/out")" "the gate line's end"
assert_contains "slower (p50 +" "$(cat "$TMP/out")" "the verdict column"
# a regression smaller than --fail-above is reported but does not fail
assert_exit 0 "compare ok -> slow, --fail-above 1000000%" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/slow.json" --fail-above 1000000
assert_contains "slower (p" "$(cat "$TMP/out")" "still called slower"
assert_contains "no class slower beyond --fail-above 1e+06%" "$(cat "$TMP/out")" "the gate line"
# markdown for a pull request
assert_exit 1 "compare markdown" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/slow.json" --format markdown
assert_contains "**keygate report compare**" "$(cat "$TMP/out")" "markdown heading"
assert_contains "| valid " "$(cat "$TMP/out")" "markdown row"
assert_contains "**FAIL: valid is slower" "$(cat "$TMP/out")" "markdown gate line"

# ---- the other way round: faster, which never fails --------------------------

assert_exit 0 "compare slow -> ok" -- "$KEYGATE" report compare "$TMP/slow.json" "$TMP/ok1.json" --format json
assert_eq "valid=faster invalid=faster missing=faster expired=faster all=faster" \
  "$(verdicts "$TMP/out")" "every class is faster"

# ---- the same server twice: not slower -----------------------------------------

assert_exit 0 "compare ok -> ok" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/ok2.json" --format json
same=$(verdicts "$TMP/out")
echo "same server twice: $same"
assert_not_contains "slower" "$same" "two runs of one server"
# "same" needs a change inside the 5% floor: a small class's per-second p99
# can move more between two runs without significance, which is
# inconclusive, so that is allowed here.

# ---- too short to tell: inconclusive ---------------------------------------------

assert_exit 0 "compare 2 s runs" -- "$KEYGATE" report compare "$TMP/short-ok.json" "$TMP/short-slow.json" --format json
assert_eq "valid=inconclusive invalid=inconclusive missing=inconclusive expired=inconclusive all=inconclusive" \
  "$(verdicts "$TMP/out")" "2 s runs are inconclusive"
assert_exit 0 "compare 2 s runs, table" -- "$KEYGATE" report compare "$TMP/short-ok.json" "$TMP/short-slow.json"
assert_contains "inconclusive with fewer than 5 seconds" "$(cat "$TMP/out")" "the method line says why"

# ---- trouble: exit 2 ---------------------------------------------------------------

assert_exit 2 "compare one file" -- "$KEYGATE" report compare "$TMP/ok1.json"
one_line_error "compare one file" "keygate report compare: want OLD.json NEW.json" "."
assert_exit 2 "compare a bad --fail-above" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/ok2.json" --fail-above ten
one_line_error "compare a bad --fail-above" "keygate report compare: --fail-above 'ten'" "percentage"
echo '{}' >"$TMP/empty.json"
assert_exit 2 "compare a file that is not a result" -- "$KEYGATE" report compare "$TMP/ok1.json" "$TMP/empty.json"
one_line_error "compare a file that is not a result" "keygate report compare: $TMP/empty.json: " "."

kg_done
