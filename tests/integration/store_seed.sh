#!/usr/bin/env bash
# store_seed.sh — `keygate keys seed` builds a load-test population: the
# counts asked for, spread 50 to a pro account over seed-0001, seed-0002,
# ...; FILE holds one '<class><TAB><key>' line per key, mode 0600, and every
# line decides as its class says (valid; expired and deactivated answer
# expired_api_key). A second seed into an existing FILE is refused unless
# --force; then it continues the account numbers and replaces FILE whole. Needs $KEYGATE (set by ctest).
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
export KEYGATE_DB=$TMP/keys.db
OUT=$TMP/seed.tsv

assert_exit 0 "seed" -- "$KEYGATE" keys seed --valid 120 --expired 17 \
  --deactivated 13 --out "$OUT"
assert_eq "seeded 150 keys (120 valid, 17 expired, 13 deactivated) over 3 pro accounts seed-0001..seed-0003; keys in $OUT (mode 0600)" \
  "$(cat "$TMP/out")" "seed summary"
assert_eq 600 "$(stat -c %a "$OUT")" "FILE mode"
assert_eq "120 valid|17 expired|13 deactivated" \
  "$(cut -f1 "$OUT" | sort | uniq -c | sort -rn | awk '{ print $1, $2 }' |
    paste -sd '|')" "FILE classes"
assert_eq 150 "$(cut -f2 "$OUT" | sort -u | grep -cE '^sk_live_[0-9A-Za-z]{38}$')" \
  "FILE keys: distinct and well formed"
assert_eq 0 "$(grep -cvE $'^(valid|expired|deactivated)\tsk_live_[0-9A-Za-z]{38}$' "$OUT" || true)" \
  "FILE lines all '<class><TAB><key>'"
ls "$TMP" | grep -q 'seed.tsv.tmp' && kg_fail "temporary file left behind"

assert_exit 0 "accounts list" -- "$KEYGATE" accounts list --format tsv
assert_eq "seed-0001 pro 50|seed-0002 pro 50|seed-0003 pro 50" \
  "$(cut -f1-3 "$TMP/out" | tr '\t' ' ' | paste -sd '|')" \
  "keys spread over pro accounts"

# lines of each class decide as the class says (five of each)
declare -A WANT=([valid]=valid [expired]=expired_api_key
  [deactivated]=expired_api_key)
declare -A SEEN=()
while IFS=$'\t' read -r class key; do
  printf 'GET / HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n\r\n' "$key" |
    "$KEYGATE" check --db "$KEYGATE_DB" >"$TMP/check.json"
  assert_eq "${WANT[$class]}" "$(json_get "$TMP/check.json" decision)" \
    "seeded $class key decides"
  SEEN[$class]=$((${SEEN[$class]:-0} + 1))
done < <(awk 'NR <= 5 || (NR > 120 && NR <= 125) || NR > 145' "$OUT")
assert_eq "5 5 5" "${SEEN[valid]} ${SEEN[expired]} ${SEEN[deactivated]}" \
  "classes checked"
assert_exit 0 "list seed-0003" -- \
  "$KEYGATE" keys list --account seed-0003 --format tsv
assert_eq "active 20|deactivated 13|expired 17" \
  "$(cut -f5 "$TMP/out" | sort | uniq -c | awk '{ print $2, $1 }' |
    paste -sd '|')" "states of the last account"

# a second seed into the same FILE is refused (it may hold the only copy of
# live keys) and changes nothing; with --force numbering continues and FILE
# is replaced whole
SUM=$(sha256sum <"$OUT")
assert_exit 2 "seed again without --force" -- "$KEYGATE" keys seed --valid 60 \
  --out "$OUT"
assert_eq "keygate keys seed: --out $OUT exists and may hold the only copy of live keys; give another path, or --force to replace it" \
  "$(cat "$TMP/err")" "seed again: the line"
assert_eq "$SUM" "$(sha256sum <"$OUT")" "seed again: FILE untouched"
assert_eq 150 "$("$KEYGATE" keys list --format tsv | wc -l)" "seed again: nothing seeded"
assert_exit 0 "seed again, json" -- "$KEYGATE" keys seed --valid 60 \
  --out "$OUT" --format json --force
assert_eq seed-0004 "$(json_get "$TMP/out" first_account)" "numbering goes on"
assert_eq seed-0005 "$(json_get "$TMP/out" last_account)" "two more accounts"
assert_eq 60 "$(json_get "$TMP/out" keys)" "json keys"
assert_eq 60 "$(wc -l <"$OUT")" "FILE replaced, not appended"
assert_eq 600 "$(stat -c %a "$OUT")" "replaced FILE mode"
assert_eq 210 "$("$KEYGATE" keys list --format tsv | wc -l)" "keys in store"
kg_done
