#!/usr/bin/env bash
# probe_echo.sh — `keygate probe` catches a server that echoes the key it
# was sent: fake_api.py --mode echo-key quotes every presented key in its
# 401 message. The cases that send a wrong key deviate naming the echo, the
# no_key_echo summary lists them, the cases without a key do not, and the
# probe's own output never shows the valid key although the server sent
# it back (bearer_tab carries the valid key, which the fake refuses and
# echoes). Against --mode ok the same cases show no echo.
#
# Environment: KEYGATE.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
HERE=$(cd "$(dirname "$0")" && pwd)

export KEYGATE_DB="$TMP/keys.db"
"$KEYGATE" accounts create acme >/dev/null
KEY=$("$KEYGATE" keys create --account acme --name echo --format tsv | cut -f2)
printf '%s\n' "$KEY" >"$TMP/valid.key"
printf '%s\n' "${KEY#sk_live_}" >"$TMP/bodies"
printf 'valid\t%s\n' "$KEY" >"$TMP/keys.tsv"

# fake MODE — start fake_api.py (it picks its port); sets FAKE_PORT.
fake() {
  kg_listener_start "fake_api.py --mode $1" python3 "$HERE/fake_api.py" \
    --keys "$TMP/keys.tsv" --mode "$1" --max-seconds 120
  FAKE_PORT=$KG_LISTENER_PORT
}

CASES=no_key,unknown_key_bearer,unknown_key_x_api_key,bad_checksum,bearer_tab,x_api_key_valid,no_key_echo

field() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([c[sys.argv[3]] for c in d["cases"] if c["name"] == sys.argv[2]][0])' \
    "$1" "$2" "$3"
}

# ---- the echo is caught ------------------------------------------------------
fake echo-key
RC=0
timeout 60 "$KEYGATE" probe "http://127.0.0.1:$FAKE_PORT/api/v1/iocs" \
  --key-file "$TMP/valid.key" --interval 0 --only "$CASES" \
  --json "$TMP/echo.json" >"$TMP/echo.out" 2>"$TMP/echo.err" || RC=$?
assert_eq 1 "$RC" "an echoing server: exit ($(head -c 300 "$TMP/echo.err"))"
for c in unknown_key_bearer unknown_key_x_api_key bad_checksum bearer_tab; do
  assert_eq deviation "$(field "$TMP/echo.json" "$c" verdict)" "$c: deviation"
  assert_contains "the answer holds a piece of a key sent" \
    "$(field "$TMP/echo.json" "$c" notes)" "$c: names the echo"
done
assert_eq deviation "$(field "$TMP/echo.json" no_key_echo verdict)" "no_key_echo: deviation"
assert_eq "echoed by: bearer_tab, unknown_key_bearer, unknown_key_x_api_key, bad_checksum" \
  "$(field "$TMP/echo.json" no_key_echo notes)" "no_key_echo: lists the echoing cases"
assert_eq pass "$(field "$TMP/echo.json" no_key verdict)" "no_key: nothing to echo"
assert_eq pass "$(field "$TMP/echo.json" x_api_key_valid verdict)" "x_api_key_valid: 200, no echo"
assert_contains "the answer holds a piece of a key sent" "$(cat "$TMP/echo.out")" \
  "the table shows the echo"
for f in "$TMP/echo.out" "$TMP/echo.err" "$TMP/echo.json"; do
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if grep -qF -f "$TMP/bodies" "$f"; then
    kg_fail "the echoed valid key reached $(basename "$f")"
  fi
done

# ---- every case: the list is whole or says how many it left out --------------
# (it was cut at 511 bytes, mid-name: "..., truncated_key, malformed_charact").
# A key the fake does not know: every case that sends one is refused and
# echoed, more names than a note holds.
printf '%s\n' sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk >"$TMP/other.key"
RC=0
timeout 60 "$KEYGATE" probe "http://127.0.0.1:$FAKE_PORT/api/v1/iocs" \
  --key-file "$TMP/other.key" --interval 0 \
  --json "$TMP/all.json" >"$TMP/all.out" 2>"$TMP/all.err" || RC=$?
assert_eq 1 "$RC" "an echoing server, every case: exit ($(head -c 300 "$TMP/all.err"))"
NOTE=$(field "$TMP/all.json" no_key_echo notes)
assert_contains "$NOTE" "$(cat "$TMP/all.out")" "the table holds the whole note"
kg_json_checks "$TMP/all.json" \
  'e = [c for c in d["cases"] if c["name"] == "no_key_echo"][0]' \
  'echoed = [c["name"] for c in d["cases"] if "the answer holds a piece of a key sent" in c["notes"]]' \
  'm = re.fullmatch(r"echoed by: ([a-z0-9_, ]+?)(?: and (\d+) more)?", e["notes"])' \
  'listed = m.group(1).split(", ") if m else []' <<'EOF2'
the list reads as names ;; m is not None ;; e["notes"]
longer than a note holds ;; len(", ".join(echoed)) > 512 and m.group(2) ;; e["notes"]
every name listed is whole, in order ;; listed == echoed[: len(listed)] ;; (listed, echoed)
the rest is counted ;; len(listed) + int(m.group(2) or 0) == len(echoed) ;; (len(listed), m.group(2), len(echoed))
got counts them all ;; e["got"].startswith("%d of " % len(echoed)) ;; e["got"]
EOF2

# ---- the same cases against the honest fake: no echo -------------------------
fake ok
RC=0
timeout 60 "$KEYGATE" probe "http://127.0.0.1:$FAKE_PORT/api/v1/iocs" \
  --key-file "$TMP/valid.key" --interval 0 --only "$CASES" \
  --json "$TMP/ok.json" >"$TMP/ok.out" 2>"$TMP/ok.err" || RC=$?
for c in no_key unknown_key_bearer unknown_key_x_api_key bad_checksum x_api_key_valid no_key_echo; do
  assert_eq pass "$(field "$TMP/ok.json" "$c" verdict)" "ok mode: $c passes"
done
kg_done
