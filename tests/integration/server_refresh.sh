#!/usr/bin/env bash
# server_refresh.sh — a running server sees a new key, a deactivation and
# a deletion within 2 s (SPEC §2), without a reload: each worker polls the
# store's change sequence (keygate_refresh 1s) and applies the keys that
# changed to its index in place, never loading the whole store again.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r ID1 K1 < <(new_key acme first)
IFS=$'\t' read -r ID2 K2 < <(new_key acme second)
start_serve --workers 2

status_of() {
  answer_of "$1"
  echo "${ANSWER%% *}"
}

# within_2s NAME KEY STATUS CODE — poll (bounded: 2 s) until KEY answers
# STATUS with CODE, then check 10 more requests all agree (every worker
# has swapped).
within_2s() {
  local name=$1 key=$2 want=$3 code=$4 got="" deadline
  deadline=$(($(date +%s%N) + 2000000000))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    answer_of "$key"
    got=$ANSWER
    [ "$got" = "$want $code" ] && break
    sleep 0.05
  done
  assert_eq "$want $code" "$got" "$name within 2 s"
  local agree=0
  for _ in $(seq 1 10); do
    answer_of "$key"
    [ "$ANSWER" = "$want $code" ] && agree=$((agree + 1))
  done
  assert_eq 10 "$agree" "$name: every worker agrees"
}

assert_eq 200 "$(status_of "$K1")" "first key works"
assert_eq 200 "$(status_of "$K2")" "second key works"

"$KEYGATE" keys deactivate "$ID1" >/dev/null
within_2s "deactivation" "$K1" 401 expired_api_key
assert_eq 200 "$(status_of "$K2")" "the other key still works"

"$KEYGATE" keys delete "$ID2" >/dev/null
within_2s "deletion" "$K2" 401 invalid_api_key

IFS=$'\t' read -r _ K3 < <(new_key acme third)
within_2s "a new key" "$K3" 200 ""

# The workers reloaded the store; nginx itself never reloaded.
assert_eq 0 "$(grep -c ': reconfiguring$' "$T/logs/error.log" || true)" "no nginx reload"
# A change costs what changed: no worker loaded the whole store.
assert_eq 0 \
  "$(grep -c 'keygate: loaded' "$T/logs/error.log" || true)" "no full load in any worker"
kg_done
