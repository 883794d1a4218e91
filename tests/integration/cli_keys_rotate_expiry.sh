#!/usr/bin/env bash
# cli_keys_rotate_expiry.sh — `keygate keys rotate` never extends a key's
# life (review: a key made with --expires-in 90d became permanent on its
# first rotation): the new key keeps the old key's expires_at unless
# --expires-in, --expires-at or --no-expiry says otherwise; an old key that
# has already expired needs one of them; the message says the new key's
# expiry, and of an old key already expired that it has, not that it
# "keeps working until" a time in the past.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
export KEYGATE_DB=$TMP/k.db
"$KEYGATE" accounts create acme --tier pro >/dev/null || kg_fail "accounts create"

# create ARGS... — a key of acme; its id in ID, its expiry in EXP
create() {
  "$KEYGATE" keys create --account acme --name "ci$RANDOM" --format json "$@" >"$TMP/c.json" ||
    kg_fail "keys create $*"
  ID=$(json_get "$TMP/c.json" id)
  EXP=$(json_get "$TMP/c.json" expires_at)
}

# ---- the old key's expiry is kept ---------------------------------------------
create --expires-in 90d
assert_exit 0 "rotate a 90-day key" -- "$KEYGATE" keys rotate "$ID" --grace 24h --format json
assert_eq "$EXP" "$(json_get "$TMP/out" expires_at)" "the new key keeps the old key's expiry"
create --expires-in 90d
assert_exit 0 "rotate a 90-day key, text" -- "$KEYGATE" keys rotate "$ID" --grace 24h
assert_contains "; the new key expires at $EXP (the old key's expiry;" "$(cat "$TMP/err")" "text: the new key's expiry said"
# a key that never expires gives one that never does
create
assert_exit 0 "rotate a key without expiry" -- "$KEYGATE" keys rotate "$ID"
assert_contains "; the new key never expires" "$(cat "$TMP/err")" "no expiry: said"

# ---- told otherwise -------------------------------------------------------------
create --expires-in 90d
assert_exit 0 "--no-expiry" -- "$KEYGATE" keys rotate "$ID" --no-expiry --format json
assert_eq null "$(json_get "$TMP/out" expires_at)" "--no-expiry: none"
create --expires-in 90d
assert_exit 0 "--expires-at" -- "$KEYGATE" keys rotate "$ID" --expires-at 2099-01-01T00:00:00Z --format json
assert_eq 2099-01-01T00:00:00Z "$(json_get "$TMP/out" expires_at)" "--expires-at: as given"
create --expires-in 90d
assert_exit 2 "--no-expiry with --expires-in" -- "$KEYGATE" keys rotate "$ID" --no-expiry --expires-in 1d
assert_eq "keygate keys rotate: give --no-expiry or --expires-in/--expires-at, not both" \
  "$(cat "$TMP/err")" "--no-expiry with --expires-in: one line"

# ---- an old key already expired -------------------------------------------------
create --expires-in 1s
sleep 2
assert_exit 2 "rotate an expired key without an expiry" -- "$KEYGATE" keys rotate "$ID"
assert_eq "keygate keys rotate: key $ID expired at $EXP, and the new key would keep that expiry: give --expires-in D, --expires-at T or --no-expiry" \
  "$(cat "$TMP/err")" "expired: refused in one line"
assert_eq "" "$(cat "$TMP/out")" "expired: no key printed"
assert_exit 0 "rotate an expired key with --expires-in" -- "$KEYGATE" keys rotate "$ID" --expires-in 30d
assert_contains "replaces $ID, which had already expired at $EXP;" "$(cat "$TMP/err")" "expired: said so"
assert_not_contains "keeps working until" "$(cat "$TMP/err")" "expired: no past 'keeps working'"
# --grace 0: the old key stops now
create
assert_exit 0 "--grace 0" -- "$KEYGATE" keys rotate "$ID" --grace 0
assert_contains "which stops working now;" "$(cat "$TMP/err")" "--grace 0: said so"

kg_done
