#!/usr/bin/env bash
# server_cmake.sh — a build with the tests on must not lose the nginx module
# (and with it every server_*.sh test) without a word: configuring with
# KEYGATE_TESTS and KEYGATE_NGINX on and no nginx source tree fails, naming
# the fix; without the tests (release, bench) it is one STATUS line and the
# configure goes on; -DKEYGATE_NGINX=OFF is an explicit choice and passes.
# Only configures (no build), in $TMP. Needs KEYGATE_SRC and CMAKE_COMMAND
# (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE_SRC:?set KEYGATE_SRC to the source tree}"
CMAKE=${CMAKE_COMMAND:-cmake}
NONE=$TMP/no-nginx-src # never created

# configure NAME ARGS... — configure a fresh tree $TMP/NAME.
configure() {
  local name=$1
  shift
  "$CMAKE" -S "$KEYGATE_SRC" -B "$TMP/$name" -DKEYGATE_NGINX_SRC="$NONE" "$@"
}

assert_exit 1 "tests on, no nginx tree: configure fails" -- \
  configure dev -DKEYGATE_TESTS=ON -DKEYGATE_NGINX=ON
assert_contains "install nginx-dev: run scripts/setup" \
  "$(tr '\n' ' ' <"$TMP/err" | tr -s ' ')" "tests on, no nginx tree: names the fix"
assert_contains "$NONE" "$(cat "$TMP/err")" "tests on, no nginx tree: names the path"

assert_exit 0 "tests off (release), no nginx tree: configure passes" -- \
  configure release -DKEYGATE_TESTS=OFF -DKEYGATE_NGINX=ON
assert_contains "the nginx module is not built" "$(cat "$TMP/out")" \
  "tests off, no nginx tree: says so"

assert_exit 0 "tests on, -DKEYGATE_NGINX=OFF: configure passes" -- \
  configure nonginx -DKEYGATE_TESTS=ON -DKEYGATE_NGINX=OFF

kg_done
