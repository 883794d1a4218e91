#!/usr/bin/env bash
# store_lifecycle.sh — `keygate accounts` and `keygate keys` as a new user
# runs them (SPEC §2): accounts and tiers, a key shown once in text, json
# and tsv, list by hints only, deactivate (then expired_api_key), delete
# (then invalid_api_key), rotate with a grace period, and a tier going down
# to free that keeps its keys and refuses new ones. Decisions come from
# `keygate check --db`. Needs $KEYGATE (set by ctest).
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
export KEYGATE_DB=$TMP/keys.db
ALL_KEYS=() # every key printed, to prove none is ever shown again

# decision KEY [NOW] — the decision `keygate check --db` makes for KEY.
decision() {
  local now=()
  if [ $# -ge 2 ]; then now=(--now "$2"); fi
  printf 'GET / HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n\r\n' "$1" |
    "$KEYGATE" check --db "$KEYGATE_DB" "${now[@]}" >"$TMP/check.json"
  json_get "$TMP/check.json" decision
}

# iso SECONDS_FROM_NOW — a UTC ISO 8601 time.
iso() {
  date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ
}

# new_key ACCOUNT NAME — create a key (tsv); sets NEW_ID and NEW_KEY.
new_key() {
  assert_exit 0 "create $2" -- "$KEYGATE" keys create --account "$1" \
    --name "$2" --format tsv
  IFS=$'\t' read -r NEW_ID NEW_KEY _ <"$TMP/out"
  ALL_KEYS+=("$NEW_KEY")
}

# no_key_in FILE WHAT — FILE holds none of the keys printed so far.
no_key_in() {
  local k
  for k in "${ALL_KEYS[@]}"; do
    assert_not_contains "$k" "$(cat "$1")" "$2"
  done
}

# ---- accounts ---------------------------------------------------------------
assert_exit 0 "accounts create (default tier)" -- \
  "$KEYGATE" accounts create acme
assert_eq "created account acme: free tier, 0 of 3 keys" "$(cat "$TMP/out")" \
  "accounts create text"
assert_exit 0 "accounts create pro json" -- \
  "$KEYGATE" accounts create big-co --tier pro --format json
assert_eq pro "$(json_get "$TMP/out" tier)" "json tier"
assert_eq 50 "$(json_get "$TMP/out" limit)" "json limit"
assert_eq 0 "$(json_get "$TMP/out" keys)" "json keys"
assert_eq "big-co" "$(json_get "$TMP/out" name)" "json name"

assert_exit 0 "accounts list" -- "$KEYGATE" accounts list
assert_eq 3 "$(wc -l <"$TMP/out")" "accounts list: header and two rows"
assert_contains "NAME    TIER  KEYS  LIMIT  CREATED" "$(head -n 1 "$TMP/out")" \
  "accounts list header aligned to the longest name"
assert_contains "acme    free     0      3  " "$(sed -n 2p "$TMP/out")" \
  "accounts list acme row"
assert_contains "big-co  pro      0     50  " "$(sed -n 3p "$TMP/out")" \
  "accounts list big-co row"
assert_exit 0 "accounts list tsv" -- "$KEYGATE" accounts list --format tsv
assert_eq "acme|free|0|3" "$(head -n 1 "$TMP/out" | cut -f1-4 | tr '\t' '|')" \
  "accounts list tsv"
assert_exit 0 "accounts list json" -- "$KEYGATE" accounts list --format json
assert_eq "acme,big-co" "$(python3 -c 'import json,sys
print(",".join(a["name"] for a in json.load(open(sys.argv[1]))))' "$TMP/out")" \
  "accounts list json"

# ---- keys create: text, json, tsv -----------------------------------------
assert_exit 0 "keys create text" -- \
  "$KEYGATE" keys create --account acme --name ci
K1=$(cat "$TMP/out")
ALL_KEYS+=("$K1")
assert_eq 1 "$(wc -l <"$TMP/out")" "text: the key alone on stdout"
[[ "$K1" =~ ^sk_live_[0-9A-Za-z]{38}$ ]] || kg_fail "text: not a key: $K1"
assert_contains "only time it is shown" "$(cat "$TMP/err")" "text: warning"
assert_not_contains "$K1" "$(cat "$TMP/err")" "text: key on stderr"
assert_eq valid "$(decision "$K1")" "new key is valid"

assert_exit 0 "keys create json" -- "$KEYGATE" keys create --account acme \
  --name "deploy bot" --expires-at 2099-01-01T00:00:00Z --format json
K2=$(json_get "$TMP/out" key)
ID2=$(json_get "$TMP/out" id)
ALL_KEYS+=("$K2")
[[ "$ID2" =~ ^key_[0-9A-Za-z]{11}$ ]] || kg_fail "json: bad id $ID2"
assert_eq acme "$(json_get "$TMP/out" account)" "json account"
assert_eq "deploy bot" "$(json_get "$TMP/out" name)" "json name"
assert_eq 2099-01-01T00:00:00Z "$(json_get "$TMP/out" expires_at)" \
  "json expires_at"
assert_eq "" "$(cat "$TMP/err")" "json: no warning mixed into stderr"
assert_eq valid "$(decision "$K2")" "key with a future expiry"
assert_eq expired_api_key "$(decision "$K2" 2099-01-01T00:00:00Z)" \
  "key at its expiry"

assert_exit 0 "keys create tsv" -- "$KEYGATE" keys create --account big-co \
  --name ci --expires-in 30d --format tsv
IFS=$'\t' read -r ID3 K3 ACCT3 NAME3 EXP3 <"$TMP/out"
ALL_KEYS+=("$K3")
assert_eq "big-co|ci" "$ACCT3|$NAME3" "tsv account and name"
want=$(($(date +%s) + 30 * 86400))
got=$(date -u -d "$EXP3" +%s)
[ $((want - got)) -ge 0 ] && [ $((want - got)) -le 60 ] ||
  kg_fail "--expires-in 30d gave $EXP3"
assert_exit 0 "json create with no expiry" -- "$KEYGATE" keys create \
  --account big-co --name nightly --format json
assert_eq null "$(json_get "$TMP/out" expires_at)" "json expires_at null"
K4=$(json_get "$TMP/out" key)
ID4=$(json_get "$TMP/out" id)
ALL_KEYS+=("$K4")

# ---- keys list: hints, never keys -------------------------------------------
assert_exit 0 "keys list" -- "$KEYGATE" keys list
assert_eq 5 "$(wc -l <"$TMP/out")" "list: header and four keys"
assert_contains "ID               ACCOUNT  NAME        HINT              STATUS" \
  "$(head -n 1 "$TMP/out")" \
  "list header aligned"
assert_contains "sk_live_****${K1: -4}" "$(cat "$TMP/out")" "list: K1 hint"
assert_contains "sk_live_****${K3: -4}" "$(cat "$TMP/out")" "list: K3 hint"
assert_contains "2099-01-01T00:00:00Z" "$(grep "$ID2" "$TMP/out")" \
  "list: expiry shown"
no_key_in "$TMP/out" "list text"
assert_exit 0 "keys list json" -- "$KEYGATE" keys list --format json
no_key_in "$TMP/out" "list json"
assert_eq 4 "$(python3 -c 'import json,sys
print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" "list json rows"
assert_exit 0 "keys list tsv" -- "$KEYGATE" keys list --format tsv
no_key_in "$TMP/out" "list tsv"
assert_eq 4 "$(wc -l <"$TMP/out")" "list tsv rows"
assert_exit 0 "keys list --account" -- \
  "$KEYGATE" keys list --account big-co --format tsv
assert_eq "big-co big-co" "$(cut -f2 "$TMP/out" | xargs)" "list one account"

# ---- deactivate, delete -----------------------------------------------------
assert_exit 0 "deactivate" -- "$KEYGATE" keys deactivate "$ID2"
assert_contains "deactivated $ID2 (sk_live_****${K2: -4}" "$(cat "$TMP/out")" \
  "deactivate text"
assert_eq expired_api_key "$(decision "$K2")" "deactivated key"
assert_exit 0 "deactivate json" -- \
  "$KEYGATE" keys deactivate "$ID2" --format json
assert_eq deactivated "$(json_get "$TMP/out" status)" "deactivate twice"

assert_exit 0 "delete" -- "$KEYGATE" keys delete "$ID2"
assert_eq invalid_api_key "$(decision "$K2")" "deleted key"
assert_exit 0 "list hides deleted" -- "$KEYGATE" keys list --format tsv
assert_not_contains "$ID2" "$(cat "$TMP/out")" "deleted key listed"
assert_exit 0 "list --all" -- "$KEYGATE" keys list --all --format tsv
assert_eq deleted "$(grep "$ID2" "$TMP/out" | cut -f5)" "list --all status"

# a deleted key frees its slot on a free account
new_key acme two
new_key acme three
assert_exit 2 "fourth key on free" -- \
  "$KEYGATE" keys create --account acme --name four
assert_eq "keygate keys create: account acme (free tier) already holds 3 keys; delete one or upgrade to pro" \
  "$(cat "$TMP/err")" "free tier limit message"
assert_eq "" "$(cat "$TMP/out")" "refused: nothing on stdout"

# ---- rotate with a grace period ---------------------------------------------
assert_exit 0 "rotate" -- \
  "$KEYGATE" keys rotate "$ID4" --grace 1h --format json
K7=$(json_get "$TMP/out" key)
ID7=$(json_get "$TMP/out" id)
ALL_KEYS+=("$K7")
assert_eq "$ID4" "$(json_get "$TMP/out" replaces)" "rotate: replaces"
assert_eq nightly "$(json_get "$TMP/out" name)" "rotate keeps the name"
OLD_EXP=$(json_get "$TMP/out" old_expires_at)
want=$(($(date +%s) + 3600))
got=$(date -u -d "$OLD_EXP" +%s)
[ $((want - got)) -ge 0 ] && [ $((want - got)) -le 60 ] ||
  kg_fail "--grace 1h gave $OLD_EXP"
assert_eq valid "$(decision "$K7")" "rotated-in key"
assert_eq valid "$(decision "$K4")" "old key during the grace"
assert_eq expired_api_key "$(decision "$K4" "$OLD_EXP")" \
  "old key after the grace"
assert_eq valid "$(decision "$K7" "$(iso 7200)")" "new key after the grace"
assert_exit 0 "list after rotate" -- "$KEYGATE" keys list --format tsv
assert_eq rotated "$(grep "$ID4" "$TMP/out" | cut -f5)" "old key state"
assert_eq "$OLD_EXP" "$(grep "$ID4" "$TMP/out" | cut -f7)" "old key expiry"
assert_exit 2 "rotate twice" -- "$KEYGATE" keys rotate "$ID4"
assert_eq "keygate keys rotate: key $ID4 was already rotated to $ID7; rotate $ID7 instead" \
  "$(cat "$TMP/err")" "rotate twice message"

# a full free account can rotate (one in, one out); text shows the key alone
ID1=$("$KEYGATE" keys list --account acme --format tsv | awk -F'\t' '$3 == "ci" { print $1 }')
assert_exit 0 "rotate on a full free account" -- \
  "$KEYGATE" keys rotate "$ID1" --grace 0
K8=$(cat "$TMP/out")
ALL_KEYS+=("$K8")
[[ "$K8" =~ ^sk_live_[0-9A-Za-z]{38}$ ]] || kg_fail "rotate text: $K8"
assert_contains "replaces $ID1" "$(cat "$TMP/err")" "rotate text: note"
assert_eq valid "$(decision "$K8")" "rotated key on free account"
assert_eq expired_api_key "$(decision "$K1")" "--grace 0: old key expired"
assert_exit 0 "accounts list after rotate" -- \
  "$KEYGATE" accounts list --format tsv
assert_eq "acme|3" "$(head -n 1 "$TMP/out" | cut -f1,3 | tr '\t' '|')" \
  "rotation keeps the count"

# ---- going down to free keeps keys and refuses new ones --------------------
for n in 1 2 3; do
  new_key big-co "extra$n"
done
assert_exit 0 "set-tier free" -- "$KEYGATE" accounts set-tier big-co free
assert_contains "big-co: free tier, 5 of 3 keys" "$(cat "$TMP/out")" \
  "set-tier text"
assert_contains "keep working; new keys are refused" "$(cat "$TMP/out")" \
  "set-tier explains"
assert_eq valid "$(decision "$K3")" "key kept after going down"
assert_eq valid "$(decision "$K7")" "rotated key kept after going down"
assert_exit 2 "create over the limit" -- \
  "$KEYGATE" keys create --account big-co --name more
assert_eq "keygate keys create: account big-co (free tier) already holds 5 keys, over its limit of 3; delete 3 or upgrade to pro" \
  "$(cat "$TMP/err")" "over-limit message"
assert_exit 0 "set-tier pro" -- \
  "$KEYGATE" accounts set-tier big-co pro --format json
assert_eq pro "$(json_get "$TMP/out" tier)" "back to pro"
new_key big-co more

# ---- help, and no key anywhere but where it was shown ----------------------
assert_exit 0 "keys --help" -- "$KEYGATE" keys --help
assert_contains "rotate ID [--grace 24h]" "$(cat "$TMP/out")" "keys help"
assert_exit 0 "keys create --help" -- "$KEYGATE" keys create --help
assert_exit 0 "accounts --help" -- "$KEYGATE" accounts --help
assert_contains "set-tier NAME free|pro" "$(cat "$TMP/out")" "accounts help"
assert_exit 0 "final list" -- "$KEYGATE" keys list --all --format json
no_key_in "$TMP/out" "final list"

kg_done
