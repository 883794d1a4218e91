# shellcheck shell=bash
# tests/integration/fake_common.bash — start and stop fake_api.py, the
# contract-playing fake API of the load, report and probe tests (sourced
# after lib.sh; not named *.sh, so ctest does not take it for a test).
#
#   fake_start MODE [fake_api.py options]
#       start fake_api.py --keys "$KEYS" --mode MODE on a port the system
#       picks; sets FAKE_PID, FAKE_PORT and URL (its /api/v1/iocs) once it
#       prints "listening on PORT"; at most 10 s
#   fake_stop
#       SIGTERM to it, and wait
#
# Needs $KEYS (a <class>TAB<key> file) and $TMP (lib.sh).

FAKE=${FAKE:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fake_api.py"}
FAKE_PID=""

fake_start() {
  local mode=$1 port="" _
  shift
  # A fresh output file for each server: the shell truncates the old one
  # only once the child runs, and reading the previous server's "listening
  # on" line sent a run to a port nobody listened on any more.
  local out="$TMP/fake.$$.$RANDOM.out"
  python3 "$FAKE" --keys "$KEYS" --mode "$mode" --max-seconds 90 "$@" \
    >"$out" 2>"$TMP/fake.err" &
  FAKE_PID=$!
  kg_track "$FAKE_PID"
  for _ in $(seq 1 200); do
    # sed exits 2 until the shell has made $out (the child not yet run):
    # under set -e that ended the whole test, silently, exit 2
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null || true)
    if [ -n "$port" ] || ! kill -0 "$FAKE_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  [ -n "$port" ] ||
    kg_fail "fake_api.py --mode $mode did not start: $(cat "$TMP/fake.err")"
  FAKE_PORT=$port
  URL="http://127.0.0.1:$port/api/v1/iocs"
}

fake_stop() {
  if [ -n "$FAKE_PID" ]; then
    kill -TERM "$FAKE_PID" 2>/dev/null || true
    wait "$FAKE_PID" 2>/dev/null || true
  fi
  FAKE_PID=""
}
