#!/usr/bin/env bash
# cli_output_paths.sh — no command writes an output over one of its inputs
# or over another of its outputs (review: `report html r1.json --out
# r1.json` replaced the run with its page, `load --json F --html F` kept
# one, `report merge r2.json r2.json --out r2.json --force` overwrote its
# input). Each is refused before anything is written: exit 2, one line
# naming both paths. Same file: device and inode for files that exist
# (a symbolic link included), the same string for one not made yet.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"

KEYS=$TMP/keys.tsv
key_file "$KEYS" valid valid expired
. "$(dirname "$0")/fake_common.bash"
fake_start ok
"$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 40 --json "$TMP/r1.json" -q ||
  kg_fail "the first run failed"
cp "$TMP/r1.json" "$TMP/r2.json"
ln -s r1.json "$TMP/link.json"
fake_stop

# refused CMD WHAT REGEX ARGS... — exit 2, one line "keygate CMD: " matching
# REGEX, nothing on stdout.
refused() {
  local cmd=$1 what=$2 regex=$3
  shift 3
  assert_exit 2 "$what: exit" -- "$KEYGATE" "$@"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one line ($(head -c 300 "$TMP/err"))"
  assert_match "^keygate $cmd: $regex" "$(cat "$TMP/err")" "$what: the line"
  assert_eq "" "$(cat "$TMP/out")" "$what: nothing on stdout"
}

sum() { sha256sum "$@" | cut -d' ' -f1; }
r1=$(sum "$TMP/r1.json")
r2=$(sum "$TMP/r2.json")

# ---- report ------------------------------------------------------------------
refused "report html" "html over its input" \
  "--out $TMP/r1.json names the same file as the input $TMP/r1.json" \
  report html "$TMP/r1.json" --out "$TMP/r1.json"
refused "report html" "html over its baseline" \
  "--out $TMP/r2.json names the same file as the input $TMP/r2.json" \
  report html "$TMP/r1.json" "$TMP/r2.json" --out "$TMP/r2.json"
refused "report html" "html over its input through a symbolic link" \
  "--out $TMP/link.json names the same file as the input $TMP/r1.json" \
  report html "$TMP/r1.json" --out "$TMP/link.json"
refused "report html" "html over its input as ./" \
  "--out $TMP/./r1.json names the same file" \
  report html "$TMP/r1.json" --out "$TMP/./r1.json"
refused "report merge" "merge --force over its input" \
  "--out $TMP/r2.json names the same file as the input $TMP/r2.json" \
  report merge "$TMP/r2.json" "$TMP/r2.json" --out "$TMP/r2.json" --force
assert_eq "$r1" "$(sum "$TMP/r1.json")" "report: r1.json untouched"
assert_eq "$r2" "$(sum "$TMP/r2.json")" "report: r2.json untouched"
assert_eq "" "$(find "$TMP" -name '*.tmp')" "report: nothing written beside them"
# elsewhere, and to /dev/null, still fine
assert_exit 0 "html elsewhere" -- "$KEYGATE" report html "$TMP/r1.json" --out "$TMP/page.html"
assert_exit 0 "html to /dev/null" -- "$KEYGATE" report html "$TMP/r1.json" --out /dev/null

# ---- load --------------------------------------------------------------------
refused load "--json and --html the same new file" \
  "--json $TMP/same.out and --html $TMP/same.out are the same file" \
  load http://127.0.0.1:9/ --keys "$KEYS" -n 1 --json "$TMP/same.out" --html "$TMP/same.out"
refused load "--json and --html the same file" \
  "--json $TMP/page.html and --html $TMP/page.html are the same file" \
  load http://127.0.0.1:9/ --keys "$KEYS" -n 1 --json "$TMP/page.html" --html "$TMP/page.html"
refused load "--json over the key file" \
  "--json $KEYS names the same file as --keys $KEYS" \
  load http://127.0.0.1:9/ --keys "$KEYS" -n 1 --json "$KEYS"
assert_eq "" "$(find "$TMP" -name 'same.out*')" "load: nothing written"
assert_eq 3 "$(wc -l <"$KEYS")" "load: the key file untouched"

# ---- keys seed, probe ----------------------------------------------------------
"$KEYGATE" keys seed --valid 2 --out "$TMP/seed.tsv" --db "$TMP/s.db" >/dev/null ||
  kg_fail "seed failed"
db=$(sum "$TMP/s.db")
refused "keys seed" "seed --out over its store" \
  "--out $TMP/s.db names the same file as --db $TMP/s.db" \
  keys seed --valid 1 --out "$TMP/s.db" --force --db "$TMP/s.db"
assert_eq "$db" "$(sum "$TMP/s.db")" "seed: the store untouched"
# SQLite's files beside the store: it would read key lines as its pages
# (review 73)
for side in -wal -shm -journal; do
  refused "keys seed" "seed --out over the store's $side" \
    "--out $TMP/s.db$side names the same file as the store's own $TMP/s.db$side" \
    keys seed --valid 1 --out "$TMP/s.db$side" --force --db "$TMP/s.db"
  assert_eq "" "$(find "$TMP" -maxdepth 1 -name "s.db$side")" "seed --out over the store's $side: nothing made"
done
# "-" is not stdout for the keys, and a key pasted as the path is refused
# without being repeated (review 78: a file named "-"; the path printed
# whole)
refused "keys seed" "seed --out -" "--out - : the keys go to a file of mode 0600, not to stdout" \
  keys seed --valid 1 --out - --db "$TMP/s.db"
assert_eq "" "$(find "$TMP" -maxdepth 1 -name '-')" "seed --out -: no file named -"
PASTED=sk_live_wtACaaaaaaaaaaaaaaaaaaaaaaaaaaaDTnnB
refused "keys seed" "seed --out KEY" "--out .*/sk_live_\*\*\*\*TnnB looks like a key, not a file path" \
  keys seed --valid 1 --out "$TMP/$PASTED" --db "$TMP/s.db"
assert_not_contains "wtACaaaa" "$(cat "$TMP/err")" "seed --out KEY: the key not repeated"
# ... but a folder named like the prefix is no key (review 79)
mkdir "$TMP/sk_live_exports"
assert_exit 0 "seed --out into a folder named sk_live_exports" -- \
  "$KEYGATE" keys seed --valid 1 --out "$TMP/sk_live_exports/k.tsv" --db "$TMP/exports.db"
assert_eq "$db" "$(sum "$TMP/s.db")" "seed: the store untouched"
# ... also where --db is a symbolic link to the store (review 74: SQLite
# names them after the file the link leads to)
ln -s "$TMP/s.db" "$TMP/link.db"
refused "keys seed" "seed --db LINK --out over the linked store's -wal" \
  "--out $TMP/s.db-wal names the same file as the store's own $TMP/s.db-wal" \
  keys seed --valid 1 --out "$TMP/s.db-wal" --force --db "$TMP/link.db"
assert_eq "" "$(find "$TMP" -maxdepth 1 -name "s.db-wal")" "seed --db LINK --out over the -wal: nothing made"
assert_eq "$db" "$(sum "$TMP/s.db")" "seed: the store untouched"
# one new file spelled two ways: the same name in the same folder (review
# 72: the key file was written over the store the seed had just made)
rc=0
(cd "$TMP" && "$KEYGATE" keys seed --valid 1 --out ./new.db --db new.db) \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
assert_eq 2 "$rc" "seed --db new.db --out ./new.db: exit"
assert_match "^keygate keys seed: --out \./new.db names the same file as --db new.db" \
  "$(cat "$TMP/err")" "seed --db new.db --out ./new.db: the line"
assert_eq "" "$(find "$TMP" -maxdepth 1 -name 'new.db*')" "seed: nothing made"
refused load "--json and --html one new file spelled two ways" \
  "--json $TMP/two.out and --html $TMP/\./two.out are the same file" \
  load http://127.0.0.1:9/ --keys "$KEYS" -n 1 --json "$TMP/two.out" --html "$TMP/./two.out"
head -n 1 "$KEYS" | cut -f2 >"$TMP/probe.key"
refused probe "probe --json over its key file" \
  "--json $TMP/probe.key names the same file as --key-file $TMP/probe.key" \
  probe http://127.0.0.1:9/ --key-file "$TMP/probe.key" --json "$TMP/probe.key"

kg_done
