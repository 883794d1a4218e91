#!/usr/bin/env bash
# report_merge.sh — `keygate report merge`, `check` and `show` on real runs:
# two `keygate load --json` runs against fake_api.py merged into a file
# whose histograms are, slot for slot, the sums of the two runs' (so its
# percentiles are those of one histogram fed both sample sets), counts
# summed, rps over the union of the spans; thresholds evaluated on the
# merged file with load's exit codes; files of another layout, another
# schema version or no JSON refused in one line with exit 2; runs of other
# traffic (URL, method, header form, mix, expectations) or spans that do
# not overlap refused in one line naming the field (--force merges them);
# a run that measured nothing (its warm-up cut by ^C) refused by check,
# merge and compare, and said by show.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/report_common.bash
. "$(dirname "$0")/report_common.bash"

fake_start A ok
# side by side: a merge takes its runs as concurrent (spans that overlap)
load_bg a "$URL_A" 2s
load_bg b "$URL_A" 2s --seed 7
load_wait

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
assert_contains "2 runs merged" "$(cat "$TMP/out")" "show: the set-up line"
assert_contains "expired" "$(cat "$TMP/out")" "show: the class table"
assert_exit 0 "show markdown" -- "$KEYGATE" report show "$TMP/m.json" --format markdown
assert_contains "| valid " "$(cat "$TMP/out")" "show markdown: a table row"
assert_contains "|:--" "$(cat "$TMP/out")" "show markdown: the rule"
assert_exit 0 "show json" -- "$KEYGATE" report show "$TMP/m.json" --format json
KG_ASSERTS=$((KG_ASSERTS + 1))
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open(sys.argv[2]))' \
  "$TMP/out" "$TMP/m.json" || kg_fail "show --format json is not the file again"

# ---- check: load's exit codes on the merged result -------------------------

assert_exit 0 "check holds" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'p99<60s' --threshold mismatches==0
assert_contains "thresholds: 3 of 3 hold" "$(cat "$TMP/out")" "check: the summary (and errors==0, which neither names)"
# a merged file records no threshold: it is held to load's defaults, both
assert_exit 0 "check, no threshold" -- "$KEYGATE" report check "$TMP/m.json"
assert_contains "mismatches==0 holds" "$(cat "$TMP/out")" "check, no threshold: mismatches==0"
assert_contains "errors==0 holds" "$(cat "$TMP/out")" "check, no threshold: errors==0 (review 96: merged files were not held to it)"
assert_exit 1 "check violated" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'valid.p50<1us' --threshold 'rps>0'
assert_contains "valid.p50<1us VIOLATED" "$(cat "$TMP/out")" "check: the violated one"
one_line=$(cat "$TMP/err")
assert_contains "keygate report check: threshold violated: valid.p50<1us" "$one_line" "check: named on stderr"
assert_not_contains "rps>0" "$one_line" "check: a threshold that holds is not on stderr"
# stderr says what the table says: the value in the expression's unit, or
# "no responses" for a latency of a class without any (not "measured 0")
load_json "$URL_A" 500ms "$TMP/valid-only.json" --mix valid=100
assert_exit 1 "check a latency without responses" -- "$KEYGATE" report check "$TMP/valid-only.json" \
  --threshold 'expired.p99<1s' --threshold 'valid.p50<1us'
assert_contains "keygate report check: threshold violated: expired.p99<1s VIOLATED (no responses)" \
  "$(cat "$TMP/err")" "check: no responses, as the table says"
assert_match "keygate report check: threshold violated: valid.p50<1us VIOLATED \([0-9]+us\)" \
  "$(cat "$TMP/err")" "check: the value in the expression's unit"
assert_not_contains "measured" "$(cat "$TMP/err")" "check: no 'measured 0'"
# without --threshold: the thresholds the run recorded (load's default)
assert_exit 0 "check recorded" -- "$KEYGATE" report check "$TMP/a.json"
assert_contains "mismatches==0 holds" "$(cat "$TMP/out")" "check: the recorded threshold"
# the all row is a class a threshold may name: the list says so
assert_exit 2 "check unknown class" -- "$KEYGATE" report check "$TMP/m.json" --threshold 'VALID.p99<50ms'
one_line_error "check unknown class" "keygate report check: --threshold 'VALID.p99<50ms'" \
  "\(valid, invalid, missing, expired or all\)"
# standard input can be read once: '-' twice is named (it read '-' once,
# then said the second was "not JSON")
assert_exit 2 "merge - -" -- "$KEYGATE" report merge - - <"$TMP/a.json"
one_line_error "merge - -" "keygate report merge: '-' (standard input) is given twice" "."
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

# ---- what may be merged (review finding: unrelated runs merged silently) ----

# other traffic, or a span apart: exit 2, one line naming the field;
# --force merges anyway
unrelated() { # NAME PYTHON REGEX
  python3 - "$TMP/b.json" "$TMP/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
  assert_exit 2 "merge $1" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/$1.json" --out "$TMP/u.json"
  one_line_error "merge $1" "keygate report merge: $TMP/$1.json: cannot merge with $TMP/a.json: " "$3"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  [ ! -e "$TMP/u.json" ] || kg_fail "merge $1: a refused merge wrote its --out"
  assert_exit 0 "merge $1 --force" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/$1.json" --force --out "$TMP/u.json"
  assert_eq 2 "$(json_get "$TMP/u.json" runs)" "merge $1 --force: two runs"
  rm -f "$TMP/u.json"
}
unrelated url 'd["config"]["url"] = d["config"]["url"] + "?type=ip"' "config.url differs"
unrelated method 'd["config"]["method"] = "POST"' "config.method differs"
unrelated header 'd["config"]["header"] = "bearer"' "config.header differs"
unrelated mix 'd["config"]["mix"]["valid"] = 1' "config.mix differs"
unrelated expect 'd["config"]["expect"]["valid"]["status"] = 204' "config.expect differs"
unrelated later 'd["start_unix_ns"] += 3600 * 10**9; d["end_unix_ns"] += 3600 * 10**9' \
  "spans do not overlap.*--force"
unrelated before 'd["end_unix_ns"] = d["start_unix_ns"] - 5 * 10**9; d["start_unix_ns"] -= 10 * 10**9' \
  "spans do not overlap"
# the third file is checked against what was merged before it
assert_exit 2 "merge three, the third apart" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/b.json" "$TMP/later.json"
one_line_error "merge three, the third apart" \
  "keygate report merge: $TMP/later.json: cannot merge with the files before it: " "do not overlap"
assert_exit 2 "--force is merge's" -- "$KEYGATE" report show "$TMP/a.json" --force
one_line_error "--force is merge's" "keygate report show: --force does not apply" "."

# ---- a run that measured nothing (review finding: its warm-up cut) -----------

"$KEYGATE" load "$URL_A" --keys "$KEYS" -d 2s --warmup 30s -c 2 \
  --json "$TMP/warmcut.json" -q >"$TMP/warmcut.out" 2>"$TMP/warmcut.err" &
cut_pid=$!
kg_track "$cut_pid"
# ^C once load catches SIGINT (its run has begun: SigCgt bit 1), not after a
# fixed sleep, which lost the race on a busy machine (exit 130)
for _ in $(seq 1 300); do
  caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$cut_pid/status" 2>/dev/null)
  [ -z "$caught" ] || [ $((0x$caught & 2)) -eq 0 ] || break
  sleep 0.1
done
sleep 0.5
kill -INT "$cut_pid"
# bounded: 30 s for it to stop, or it is killed and the exit is wrong
for _ in $(seq 1 300); do
  kill -0 "$cut_pid" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$cut_pid" 2>/dev/null || true
rc=0
wait "$cut_pid" || rc=$?
assert_eq 130 "$rc" "load stopped in its warm-up: exit (interrupted: SIGINT)"
assert_eq 1 "$(wc -l <"$TMP/warmcut.err")" "load stopped in its warm-up: one line ($(cat "$TMP/warmcut.err"))"
assert_contains "keygate load: nothing was measured: stopped by SIGINT in its warm-up (" \
  "$(cat "$TMP/warmcut.err")" "load stopped in its warm-up: the line"
now_ns=$(date +%s%N)
kg_json_checks "$TMP/warmcut.json" "now = $now_ns" <<'CHECKS'
nothing measured ;; d["totals"]["requests"] == 0 ;; d["totals"]
the warm-up as run, not as asked ;; 0.3 <= d["warmup"]["seconds"] < 10 ;; d["warmup"]
as asked in config ;; d["config"]["warmup_s"] == 30 ;; d["config"]["warmup_s"]
warmed up ;; d["warmup"]["requests"] > 0 ;; d["warmup"]
the span is when it stopped, not in the future ;; d["start_unix_ns"] == d["end_unix_ns"] <= now ;; (d["start_unix_ns"], now)
and not before the warm-up ;; d["start_unix_ns"] > now - 30 * 10**9 ;; (d["start_unix_ns"], now)
no threshold recorded ;; d["thresholds"] == [] ;; d["thresholds"]
CHECKS
assert_exit 2 "check a run that measured nothing" -- "$KEYGATE" report check "$TMP/warmcut.json"
one_line_error "check a run that measured nothing" "keygate report check: $TMP/warmcut.json measured nothing" \
  "warm-up, which was cut short"
assert_exit 2 "check --threshold a run that measured nothing" -- "$KEYGATE" report check "$TMP/warmcut.json" --threshold mismatches==0
assert_exit 2 "merge a run that measured nothing" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/warmcut.json"
one_line_error "merge a run that measured nothing" "keygate report merge: $TMP/warmcut.json measured nothing" "."
assert_exit 2 "merge --force a run that measured nothing" -- "$KEYGATE" report merge "$TMP/warmcut.json" "$TMP/a.json" --force
assert_exit 2 "compare a run that measured nothing" -- "$KEYGATE" report compare "$TMP/a.json" "$TMP/warmcut.json"
one_line_error "compare a run that measured nothing" "keygate report compare: $TMP/warmcut.json measured nothing" "."
for fmt in table markdown; do
  assert_exit 0 "show a run that measured nothing, $fmt" -- "$KEYGATE" report show "$TMP/warmcut.json" --format $fmt
  assert_contains "nothing was measured" "$(cat "$TMP/out")" "show $fmt: says it"
  assert_contains "cut short (30.0 s asked)" "$(cat "$TMP/out")" "show $fmt: the warm-up cut"
done
assert_exit 0 "html of a run that measured nothing" -- "$KEYGATE" report html "$TMP/warmcut.json" --out "$TMP/warmcut.html"
assert_contains "No response was measured" "$(cat "$TMP/warmcut.html")" "html: says it"

# ---- hostile files (the review of issue 10) ----------------------------------

# craft NAME PYTHON — $TMP/NAME.json: a.json changed by PYTHON (d is the
# document).
craft() {
  python3 - "$TMP/a.json" "$TMP/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
}

# counts whose sum passes 2^63 - 1, and a span that ends before it starts:
# exit 2 and one line naming the file (UBSan aborted with exit 1 before)
craft overflow 'h = d["classes"]["valid"]["histogram"]; c = h["counts"]
big = (1 << 62) + (1 << 61)
h["counts"] = [[c[0][0], big], [c[1][0], big]]; h["total"] = 5'
assert_exit 2 "show counts that overflow" -- "$KEYGATE" report show "$TMP/overflow.json"
one_line_error "show counts that overflow" "keygate report show: $TMP/overflow.json: " "add up beyond 2\^63 - 1"
craft backwards 'd["end_unix_ns"] = d["start_unix_ns"] - 10**9'
assert_exit 2 "show a span that ends first" -- "$KEYGATE" report show "$TMP/backwards.json"
one_line_error "show a span that ends first" "keygate report show: $TMP/backwards.json: end_unix_ns" "before start_unix_ns"
craft widest 'd["start_unix_ns"] = -(1 << 63); d["end_unix_ns"] = (1 << 63) - 1'
assert_exit 0 "show the widest span" -- "$KEYGATE" report show "$TMP/widest.json"
# two valid files of about 5e18 requests each: the merge is refused
craft huge 'n = 5 * 10**18
for c in ("valid", "all"):
    d["classes"][c]["requests"] += n; d["classes"][c]["ok"] += n'
craft huge2 'n = 5 * 10**18
for c in ("valid", "all"):
    d["classes"][c]["requests"] += n; d["classes"][c]["ok"] += n
d["config"]["seed"] = "8"'
assert_exit 2 "merge counts that overflow" -- "$KEYGATE" report merge "$TMP/huge.json" "$TMP/huge2.json" --out "$TMP/huge-m.json"
one_line_error "merge counts that overflow" "keygate report merge: $TMP/huge2.json: cannot merge" "would pass 2\^63 - 1"
# rows that do not add up
craft rows 'd["classes"]["valid"]["ok"] = 0'
assert_exit 2 "show a row that does not add up" -- "$KEYGATE" report show "$TMP/rows.json"
one_line_error "show a row that does not add up" "keygate report show: $TMP/rows.json: classes.valid" "is not ok \+ mismatches \+ errors"
craft allrow 'd["classes"]["all"]["requests"] += 1; d["classes"]["all"]["ok"] += 1'
assert_exit 2 "show an all row that is not the sum" -- "$KEYGATE" report show "$TMP/allrow.json"
one_line_error "show an all row that is not the sum" "keygate report show: $TMP/allrow.json: classes.all" "not the sum of the four classes"
# keys of every issuer are masked on reading, in every format
craft keys 'd["samples"] = [{"class": "invalid", "kinds": ["code"], "status": 401,
  "expected_status": 401, "expected_code": "invalid_api_key", "code": "x",
  "request_id": "req_x", "key": "sk_test_AbCdEfGhIjKlMnOpQrSt",
  "detail": "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 and sk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"}]
d["config"]["url"] = "http://h/x?t=sk_test_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ABCD"'
for fmt in table markdown json; do
  assert_exit 0 "show keys, $fmt" -- "$KEYGATE" report show "$TMP/keys.json" --format "$fmt"
  assert_not_contains "AbCdEfGh" "$(cat "$TMP/out")" "show $fmt: no key body"
done
assert_contains "ghp_****6789" "$(cat "$TMP/out")" "a ghp_ key masked"
# markdown: the file's texts are escaped
craft md 's = "![pixel](https://evil.example/p.png) @octocat"
d["config"]["engine"] = s; d["config"]["protocol"] = s'
assert_exit 0 "show markdown of hostile texts" -- "$KEYGATE" report show "$TMP/md.json" --format markdown
assert_not_contains "![" "$(cat "$TMP/out")" "show markdown: no image"
assert_not_contains " @oct" "$(cat "$TMP/out")" "show markdown: no mention"
assert_exit 0 "compare markdown of hostile texts" -- "$KEYGATE" report compare "$TMP/a.json" "$TMP/md.json" --format markdown
assert_contains "note: the set-ups differ" "$(cat "$TMP/out")" "compare: the note"
assert_not_contains "![" "$(cat "$TMP/out")" "compare markdown: no image"
assert_not_contains " @oct" "$(cat "$TMP/out")" "compare markdown: no mention"
# a merged file gets no per-second verdict
assert_exit 0 "compare a merged file" -- "$KEYGATE" report compare "$TMP/a.json" "$TMP/m.json"
assert_contains "inconclusive (merged: per-second percentiles are upper bounds)" "$(cat "$TMP/out")" "compare merged"
assert_not_contains "slower (" "$(cat "$TMP/out")" "compare merged: never slower"
# the same run twice: merged, with one warning line
assert_exit 0 "merge a run with itself" -- "$KEYGATE" report merge "$TMP/a.json" "$TMP/a.json" --out "$TMP/aa.json"
assert_eq 1 "$(wc -l <"$TMP/err")" "merge a run with itself: one warning line"
assert_contains "is the same run as" "$(cat "$TMP/err")" "merge a run with itself: the warning"
# a folder and a FIFO without a writer are refused at once
assert_exit 2 "show a folder" -- "$KEYGATE" report show "$TMP"
one_line_error "show a folder" "keygate report show: $TMP: " "is a folder"
mkfifo "$TMP/fifo"
assert_exit 2 "show a FIFO" -- timeout 10 "$KEYGATE" report show "$TMP/fifo"
one_line_error "show a FIFO" "keygate report show: $TMP/fifo: " "not a regular file"

# ---- usage ------------------------------------------------------------------

assert_exit 2 "no subcommand" -- "$KEYGATE" report
# one line, as every exit 2 (it was the 28 lines of --help)
one_line_error "no subcommand" "keygate report: no subcommand given" "report --help"
assert_exit 0 "help" -- "$KEYGATE" report --help
assert_contains "compare OLD.json NEW.json" "$(cat "$TMP/out")" "help lists compare"
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
