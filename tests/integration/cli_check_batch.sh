#!/usr/bin/env bash
# cli_check_batch.sh — `keygate check --fail` exits 1 when the server would
# refuse the request (any decision but valid, a head refused before
# authentication) and 0 when it lets it through; `check --batch` answers
# every head of stdin in a row, one JSON line each, in order, and stops
# after a head that does not parse (issue 16; docs/cli.md). Needs $KEYGATE.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
unset KEYGATE_DB KEYGATE_PEPPER_FILE

export KEYGATE_DB=$TMP/k.db
"$KEYGATE" keys seed --valid 1 --expired 1 --deactivated 1 --out "$TMP/keys.tsv" >/dev/null
KEYS=$TMP/keys.tsv
VALID=$(grep -m1 "^valid" "$KEYS" | cut -f2)
EXPIRED=$(grep -m1 "^expired" "$KEYS" | cut -f2)
# req [FIELD] — a head with Host and FIELD
req() {
  printf 'GET /x HTTP/1.1\r\nHost: a\r\n'
  if [ $# -gt 0 ]; then printf '%s\r\n' "$1"; fi
  printf '\r\n'
}
req "X-API-Key: $VALID" >"$TMP/valid.req"
req >"$TMP/missing.req"
req "Authorization: Bearer $EXPIRED" >"$TMP/expired.req"
printf 'GET / HTTP/1.1\r\nX-API-Key: %s\r\n\r\n' "$VALID" >"$TMP/nohost.req"
printf 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n' >"$TMP/fold.req"

# no_key — nothing printed holds a key
no_key() {
  assert_not_contains "$VALID" "$(cat "$TMP/out" "$TMP/err")" "$1: the valid key printed"
  assert_not_contains "$EXPIRED" "$(cat "$TMP/out" "$TMP/err")" "$1: the expired key printed"
}

# ---- --fail: the exit status says refused ---------------------------------
assert_exit 0 "--fail, valid" -- "$KEYGATE" check --keys "$KEYS" --fail <"$TMP/valid.req"
assert_eq valid "$(json_get "$TMP/out" decision)" "--fail, valid: decision"
for r in missing expired nohost fold; do
  assert_exit 1 "--fail, $r" -- "$KEYGATE" check --keys "$KEYS" --fail <"$TMP/$r.req"
  no_key "--fail, $r"
  # without --fail the same answer exits 0
  assert_exit 0 "no --fail, $r" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/$r.req"
done
assert_exit 1 "--fail, expired" -- "$KEYGATE" check --keys "$KEYS" --fail <"$TMP/expired.req"
assert_eq expired_api_key "$(json_get "$TMP/out" decision)" "--fail, expired: decision"
# the store works the same way, by $KEYGATE_DB
assert_exit 0 "--fail, valid, the store of KEYGATE_DB" -- "$KEYGATE" check --fail <"$TMP/valid.req"
assert_eq seed-0001 "$(json_get "$TMP/out" account)" "the store's account"
assert_exit 1 "--fail, expired, the store" -- "$KEYGATE" check --fail <"$TMP/expired.req"
# trouble stays 2 under --fail
assert_exit 2 "--fail, a keys file that is not there" -- \
  "$KEYGATE" check --keys "$TMP/none.tsv" --fail <"$TMP/valid.req"
printf 'GET / HTTP/1.1\r\nHost: a\r\n' | head -c 20 >"$TMP/cut.req"
assert_exit 2 "--fail, stdin ends inside the head" -- \
  "$KEYGATE" check --keys "$KEYS" --fail <"$TMP/cut.req"

# ---- --batch: one JSON line per head, in order ------------------------------
cat "$TMP/valid.req" "$TMP/missing.req" "$TMP/expired.req" "$TMP/nohost.req" \
  "$TMP/valid.req" >"$TMP/five.req"
assert_exit 0 "--batch of five" -- "$KEYGATE" check --keys "$KEYS" --batch <"$TMP/five.req"
no_key "--batch of five"
assert_eq 5 "$(wc -l <"$TMP/out")" "--batch of five: lines"
answers() {
  python3 -c 'import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(d["decision"] or d["refusal"], d["request_id"])' "$1"
}
answers "$TMP/out" >"$TMP/answers"
assert_eq "valid missing_api_key expired_api_key missing_host valid" \
  "$(cut -d' ' -f1 "$TMP/answers" | paste -sd' ')" "--batch of five: answers in order"
assert_eq 5 "$(cut -d' ' -f2 "$TMP/answers" | sort -u | wc -l)" "a request id each"
assert_exit 1 "--batch --fail, one refused" -- \
  "$KEYGATE" check --keys "$KEYS" --batch --fail <"$TMP/five.req"
assert_eq 5 "$(wc -l <"$TMP/out")" "--batch --fail: every head still answered"
cat "$TMP/valid.req" "$TMP/valid.req" >"$TMP/two.req"
assert_exit 0 "--batch --fail, every one valid" -- \
  "$KEYGATE" check --keys "$KEYS" --batch --fail <"$TMP/two.req"
assert_eq 2 "$(wc -l <"$TMP/out")" "two valid: lines"
# empty lines between heads are skipped, as a server skips them
{ cat "$TMP/valid.req"; printf '\r\n\n'; cat "$TMP/missing.req"; } >"$TMP/gap.req"
assert_exit 0 "--batch with empty lines between" -- \
  "$KEYGATE" check --keys "$KEYS" --batch <"$TMP/gap.req"
assert_eq 2 "$(wc -l <"$TMP/out")" "empty lines between: two answers"
# empty stdin: nothing to answer, nothing printed
assert_exit 0 "--batch of nothing" -- "$KEYGATE" check --keys "$KEYS" --batch </dev/null
assert_eq "" "$(cat "$TMP/out")" "--batch of nothing: no line"
# a head that does not parse ends the batch: where the next begins is unknown
cat "$TMP/valid.req" "$TMP/fold.req" "$TMP/valid.req" >"$TMP/broken.req"
assert_exit 0 "--batch stops at a broken head" -- \
  "$KEYGATE" check --keys "$KEYS" --batch <"$TMP/broken.req"
assert_eq 2 "$(wc -l <"$TMP/out")" "broken: two answers, then stop"
assert_eq 1 "$(wc -l <"$TMP/err")" "broken: one line on stderr"
assert_contains "keygate check: request 2: the request head does not parse: obs_fold" "$(cat "$TMP/err")" \
  "broken: the line names the request"
assert_exit 1 "--batch --fail stops at a broken head" -- \
  "$KEYGATE" check --keys "$KEYS" --batch --fail <"$TMP/broken.req"
# stdin that ends inside the last head is trouble
{ cat "$TMP/valid.req"; head -c 20 "$TMP/valid.req"; } >"$TMP/tail.req"
assert_exit 2 "--batch ending inside a head" -- \
  "$KEYGATE" check --keys "$KEYS" --batch <"$TMP/tail.req"
assert_eq 2 "$(wc -l <"$TMP/out")" "ending inside: the answer, then the incomplete line"
assert_contains "request 2: stdin ends inside the request head" "$(cat "$TMP/err")" \
  "ending inside: says which"
# many heads: more than one read of stdin
for _ in $(seq 1 300); do cat "$TMP/valid.req" "$TMP/missing.req"; done >"$TMP/many.req"
assert_exit 0 "--batch of 600" -- "$KEYGATE" check --keys "$KEYS" --batch <"$TMP/many.req"
assert_eq 600 "$(wc -l <"$TMP/out")" "600 heads: lines"
assert_eq 300 "$(grep -c '"decision":"valid"' "$TMP/out")" "600 heads: the valid half"
# HTTP/2 with a target nginx refuses is 505 where the empty lines before
# the first head and the head fit nginx's first 1 KiB buffer, 400 past it,
# as without --batch (review 85: --batch took the empty lines off first)
h2() {
  printf '\r\nGET http://a_b/ HTTP/2.0\r\nHost: a\r\nX-Pad: '
  head -c "$1" /dev/zero | tr '\0' b
  printf '\r\n\r\n'
}
h2 976 >"$TMP/h2fits.req"
h2 977 >"$TMP/h2over.req"
assert_eq 1024 "$(wc -c <"$TMP/h2fits.req")" "the fitting head's length"
for mode in "" --batch; do
  # shellcheck disable=SC2086 # mode is one word or none
  assert_exit 0 "HTTP/2 in the first KiB ${mode:-alone}" -- \
    "$KEYGATE" check --keys "$KEYS" $mode <"$TMP/h2fits.req"
  assert_eq 505 "$(json_get "$TMP/out" status)" "in the first KiB ${mode:-alone}: 505"
  # shellcheck disable=SC2086
  assert_exit 0 "HTTP/2 past the first KiB ${mode:-alone}" -- \
    "$KEYGATE" check --keys "$KEYS" $mode <"$TMP/h2over.req"
  assert_eq 400 "$(json_get "$TMP/out" status)" "past the first KiB ${mode:-alone}: 400"
done
# without --batch only the first head is read, as before
assert_exit 0 "one head without --batch" -- "$KEYGATE" check --keys "$KEYS" <"$TMP/five.req"
assert_eq 1 "$(wc -l <"$TMP/out")" "without --batch: one line"

kg_done
