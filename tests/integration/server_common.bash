# tests/integration/server_common.bash — what the server_*.sh tests share
# (sourced; not named *.sh, so ctest does not take it for a test). Starts
# `keygate serve` on a free loopback port, sends raw requests with
# rawhttp.py, and counts assertions.
#
# Environment (from tests/integration/CMakeLists.txt): KEYGATE,
# KEYGATE_NGINX_MODULE. Everything a test makes lives in $T (lib.sh's
# $TMP), removed on exit with the server stopped first. The assertions are
# lib.sh's: assert_eq WANT GOT WHAT, assert_match REGEX GOT WHAT, ... (a
# failed one is reported and the test goes on; kg_done gives the verdict).

# lib.sh (the tests helper's): set -euo pipefail, $TMP removed at exit
# (also on TERM and INT), kg_on_exit, kg_track, kg_free_port.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
: "${KEYGATE_NGINX_MODULE:?KEYGATE_NGINX_MODULE must name the nginx module}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RAWHTTP="$HERE/rawhttp.py"
T=$TMP
mkdir -p "$T/tmp" "$T/logs"
export TMPDIR="$T/tmp" # keygate serve's private folder goes here
export KEYGATE_DB="$T/keys.db"
SERVE_PID=""
PORT=""

# stop_serve — SIGTERM to keygate serve (it stops nginx gracefully and
# removes its folder); at most 15 s, then SIGKILL.
stop_serve() {
  if [ -n "$SERVE_PID" ] && kill -0 "$SERVE_PID" 2>/dev/null; then
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$SERVE_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  SERVE_PID=""
}
kg_on_exit stop_serve

free_port() { kg_free_port; }

# serve_on PORT [options] — one try at starting keygate serve on PORT: wait
# (at most 20 s) for "listening on". 0 when it listens (PORT and SERVE_PID
# set); $KG_PORT_TAKEN when the port was taken (keygate serve's own check
# or nginx's bind); 1 otherwise, with its output on stderr.
serve_on() {
  PORT=$1
  shift
  "$KEYGATE" serve --db "$KEYGATE_DB" --listen "127.0.0.1:$PORT" \
    --module "$KEYGATE_NGINX_MODULE" --log-dir "$T/logs" "$@" \
    >"$T/serve.out" 2>"$T/serve.err" &
  SERVE_PID=$!
  for _ in $(seq 1 400); do
    if grep -q "^listening on http://127.0.0.1:$PORT\$" "$T/serve.out"; then
      return 0
    fi
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  stop_serve
  if kg_port_taken "$T/serve.err"; then
    return "$KG_PORT_TAKEN"
  fi
  echo "keygate serve did not start:" >&2
  cat "$T/serve.out" "$T/serve.err" >&2
  return 1
}

# start_serve [extra keygate serve options] — start on a free port (another
# one when it is taken before nginx binds it), wait for "listening on", set
# PORT and SERVE_PID.
start_serve() {
  kg_start_on_free_port serve_on "$@" || exit 1
}

# send REQUEST — the request is a printf %b string (\r, \n, \t, \x01, \0
# escapes); sets RESP to rawhttp.py's report of the answers.
send() {
  # shellcheck disable=SC2086 # RAW_OPTS: rawhttp.py's options, word-split
  RESP=$(printf '%b' "$1" | python3 "$RAWHTTP" "$PORT" ${RAW_OPTS-})
}
# wait_ready — until /_keygate/status answers 200 on $PORT (every worker
# serves every store; what `keygate serve` waits for before "listening"),
# at most 10 s. For a test that starts nginx itself: until then a
# well-formed key gets 503 (CI, session 32: server_gateway's first request).
wait_ready() {
  for _ in $(seq 1 100); do
    send "GET /_keygate/status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    [ "$(resp_status)" = 200 ] && return 0
    sleep 0.1
  done
  kg_fail "/_keygate/status on 127.0.0.1:$PORT did not answer 200 in 10 s"
}
# send_proxied REQUEST — as send, without the half-close (see rawhttp.py).
send_proxied() {
  RESP=$(printf '%b' "$1" | python3 "$RAWHTTP" "$PORT" --no-half-close)
}

# Fields of the first answer in RESP.
resp_status() { printf '%s\n' "$RESP" | sed -n 's/^STATUS //p' | head -n 1; }
resp_reason() { printf '%s\n' "$RESP" | sed -n 's/^REASON //p' | head -n 1; }
resp_header() {
  printf '%s\n' "$RESP" | sed -n "s/^H $1: //p" | head -n 1
}
resp_header_count() {
  printf '%s\n' "$RESP" | grep -c "^H $1: " || true
}
resp_body() { printf '%s\n' "$RESP" | sed -n 's/^BODY //p' | head -n 1; }

# The messages of docs/contract.md, as rawhttp.py prints them (\x5c for a
# backslash, UTF-8 bytes of the arrow escaped).
declare -A MESSAGE=(
  [missing_api_key]='API key is required. Include it in the Authorization header as \x5c"Bearer sk_live_...\x5c" or in the X-API-Key header.'
  [invalid_api_key]='API key is invalid. Check for typos or extra whitespace, and verify the key in Settings \xe2\x86\x92 API Keys.'
  [expired_api_key]='API key has been deactivated or has expired. Generate a new key in Settings \xe2\x86\x92 API Keys and update your integration.'
  [ambiguous_api_key]='More than one API key was sent. Send exactly one key, in the Authorization header or in the X-API-Key header.'
  [api_key_in_query]='API keys must not be sent in the URL. Send the key in the Authorization header or in the X-API-Key header, and replace this key: the URL may already be in logs.'
  [bad_request]='The request is malformed. Send each header on one line, once, with no whitespace before the colon and no control characters.'
)
declare -A CHALLENGE=(
  [missing_api_key]='Bearer realm="api"'
  [invalid_api_key]='Bearer realm="api", error="invalid_token"'
  [expired_api_key]='Bearer realm="api", error="invalid_token", error_description="The API key has expired"'
)

# expect_error NAME REQUEST STATUS CODE — send, then check the whole SPEC
# §1.4 answer: status, WWW-Authenticate (exactly, or absent for a 400),
# Content-Type, Cache-Control, X-Request-Id and the body byte for byte.
expect_error() {
  local name=$1 status=$3 code=$4
  send "$2"
  assert_eq "$status" "$(resp_status)" "$name: status"
  assert_match '^[A-Z][A-Za-z -]+$' "$(resp_reason)" "$name: a reason phrase"
  assert_eq "application/json" "$(resp_header content-type)" "$name: content-type"
  assert_eq "no-store" "$(resp_header cache-control)" "$name: cache-control"
  local rid
  rid=$(resp_header x-request-id)
  assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$name: x-request-id"
  if [ -n "${CHALLENGE[$code]:-}" ]; then
    assert_eq "${CHALLENGE[$code]}" "$(resp_header www-authenticate)" \
      "$name: www-authenticate"
  else
    assert_eq 0 "$(resp_header_count www-authenticate)" "$name: no www-authenticate"
  fi
  assert_eq "{\"error\":{\"code\":\"$code\",\"message\":\"${MESSAGE[$code]}\",\"request_id\":\"$rid\"}}" "$(resp_body)" \
    "$name: body"
}

# expect_ok NAME REQUEST — a 200 from the reference API with its own id.
expect_ok() {
  send "$2"
  assert_eq 200 "$(resp_status)" "$1: status"
  local rid
  rid=$(resp_header x-request-id)
  assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$1: x-request-id"
  assert_match "^\\{\"data\":\\[.*\\],\"count\":[0-9]+,\"request_id\":\"$rid\"\\}\$" "$(resp_body)" "$1: body"
}

# answer_of KEY — sets ANSWER to "STATUS CODE" of GET /api/v1/iocs with KEY
# in X-API-Key, on a new connection (new connections spread over the
# workers); CODE is the error code, empty for a 200.
answer_of() {
  send "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-API-Key: $1\r\n\r\n"
  ANSWER="$(resp_status) $(resp_body | sed -n 's/^{"error":{"code":"\([a-z_]*\)".*/\1/p')"
}

# wait_for_answer NAME KEY WANT [SECS] — poll (at most SECS, default 5)
# until KEY answers WANT; one assertion.
wait_for_answer() {
  local name=$1 key=$2 want=$3 deadline
  deadline=$(($(date +%s%N) + ${4:-5} * 1000000000))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    answer_of "$key"
    [ "$ANSWER" = "$want" ] && break
    sleep 0.05
  done
  assert_eq "$want" "$ANSWER" "$name"
}

# served_by_every_worker NAME KEY [SECS] — after wait_for_answer saw KEY
# answered 200 once: poll (at most SECS, default 5) until 10 answers in a
# row are 200. Each worker polls the store on its own, so the first 200
# can be one worker's while the other is a poll behind and still refuses
# (503: closed, never looser); the CI run of 4efca26 met that. One
# assertion.
served_by_every_worker() {
  local name=$1 key=$2 run=0 deadline
  deadline=$(($(date +%s%N) + ${3:-5} * 1000000000))
  while [ "$run" -lt 10 ] && [ "$(date +%s%N)" -lt "$deadline" ]; do
    answer_of "$key"
    if [ "$ANSWER" = "200 " ]; then
      run=$((run + 1))
    else
      run=0
      sleep 0.05
    fi
  done
  assert_eq 10 "$run" "$name: 10 answers in a row 200"
}

# never_ok NAME KEY N — N requests with KEY: none is answered 200.
never_ok() {
  local name=$1 key=$2 n=$3 ok200=0 _
  for _ in $(seq 1 "$n"); do
    answer_of "$key"
    [ "${ANSWER%% *}" = 200 ] && ok200=$((ok200 + 1))
  done
  assert_eq 0 "$ok200" "$name: never 200 in $n requests"
}

# all_answer NAME KEY N WANT — N requests, every one WANT.
all_answer() {
  local name=$1 key=$2 n=$3 want=$4 agree=0 _
  for _ in $(seq 1 "$n"); do
    answer_of "$key"
    [ "$ANSWER" = "$want" ] && agree=$((agree + 1))
  done
  assert_eq "$n" "$agree" "$name: $n of $n"
}

# kill_worker MASTER — SIGKILL one of MASTER's two workers and wait (at most
# 5 s) until the master has started another; one assertion.
kill_worker() {
  local master=$1 worker _
  worker=$(pgrep -P "$master" | head -n 1)
  kill -9 "$worker"
  for _ in $(seq 1 100); do
    if [ "$(pgrep -P "$master" | wc -l)" -ge 2 ] && ! kill -0 "$worker" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  assert_eq 2 "$(pgrep -P "$master" | wc -l)" "the master restarted the worker"
}

# new_key ACCOUNT NAME — create a key; prints "ID<TAB>KEY".
new_key() {
  "$KEYGATE" keys create --account "$1" --name "$2" --format tsv | cut -f1,2
}

