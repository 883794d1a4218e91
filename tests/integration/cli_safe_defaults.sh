#!/usr/bin/env bash
# cli_safe_defaults.sh — the defaults that keep a key store safe (issue 16):
# a duration without its unit is refused as Go refuses it ("missing unit"),
# --grace 0 stays allowed; an expiry after 9999-12-31T23:59:59Z is refused
# naming that maximum; keys seed never replaces an existing --out FILE
# without --force; a second deactivate or delete says the key already was;
# a --db path that is a directory or in a folder that does not exist, and an
# SQLite file of another program, each get one true line naming a fix that
# works. Needs $KEYGATE (set by ctest) and sqlite3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
command -v sqlite3 >/dev/null || kg_fail "the sqlite3 program is needed"
unset KEYGATE_PEPPER_FILE
export KEYGATE_DB=$TMP/keys.db
cd "$TMP"

# fails WHAT "EXACT LINE" -- COMMAND... — exit 2, nothing on stdout, the line
fails() {
  local what=$1 line=$2
  shift 3
  assert_exit 2 "$what" -- "$@"
  assert_eq "" "$(cat "$TMP/out")" "$what: stdout"
  assert_eq "$line" "$(cat "$TMP/err")" "$what: the line"
}
keys_in_store() { sqlite3 "$KEYGATE_DB" "SELECT count(*) FROM keys"; }

"$KEYGATE" accounts create acme --tier pro >/dev/null

# ---- durations need their unit ------------------------------------------------
fails "--expires-in 90" \
  "keygate keys create: missing unit in duration '90' for --expires-in; add one of s, m, h, d or w (e.g. 90d)" \
  -- "$KEYGATE" keys create --account acme --name ci --expires-in 90
fails "--expires-in=90" \
  "keygate keys create: missing unit in duration '90' for --expires-in; add one of s, m, h, d or w (e.g. 90d)" \
  -- "$KEYGATE" keys create --account acme --name ci --expires-in=90
assert_eq 0 "$(keys_in_store)" "a refused duration makes no key"
assert_exit 0 "--expires-in 90d" -- "$KEYGATE" keys create --account acme --name ci \
  --expires-in 90d --format json
ID=$(json_get "$TMP/out" id)
EXP=$(json_get "$TMP/out" expires_at)
NOW=$(date -u +%s)
GOT=$(date -u -d "$EXP" +%s)
[ $((GOT - NOW)) -ge $((90 * 86400 - 60)) ] && [ $((GOT - NOW)) -le $((90 * 86400 + 60)) ] ||
  kg_fail "--expires-in 90d: expires $EXP, not 90 days from now"
KG_ASSERTS=$((KG_ASSERTS + 1))
# one grammar for every time span (cli_parse_time): a fraction is fine
# when it comes to whole seconds
assert_exit 0 "--expires-in 1.5h" -- "$KEYGATE" keys create --account acme --name ci2 \
  --expires-in 1.5h --format json
EXP=$(json_get "$TMP/out" expires_at)
GOT=$(($(date -u -d "$EXP" +%s) - $(date -u +%s)))
[ "$GOT" -ge $((5400 - 60)) ] && [ "$GOT" -le 5400 ] ||
  kg_fail "--expires-in 1.5h: expires $EXP, not 5400 s from now"
KG_ASSERTS=$((KG_ASSERTS + 1))
fails "--grace 90" \
  "keygate keys rotate: missing unit in duration '90' for --grace; add one of s, m, h, d or w (e.g. 90d)" \
  -- "$KEYGATE" keys rotate "$ID" --grace 90
assert_exit 0 "--grace 0" -- "$KEYGATE" keys rotate "$ID" --grace 0 --format json
NEW=$(json_get "$TMP/out" id)
OLD_EXP=$(json_get "$TMP/out" old_expires_at)
[ "$(date -u -d "$OLD_EXP" +%s)" -le "$(date -u +%s)" ] ||
  kg_fail "--grace 0: the old key expires $OLD_EXP, not now"
KG_ASSERTS=$((KG_ASSERTS + 1))

# ---- the latest expiry: 9999-12-31T23:59:59Z ------------------------------------
MAXLINE="the latest expiry keygate keeps; give a shorter duration"
fails "--expires-in past 9999" \
  "keygate keys create: --expires-in 3000000d ends after 9999-12-31T23:59:59Z, $MAXLINE" \
  -- "$KEYGATE" keys create --account acme --name far --expires-in 3000000d
fails "--expires-in 500000w" \
  "keygate keys create: --expires-in 500000w ends after 9999-12-31T23:59:59Z, $MAXLINE" \
  -- "$KEYGATE" keys create --account acme --name far --expires-in 500000w
fails "--grace past 9999" \
  "keygate keys rotate: --grace 3000000d ends after 9999-12-31T23:59:59Z, the latest expiry keygate keeps; give a shorter grace" \
  -- "$KEYGATE" keys rotate "$NEW" --grace 3000000d
fails "--expires-at in year 10000" \
  "keygate keys create: bad time '10000-01-01T00:00:00Z' for --expires-at; use UTC ISO 8601 like 2030-01-31T00:00:00Z, at most 9999-12-31T23:59:59Z" \
  -- "$KEYGATE" keys create --account acme --name far --expires-at 10000-01-01T00:00:00Z
assert_exit 0 "--expires-at the maximum" -- "$KEYGATE" keys create --account acme --name far \
  --expires-at 9999-12-31T23:59:59Z --format json
assert_eq 9999-12-31T23:59:59Z "$(json_get "$TMP/out" expires_at)" "the maximum is kept as given"
"$KEYGATE" keys list --format tsv >"$TMP/list.tsv"
# every expiry printed is RFC 3339 (four-digit year)
BAD=$(cut -f7 "$TMP/list.tsv" | grep -cvE '^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?$' || true)
assert_eq 0 "$BAD" "every listed expiry is RFC 3339"

# ---- a second deactivate or delete says it already was -----------------------------
assert_exit 0 "deactivate" -- "$KEYGATE" keys deactivate "$NEW"
assert_contains "deactivated $NEW (" "$(cat "$TMP/out")" "deactivate: says it did"
assert_exit 0 "deactivate again" -- "$KEYGATE" keys deactivate "$NEW"
assert_contains "$NEW (" "$(cat "$TMP/out")" "deactivate again: names the key"
assert_contains ") was already deactivated: it answers expired_api_key; nothing changed" "$(cat "$TMP/out")" \
  "deactivate again: already"
assert_not_contains "deactivated $NEW" "$(cat "$TMP/out")" "deactivate again: not 'deactivated' anew"
assert_exit 0 "delete" -- "$KEYGATE" keys delete "$NEW"
assert_contains "deleted $NEW (" "$(cat "$TMP/out")" "delete: says it did"
assert_contains "it now answers invalid_api_key" "$(cat "$TMP/out")" "delete: the answer"
assert_exit 0 "delete again" -- "$KEYGATE" keys delete "$NEW"
assert_contains ") was already deleted: it answers invalid_api_key; nothing changed" "$(cat "$TMP/out")" \
  "delete again: already"
# json says the same: "changed"
assert_exit 0 "delete again, json" -- "$KEYGATE" keys delete "$NEW" --format json
assert_eq false "$(json_get "$TMP/out" changed)" "delete again, json: changed false"
assert_eq deleted "$(json_get "$TMP/out" status)" "delete again, json: status"
assert_exit 0 "create one more" -- "$KEYGATE" keys create --account acme --name more --format json
MORE=$(json_get "$TMP/out" id)
assert_exit 0 "deactivate, json" -- "$KEYGATE" keys deactivate "$MORE" --format json
assert_eq true "$(json_get "$TMP/out" changed)" "deactivate, json: changed true"
assert_exit 0 "deactivate again, json" -- "$KEYGATE" keys deactivate "$MORE" --format json
assert_eq false "$(json_get "$TMP/out" changed)" "deactivate again, json: changed false"

# ---- keys seed keeps an existing --out FILE ---------------------------------------
printf 'valid\tthe only copy\n' >"$TMP/live.tsv"
BEFORE=$(keys_in_store)
fails "seed over an existing file" \
  "keygate keys seed: --out $TMP/live.tsv exists and may hold the only copy of live keys; give another path, or --force to replace it" \
  -- "$KEYGATE" keys seed --valid 2 --out "$TMP/live.tsv"
assert_eq "$(printf 'valid\tthe only copy')" "$(cat "$TMP/live.tsv")" "the file is untouched"
assert_eq "$BEFORE" "$(keys_in_store)" "nothing seeded"
ln -s "$TMP/live.tsv" "$TMP/link.tsv"
assert_exit 2 "seed over a symlink" -- "$KEYGATE" keys seed --valid 2 --out "$TMP/link.tsv"
assert_exit 0 "seed --force" -- "$KEYGATE" keys seed --valid 2 --out "$TMP/live.tsv" --force
assert_eq 2 "$(grep -c '^valid' "$TMP/live.tsv")" "--force replaced the file"
assert_exit 0 "seed to a new file" -- "$KEYGATE" keys seed --valid 1 --out "$TMP/new.tsv"

# ---- --db paths SQLite would only call "unable to open database file" ------------------
mkdir "$TMP/dir"
for c in "keys list" "accounts list" "accounts create x" "keys seed --valid 1 --out $TMP/s1.tsv"; do
  read -r -a a <<<"$c"
  fails "$c: --db a directory" \
    "keygate ${a[0]} ${a[1]}: --db $TMP/dir is a directory, not a key store file; give the path of a file in it, e.g. --db $TMP/dir/keygate.db" \
    -- "$KEYGATE" "${a[@]}" --db "$TMP/dir"
  fails "$c: --db in a missing folder" \
    "keygate ${a[0]} ${a[1]}: --db $TMP/no/such/k.db: the folder $TMP/no/such does not exist; create it (mkdir -p $TMP/no/such) or give another --db path" \
    -- "$KEYGATE" "${a[@]}" --db "$TMP/no/such/k.db"
done
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' >"$TMP/req"
assert_exit 2 "check: --db a directory" -- "$KEYGATE" check --db "$TMP/dir" <"$TMP/req"
assert_contains "is a directory, not a key store file" "$(cat "$TMP/err")" "check: directory"
KEYGATE_DB=$TMP/dir assert_exit 2 "KEYGATE_DB a directory" -- "$KEYGATE" keys list
assert_contains "$TMP/dir is a directory" "$(cat "$TMP/err")" "KEYGATE_DB a directory: named"
assert_not_contains "unable to open database file" "$(cat "$TMP/out" "$TMP/err")" "no SQLite wording"
# the fixes named work
assert_exit 0 "the fix for a directory" -- "$KEYGATE" accounts create x --db "$TMP/dir/keygate.db"
mkdir -p "$TMP/no/such"
assert_exit 0 "the fix for a missing folder" -- "$KEYGATE" accounts create x --db "$TMP/no/such/k.db"
[ -f "$TMP/no/such/k.db" ] || kg_fail "the fix for a missing folder made no store"
KG_ASSERTS=$((KG_ASSERTS + 1))

# ---- another program's SQLite file -----------------------------------------------------
sqlite3 "$TMP/app.db" "CREATE TABLE users (id INTEGER); PRAGMA user_version = 7;"
sqlite3 "$TMP/app0.db" "CREATE TABLE users (id INTEGER)"
for db in app.db app0.db; do
  for c in "keys list" "accounts list" "accounts create acme" "keys create --account acme --name ci"; do
    read -r -a a <<<"$c"
    fails "$c: $db" \
      "keygate ${a[0]} ${a[1]}: $TMP/$db is not a keygate store (it holds other tables); give --db the path of a keygate store, or make one: 'keygate accounts create NAME --db NEW.db'" \
      -- "$KEYGATE" "${a[@]}" --db "$TMP/$db"
  done
  assert_exit 2 "check: $db" -- "$KEYGATE" check --db "$TMP/$db" <"$TMP/req"
  assert_contains "is not a keygate store (it holds other tables)" "$(cat "$TMP/err")" "check: $db"
  # the command named makes a store at a new path: none is named on this one
  assert_not_contains "--db $TMP/$db'" "$(cat "$TMP/err")" "check: $db: no command that refuses it"
  assert_eq users "$(sqlite3 "$TMP/$db" "SELECT group_concat(name) FROM sqlite_master")" \
    "$db: untouched"
done

kg_done
