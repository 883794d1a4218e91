#!/usr/bin/env bash
# store_pepper.sh — the pepper through `keygate accounts` and `keygate keys`
# (docs/store.md, "The pepper"): a store made with --pepper-file (or
# KEYGATE_PEPPER_FILE) is peppered, its keys are HMAC-SHA-256(pepper, key)
# (checked here with Python's hmac, not keygate's code), every command on it
# refuses to run without the pepper or with another one and writes nothing,
# a plain store refuses a pepper, bad pepper files get one line each, and no
# pepper byte or key reaches any output but the key's own stdout.
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
DB=$TMP/pep.db
P=$TMP/pepper
Q=$TMP/other
(
  umask 077
  openssl rand -hex 32 >"$P"
  openssl rand -hex 32 >"$Q"
)
PEPPER=$(head -c 64 "$P")
OUTPUTS=$TMP/outputs # every stderr, and every stdout that holds no key
: >"$OUTPUTS"

# run WANT WHAT -- COMMAND... — assert_exit, then keep its stderr (and its
# stdout unless KEEP_STDOUT=no) for the final secrecy check.
run() {
  assert_exit "$@"
  cat "$TMP/err" >>"$OUTPUTS"
  if [ "${KEEP_STDOUT:-yes}" = yes ]; then
    cat "$TMP/out" >>"$OUTPUTS"
  fi
}

# sql DB QUERY — one value, through Python's sqlite3 (read-only).
sql() {
  python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
r = c.execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$1" "$2"
}

# digest_is DB PEPPERFILE KEY — "hmac", "sha256" or "none": which digest of
# KEY the store holds, computed in Python (pepper: the file's bytes, one
# trailing newline removed).
digest_is() {
  python3 -c 'import hashlib, hmac, sqlite3, sys
db, pf, key = sys.argv[1], sys.argv[2], sys.argv[3].encode()
p = open(pf, "rb").read()
p = p[:-1] if p.endswith(b"\n") else p
c = sqlite3.connect("file:" + db + "?mode=ro", uri=True)
def has(d):
    return c.execute("SELECT count(*) FROM keys WHERE digest = ?", (d,)).fetchone()[0] == 1
if has(hmac.new(p, key, hashlib.sha256).digest()):
    print("hmac")
elif has(hashlib.sha256(key).digest()):
    print("sha256")
else:
    print("none")' "$1" "$2" "$3"
}

# counts DB — accounts, keys and the change sequence: what a refusal must
# leave as it was.
counts() {
  echo "$(sql "$1" 'SELECT count(*) FROM accounts') $(sql "$1" 'SELECT count(*) FROM keys')" \
    "$(sql "$1" "SELECT value FROM meta WHERE name = 'seq'")"
}

# ---- a peppered store -----------------------------------------------------
run 0 "create a peppered store" -- \
  "$KEYGATE" accounts create acme --tier pro --db "$DB" --pepper-file "$P"
assert_eq "hmac-sha256" "$(sql "$DB" "SELECT value FROM meta WHERE name = 'digest'")" \
  "the store is marked peppered"
CHECK=$(python3 -c 'import hashlib, hmac, sys
p = open(sys.argv[1], "rb").read()[:-1]
print(hmac.new(p, b"keygate pepper check v1", hashlib.sha256).hexdigest())' "$P")
assert_eq "$CHECK" "$(sql "$DB" "SELECT value FROM meta WHERE name = 'pepper_check'")" \
  "meta.pepper_check is HMAC(pepper, label)"

KEEP_STDOUT=no run 0 "keys create with --pepper-file" -- \
  "$KEYGATE" keys create --account acme --name ci --db "$DB" --pepper-file "$P"
K1=$(cat "$TMP/out")
assert_eq 46 "${#K1}" "a key is printed"
export KEYGATE_PEPPER_FILE=$P
KEEP_STDOUT=no run 0 "keys create with KEYGATE_PEPPER_FILE" -- \
  "$KEYGATE" keys create --account acme --name web --db "$DB" --format tsv
ID2=$(cut -f1 "$TMP/out")
K2=$(cut -f2 "$TMP/out")
assert_eq hmac "$(digest_is "$DB" "$P" "$K1")" "K1 is kept as HMAC-SHA-256(pepper, key)"
assert_eq hmac "$(digest_is "$DB" "$P" "$K2")" "K2 too"
run 0 "keys list with the pepper" -- "$KEYGATE" keys list --db "$DB"
assert_contains "sk_live_****${K2: -4}" "$(cat "$TMP/out")" "keys list shows the hint"
run 0 "accounts list with the pepper" -- "$KEYGATE" accounts list --db "$DB"
assert_contains "acme" "$(cat "$TMP/out")" "accounts list"
# --pepper-file wins over the variable.
KEYGATE_PEPPER_FILE=$Q run 0 "--pepper-file beats KEYGATE_PEPPER_FILE" -- \
  "$KEYGATE" keys list --db "$DB" --pepper-file "$P"
unset KEYGATE_PEPPER_FILE

# ---- every command refuses no pepper and another pepper -------------------
# What is wrong (the store's line), then the fix (the command line's).
NO_PEPPER="$DB is peppered (HMAC-SHA-256) and no pepper was given; give the pepper file it was made with (--pepper-file FILE or KEYGATE_PEPPER_FILE)"
WRONG="$DB was made with another pepper (the one given does not match its check value); nothing was read or written; give the pepper file it was made with (--pepper-file FILE or KEYGATE_PEPPER_FILE)"
BEFORE=$(counts "$DB")
COMMANDS=(
  "accounts create|accounts create globex"
  "accounts set-tier|accounts set-tier acme free"
  "accounts list|accounts list"
  "keys create|keys create --account acme --name x"
  "keys list|keys list"
  "keys deactivate|keys deactivate $ID2"
  "keys delete|keys delete $ID2"
  "keys rotate|keys rotate $ID2"
  "keys seed|keys seed --valid 5 --out $TMP/seed.tsv"
  "keys ack-restore|keys ack-restore"
)
for entry in "${COMMANDS[@]}"; do
  name=${entry%%|*}
  read -r -a argv <<<"${entry#*|}"
  run 2 "$name without a pepper" -- "$KEYGATE" "${argv[@]}" --db "$DB"
  assert_eq "keygate $name: $NO_PEPPER" "$(cat "$TMP/err")" "$name: the line without a pepper"
  assert_eq "" "$(cat "$TMP/out")" "$name: nothing on stdout"
  run 2 "$name with another pepper" -- "$KEYGATE" "${argv[@]}" --db "$DB" --pepper-file "$Q"
  assert_eq "keygate $name: $WRONG" "$(cat "$TMP/err")" "$name: the line with another pepper"
  KEYGATE_PEPPER_FILE=$Q run 2 "$name with another pepper in the variable" -- \
    "$KEYGATE" "${argv[@]}" --db "$DB"
  assert_eq "keygate $name: $WRONG" "$(cat "$TMP/err")" "$name: the variable's pepper"
done
assert_eq "$BEFORE" "$(counts "$DB")" "the refusals wrote nothing"
assert_eq "" "$(ls "$TMP"/seed.tsv* 2>/dev/null || true)" "no seed file from a refusal"
run 0 "the right pepper still works" -- "$KEYGATE" keys delete "$ID2" --db "$DB" --pepper-file "$P"

# ---- a plain store refuses a pepper ---------------------------------------
PLAIN=$TMP/plain.db
run 0 "a plain store" -- "$KEYGATE" accounts create acme --db "$PLAIN"
KEEP_STDOUT=no run 0 "a plain key" -- "$KEYGATE" keys create --account acme --name ci --db "$PLAIN"
K3=$(cat "$TMP/out")
assert_eq sha256 "$(digest_is "$PLAIN" "$P" "$K3")" "a plain store keeps SHA-256(key)"
PLAIN_BEFORE=$(counts "$PLAIN")
for argv in "keys list" "accounts create other" "keys create --account acme --name y" \
  "keys seed --valid 5 --out $TMP/seed.tsv"; do
  read -r -a a <<<"$argv"
  run 2 "plain store: ${a[0]} ${a[1]} with a pepper" -- \
    "$KEYGATE" "${a[@]}" --db "$PLAIN" --pepper-file "$P"
  assert_eq "keygate ${a[0]} ${a[1]}: $PLAIN is a plain store (SHA-256, made without a pepper), and a pepper was given: a store's keys are digested one way; give it no pepper (no --pepper-file or KEYGATE_PEPPER_FILE), or make a new peppered store (docs/store.md)" \
    "$(cat "$TMP/err")" "plain store: ${a[0]} ${a[1]}: the line"
done
assert_eq "$PLAIN_BEFORE" "$(counts "$PLAIN")" "the plain store is untouched"
assert_eq sha256 "$(sql "$PLAIN" "SELECT value FROM meta WHERE name = 'digest'")" \
  "still plain"

# ---- keys seed makes a peppered store ---------------------------------------
SEEDDB=$TMP/seed.db
run 0 "seed a new store with a pepper" -- "$KEYGATE" keys seed --valid 30 --expired 3 \
  --deactivated 3 --out "$TMP/seed.tsv" --db "$SEEDDB" --pepper-file "$P"
assert_eq "hmac-sha256" "$(sql "$SEEDDB" "SELECT value FROM meta WHERE name = 'digest'")" \
  "a seeded store is peppered"
HMACS=0
while IFS=$'\t' read -r _ key; do
  [ "$(digest_is "$SEEDDB" "$P" "$key")" = hmac ] && HMACS=$((HMACS + 1))
done <"$TMP/seed.tsv"
assert_eq 36 "$HMACS" "every seeded key is kept as HMAC-SHA-256(pepper, key)"

# ---- pepper files refused -----------------------------------------------------
printf '%s\n' "$PEPPER" >"$TMP/open"
chmod 644 "$TMP/open"
run 2 "a pepper file others can read" -- "$KEYGATE" keys list --db "$DB" --pepper-file "$TMP/open"
assert_eq "keygate keys list: the pepper file $TMP/open is open to group or others (mode 0644); run 'chmod 600 $TMP/open': a pepper is a secret" \
  "$(cat "$TMP/err")" "mode 0644: the line"
KEYGATE_PEPPER_FILE=$TMP/open run 2 "the variable names it" -- "$KEYGATE" keys list --db "$DB"
assert_eq "keygate keys list: KEYGATE_PEPPER_FILE: the pepper file $TMP/open is open to group or others (mode 0644); run 'chmod 600 $TMP/open': a pepper is a secret" \
  "$(cat "$TMP/err")" "mode 0644 from the variable: the line"
(
  umask 077
  printf 'too short\n' >"$TMP/short"
)
run 2 "a pepper too short" -- "$KEYGATE" keys list --db "$DB" --pepper-file "$TMP/short"
assert_eq "keygate keys list: the pepper file $TMP/short holds 9 bytes; a pepper is 32 to 64 bytes: make one with '(umask 077; openssl rand -hex 32 > FILE)'" \
  "$(cat "$TMP/err")" "too short: the line"
# The same pepper saved with a CRLF line end (a Windows editor) is the same
# pepper; a file of another user (not root) is refused: that user could
# swap it (as ssh refuses a key file).
(
  umask 077
  printf '%s\r\n' "$PEPPER" >"$TMP/crlf"
  printf '%s\n' "$PEPPER" >"$TMP/theirs"
)
run 0 "a CRLF pepper file is the same pepper" -- \
  "$KEYGATE" keys list --db "$DB" --pepper-file "$TMP/crlf"
if [ "$(id -u)" = 0 ]; then
  chown nobody "$TMP/theirs"
  run 2 "a pepper file of another user" -- \
    "$KEYGATE" keys list --db "$DB" --pepper-file "$TMP/theirs"
  assert_contains "belongs to uid $(id -u nobody), not to this user (uid 0) or root" \
    "$(cat "$TMP/err")" "another user's pepper file: the line"
fi
run 2 "no pepper file" -- "$KEYGATE" keys list --db "$DB" --pepper-file "$TMP/absent"
assert_eq "keygate keys list: cannot read the pepper file $TMP/absent: No such file or directory" \
  "$(cat "$TMP/err")" "absent: the line"
run 2 "an empty --pepper-file" -- "$KEYGATE" keys list --db "$DB" --pepper-file ""
assert_eq "keygate keys list: --pepper-file needs the path of the pepper file" \
  "$(cat "$TMP/err")" "empty flag: the line"
KEYGATE_PEPPER_FILE= run 2 "an empty variable is unset" -- "$KEYGATE" keys list --db "$DB"
assert_eq "keygate keys list: $NO_PEPPER" "$(cat "$TMP/err")" "empty variable: no pepper"
# A new store with a bad pepper file is not made at all.
run 2 "no store from a bad pepper" -- "$KEYGATE" accounts create acme \
  --db "$TMP/never.db" --pepper-file "$TMP/short"
assert_eq "" "$(ls "$TMP"/never.db* 2>/dev/null || true)" "no file made"

# ---- secrecy ------------------------------------------------------------------
assert_not_contains "$PEPPER" "$(cat "$OUTPUTS")" "the pepper in no output"
assert_not_contains "${PEPPER:0:16}" "$(cat "$OUTPUTS")" "no part of it"
for key in "$K1" "$K2" "$K3"; do
  assert_not_contains "$key" "$(cat "$OUTPUTS")" "no key in any other output"
done
for f in "$DB" "$DB-wal" "$DB-shm" "$SEEDDB" "$SEEDDB-wal"; do
  if [ -f "$f" ]; then
    assert_eq 0 "$(grep -c -a -F -- "$PEPPER" "$f" || true)" "the pepper is not in $(basename "$f")"
    assert_eq 0 "$(grep -c -a -F -- "${PEPPER:0:16}" "$f" || true)" "nor a part of it"
  fi
done
kg_done
