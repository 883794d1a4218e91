#!/usr/bin/env bash
# demo_load_verdict.sh — scripts/demo tells apart the exits of `keygate
# load` (review: it said "a threshold was violated" for any non-zero exit,
# 2 included, which is a run that could not happen). The verdict lives in
# scripts/lib/load-verdict.bash; the demo itself needs nginx and a release
# build, so its one decision is tested here.
#
# Environment: KEYGATE_SRC (the source tree).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
: "${KEYGATE_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=scripts/lib/load-verdict.bash
. "$KEYGATE_SRC/scripts/lib/load-verdict.bash"

# verdict RC WANT_STATUS NEEDLE
verdict() {
  local out status=0
  out=$(kg_load_verdict "$1") || status=$?
  assert_eq "$2" "$status" "exit $1: verdict status"
  if [ -n "$3" ]; then
    assert_contains "$3" "$out" "exit $1: the line"
  else
    assert_eq "" "$out" "exit $1: nothing said"
  fi
}

verdict 0 0 ""
verdict 1 1 "a threshold was violated"
verdict 2 1 "the run could not happen"
verdict 130 1 "cut short by a signal"
verdict 143 1 "cut short by a signal"
out=$(kg_load_verdict 2) || true
assert_not_contains "threshold" "$out" "exit 2 is no threshold's"
# the demo uses it, not a message of its own
# shellcheck disable=SC2016 # the literal text of the demo
assert_contains 'kg_load_verdict "$load_rc"' "$(cat "$KEYGATE_SRC/scripts/demo")" "scripts/demo asks kg_load_verdict"
kg_done
