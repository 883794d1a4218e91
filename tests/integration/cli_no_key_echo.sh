#!/usr/bin/env bash
# cli_no_key_echo.sh — a key pasted where something else belongs (an id, a
# file, a stray argument, an option's value, a name) is never repeated
# whole in an error line: at most sk_live_****Ab3x (the hint rule); and a
# name that holds a key is refused, since names are printed whole in lists.
# Needs $KEYGATE (set by ctest).
. "$(dirname "$0")/lib.sh"
: "${KEYGATE:?set KEYGATE to the keygate program}"

export KEYGATE_DB=$TMP/keys.db
"$KEYGATE" accounts create acme >/dev/null
KEY=$("$KEYGATE" keys create --account acme --name ci)
SECRET=${KEY#sk_live_}
HINT="sk_live_****${KEY: -4}"

# pasted: WHAT STATUS ARGS... — the command exits STATUS, its output holds
# no part of the key beyond the hint, and the hint is there.
pasted() {
  local what=$1 status=$2
  shift 2
  assert_exit "$status" "$what" -- "$KEYGATE" "$@"
  assert_not_contains "${SECRET:0:20}" "$(cat "$TMP/out" "$TMP/err")" "$what: the key"
  assert_contains "$HINT" "$(cat "$TMP/err")" "$what: its hint names it"
}
pasted "keys delete KEY" 2 keys delete "$KEY"
pasted "keys deactivate KEY" 2 keys deactivate "$KEY"
pasted "keys rotate KEY" 2 keys rotate "$KEY"
pasted "check KEY" 2 check "$KEY"
pasted "load --key=KEY (an abbreviation of --keys)" 2 load http://127.0.0.1:9/ --key="$KEY"
pasted "serve --bogus=KEY" 2 serve --bogus="$KEY"
pasted "keys create --account KEY" 2 keys create --account "$KEY" --name x

# a key body pasted without its prefix (a review: an unknown option's
# value, a file path): masked as "****" and its last four. A fixed body
# that mixes upper case, lower case and digits, as random keys do.
BODY=8yDoYITcaJMsb9cvgQnkiIOqFeUXXd9j0hM6GO
body_pasted() {
  local what=$1 status=$2
  shift 2
  assert_exit "$status" "$what" -- "$KEYGATE" "$@"
  assert_not_contains "${BODY:0:12}" "$(cat "$TMP/out" "$TMP/err")" "$what: the body"
  assert_contains "****M6GO" "$(cat "$TMP/err")" "$what: its last four name it"
}
body_pasted "load --api-key=BODY" 2 load http://127.0.0.1:9/ --api-key="$BODY"
body_pasted "load --keys /nonexistent/BODY" 2 load http://127.0.0.1:9/ --keys "/nonexistent/$BODY"
body_pasted "probe --token=BODY" 2 probe http://127.0.0.1:9/ --token="$BODY"
body_pasted "check BODY" 2 check "$BODY"
body_pasted "keys deactivate BODY" 2 keys deactivate "$BODY"
body_pasted "report show /nonexistent/BODY" 2 report show "/nonexistent/$BODY"
# a key of another issuer, in groups after a prefix nobody named (review
# 99: printed whole): masked as "****" and its last four, wherever it is
# pasted; a file name that is no key stays readable
for GK in acme_Ab3d-Qw8e-Zx9r-Lm2p acme-Ab3d-Qw8e-Zx9r-Lm2p \
  xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx; do
  for args in "check --keys $GK" "check --keys /tmp/$GK.txt" "keys delete $GK" \
    "load http://127.0.0.1:9/ --keys $GK" "report show $GK"; do
    # shellcheck disable=SC2086 # the words of args are the arguments
    assert_exit 2 "$args" -- "$KEYGATE" $args
    assert_not_contains "Qw8e" "$(cat "$TMP/out" "$TMP/err")" "$args: the key's middle"
    assert_not_contains "1234567890123" "$(cat "$TMP/out" "$TMP/err")" "$args: the key's middle"
    assert_match "\*\*\*\*(Lm2p|m2p:|UvWx|\.txt)" "$(cat "$TMP/err")" "$args: masked, its end shown"
  done
done
# a library's reason that names a long path reaches the mask whole (review
# 102: report show cut it at 511 bytes first, and a body's start showed)
for pad in 496 501 504; do
  p=$(printf "%$((pad / 2))s" "" | sed 's| |x/|g')
  assert_exit 2 "report show PAD($pad)/BODY" -- "$KEYGATE" report show "$p$BODY"
  assert_not_contains "${BODY:0:6}" "$(cat "$TMP/err")" "report show PAD($pad)/BODY: the body's start"
  assert_not_contains "${BODY:14:6}" "$(cat "$TMP/err")" "report show PAD($pad)/BODY: the body's middle"
done
assert_exit 2 "check --keys DATED-FILE" -- "$KEYGATE" check --keys results-2026-12-03T10-00-00Z-valid.json
assert_contains "results-2026-12-03T10-00-00Z-valid.json" "$(cat "$TMP/err")" "a file name is kept"
assert_exit 2 "keys delete KEY-ID" -- "$KEYGATE" keys delete key_0A1b2C3d4E5
assert_contains "key_0A1b2C3d4E5" "$(cat "$TMP/err")" "a key id is kept"

# a line cut at its end (1,024 bytes) with a body at the cut: the body's
# start goes whole, the line ends in "...". The pad is 'x ' pairs, so the
# body is the only long run (the pad's runs are 'x'); its start moves
# across the cut one byte a run.
# The second body's first 19 characters hold no digit (review 99: a run
# that is not yet "mixed" at the cut was shown).
for b in "$BODY" QmTbXwLkRfPsNvGhJycqDwaKrpLxbWqhZrsTtu7; do
  for pad in $(seq 960 2 1000); do
    arg=$(printf "%$((pad / 2))s" "" | sed 's| |x |g')$b
    assert_exit 2 "check PAD($pad)${b:0:4}" -- "$KEYGATE" check "$arg"
    assert_not_contains "${b:0:6}" "$(cat "$TMP/err")" "check PAD($pad)${b:0:4}: the body's start"
    assert_not_contains "${b:14:6}" "$(cat "$TMP/err")" "check PAD($pad)${b:0:4}: the body's middle"
    assert_match "(\.\.\.|\*\*\*\*${b: -4}'; see 'keygate check --help')\$" "$(cat "$TMP/err")" "check PAD($pad)${b:0:4}: cut with '...', or the body whole and masked"
  done
done
# what is not a key stays readable: a request id, a hex digest, words
assert_exit 2 "check req_" -- "$KEYGATE" keys deactivate "req_8yDoYITcaJMsb9cvgQnkiIOq"
assert_contains "req_8yDoYITcaJMsb9cvgQnkiIOq" "$(cat "$TMP/err")" "a request id is kept"

# names that hold a key are refused (they would be listed whole)
assert_exit 2 "accounts create KEY" -- "$KEYGATE" accounts create "$KEY"
assert_contains "must not look like a key" "$(cat "$TMP/err")" "accounts create KEY: why"
assert_not_contains "${SECRET:0:20}" "$(cat "$TMP/err")" "accounts create KEY: the key"
assert_exit 2 "keys create --name KEY" -- \
  "$KEYGATE" keys create --account acme --name "mine: $KEY"
assert_contains "must not hold a key" "$(cat "$TMP/err")" "keys create --name KEY: why"
assert_exit 0 "keys list" -- "$KEYGATE" keys list
assert_not_contains "${SECRET:0:20}" "$(cat "$TMP/out")" "keys list: no key"
kg_done
