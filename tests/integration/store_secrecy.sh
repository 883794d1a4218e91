#!/usr/bin/env bash
# store_secrecy.sh — the store keeps digests, never keys (SPEC §2): after
# keys are created, rotated and seeded, none of their text is anywhere in
# the database files — the main file, the -wal and the -shm — neither whole
# nor its random part; the seed FILE is mode 0600 even under umask 000; and
# no command but create/rotate/seed ever prints a key. Needs $KEYGATE (set
# by ctest) and sqlite3.
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
command -v sqlite3 >/dev/null || kg_fail "the sqlite3 program is needed"
DB=$TMP/keys.db
export KEYGATE_DB=$DB
KEYS=()

"$KEYGATE" accounts create acme --tier pro >/dev/null

# Hold a connection open with a read transaction, so the WAL is neither
# checkpointed away nor deleted while we look at it.
mkfifo "$TMP/hold.fifo"
sqlite3 "$DB" <"$TMP/hold.fifo" >/dev/null 2>&1 &
HOLDER=$!
kg_track "$HOLDER"
exec 7>"$TMP/hold.fifo"
kg_on_exit 'exec 7>&-'
echo "BEGIN; SELECT count(*) FROM accounts;" >&7

for i in $(seq 1 10); do
  KEYS+=("$("$KEYGATE" keys create --account acme --name "k$i" 2>/dev/null)")
done
ID=$("$KEYGATE" keys list --format tsv | head -n 1 | cut -f1)
KEYS+=("$("$KEYGATE" keys rotate "$ID" --grace 1h 2>/dev/null)")
umask 000
"$KEYGATE" keys seed --valid 20 --expired 5 --deactivated 5 \
  --out "$TMP/seed.tsv" >/dev/null
umask 022
assert_eq 600 "$(stat -c %a "$TMP/seed.tsv")" "seed file mode under umask 000"
assert_eq 30 "$(wc -l <"$TMP/seed.tsv")" "seed file lines"
mapfile -t -O "${#KEYS[@]}" KEYS < <(cut -f2 "$TMP/seed.tsv")
assert_eq 41 "${#KEYS[@]}" "keys made"
for k in "${KEYS[@]}"; do
  [[ "$k" =~ ^sk_live_[0-9A-Za-z]{38}$ ]] || kg_fail "not a key: [$k]"
done

# look_for_keys WHAT FILES... — no key, nor its random part, in FILES.
look_for_keys() {
  local what=$1 k hits
  shift
  for k in "${KEYS[@]}"; do
    # the whole key, its 32 random characters, and the first 12 of them
    for needle in "$k" "${k:8:32}" "${k:8:12}"; do
      hits=$(cat "$@" | grep -a -c -F -- "$needle" || true)
      assert_eq 0 "$hits" "$what: key text ${needle:0:4}... found"
    done
  done
}

[ -s "$DB-wal" ] || kg_fail "no -wal to inspect; the holder did not keep it"
[ -e "$DB-shm" ] || kg_fail "no -shm to inspect"
# the WAL holds the new rows: their hints are there, the keys are not
assert_contains "sk_live_****" "$(grep -a -o -F "sk_live_****${KEYS[0]: -4}" "$DB-wal" |
  head -n 1)" "the WAL holds the key rows"
look_for_keys "db, wal and shm while open" "$DB" "$DB-wal" "$DB-shm"

exec 7>&- # the holder ends; the next writer checkpoints into the main file
wait "$HOLDER" || true
"$KEYGATE" keys create --account acme --name last >"$TMP/last.key" 2>/dev/null
KEYS+=("$(cat "$TMP/last.key")")
sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
assert_eq 1 "$(sqlite3 "$DB" "SELECT count(*) FROM keys WHERE hint =
  'sk_live_****${KEYS[0]: -4}'")" "rows reached the main file"
files=("$DB")
[ -e "$DB-wal" ] && files+=("$DB-wal")
[ -e "$DB-shm" ] && files+=("$DB-shm")
look_for_keys "db after checkpoint" "${files[@]}"
assert_eq 0 "$(sqlite3 "$DB" "SELECT count(*) FROM keys
  WHERE length(digest) != 32 OR typeof(digest) != 'blob'")" "digests only"

# no listing shows a key, in any format
for fmt in text json tsv; do
  "$KEYGATE" keys list --all --format "$fmt" >"$TMP/list.$fmt"
  "$KEYGATE" accounts list --format "$fmt" >>"$TMP/list.$fmt"
  look_for_keys "keys list --format $fmt" "$TMP/list.$fmt"
  assert_contains "sk_live_****${KEYS[3]: -4}" "$(cat "$TMP/list.$fmt")" \
    "keys list --format $fmt shows hints"
done
kg_done
