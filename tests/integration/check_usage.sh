#!/usr/bin/env bash
# check_usage.sh — `keygate check` fails loudly and clearly, with the exit
# codes of every keygate command (docs/cli.md, issue 16): a usage error is
# one stderr line "keygate check: ..." and exit 2, as is an unreadable or
# bad keys file, or stdin that ends inside the head; what the server answers
# (a decision, a head that does not parse, a refusal before authentication)
# exits 0, the JSON naming it and a note on stderr naming why a head is
# refused (--fail: cli_check_batch.sh). Needs $KEYGATE (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"

K_ACTIVE=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk
KEYS=$TMP/keys.tsv
printf 'active\t%s\n' "$K_ACTIVE" >"$KEYS"
GOOD=$TMP/good.req
printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n\r\n' "$K_ACTIVE" >"$GOOD"

# one_line WHAT — stderr holds exactly one line, from `keygate check`, and
# never the key.
one_line() {
  assert_eq 1 "$(wc -l <"$TMP/err")" "$1: stderr lines"
  assert_contains "keygate check: " "$(cat "$TMP/err")" "$1: stderr prefix"
  assert_not_contains "$K_ACTIVE" "$(cat "$TMP/out" "$TMP/err")" "$1: key shown"
}

# ---- usage errors: exit 2 ---------------------------------------------------
assert_exit 2 "unknown flag" -- "$KEYGATE" check --keys "$KEYS" --bogus <"$GOOD"
one_line "unknown flag"
assert_eq "" "$(cat "$TMP/out")" "unknown flag: stdout"

assert_exit 2 "no --keys" -- "$KEYGATE" check <"$GOOD"
one_line "no --keys"

assert_exit 2 "--keys without a value" -- "$KEYGATE" check --keys <"$GOOD"
one_line "--keys without a value"

assert_exit 2 "bad --now" -- \
  "$KEYGATE" check --keys "$KEYS" --now yesterday <"$GOOD"
one_line "bad --now"

assert_exit 2 "--now with a date only" -- \
  "$KEYGATE" check --keys "$KEYS" --now 2026-01-01 <"$GOOD"
one_line "--now with a date only"

assert_exit 2 "bad --policy" -- \
  "$KEYGATE" check --keys "$KEYS" --policy loose <"$GOOD"
one_line "bad --policy"

assert_exit 2 "bad --prefix" -- \
  "$KEYGATE" check --keys "$KEYS" --prefix 'sk live' <"$GOOD"
one_line "bad --prefix"

assert_exit 2 "--prefix over 16 characters" -- \
  "$KEYGATE" check --keys "$KEYS" --prefix abcdefghijklmnopq <"$GOOD"
one_line "--prefix over 16 characters"

assert_exit 2 "--realm with a quote" -- \
  "$KEYGATE" check --keys "$KEYS" --realm 'a"b' <"$GOOD"
one_line "--realm with a quote"

assert_exit 0 "--help" -- "$KEYGATE" check --help
assert_contains "--keys" "$(cat "$TMP/out")" "--help: names --keys"

# ---- trouble: exit 2 -----------------------------------------------
assert_exit 2 "missing keys file" -- \
  "$KEYGATE" check --keys "$TMP/nope.tsv" <"$GOOD"
one_line "missing keys file"
assert_contains "nope.tsv" "$(cat "$TMP/err")" "missing keys file: names it"

printf 'enabled\t%s\n' "$K_ACTIVE" >"$TMP/badstatus.tsv"
assert_exit 2 "unknown status in keys file" -- \
  "$KEYGATE" check --keys "$TMP/badstatus.tsv" <"$GOOD"
one_line "unknown status in keys file"

printf 'active %s\n' "$K_ACTIVE" >"$TMP/notab.tsv"
assert_exit 2 "keys line without a tab" -- \
  "$KEYGATE" check --keys "$TMP/notab.tsv" <"$GOOD"
one_line "keys line without a tab"

printf 'active\t%s\nactive\t%s\n' "$K_ACTIVE" "$K_ACTIVE" >"$TMP/dup.tsv"
assert_exit 2 "the same key twice" -- \
  "$KEYGATE" check --keys "$TMP/dup.tsv" <"$GOOD"
one_line "the same key twice"

# parse_fails NAME BYTES PARSE_ERROR — a head that does not parse.
parse_fails() {
  # shellcheck disable=SC2059 # the request is a printf format on purpose
  printf "$2" >"$TMP/$1.req"
  local want=0
  [ "$3" != incomplete ] || want=2 # nothing to answer: trouble
  assert_exit "$want" "$1" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/$1.req"
  one_line "$1"
  assert_eq "$3" "$(json_get "$TMP/out" parse_error)" "$1: parse_error"
  assert_eq null "$(json_get "$TMP/out" decision)" "$1: decision"
  cp "$TMP/out" "$TMP/$1.json"
}
parse_fails obs_fold 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n' obs_fold
parse_fails ws_before_colon 'GET / HTTP/1.1\r\nX-API-Key : k\r\n\r\n' \
  whitespace_before_colon
# NUL stays a parse error even for check (nginx refuses it too); other
# control bytes in a value reach the credential rules (check_decisions.sh).
parse_fails control_char 'GET / HTTP/1.1\r\nX-API-Key: k\000\r\n\r\n' \
  control_character
parse_fails bad_version 'GET / HTTP/2\r\n\r\n' bad_version
parse_fails empty_stdin '' incomplete
parse_fails request_line_only 'GET / HTTP/1.1' incomplete
# a head cut short: the offset and the line say where stdin ended (review
# 78: "at byte 0" whatever was read); empty stdin says so
assert_eq 14 "$(json_get "$TMP/request_line_only.json" offset)" \
  "request_line_only: offset (where stdin ended)"
"$KEYGATE" check --keys "$KEYS" <"$TMP/request_line_only.req" >/dev/null 2>"$TMP/cut.err" || true
assert_contains "stdin ends inside the request head, after 14 bytes" \
  "$(cat "$TMP/cut.err")" "request_line_only: the line says where stdin ended"
"$KEYGATE" check --keys "$KEYS" <"$TMP/empty_stdin.req" >/dev/null 2>"$TMP/empty.err" || true
assert_contains "stdin holds no request head" "$(cat "$TMP/empty.err")" \
  "empty stdin: the line says so"
assert_eq 22 "$(json_get "$TMP/obs_fold.json" offset)" "obs_fold: offset"
assert_eq 26 "$(json_get "$TMP/ws_before_colon.json" offset)" \
  "ws_before_colon: offset (the colon)"
assert_eq 28 "$(json_get "$TMP/control_char.json" offset)" \
  "control_char: offset"

# A byte the parser refuses past the request line's first 8 KiB: nginx's
# buffer is full before it, so 414 uri_too_long, the parse error and its
# offset kept, and a line that says why (not "the server answers 400 too").
{
  printf 'GET /'
  head -c 9000 /dev/zero | tr '\0' b
  printf '\001 HTTP/1.1\r\nHost: a\r\n\r\n'
} >"$TMP/late_ctl.req"
assert_exit 0 "a control byte past 8 KiB" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/late_ctl.req"
one_line "a control byte past 8 KiB"
assert_eq 414 "$(json_get "$TMP/out" status)" "late control byte: status"
assert_eq uri_too_long "$(json_get "$TMP/out" code)" "late control byte: code"
assert_eq bad_target "$(json_get "$TMP/out" parse_error)" "late control byte: parse_error"
assert_eq 9005 "$(json_get "$TMP/out" offset)" "late control byte: offset"
"$KEYGATE" check --keys "$KEYS" <"$TMP/late_ctl.req" >/dev/null 2>"$TMP/late.err" || true
assert_contains "the request line does not fit 8192 bytes before the byte check refuses (bad_target at byte 9005): the server answers 414" \
  "$(cat "$TMP/late.err")" "late control byte: the line says why 414"

# over 16 KiB of head
{
  printf 'GET / HTTP/1.1\r\nX-Pad: '
  head -c 17000 /dev/zero | tr '\0' a
  printf '\r\n\r\n'
} >"$TMP/big.req"
assert_exit 0 "head over 16 KiB" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/big.req"
one_line "head over 16 KiB"
assert_eq head_too_large "$(json_get "$TMP/out" parse_error)" \
  "head over 16 KiB: parse_error"

# 101 field lines
{
  printf 'GET / HTTP/1.1\r\n'
  for i in $(seq 1 101); do printf 'X-F%d: v\r\n' "$i"; done
  printf '\r\n'
} >"$TMP/many.req"
assert_exit 0 "101 fields" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/many.req"
assert_eq too_many_fields "$(json_get "$TMP/out" parse_error)" \
  "101 fields: parse_error"

# ---- a head the server refuses before authentication --------------------------
# is what the server answers, so it exits 0 like a parse error (1 under
# --fail); the JSON names the status and code the server
# answers, why (refusal) and the whole response, whose message names the
# cause (docs/contract.md, "Heads refused before authentication").
printf 'GET / HTTP/1.1\r\nX-API-Key: k\r\n\r\n' >"$TMP/nohost.req"
assert_exit 0 "no Host" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/nohost.req"
one_line "no Host"
assert_eq null "$(json_get "$TMP/out" decision)" "no Host: decision"
assert_eq 400 "$(json_get "$TMP/out" status)" "no Host: status"
assert_eq bad_request "$(json_get "$TMP/out" code)" "no Host: code"
assert_eq missing_host "$(json_get "$TMP/out" refusal)" "no Host: refusal"
case "$(json_get "$TMP/out" response)" in
*'"code":"bad_request","message":"The request has no Host header.'*) ;;
*) kg_fail "no Host: the response's message does not name the Host" ;;
esac
printf 'TRACE / HTTP/1.1\r\nHost: a\r\n\r\n' >"$TMP/trace.req"
assert_exit 0 "TRACE" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/trace.req"
assert_eq 405 "$(json_get "$TMP/out" status)" "TRACE: status"
assert_eq method_not_allowed "$(json_get "$TMP/out" code)" "TRACE: code"
# a key in the URL still wins (SPEC §1.3): that is a decision, exit 0
printf 'TRACE /?api_key=k HTTP/1.1\r\n\r\n' >"$TMP/trace_key.req"
assert_exit 0 "TRACE with a query key" -- \
  "$KEYGATE" check --keys "$KEYS" <"$TMP/trace_key.req"
assert_eq api_key_in_query "$(json_get "$TMP/out" decision)" \
  "TRACE with a query key: decision"

# ---- every decision exits 0 -------------------------------------------------
assert_exit 0 "valid" -- "$KEYGATE" check --keys "$KEYS" <"$GOOD"
assert_eq "" "$(cat "$TMP/err")" "valid: quiet stderr"
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' >"$TMP/missing.req"
assert_exit 0 "missing" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/missing.req"
assert_eq missing_api_key "$(json_get "$TMP/out" decision)" "missing: decision"
assert_eq "" "$(cat "$TMP/err")" "missing: quiet stderr"

# an empty keys file (comments only) is an empty index
printf '# nothing yet\n\n' >"$TMP/empty.tsv"
assert_exit 0 "empty keys file" -- "$KEYGATE" check --keys "$TMP/empty.tsv" <"$GOOD"
assert_eq key_unknown "$(json_get "$TMP/out" detail)" "empty keys file: detail"

# the file 'keys seed --out' writes is a keys file as it is ('valid' lines
# are active keys), as the README shows
export KEYGATE_DB=$TMP/seed.db
"$KEYGATE" keys seed --valid 2 --expired 1 --deactivated 1 --out "$TMP/seed.tsv" >/dev/null
for class in valid expired deactivated; do
  key=$(grep -m1 "^$class"$'\t' "$TMP/seed.tsv" | cut -f2)
  printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n\r\n' "$key" >"$TMP/seed.req"
  assert_exit 0 "seeded $class key" -- "$KEYGATE" check --keys "$TMP/seed.tsv" <"$TMP/seed.req"
  case $class in
  valid) want=valid ;;
  *) want=expired_api_key ;;
  esac
  assert_eq "$want" "$(json_get "$TMP/out" decision)" "seeded $class key: decision"
done

# a key line whose key is not a token68 holds no key a request could
# present: refused by line, not taken to answer key_unknown later (a review
# found these loaded silently)
i=0
for line in "active\t $K_ACTIVE" "active\t$K_ACTIVE\textra" "active\t$K_ACTIVE x" \
  "active\tsk_live_\001${K_ACTIVE#sk_live_?}"; do
  i=$((i + 1))
  printf "active\t%s\n$line\n" "$K_ACTIVE" >"$TMP/bad$i.tsv"
  assert_exit 2 "a key line that is no token68 ($i)" -- "$KEYGATE" check --keys "$TMP/bad$i.tsv" <"$GOOD"
  one_line "a key line that is no token68 ($i)"
  assert_contains "bad$i.tsv:2: the key is not a token68" \
    "$(cat "$TMP/err")" "a key line that is no token68 ($i): file, line and why"
done
# a token68 malformed under this run's policy stays (one file serves
# several policies): its decision says why it fails
printf 'active\t%sxy\n' "$K_ACTIVE" >"$TMP/long.tsv"
printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %sxy\r\n\r\n' "$K_ACTIVE" >"$TMP/long.req"
assert_exit 0 "a longer key in the file, strict policy" -- \
  "$KEYGATE" check --keys "$TMP/long.tsv" <"$TMP/long.req"
assert_eq key_bad_length "$(json_get "$TMP/out" detail)" "a longer key, strict: the decision says why"
assert_exit 0 "a longer key in the file, prefix policy" -- \
  "$KEYGATE" check --keys "$TMP/long.tsv" --policy prefix <"$TMP/long.req"
assert_eq valid "$(json_get "$TMP/out" decision)" "a longer key, prefix policy: valid"

# a directory opens with fopen() on Linux but cannot be read: it must not
# pass for an empty keys file
mkdir "$TMP/dir.tsv"
assert_exit 2 "keys file is a directory" -- \
  "$KEYGATE" check --keys "$TMP/dir.tsv" <"$GOOD"
one_line "keys file is a directory"

kg_done
