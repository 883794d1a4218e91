#!/usr/bin/env bash
# store_concurrency.sh — the tier limit holds under concurrent creation
# (SPEC §2): eight `keygate keys create` processes released at once on one
# free account end with exactly 3 keys; the other five print exactly
# "account acme (free tier) already holds 3 keys; delete one or upgrade to
# pro". The same race on a pro account ends with exactly 50. Every key
# printed is in the store. Needs $KEYGATE (set by ctest) and sqlite3.
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?set KEYGATE to the keygate program}"
command -v sqlite3 >/dev/null || kg_fail "the sqlite3 program is needed"
export KEYGATE_DB=$TMP/keys.db

# race ACCOUNT PROCS EACH — PROCS processes, released together, each
# creating EACH keys one after another on ACCOUNT. Leaves per-attempt
# results in $TMP/race/<p>.<i>.{out,err,rc}.
race() {
  local account=$1 procs=$2 each=$3 p
  rm -rf "$TMP/race" "$TMP/go"
  mkdir "$TMP/race"
  local pids=()
  for p in $(seq 1 "$procs"); do
    (
      for _ in $(seq 1 200); do # wait for the start, at most 10 s
        [ -e "$TMP/go" ] && break
        sleep 0.05
      done
      for i in $(seq 1 "$each"); do
        rc=0
        "$KEYGATE" keys create --account "$account" --name "p$p-$i" \
          --format tsv >"$TMP/race/$p.$i.out" 2>"$TMP/race/$p.$i.err" ||
          rc=$?
        echo "$rc" >"$TMP/race/$p.$i.rc"
      done
    ) &
    pids+=($!)
    kg_track "$!"
  done
  sleep 0.3 # let every process reach the start line
  touch "$TMP/go"
  for p in "${pids[@]}"; do
    wait "$p"
  done
}

# stored_keys ACCOUNT — how many keys the database holds for ACCOUNT.
stored_keys() {
  sqlite3 "$KEYGATE_DB" "SELECT count(*) FROM keys WHERE account_id =
    (SELECT id FROM accounts WHERE name = '$1')"
}

# check_race ACCOUNT TIER LIMIT ATTEMPTS
check_race() {
  local account=$1 tier=$2 limit=$3 attempts=$4 f ok=0 refused=0
  local msg="keygate keys create: account $account ($tier tier) already holds $limit keys; delete one"
  if [ "$tier" = free ]; then msg+=" or upgrade to pro"; else msg+=" first"; fi
  for f in "$TMP"/race/*.rc; do
    local base=${f%.rc}
    case "$(cat "$f")" in
    0)
      ok=$((ok + 1))
      assert_eq "" "$(cat "$base.err")" "$account: a success is silent"
      IFS=$'\t' read -r id key _ name _ <"$base.out"
      # the printed key is stored, as its SHA-256 digest, with its hint
      local digest
      digest=$(printf %s "$key" | sha256sum | cut -c1-64)
      assert_eq 1 "$(sqlite3 "$KEYGATE_DB" "SELECT count(*) FROM keys
        WHERE lower(hex(digest)) = '$digest' AND name = '$name'
        AND hint = 'sk_live_****${key: -4}'")" \
        "$account: printed key $id is stored"
      ;;
    2)
      refused=$((refused + 1))
      assert_eq "$msg" "$(cat "$base.err")" "$account: refusal message"
      assert_eq "" "$(cat "$base.out")" "$account: a refusal prints no key"
      ;;
    *) kg_fail "$account: exit $(cat "$f"): $(cat "$base.err")" ;;
    esac
  done
  assert_eq "$limit" "$ok" "$account: successes"
  assert_eq "$((attempts - limit))" "$refused" "$account: refusals"
  assert_eq "$limit" "$(stored_keys "$account")" "$account: keys stored"
}

"$KEYGATE" accounts create acme --tier free >/dev/null
race acme 8 1
check_race acme free 3 8

# a second round on a fresh free account, to catch a lucky first
"$KEYGATE" accounts create beta --tier free >/dev/null
race beta 8 1
check_race beta free 3 8

# pro: 8 processes x 7 attempts = 56 for 50 places
"$KEYGATE" accounts create big --tier pro >/dev/null
race big 8 7
check_race big pro 50 56

# Writers beside a reader that holds its snapshot (a pager on `keys list`,
# a backup, a server's full load): every write succeeds. kg_store_close's
# checkpoint waits 100 ms for readers, not the busy timeout while it keeps
# writers out (review 72: 2 of 4 creates failed "locked", waited 5 s).
"$KEYGATE" accounts create gamma --tier pro >/dev/null
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN"); c.execute("SELECT count(*) FROM keys").fetchall()
open(sys.argv[2], "w").close()
time.sleep(20)' "$KEYGATE_DB" "$TMP/reader.ready" &
reader=$!
kg_track "$reader"
for _ in $(seq 1 100); do [ -e "$TMP/reader.ready" ] && break; sleep 0.05; done
race gamma 4 2
rcs=$(cat "$TMP"/race/*.rc | sort | uniq -c | tr -s ' ')
assert_eq " 8 0" "$rcs" "beside a reader holding its snapshot: 8 of 8 creates succeed"
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true

assert_eq ok "$(sqlite3 "$KEYGATE_DB" "PRAGMA integrity_check")" \
  "integrity after the races"
kg_done
