#!/usr/bin/env bash
# report_merge.sh — `keygate report merge`, `check` and `show` on real runs:
# two `keygate load --json` runs against fake_api.py merged into a file
# whose histograms are, slot for slot, the sums of the two runs' (so its
# percentiles are those of one histogram fed both sample sets), counts
# summed, rps over the union of the spans; thresholds evaluated on the
# merged file with load's exit codes; files of another layout, another
# schema version or no JSON refused in one line with exit 2.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/report_common.bash
. "$(dirname "$0")/report_common.bash"

fake_start A ok
load_json "$URL_A" 2s "$TMP/a.json"
load_json "$URL_A" 2s "$TMP/b.json" --seed 7

# ---- merge: exact, bucket for bucket --------------------------------------

assert_exit 0 "merge --out" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/b.json" --out "$TMP/m.json"
assert_eq "" "$(cat "$TMP/out")" "merge --out: nothing on stdout"
assert_exit 0 "merge to stdout" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/b.json"
cp "$TMP/out" "$TMP/m-stdout.json"

KG_ASSERTS=$((KG_ASSERTS + 1))
python3 - "$TMP/a.json" "$TMP/b.json" "$TMP/m.json" "$TMP/m-stdout.json" <<'PY' || kg_fail "the merged file is not the sum of the runs"
import json, math, sys
a, b, m, m2 = (json.load(open(p)) for p in sys.argv[1:5])
assert m == m2, "merge --out and merge to stdout differ"
assert m["runs"] == 2 and m["version"] == 1 and m["schema"] == "keygate-load"
assert m["start_unix_ns"] == min(a["start_unix_ns"], b["start_unix_ns"])
assert m["end_unix_ns"] == max(a["end_unix_ns"], b["end_unix_ns"])
span = (m["end_unix_ns"] - m["start_unix_ns"]) / 1e9
for cls in ("valid", "invalid", "missing", "expired", "all"):
    ca, cb, cm = a["classes"][cls], b["classes"][cls], m["classes"][cls]
    for k in ("requests", "ok", "mismatches", "errors"):
        assert cm[k] == ca[k] + cb[k], (cls, k)
    ha, hb, hm = ca["histogram"], cb["histogram"], cm["histogram"]
    for k in ("lowest", "highest", "significant_digits"):
        assert ha[k] == hb[k] == hm[k], (cls, k)
    want = {}
    for i, n in ha["counts"] + hb["counts"]:
        want[i] = want.get(i, 0) + n
    assert hm["counts"] == sorted(want.items()) or \
        hm["counts"] == [list(x) for x in sorted(want.items())], (cls, "counts")
    assert hm["total"] == ha["total"] + hb["total"] > 0, (cls, "total")
    assert hm["min"] == min(ha["min"], hb["min"]) and \
        hm["max"] == max(ha["max"], hb["max"]), (cls, "min/max")
    assert abs(hm["sum"] - ha["sum"] - hb["sum"]) < 1e-6 * hm["sum"]
    assert math.isclose(cm["rps"], cm["requests"] / span, rel_tol=1e-6), cls
print("merged: %d requests, %d slots" % (m["classes"]["all"]["requests"],
      len(m["classes"]["all"]["histogram"]["counts"])))
PY

# merging is associative with a third run: a+b+a reads as 3 runs
assert_exit 0 "merge three" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/b.json" "$TMP/a.json" --out "$TMP/m3.json"
assert_eq 3 "$(json_get "$TMP/m3.json" runs)" "three runs merged"

# ---- show ------------------------------------------------------------------

assert_exit 0 "show" -- "$KEYGATE" report show "$TMP/m.json"
assert_contains "$(cat "$TMP/out")" "2 runs merged" "show: the set-up line"
assert_contains "$(cat "$TMP/out")" "expired" "show: the class table"
assert_exit 0 "show markdown" -- "$KEYGATE" report show "$TMP/m.json" --format markdown
assert_contains "$(cat "$TMP/out")" "| valid " "show markdown: a table row"
assert_contains "$(cat "$TMP/out")" "|:--" "show markdown: the rule"
assert_exit 0 "show json" -- "$KEYGATE" report show "$TMP/m.json" --format json
KG_ASSERTS=$((KG_ASSERTS + 1))
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' \
  "$TMP/out" "$TMP/m.json" || kg_fail "show --format json is not the file again"

# ---- check: load's exit codes on the merged result -------------------------

assert_exit 0 "check holds" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'p99<60s' --threshold mismatches==0
assert_contains "$(cat "$TMP/out")" "thresholds: 2 of 2 hold" "check: the summary"
assert_exit 1 "check violated" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'valid.p50<1us' --threshold 'rps>0'
assert_contains "$(cat "$TMP/out")" "valid.p50<1us VIOLATED" "check: the violated one"
one_line=$(cat "$TMP/err")
assert_contains "$one_line" "keygate report check: threshold violated: valid.p50<1us" "check: named on stderr"
assert_not_contains "$one_line" "rps>0" "check: a threshold that holds is not on stderr"
# without --threshold: the thresholds the run recorded (load's default)
assert_exit 0 "check recorded" -- "$KEYGATE" report check "$TMP/a.json"
assert_contains "$(cat "$TMP/out")" "mismatches==0 holds" "check: the recorded threshold"
assert_exit 2 "check bad expression" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'p99<<5'
one_line_error "check bad expression" "keygate report check: --threshold 'p99<<5'" "."

# ---- refusals ---------------------------------------------------------------

# another histogram layout (a file from a build with a 30 s ceiling)
python3 - "$TMP/b.json" "$TMP/layout.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["classes"].values():
    c["histogram"]["highest"] = 30000000
json.dump(d, open(sys.argv[2], "w"))
PY
assert_exit 2 "merge another layout" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/layout.json" --out "$TMP/bad.json"
one_line_error "merge another layout" "keygate report merge: $TMP/layout.json: cannot merge" "layout|highest"
KG_ASSERTS=$((KG_ASSERTS + 1))
[ ! -e "$TMP/bad.json" ] || kg_fail "a refused merge wrote its --out"

# schema version 2: refused by every subcommand, naming the file and version
python3 - "$TMP/a.json" "$TMP/v2.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["version"] = 2
json.dump(d, open(sys.argv[2], "w"))
PY
for sub in "show $TMP/v2.json" "merge $TMP/a.json $TMP/v2.json" "check $TMP/v2.json" \
  "compare $TMP/a.json $TMP/v2.json" "html $TMP/v2.json --out $TMP/v2.html"; do
  name=${sub%% *}
  # shellcheck disable=SC2086 # word splitting wanted: the subcommand's words
  assert_exit 2 "$name of a version 2 file" -- "$KEYGATE" report $sub
  one_line_error "$name of a version 2 file" "keygate report $name: $TMP/v2.json: " \
    "newer keygate \(schema version 2\).*reads version 1"
done

printf '{"schema": "keygate-load", "version": 1,' >"$TMP/cut.json"
assert_exit 2 "show a cut file" -- "$KEYGATE" report show "$TMP/cut.json"
one_line_error "show a cut file" "keygate report show: $TMP/cut.json: not JSON" "."
assert_exit 2 "show a missing file" -- "$KEYGATE" report show "$TMP/none.json"
one_line_error "show a missing file" "keygate report show: " "none.json"

# ---- usage ------------------------------------------------------------------

assert_exit 2 "no subcommand" -- "$KEYGATE" report
assert_exit 0 "help" -- "$KEYGATE" report --help
assert_contains "$(cat "$TMP/out")" "compare OLD.json NEW.json" "help lists compare"
assert_exit 2 "unknown subcommand" -- "$KEYGATE" report draw "$TMP/a.json"
one_line_error "unknown subcommand" "keygate report: unknown subcommand 'draw'" "."
assert_exit 2 "merge of one file" -- "$KEYGATE" report merge "$TMP/a.json"
one_line_error "merge of one file" "keygate report merge: want A.json B.json" "got 1 file"
assert_exit 2 "an option of another subcommand" -- "$KEYGATE" report show "$TMP/a.json" --out x
one_line_error "an option of another subcommand" "keygate report show: --out does not apply" "."
assert_exit 2 "a bad format" -- "$KEYGATE" report show "$TMP/a.json" --format html
one_line_error "a bad format" "keygate report show: --format 'html'" "table, json or markdown"
assert_exit 2 "html without --out" -- "$KEYGATE" report html "$TMP/a.json"
one_line_error "html without --out" "keygate report html: give the page's path" "."

kg_done
