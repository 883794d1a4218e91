# shellcheck shell=bash
# tests/integration/lib.sh — the few helpers every integration script shares.
#
# Source it first thing:   . "$(dirname "$0")/lib.sh"
#
# It turns on `set -euo pipefail`, makes a private directory $TMP and removes
# it on exit, after stopping every process registered with kg_track. It
# offers:
#
#   kg_track PID              stop PID at exit (TERM, up to 5 s, then KILL),
#                             if it is still that process (its start time)
#   kg_on_exit 'COMMAND'      run COMMAND at exit (before $TMP is removed)
#   kg_nginx_stop PID         stop an nginx master and its workers: QUIT,
#                             TERM, then KILL, and KILL to any nginx left
#                             in its process group, such as the workers of
#                             a master that died (scripts/lib/nginx-stop.bash)
#   kg_free_port              print a TCP port free on 127.0.0.1 right now
#   kg_start_on_free_port FUNC [ARGS...]
#                             start a server on a free port, and on another
#                             one (at most 5 in all) when the port was taken
#                             before the server bound it; sets KG_PORT
#   kg_port_taken FILE...     0 when FILE says a bind found the port in use
#   kg_wait_port PORT [SECS]  wait until 127.0.0.1:PORT accepts (default 10 s)
#   kg_fail MESSAGE           print "FAIL: MESSAGE" on stderr and exit 1
#   assert_eq WANT GOT WHAT
#   assert_contains HAYSTACK NEEDLE WHAT
#   assert_not_contains HAYSTACK NEEDLE WHAT
#   assert_exit WANT WHAT -- COMMAND [ARGS...]
#                             run COMMAND (stdin passes through) and check its
#                             exit status; its stdout and stderr are left in
#                             $TMP/out and $TMP/err
#   json_get FILE KEY         print top-level field KEY of the JSON object in
#                             FILE: a string raw, null as "null", else as JSON
#   kg_json_checks FILE [PRELUDE...]
#                             assertions on a JSON file, one a line on stdin
#                             (WHAT ;; COND [;; SHOW]; see jsonchecks.py)
#   kg_done                   print "PASS: <script>: N assertions"
#
# Every assert counts into $KG_ASSERTS and fails the script on the first
# mismatch, naming WHAT. Needs bash 4+ and python3 (for ports and JSON).

set -euo pipefail

# python3 resolved once, to the interpreter itself: a version manager's shim
# (pyenv's is a bash script that runs pyenv to pick a version) costs 0.2 s a
# start on a quiet machine and about 1 s on a busy one, and these scripts
# start python3 hundreds of times (rawhttp.py per request, json_get per
# assertion). The same python3 the caller's PATH names, without its shim:
# a two-line python3 in $TMP/.python (first on PATH, for child processes too)
# execs the interpreter sys.executable names, so only python3 is shadowed
# (the interpreter's own directory may hold an openssl or a sqlite3); only
# when that interpreter starts on its own and names itself again.
# KG_TEST_KEEP_PYTHON=1 keeps the caller's python3 as it is (a wrapper that
# sets up its interpreter's environment would be bypassed).
kg_python_resolve() {
  local shim real
  [ "${KG_TEST_KEEP_PYTHON:-}" = 1 ] && return 0
  shim=$(command -v python3 2>/dev/null) || return 0
  real=$("$shim" -c 'import sys; print(sys.executable)' 2>/dev/null) || return 0
  if [ -z "$real" ] || [ "$real" = "$shim" ] || [ ! -x "$real" ] ||
    [ "$("$real" -c 'import sys; print(sys.executable)' 2>/dev/null)" != "$real" ]; then
    return 0
  fi
  mkdir "$TMP/.python"
  # single-quoted for sh: each ' in the path as '\''
  printf "#!/bin/sh\nexec '%s' \"\$@\"\n" "${real//\'/\'\\\'\'}" \
    >"$TMP/.python/python3"
  chmod 755 "$TMP/.python/python3"
  PATH="$TMP/.python:$PATH"
  export PATH
}

KG_ASSERTS=0
KG_FAILED=0
KG_PIDS=()
KG_EXIT_CMDS=()
TMP=""

# shellcheck source=scripts/lib/nginx-stop.bash
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/nginx-stop.bash"

kg_cleanup() {
  local status=$?
  # A second TERM or ^C must not cut the cleanup short (nginx takes up to
  # 10 s to stop): once here, the signals wait.
  trap '' TERM INT
  if [ "$status" -eq 0 ] && [ "$KG_FAILED" -gt 0 ]; then
    status=1 # an assertion failed: the test fails however it ended
  fi
  local cmd pid _
  for cmd in "${KG_EXIT_CMDS[@]+"${KG_EXIT_CMDS[@]}"}"; do
    eval "$cmd" || true
  done
  local entry
  for entry in "${KG_PIDS[@]+"${KG_PIDS[@]}"}"; do
    pid=${entry%%:*}
    # a number the kernel gave to another process since is not ours
    if kill -0 "$pid" 2>/dev/null &&
      [ "$(kg_start_time "$pid")" = "${entry#*:}" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  if [ -n "$TMP" ]; then
    rm -rf "$TMP"
  fi
  exit "$status"
}
# The traps before $TMP is made: a TERM (or ^C) from then on still stops
# what we started and removes $TMP. (A ctest timeout is a KILL, under
# CMake 3.25: nothing runs then, and $TMP stays.)
trap kg_cleanup EXIT
trap 'trap "" TERM INT; exit 143' TERM
trap 'trap "" TERM INT; exit 130' INT
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keygate-test.XXXXXX")
kg_python_resolve

# kg_start_time PID — when PID started (field 22 of /proc/PID/stat, after
# the command's name, which may hold spaces); empty when it is gone.
kg_start_time() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # shellcheck disable=SC2086 # the fields, one word each
  set -- $stat
  echo "${20-}"
}

kg_track() {
  KG_PIDS+=("$1:$(kg_start_time "$1")")
}

kg_on_exit() {
  KG_EXIT_CMDS+=("$1")
}

kg_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

kg_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# A port kg_free_port found free can be taken by another process before the
# server binds it (kg_free_port has to close its socket). Every server a
# test starts on such a port goes through kg_start_on_free_port.
KG_PORT_TAKEN=75
KG_PORT_TRIES=${KG_PORT_TRIES:-5}
KG_PORT=""

# kg_port_taken FILE... — 0 when one of the files (a server's stderr or
# error log) says its bind failed because the address is in use: nginx's
# "(98: Address already in use)", keygate serve's "... is already in use",
# Python's "Address already in use".
kg_port_taken() {
  grep -qs "already in use" "$@"
}

# kg_start_on_free_port FUNC [ARGS...] — FUNC PORT [ARGS...] starts a server
# on PORT and returns 0 once it serves, $KG_PORT_TAKEN when its bind failed
# with "already in use" (having reaped what it started), anything else on
# another failure (having said why). On $KG_PORT_TAKEN a new port is
# picked, at most $KG_PORT_TRIES ports in all. Sets KG_PORT to the last
# port tried and returns FUNC's last status. FUNC is called in a condition,
# so errexit is off inside it: it must check what can fail.
kg_start_on_free_port() {
  local func=$1 try rc=0
  shift
  for try in $(seq 1 "$KG_PORT_TRIES"); do
    KG_PORT=$(kg_free_port)
    rc=0
    "$func" "$KG_PORT" "$@" || rc=$?
    if [ "$rc" -ne "$KG_PORT_TAKEN" ]; then
      return "$rc"
    fi
    echo "port $KG_PORT was taken before the server bound it" \
      "(try $try of $KG_PORT_TRIES)" >&2
  done
  return "$rc"
}

# kg_nginx_start PIDFILE LOG OUT PORT... -- CMD... — the one nginx
# start-and-wait of the tests: run CMD (an nginx) in the background with
# stdout and stderr in OUT, set NGINX_PID, and wait (10 s at most) until
# every PORT on 127.0.0.1 accepts and, unless PIDFILE is '-', PIDFILE is
# written (nginx writes it after binding: a port that accepts without it
# may be another program's). 0 then; else stop it and return $KG_PORT_TAKEN
# when OUT or LOG say a bind failed, 1 otherwise (having shown OUT and
# LOG). For kg_start_on_free_port.
kg_nginx_start() {
  local pidfile=$1 log=$2 out=$3 ports=() port up _
  shift 3
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    ports+=("$1")
    shift
  done
  shift
  kg_nginx_spawn "$@" >"$out" 2>&1
  for _ in $(seq 1 200); do
    up=1
    if [ "$pidfile" != - ] && [ ! -s "$pidfile" ]; then
      up=0
    fi
    for port in "${ports[@]}"; do
      if [ "$up" = 1 ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        up=0
      fi
    done
    if [ "$up" = 1 ]; then
      return 0
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  kg_nginx_stop "$NGINX_PID"
  NGINX_PID=""
  if kg_port_taken "$out" "$log"; then
    return "$KG_PORT_TAKEN"
  fi
  echo "nginx did not start:" >&2
  cat "$out" "$log" >&2 2>/dev/null || true
  return 1
}

kg_wait_port() {
  local port=$1 secs=${2:-10} _
  for _ in $(seq 1 $((secs * 10))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  kg_fail "nothing listens on 127.0.0.1:$port after ${secs}s"
}

# The assertions: one order for all, EXPECTED then ACTUAL then WHAT (what
# is being checked, for the message). A failed one says so on stderr and
# the test goes on (one run shows every failing case of a table); the
# script then exits 1, at kg_done or whenever it ends (kg_cleanup).
# kg_fail is for what cannot go on (a server that did not start).
kg_assert_failed() {
  KG_FAILED=$((KG_FAILED + 1))
  echo "FAIL: $*" >&2
}

# assert_eq WANT GOT WHAT
assert_eq() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$1" != "$2" ]; then
    kg_assert_failed "$3: want [$1], got [$2]"
  fi
}

# assert_match REGEX GOT WHAT — GOT matches the extended regular expression.
assert_match() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if ! [[ "$2" =~ $1 ]]; then
    kg_assert_failed "$3: [$2] does not match /$1/"
  fi
}

# assert_contains NEEDLE HAYSTACK WHAT
assert_contains() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  case "$2" in
  *"$1"*) ;;
  *) kg_assert_failed "$3: [$1] not found in [$2]" ;;
  esac
}

# assert_not_contains NEEDLE HAYSTACK WHAT
assert_not_contains() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  case "$2" in
  *"$1"*) kg_assert_failed "$3: [$1] must not appear" ;;
  *) ;;
  esac
}

assert_exit() {
  local want=$1 what=$2 got=0
  shift 3 # WANT WHAT --
  "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$got" != "$want" ]; then
    kg_assert_failed "$what: exit $got, want $want; stderr: $(head -c 400 "$TMP/err")"
  fi
}

json_get() {
  PYTHONIOENCODING=utf-8 python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2], "<absent>")
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# kg_json_checks FILE [PRELUDE...] — assertions on the JSON document FILE,
# one a line on stdin: WHAT ;; COND [;; SHOW] (Python over d, the document;
# PRELUDE statements run first to name more). Each line counts as one
# assertion; the first false COND fails the script, showing SHOW's value.
kg_json_checks() {
  local out n rc=0
  out=$(python3 "$(dirname "${BASH_SOURCE[0]}")/jsonchecks.py" "$@") || rc=$?
  n=$(printf '%s\n' "$out" | head -n 1)
  KG_ASSERTS=$((KG_ASSERTS + ${n:-0}))
  if [ "$rc" -ne 0 ]; then
    kg_assert_failed "$(printf '%s\n' "$out" | tail -n +2)"
  fi
}

# key_file FILE CLASS... — a key file as `keygate keys seed --out` writes
# one: a random sk_live_ key (38 base62 characters after the prefix) per
# CLASS, in that order, mode 0600. Not checksummed: for load and report,
# which send keys as given.
key_file() {
  python3 - "$@" <<'PY'
import os, secrets, string, sys
a = string.digits + string.ascii_letters
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    for cls in sys.argv[2:]:
        f.write("%s\tsk_live_%s\n" % (cls, "".join(secrets.choice(a) for _ in range(38))))
PY
}

# kg_listener_start WHAT CMD... — start CMD, a test server that prints
# "listening on PORT" once bound, in the background: tracked, its stdout in
# a fresh file (a reused one could still hold the last server's line), its
# stderr in $KG_LISTENER_ERR. Sets KG_LISTENER_PID and KG_LISTENER_PORT
# once the line is there; at most 10 s, and fails naming WHAT with its
# stderr when the server ends or never says it.
kg_listener_start() {
  local what=$1 out port="" _
  shift
  out=$(mktemp "$TMP/listener.XXXXXX")
  KG_LISTENER_ERR=$out.err
  "$@" >"$out" 2>"$KG_LISTENER_ERR" &
  KG_LISTENER_PID=$!
  kg_track "$KG_LISTENER_PID"
  for _ in $(seq 1 200); do
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$out" 2>/dev/null || true)
    if [ -n "$port" ] || ! kill -0 "$KG_LISTENER_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  [ -n "$port" ] || kg_fail "$what did not start: $(cat "$KG_LISTENER_ERR")"
  # shellcheck disable=SC2034 # read by the callers
  KG_LISTENER_PORT=$port
}

# kg_probe_test_keys — the probe tests' two keys, in no store: sets VALID
# and EXPIRED, and writes $TMP/valid.key and $TMP/expired.key (the key and
# a line end) and $TMP/keys.tsv (fake_api.py's <class>TAB<key> lines).
kg_probe_test_keys() {
  # shellcheck disable=SC2034 # read by the callers
  VALID=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk
  # shellcheck disable=SC2034
  EXPIRED=sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4
  printf '%s\n' "$VALID" >"$TMP/valid.key"
  printf '%s\n' "$EXPIRED" >"$TMP/expired.key"
  printf 'valid\t%s\nexpired\t%s\n' "$VALID" "$EXPIRED" >"$TMP/keys.tsv"
}

# kg_probe_no_key_shown NAME — no 8 consecutive characters of the secret
# part of $VALID or $EXPIRED (keys the caller sets)
# in $TMP/NAME.out, .err or .json, as they are or base64-, percent- or
# \u-encoded.
kg_probe_no_key_shown() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  python3 - "$VALID" "$EXPIRED" "$TMP/$1".out "$TMP/$1".err "$TMP/$1".json <<'EOF' ||
import base64, sys, urllib.parse
keys, files = sys.argv[1:3], sys.argv[3:]
for f in files:
    text = open(f, encoding="latin-1").read()
    forms = [text, urllib.parse.unquote(urllib.parse.unquote(text)),
             text.encode("latin-1").decode("unicode_escape", "replace")]
    for k in keys:
        s = k[len("sk_live_"):]
        for i in range(len(s) - 7):
            for form in forms:
                if s[i : i + 8] in form:
                    sys.exit("%s shows %s" % (f, s[i : i + 8]))
        for a in range(3):
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                e = enc(k[a:].encode()).decode()
                for g in range(0, len(e) - 7, 4):
                    first = a + g // 4 * 3  # the key byte group g starts at
                    if first >= 8 and first + 6 <= len(k) and e[g : g + 8] in text:
                        sys.exit("%s shows base64 %s" % (f, e[g : g + 8]))
EOF
    kg_assert_failed "$1: a key shown: $(head -c 300 "$TMP/$1.err")"
}

# kg_probe_verdicts NAME CASE=VERDICT[:NOTE]... — each case's verdict in
# the keygate probe JSON $TMP/NAME.json, and the note it holds (a note is
# found as a part of the case's notes).
kg_probe_verdicts() {
  local name=$1
  shift
  KG_ASSERTS=$((KG_ASSERTS + 1))
  python3 - "$TMP/$name.json" "$@" <<'EOF' || kg_assert_failed "$name: verdicts ($(head -c 300 "$TMP/$name.err" 2>/dev/null))"
import json, sys
d = json.load(open(sys.argv[1]))
cases = {c["name"]: c for c in d["cases"]}
bad = []
for want in sys.argv[2:]:
    name, _, rest = want.partition("=")
    verdict, _, note = rest.partition(":")
    c = cases[name]
    if c["verdict"] != verdict or note not in c["notes"]:
        bad.append("%s: %s (%s), want %s %r" % (name, c["verdict"], c["notes"], verdict, note))
if bad:
    sys.exit("\n".join(bad))
EOF
}

# kg_done — the verdict: exit 1 when an assertion failed, else a PASS line.
kg_done() {
  if [ "$KG_FAILED" -gt 0 ]; then
    echo "FAIL: $(basename "$0"): $KG_FAILED of $KG_ASSERTS assertions failed" >&2
    exit 1
  fi
  echo "PASS: $(basename "$0"): $KG_ASSERTS assertions"
}
