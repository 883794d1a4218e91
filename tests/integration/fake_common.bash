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
  local mode=$1
  shift
  kg_listener_start "fake_api.py --mode $mode" \
    python3 "$FAKE" --keys "$KEYS" --mode "$mode" --max-seconds 90 "$@"
  FAKE_PID=$KG_LISTENER_PID
  FAKE_PORT=$KG_LISTENER_PORT
  URL="http://127.0.0.1:$FAKE_PORT/api/v1/iocs"
}

fake_stop() {
  if [ -n "$FAKE_PID" ]; then
    kill -TERM "$FAKE_PID" 2>/dev/null || true
    wait "$FAKE_PID" 2>/dev/null || true
  fi
  FAKE_PID=""
}
