#!/usr/bin/env bash
# probe_silent.sh — `keygate probe` against a target that stops answering
# while it still accepts connections. After a case without an answer in
# --timeout the probe sends a request without a key (no_key's); when that goes
# unanswered too the target is taken as silent: the cases judged before are
# reported, the rest skipped "not run", exit 2 with one line (review 108:
# it waited --timeout for every case left, ~5 minutes without a line). A
# target that hangs on one malformed request, or on the valid key's (a
# slow upstream), but answers a request without a key after it: a
# deviation of each such case, and the run goes on.
#
# Environment: KEYGATE.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
HERE=$(cd "$(dirname "$0")" && pwd)
kg_probe_test_keys # VALID, EXPIRED and their files (lib.sh)

# probe NAME PORT — one run, its exit status in RC, output in $TMP/NAME.*
probe() {
  RC=0
  timeout 120 "$KEYGATE" probe "http://127.0.0.1:$2/x" --key-file "$TMP/valid.key" \
    --expired-key-file "$TMP/expired.key" --interval 0 --timeout 1s \
    --json "$TMP/$1.json" >"$TMP/$1.out" 2>"$TMP/$1.err" || RC=$?
}

# ---- silent after 12 answers ---------------------------------------------------
kg_listener_start "fake_api.py --silent-after 12" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode ok --silent-after 12 --max-seconds 120
probe silent "$KG_LISTENER_PORT"
kill "$KG_LISTENER_PID" 2>/dev/null || true
assert_eq 2 "$RC" "a target gone silent: exit 2 ($(head -c 300 "$TMP/silent.err"))"
assert_eq 1 "$(wc -l <"$TMP/silent.err")" "one line on stderr"
assert_contains "the target stopped answering at case " "$(cat "$TMP/silent.err")" \
  "stderr says the target went silent"
assert_contains "the 12 cases judged before are reported, the rest not run" \
  "$(cat "$TMP/silent.err")" "stderr says what was kept"
python3 - "$TMP/silent.json" <<'PY' || kg_fail "silent: the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["unreachable"].startswith("the target stopped answering at case "), d["unreachable"]
cases = [c for c in d["cases"] if c["group"] != "summary"]
judged = [c for c in cases if c["verdict"] in ("pass", "deviation")]
not_run = [c for c in cases if c["verdict"] == "skipped" and c["notes"].startswith("not run: ")]
# the 12 answered cases are judged, and no other: the case that went
# unanswered, and every one after it, not run
assert len(judged) == 12 and not any("no answer" in c["got"] for c in judged), judged
assert not_run[0]["notes"].startswith("not run: the target stopped answering"), not_run[0]
assert len(not_run) == len(cases) - 12 >= 20, (len(not_run), len(cases))
PY
KG_ASSERTS=$((KG_ASSERTS + 1))

# ---- silent from the start: nothing judged, no report --------------------------
kg_listener_start "fake_api.py --mode blackhole" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode blackhole --max-seconds 120
probe blackhole "$KG_LISTENER_PORT"
kill "$KG_LISTENER_PID" 2>/dev/null || true
assert_eq 2 "$RC" "a target that never answers: exit 2"
assert_eq 1 "$(wc -l <"$TMP/blackhole.err")" "blackhole: one line on stderr"
assert_contains "the target stopped answering at case bearer_valid: not a byte of an answer within 1s, nor to a request without a key after it" \
  "$(cat "$TMP/blackhole.err")" "blackhole: says so at the first case"
KG_ASSERTS=$((KG_ASSERTS + 1))
[ ! -e "$TMP/blackhole.json" ] || kg_fail "blackhole: nothing judged, yet a --json file"

# ---- a gateway whose upstream hangs ---------------------------------------------
# The valid key's requests get no byte (the upstream is slow), every other
# request its answer at once: the control request carries no key, which a
# gateway answers itself, so the run goes on, each 2xx case a deviation
# (review 114: the control was bearer_valid, as slow as the case, and the
# run stopped at its first case).
kg_listener_start "fake_api.py --mode hang-valid" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode hang-valid --max-seconds 120
RC=0
timeout 120 "$KEYGATE" probe "http://127.0.0.1:$KG_LISTENER_PORT/x" --key-file "$TMP/valid.key" \
  --only bearer_valid,x_api_key_valid,no_key,scheme_lowercase --interval 0 --timeout 1s \
  --json "$TMP/hangvalid.json" >"$TMP/hangvalid.out" 2>"$TMP/hangvalid.err" || RC=$?
kill "$KG_LISTENER_PID" 2>/dev/null || true
assert_eq 1 "$RC" "a slow upstream: exit 1, deviations ($(head -c 300 "$TMP/hangvalid.err"))"
python3 - "$TMP/hangvalid.json" <<'PY' || kg_fail "hang-valid: the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
by = {c["name"]: c for c in d["cases"]}
for n in ("bearer_valid", "x_api_key_valid", "scheme_lowercase"):
    assert by[n]["verdict"] == "deviation" and "no whole answer within 1s" in by[n]["notes"], by[n]
assert by["no_key"]["verdict"] == "pass", by["no_key"]
assert not d.get("unreachable"), d.get("unreachable")
PY
KG_ASSERTS=$((KG_ASSERTS + 1))

# ---- a gateway that hangs on one malformed request -----------------------------
kg_listener_start "fake_api.py --mode hang-tab" python3 "$HERE/fake_api.py" \
  --keys "$TMP/keys.tsv" --mode hang-tab --max-seconds 120
probe hangtab "$KG_LISTENER_PORT"
kill "$KG_LISTENER_PID" 2>/dev/null || true
assert_eq 1 "$RC" "a hang on one case: exit 1, a deviation ($(head -c 300 "$TMP/hangtab.err"))"
assert_not_contains "stopped answering" "$(cat "$TMP/hangtab.err")" "hang-tab: the target is not lost"
python3 - "$TMP/hangtab.json" <<'PY' || kg_fail "hang-tab: the JSON report"
import json, sys
d = json.load(open(sys.argv[1]))
by = {c["name"]: c for c in d["cases"]}
assert by["bearer_tab"]["verdict"] == "deviation", by["bearer_tab"]
assert "no whole answer within 1s" in by["bearer_tab"]["notes"], by["bearer_tab"]
assert not d.get("unreachable"), d.get("unreachable")
assert not any(c["notes"].startswith("not run") for c in d["cases"] if c["notes"]), "a case not run"
assert d["summary"]["skipped"] == 0, d["summary"]
PY
KG_ASSERTS=$((KG_ASSERTS + 1))
kg_done
