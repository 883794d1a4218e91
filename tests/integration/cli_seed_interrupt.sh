#!/usr/bin/env bash
# cli_seed_interrupt.sh — `keygate keys seed` stopped by SIGINT or SIGTERM
# leaves no file of plaintext keys behind (review: big.tsv.tmpNNNN stayed),
# seeds nothing (the store rolls back), says so in one line and dies of the
# signal (130, 143).
#
# Environment: KEYGATE (the keygate program).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"

for sig in INT TERM; do
  dir=$TMP/$sig
  mkdir "$dir"
  # SIGINT at its default, as from a terminal (a background job of a
  # non-interactive shell starts with it ignored)
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$KEYGATE" keys seed --valid 1000000 \
    --out "$dir/big.tsv" --db "$dir/s.db" >"$dir/out" 2>"$dir/err" &
  pid=$!
  kg_track "$pid"
  # signal once key lines are being written
  for _ in $(seq 1 300); do
    tmp=$(find "$dir" -name 'big.tsv.tmp*' -size +1k 2>/dev/null | head -n 1)
    [ -z "$tmp" ] || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$tmp" ] || kg_fail "SIG$sig: no temporary key file appeared: $(cat "$dir/err")"
  kill -"$sig" "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rc=0
  wait "$pid" || rc=$?
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  assert_eq "$want" "$rc" "SIG$sig: dies of the signal"
  assert_eq "" "$(find "$dir" -name 'big.tsv*')" "SIG$sig: no key file left, temporary or not"
  assert_eq "keygate keys seed: interrupted by SIG$sig: nothing was seeded, and the temporary key file is removed" \
    "$(cat "$dir/err")" "SIG$sig: one line says so"
  assert_exit 0 "SIG$sig: the store opens" -- "$KEYGATE" keys list --db "$dir/s.db" --format tsv
  assert_eq "" "$(cat "$TMP/out")" "SIG$sig: no key was seeded (rolled back)"
done

# a seed that is not interrupted still ends well
assert_exit 0 "a seed left alone" -- "$KEYGATE" keys seed --valid 3 --out "$TMP/small.tsv" --db "$TMP/small.db"
assert_eq 3 "$(wc -l <"$TMP/small.tsv")" "a seed left alone: its keys"
# one account is one account (review: "over 1 pro accounts seed-0001..seed-0001")
assert_eq "seeded 3 keys (3 valid, 0 expired, 0 deactivated) in 1 pro account seed-0001; keys in $TMP/small.tsv (mode 0600)" \
  "$(cat "$TMP/out")" "a seed into one account: singular"
assert_exit 0 "a seed of one key" -- "$KEYGATE" keys seed --valid 1 --out "$TMP/one.tsv" --db "$TMP/small.db"
assert_eq "seeded 1 key (1 valid, 0 expired, 0 deactivated) in 1 pro account seed-0002; keys in $TMP/one.tsv (mode 0600)" \
  "$(cat "$TMP/out")" "a seed of one key: singular"

kg_done
