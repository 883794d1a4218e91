#!/usr/bin/env bash
# store_diskfull.sh — a full disk is named as such, with the fix, in one
# line, and nothing is written (issue 13): a store on a 1 MiB tmpfs, the
# disk filled, then writes and reads of keygate keys. Needs root (mount);
# the tmpfs is unmounted in the cleanup.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MNT=$TMP/full
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=1m tmpfs "$MNT" 2>"$TMP/mount.err"; then
  echo "SKIP: cannot mount a tmpfs (not root?): $(cat "$TMP/mount.err")"
  exit 0
fi
kg_on_exit "umount '$MNT'"
DB=$MNT/keys.db
assert_exit 0 "accounts create" -- "$KEYGATE" accounts create acme --tier pro --db "$DB"
assert_exit 0 "a key before the disk fills" -- \
  "$KEYGATE" keys create --db "$DB" --account acme --name before
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
FULL="the disk holding $DB is full"
FIX="; free space and retry: nothing was written"

assert_exit 2 "keys create on a full disk" -- \
  "$KEYGATE" keys create --db "$DB" --account acme --name after
assert_contains "keygate keys create: $FULL" "$(cat "$TMP/err")" "create: the cause"
assert_contains "$FIX" "$(cat "$TMP/err")" "create: the fix"
assert_eq 1 "$(wc -l <"$TMP/err")" "create: one line"
assert_eq "" "$(cat "$TMP/out")" "create: no key printed"
assert_not_contains "disk I/O error" "$(cat "$TMP/err")" "create: not SQLite's bare words"

# Before -shm exists (a fresh mount of the same bytes): even a read.
rm -f "$DB-shm" "$DB-wal"
assert_exit 2 "keys list on a full disk without -shm" -- \
  "$KEYGATE" keys list --db "$DB"
assert_contains "keygate keys list: $FULL" "$(cat "$TMP/err")" "list: the cause"
assert_contains "$FIX" "$(cat "$TMP/err")" "list: the fix"
assert_not_contains "disk I/O error" "$(cat "$TMP/err")" "list: not SQLite's bare words"

rm -f "$MNT/fill"
assert_exit 0 "keys list once space is free" -- "$KEYGATE" keys list --db "$DB"
assert_eq 1 "$(grep -c 'before' "$TMP/out")" "the first key is there"
assert_eq 0 "$(grep -c 'after' "$TMP/out" || true)" "nothing was written"

# A seed that the disk cannot hold fails at its COMMIT, after its key file
# was written (on another disk): the file goes too, since no key in it is
# stored (review 88 found it left, 1 MB of keys the message never named).
rm -f "$DB" "$DB-wal" "$DB-shm"
assert_exit 0 "accounts create for the seed" -- \
  "$KEYGATE" accounts create acme --tier pro --db "$DB"
mkdir -p "$TMP/seedout"
assert_exit 2 "a seed the disk cannot hold" -- \
  "$KEYGATE" keys seed --db "$DB" --valid 20000 --out "$TMP/seedout/seed.tsv"
assert_contains "keygate keys seed: $FULL" "$(cat "$TMP/err")" "seed: the cause"
assert_contains "$FIX" "$(cat "$TMP/err")" "seed: the fix"
assert_eq "" "$(ls -A "$TMP/seedout")" "seed: no key file, temporary or not"
assert_eq 0 "$(sqlite3 "$DB" 'SELECT count(*) FROM keys')" "seed: no key stored"
kg_done
