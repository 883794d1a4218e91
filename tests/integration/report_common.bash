# shellcheck shell=bash
# tests/integration/report_common.bash — what the report_*.sh tests share
# (sourced; not named *.sh, so ctest does not take it for a test): a key
# file, fake_api.py servers on ports the system picks, and `keygate load`
# runs that write their JSON result.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
FAKE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fake_api.py"
KEYS="$TMP/keys.tsv"

# A key file as `keygate keys seed --out` writes one: one random key per
# class, mode 0600.
key_file "$KEYS" valid expired deactivated

# fake_start NAME MODE [fake_api.py options] — start fake_api.py; sets
# URL_<NAME> once it prints "listening on PORT".
fake_start() {
  local name=$1 mode=$2
  shift 2
  kg_listener_start "fake_api.py --mode $mode" \
    python3 "$FAKE" --keys "$KEYS" --mode "$mode" --max-seconds 120 "$@"
  printf -v "URL_$name" '%s' "http://127.0.0.1:$KG_LISTENER_PORT/api/v1/iocs"
}

# load_json URL DURATION OUT [keygate load options] — one run, its result
# in OUT; the run must exit 0 (every threshold holds).
load_json() {
  local url=$1 dur=$2 out=$3
  shift 3
  assert_exit 0 "keygate load $dur against $url" -- \
    timeout 60 "$KEYGATE" load "$url" --keys "$KEYS" -d "$dur" -c 8 \
    --json "$out" -q "$@"
}

# load_bg NAME URL DURATION [keygate load options] — start one run in the
# background (KG_LOAD_CONNECTIONS connections, default 4), its result in
# $TMP/NAME.json; load_wait checks they all
# exited 0. Runs made side by side share the machine's state, so a
# comparison of them is not fooled by the machine getting busier between
# one run and the next.
LOAD_BG=()
load_bg() {
  local name=$1 url=$2 dur=$3
  shift 3
  timeout 60 "$KEYGATE" load "$url" --keys "$KEYS" -d "$dur" \
    -c "${KG_LOAD_CONNECTIONS:-4}" \
    --json "$TMP/$name.json" -q "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  LOAD_BG+=("$name:$!")
  kg_track "$!"
}

load_wait() {
  local item rc
  for item in "${LOAD_BG[@]}"; do
    rc=0
    wait "${item#*:}" || rc=$?
    assert_eq 0 "$rc" "keygate load ${item%%:*} exit ($(head -c 300 "$TMP/${item%%:*}.err"))"
  done
  LOAD_BG=()
}

# one_line_error WHAT PREFIX REGEX — the last assert_exit left one stderr
# line, starting PREFIX and matching REGEX (extended), and nothing on
# stdout.
one_line_error() {
  local what=$1 prefix=$2 regex=$3
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one line on stderr ($(head -c 300 "$TMP/err"))"
  assert_eq "$prefix" "$(head -c ${#prefix} "$TMP/err")" "$what: the line names the command"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  grep -qE "$regex" "$TMP/err" ||
    kg_fail "$what: stderr [$(cat "$TMP/err")] does not match /$regex/"
  assert_eq "" "$(cat "$TMP/out")" "$what: nothing on stdout"
}
