#!/usr/bin/env bash
# store_errors.sh — every failure of `keygate accounts` and `keygate keys`
# is one clear stderr line "keygate <cmd>: ..." and exit 2, trouble as every
# keygate command has it (docs/cli.md): a usage error (bad flag, bad
# duration, bad name, bad id) as much as a runtime failure (missing
# database, unknown account or key, a refused operation, a database locked
# by another process after the bounded wait). Needs
# $KEYGATE (set by ctest) and the sqlite3 program.
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
command -v sqlite3 >/dev/null || kg_fail "the sqlite3 program is needed"
DB=$TMP/keys.db
export KEYGATE_DB=$DB

# fails CODE "EXACT LINE" WHAT -- COMMAND... — COMMAND exits CODE, prints
# nothing on stdout and exactly one line on stderr, equal to EXACT LINE.
fails() {
  local code=$1 line=$2 what=$3
  shift 3
  assert_exit "$code" "$what" "$@"
  assert_eq "" "$(cat "$TMP/out")" "$what: stdout"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one stderr line"
  assert_eq "$line" "$(cat "$TMP/err")" "$what: message"
}

# fails_like CODE PREFIX WHAT -- COMMAND... — as fails, the line starting
# with PREFIX.
fails_like() {
  local code=$1 prefix=$2 what=$3
  shift 3
  assert_exit "$code" "$what" "$@"
  assert_eq "" "$(cat "$TMP/out")" "$what: stdout"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one stderr line"
  assert_contains "$prefix" "$(head -c ${#prefix} "$TMP/err")" "$what: prefix"
}

# ---- a missing database -------------------------------------------------
NOPE=$TMP/nope.db
MISSING="no key store at $NOPE; create one with 'keygate accounts create NAME --db $NOPE'"
fails 2 "keygate keys list: $MISSING" "missing db: keys list" -- \
  "$KEYGATE" keys list --db "$NOPE"
fails 2 "keygate keys create: $MISSING" "missing db: keys create" -- \
  "$KEYGATE" keys create --db "$NOPE" --account acme --name ci
fails 2 "keygate accounts list: $MISSING" "missing db: accounts list" -- \
  "$KEYGATE" accounts list --db "$NOPE"
fails 2 "keygate accounts set-tier: $MISSING" "missing db: set-tier" -- \
  "$KEYGATE" accounts set-tier acme pro --db "$NOPE"
fails 2 "keygate keys delete: $MISSING" "missing db: keys delete" -- \
  "$KEYGATE" keys delete key_00000000001 --db "$NOPE"
[ ! -e "$NOPE" ] || kg_fail "a failed command created $NOPE"
fails 2 "keygate keys list: no key store at keygate.db; create one with 'keygate accounts create NAME --db keygate.db'" \
  "default --db" -- env -u KEYGATE_DB -C "$TMP" "$KEYGATE" keys list
printf 'just text, no database here at all, really not one\n' >"$TMP/text.db"
fails 2 "keygate keys list: $TMP/text.db is not a keygate store (not an SQLite database); give --db the path of a keygate store, or make one: 'keygate accounts create NAME --db NEW.db'" \
  "not a database" -- "$KEYGATE" keys list --db "$TMP/text.db"
sqlite3 "$TMP/other.db" "CREATE TABLE users (id INTEGER)"
fails 2 "keygate accounts create: $TMP/other.db is not a keygate store (it holds other tables); give --db the path of a keygate store, or make one: 'keygate accounts create NAME --db NEW.db'" \
  "a foreign database" -- "$KEYGATE" accounts create acme --db "$TMP/other.db"

# ---- accounts -----------------------------------------------------------
"$KEYGATE" accounts create acme >/dev/null
fails 2 "keygate accounts create: account acme already exists" \
  "duplicate account" -- "$KEYGATE" accounts create acme --tier pro
fails 2 "keygate accounts create: --tier must be free or pro, not 'gold'" \
  "bad --tier" -- "$KEYGATE" accounts create beta --tier gold
fails 2 "keygate accounts create: account name may hold only letters, digits, '.', '_' and '-'" \
  "bad account name" -- "$KEYGATE" accounts create "ac me"
fails 2 "keygate accounts create: account name must start with a letter or digit" \
  "account name with a dash first" -- "$KEYGATE" accounts create -- -acme
fails 2 "keygate accounts create: give the account NAME; see 'keygate accounts create --help'" \
  "no account name" -- "$KEYGATE" accounts create
fails 2 "keygate accounts set-tier: the tier must be free or pro, not 'gold'" \
  "set-tier bad tier" -- "$KEYGATE" accounts set-tier acme gold
fails 2 "keygate accounts set-tier: give the account NAME and a tier, free or pro; see 'keygate accounts set-tier --help'" \
  "set-tier without tier" -- "$KEYGATE" accounts set-tier acme
fails 2 "keygate accounts set-tier: no account named ghost; see 'keygate accounts list'" \
  "set-tier unknown account" -- "$KEYGATE" accounts set-tier ghost pro
fails 2 "keygate accounts: unknown command 'remove'; see 'keygate accounts --help'" \
  "unknown accounts command" -- "$KEYGATE" accounts remove acme
fails 2 "keygate accounts: give a command: create, set-tier or list" \
  "no accounts command" -- "$KEYGATE" accounts
fails 2 "keygate accounts list: unexpected argument 'extra'; see 'keygate accounts list --help'" \
  "accounts list extra arg" -- "$KEYGATE" accounts list extra

# ---- keys create: unknown account, names, durations, times ----------------
fails 2 "keygate keys create: no account named ghost; see 'keygate accounts list'" \
  "unknown account" -- "$KEYGATE" keys create --account ghost --name ci
fails 2 "keygate keys list: no account named ghost; see 'keygate accounts list'" \
  "list unknown account" -- "$KEYGATE" keys list --account ghost
N65=$(printf 'n%.0s' $(seq 1 65))
fails 2 "keygate keys create: --name: key name is 65 characters; at most 64 printable characters" \
  "name over 64" -- "$KEYGATE" keys create --account acme --name "$N65"
fails 2 "keygate keys create: --name: a key name must not be empty" \
  "empty name" -- "$KEYGATE" keys create --account acme --name ""
fails 2 "keygate keys create: --name: key name may hold only printable ASCII characters (byte 4 is 0x09)" \
  "name with a tab" -- "$KEYGATE" keys create --account acme --name $'tab\there'
fails 2 "keygate keys create: give --account NAME and --name LABEL (one key per integration, e.g. --name ci)" \
  "no --name" -- "$KEYGATE" keys create --account acme
for d in 3x 0 0s -1d 30dd 1h30m 1500ms 0.5s 1e3s 0x10s .5h 5.d 99999999999999999999d ""; do
  fails 2 "keygate keys create: bad duration '$d' for --expires-in; use a number and s, m, h, d or w, in whole seconds (e.g. 30d or 1.5h)" \
    "bad duration '$d'" -- "$KEYGATE" keys create --account acme --name ci \
    --expires-in "$d"
done
fails 2 "keygate keys create: bad time 'tomorrow' for --expires-at; use UTC ISO 8601 like 2030-01-31T00:00:00Z, at most 9999-12-31T23:59:59Z" \
  "bad --expires-at" -- "$KEYGATE" keys create --account acme --name ci \
  --expires-at tomorrow
fails 2 "keygate keys create: bad time '2030-02-30T00:00:00Z' for --expires-at; use UTC ISO 8601 like 2030-01-31T00:00:00Z, at most 9999-12-31T23:59:59Z" \
  "impossible date" -- "$KEYGATE" keys create --account acme --name ci \
  --expires-at 2030-02-30T00:00:00Z
fails 2 "keygate keys create: --expires-at 2001-01-01T00:00:00Z is not in the future" \
  "past --expires-at" -- "$KEYGATE" keys create --account acme --name ci \
  --expires-at 2001-01-01T00:00:00Z
fails 2 "keygate keys create: give --expires-in or --expires-at, not both" \
  "both expiries" -- "$KEYGATE" keys create --account acme --name ci \
  --expires-in 1d --expires-at 2099-01-01T00:00:00Z
fails 2 "keygate keys create: --format must be text, json or tsv, not 'xml'" \
  "bad --format" -- "$KEYGATE" keys create --account acme --name ci \
  --format xml
fails 2 "keygate keys create: unknown option '--acount'; see 'keygate keys create --help'" \
  "unknown option" -- "$KEYGATE" keys create --acount acme --name ci
fails 2 "keygate keys create: option --name needs a value" \
  "option without value" -- "$KEYGATE" keys create --account acme --name
fails 2 "keygate keys: unknown command 'revoke'; see 'keygate keys --help'" \
  "unknown keys command" -- "$KEYGATE" keys revoke key_00000000001
fails 2 "keygate keys: give a command: create, list, deactivate, delete, rotate, seed or ack-restore" \
  "no keys command" -- "$KEYGATE" keys
N64=$(printf 'n%.0s' $(seq 1 64))
assert_exit 0 "name of exactly 64" -- \
  "$KEYGATE" keys create --account acme --name "$N64" --format json
ID=$(json_get "$TMP/out" id)

# ---- unknown and malformed key ids ------------------------------------------
# (a key's first 4 characters and more are masked, as in every message;
# "sk_live_abc" shows as it is: no more than a hint would)
for cmd in deactivate delete rotate; do
  fails 2 "keygate keys $cmd: no key key_00000000001 in $DB; see 'keygate keys list'" \
    "$cmd unknown key" -- "$KEYGATE" keys "$cmd" key_00000000001
  fails 2 "keygate keys $cmd: 'sk_live_****' is not a key id (they look like key_0A1b2C3d4E5; see 'keygate keys list')" \
    "$cmd malformed id" -- "$KEYGATE" keys "$cmd" sk_live_abcd
done
fails 2 "keygate keys delete: give the id of the key (see 'keygate keys list'); see 'keygate keys delete --help'" \
  "delete without id" -- "$KEYGATE" keys delete
fails 2 "keygate keys rotate: bad duration '2y' for --grace; use 0 or a number and s, m, h, d or w, in whole seconds (e.g. 30d or 1.5h)" \
  "bad --grace" -- "$KEYGATE" keys rotate "$ID" --grace 2y
"$KEYGATE" keys delete "$ID" >/dev/null
fails 2 "keygate keys deactivate: key $ID is deleted; it cannot be deactivated" \
  "deactivate deleted" -- "$KEYGATE" keys deactivate "$ID"
fails 2 "keygate keys rotate: key $ID is deleted; make a new one with 'keygate keys create'" \
  "rotate deleted" -- "$KEYGATE" keys rotate "$ID"

# ---- keys seed ------------------------------------------------------------
fails 2 "keygate keys seed: give --out FILE for the '<class><TAB><key>' lines" \
  "seed without --out" -- "$KEYGATE" keys seed --valid 3
fails 2 "keygate keys seed: give --valid, --expired and --deactivated counts adding up to 1..20000000 keys" \
  "seed of nothing" -- "$KEYGATE" keys seed --valid 0 --out "$TMP/s.tsv"
fails 2 "keygate keys seed: --valid must be a whole number from 0 to 20000000, not 'ten'" \
  "seed bad count" -- "$KEYGATE" keys seed --valid ten --out "$TMP/s.tsv"
fails 2 "keygate keys seed: --expired must be a whole number from 0 to 20000000, not '-1'" \
  "seed negative count" -- "$KEYGATE" keys seed --expired -1 --out "$TMP/s.tsv"
fails 2 "keygate keys seed: --out $TMP is a directory" \
  "seed into a directory" -- "$KEYGATE" keys seed --valid 1 --out "$TMP"
fails_like 2 "keygate keys seed: cannot create $TMP/no/such/dir/s.tsv.tmp" \
  "seed into a missing directory" -- \
  "$KEYGATE" keys seed --valid 1 --out "$TMP/no/such/dir/s.tsv"
[ ! -e "$TMP/s.tsv" ] || kg_fail "a refused seed wrote its file"

# ---- a locked database: one line after the bounded wait --------------------
# Another process holds the write lock (BEGIN IMMEDIATE) until we let go.
mkfifo "$TMP/lock.fifo"
sqlite3 "$DB" <"$TMP/lock.fifo" >/dev/null 2>&1 &
LOCKER=$!
kg_track "$LOCKER"
exec 7>"$TMP/lock.fifo"
kg_on_exit 'exec 7>&-'
# The locker waits for a lock the probe below may hold for an instant (CI,
# session 32: without a busy timeout its BEGIN IMMEDIATE failed once, and
# it never held the lock).
echo "PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE; UPDATE accounts SET tier = tier;" >&7
held=0
for _ in $(seq 1 100); do # up to 10 s for the locker to take the lock
  if ! sqlite3 "$DB" "PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;" \
    >/dev/null 2>&1; then
    held=1
    break
  fi
  sleep 0.1
done
assert_eq 1 "$held" "the locker holds the write lock"
LOCKED="database $DB is locked by another process (waited 5 s); try again when it is free"
fails 2 "keygate keys create: $LOCKED" "locked: keys create" -- \
  "$KEYGATE" keys create --account acme --name ci
fails 2 "keygate accounts create: $LOCKED" "locked: accounts create" -- \
  "$KEYGATE" accounts create beta
# readers are not blocked by a writer (WAL)
assert_exit 0 "locked: keys list still reads" -- "$KEYGATE" keys list
exec 7>&- # EOF: sqlite3 rolls back and exits
wait "$LOCKER" || true
assert_exit 0 "unlocked: keys create" -- \
  "$KEYGATE" keys create --account acme --name ci

# ---- a stdout that cannot take the key: say which key to delete -------------
rc=0
"$KEYGATE" keys create --account acme --name lost >/dev/full 2>"$TMP/err" ||
  rc=$?
assert_eq 2 "$rc" "stdout full: exit"
assert_eq 1 "$(wc -l <"$TMP/err")" "stdout full: one line"
LOST=$("$KEYGATE" keys list --format tsv | awk -F'\t' '$3 == "lost" { print $1 }')
assert_eq "keygate keys create: could not write the key to stdout (No space left on device); key $LOST exists but nobody has it: delete it with 'keygate keys delete $LOST'" \
  "$(cat "$TMP/err")" "stdout full: message"

# ---- an older schema: a read-only reader refuses it, and says how to migrate
# it (the store's line says what is wrong, the command line's fix follows) ---
OLD=$TMP/old.db
sqlite3 "$OLD" "PRAGMA journal_mode = WAL;
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('digest', 'sha256');
CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  tier TEXT NOT NULL, created INTEGER NOT NULL);
CREATE TABLE keys (id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,
  digest BLOB NOT NULL UNIQUE, hint TEXT NOT NULL, name TEXT NOT NULL,
  created INTEGER NOT NULL, updated INTEGER NOT NULL, expires_at INTEGER,
  status TEXT NOT NULL, replaces INTEGER);
INSERT INTO accounts VALUES (1, 'acme', 'pro', 0);
PRAGMA user_version = 1;" >/dev/null
printf 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n' >"$TMP/head"
fails 2 "keygate check: $OLD has schema version 1, older than 3, and a read-only open does not migrate it; run any 'keygate keys' command on it once to migrate it" \
  "check of an older store" -- "$KEYGATE" check --db "$OLD" <"$TMP/head"
assert_exit 0 "keys list migrates it" -- "$KEYGATE" keys list --db "$OLD"
assert_exit 0 "then check reads it" -- "$KEYGATE" check --db "$OLD" <"$TMP/head"
assert_contains '"decision"' "$(cat "$TMP/out")" "then check decides"

# Another user's view (root only: runuser): a store it may not read, and a
# store whose folder it may not write (SQLite's -wal and -shm live there,
# reading needs them) — each line names the cause and the fix, not
# SQLite's "unable to open database file" or "the database is read-only".
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
  chmod 711 "$TMP"
  mkdir -m 755 "$TMP/perm" "$TMP/ro"
  "$KEYGATE" accounts create a --db "$TMP/perm/s.db" >/dev/null
  "$KEYGATE" accounts create a --db "$TMP/ro/s.db" >/dev/null
  chmod 000 "$TMP/perm/s.db"
  chmod 555 "$TMP/ro"
  chmod 666 "$TMP/ro/s.db"
  rm -f "$TMP/ro/s.db-wal" "$TMP/ro/s.db-shm"
  nob=$(id -u nobody)
  fails 2 "keygate keys list: cannot open $TMP/perm/s.db: Permission denied: this user (uid $nob) may not read and write it; let this user read and write it (and search its folder), and retry" \
    "a store another user may not read" -- runuser -u nobody -- "$KEYGATE" keys list --db "$TMP/perm/s.db"
  fails 2 "keygate keys list: $TMP/ro/s.db: preparing a query: this user (uid $nob) cannot create or write the store's -wal and -shm files beside it, which reading needs too; let this user write the store's folder and those files, and retry" \
    "a store in a folder another user may not write" -- runuser -u nobody -- "$KEYGATE" keys list --db "$TMP/ro/s.db"
  chmod 755 "$TMP/ro"
  chmod 700 "$TMP"
else
  echo "store_errors: not root: the other-user cases (runuser) are not run"
fi

kg_done
