#!/usr/bin/env bash
# probe_answer_bytes.sh — `keygate probe` judges the bytes the server sent,
# all of them, as kgl_h1 reads them. A server (below, one mode each) that
#   ok          answers by the contract and closes (Connection: close)
#   keepopen    answers by the contract and keeps the connection open
# passes; one that
#   cc-quoted   writes no-store only inside a quoted-string argument,
#               Cache-Control: community="a,no-store,b"
#   cc-trailer  ends its last field line in a bare LF before the CRLF empty
#               line, and sends no-store only in the chunked trailer
# deviates with "no Cache-Control: no-store" (both passed: the value was
# split at every comma, and the head's end searched for as "\r\n\r\n",
# which ran into the trailer). And one that sends bytes beyond an answer's
# framing (all passed: the probe stopped reading at the framed end)
#   trailing    one byte more, in the same write
#   later       a second whole answer, 30 ms later (a later segment)
#   echo        the key it was sent, 30 ms later
#   big+...     the same after a 2xx body of 100 KiB (past the 64 KiB the
#               probe keeps: read on and searched as it streams)
# deviates naming the bytes beyond the framing, and the echo where the key
# came back; no output shows the key.
#
# Environment: KEYGATE. Needs python3.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"

# two test keys with valid checksums, in no store (the server knows them)
kg_probe_test_keys # VALID, EXPIRED and their files (lib.sh)

cat >"$TMP/server.py" <<'EOF'
# server.py VALID EXPIRED MODE — one thread a connection, answers each
# request head by SPEC §1.4 (401 for no key, an unknown or the expired
# key; 200 for the valid one), bent as MODE says. Prints its port; gone
# after 120 s.
import re, secrets, socket, string, sys, threading, time

VALID, EXPIRED, MODE = sys.argv[1:4]
A = string.digits + string.ascii_letters
WWW = {
    "missing_api_key": 'Bearer realm="api"',
    "invalid_api_key": 'Bearer realm="api", error="invalid_token"',
    "expired_api_key": 'Bearer realm="api", error="invalid_token", '
    'error_description="The API key has expired"',
}


FLAGS = set(MODE.split("+"))
BIG = b'{"a":"' + b"x" * 102400 + b'"}'


def presented(head):
    m = re.search(rb"(?im)^(?:x-api-key:[ \t]*|authorization:[ \t]*bearer +)(\S+)[ \t]*\r?$", head)
    return m.group(1).decode() if m else None


def answer(key):
    if key == VALID:
        body = BIG if "big" in FLAGS else b"{}"
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    code = "missing_api_key" if key is None else "expired_api_key" if key == EXPIRED else "invalid_api_key"
    rid = "req_" + "".join(secrets.choice(A) for _ in range(24))
    cc = "Cache-Control: no-store\r\n"
    if MODE == "cc-quoted":
        cc = 'Cache-Control: community="a,no-store,b"\r\n'
    body = ('{"error":{"code":"%s","message":"m","request_id":"%s"}}' % (code, rid)).encode()
    head = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n%sX-Request-Id: %s\r\nWWW-Authenticate: %s\r\n" % (
        cc, rid, WWW[code])
    if MODE == "cc-trailer":
        head = head.replace(cc, "") + "Transfer-Encoding: chunked\n\r\n"
        return head.encode() + b"%x\r\n" % len(body) + body + b"\r\n0\r\nCache-Control: no-store\r\n\r\n"
    return (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body


def serve(c):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            i = buf.index(b"\r\n\r\n") + 4
            key = presented(buf[:i])
            buf = buf[i:]
            c.sendall(answer(key) + (b"x" if "trailing" in FLAGS else b""))
            if "later" in FLAGS:
                time.sleep(0.03)
                c.sendall(answer(None))
            if "echo" in FLAGS and key is not None:
                time.sleep(0.03)
                c.sendall(b"\r\n" + key.encode() + b"\r\n")
            if MODE != "keepopen":
                return  # the request said Connection: close
    except OSError:
        pass
    finally:
        c.close()


s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print("listening on %d" % s.getsockname()[1], flush=True)
end = time.monotonic() + 120
while time.monotonic() < end:
    s.settimeout(max(0.1, end - time.monotonic()))
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# server MODE — start server.py (it picks its port); sets PORT, SERVER_PID.
server() {
  kg_listener_start "server.py $1" python3 "$TMP/server.py" "$VALID" "$EXPIRED" "$1"
  SERVER_PID=$KG_LISTENER_PID
  PORT=$KG_LISTENER_PORT
}

server_stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

CASES=bearer_valid,no_key,unknown_key_bearer,expired_bearer

# probe NAME — keygate probe at the server, CASES (at most 60 s); exit
# status in RC, output in $TMP/NAME.{out,err,json}, time in WALL_MS.
probe() {
  local name=$1 t0
  RC=0
  t0=$(date +%s%N)
  timeout 60 "$KEYGATE" probe "http://127.0.0.1:$PORT/api/v1/iocs" \
    --key-file "$TMP/valid.key" --expired-key-file "$TMP/expired.key" \
    --interval 0 --only "$CASES" --json "$TMP/$name.json" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
  WALL_MS=$((($(date +%s%N) - t0) / 1000000))
}


# ---- conforming servers pass, closing or not -----------------------------------
server ok
probe ok
assert_eq 0 "$RC" "ok: exit ($(head -c 300 "$TMP/ok.err"); $(head -c 600 "$TMP/ok.out"))"
kg_probe_verdicts ok bearer_valid=pass no_key=pass unknown_key_bearer=pass expired_bearer=pass
server_stop

server keepopen
probe keepopen
assert_eq 0 "$RC" "keepopen: exit ($(head -c 300 "$TMP/keepopen.err"); $(head -c 600 "$TMP/keepopen.out"))"
kg_probe_verdicts keepopen bearer_valid=pass no_key=pass unknown_key_bearer=pass expired_bearer=pass
# the wait for bytes beyond an answer is bounded (200 ms a case), not
# --timeout (5 s a case) when the server keeps the connection open
KG_ASSERTS=$((KG_ASSERTS + 1))
[ "$WALL_MS" -lt 10000 ] || kg_fail "keepopen: 4 cases took $WALL_MS ms (--timeout is 5 s a case, the linger 200 ms)"
server_stop

# ---- Cache-Control from the head's fields, as directives -----------------------
NOSTORE="no Cache-Control: no-store"
for mode in cc-quoted cc-trailer; do
  server "$mode"
  probe "$mode"
  assert_eq 1 "$RC" "$mode: exit ($(head -c 300 "$TMP/$mode.err"))"
  kg_probe_verdicts "$mode" bearer_valid=pass "no_key=deviation:$NOSTORE" \
    "unknown_key_bearer=deviation:$NOSTORE" "expired_bearer=deviation:$NOSTORE"
  server_stop
done

# ---- bytes beyond an answer's framing ------------------------------------------
BEYOND="beyond the answer's framing: a protocol error"
ECHO="the answer holds a piece of a key sent"


for mode in trailing later big+trailing big+later; do
  server "$mode"
  probe "$mode"
  assert_eq 1 "$RC" "$mode: exit ($(head -c 300 "$TMP/$mode.err"))"
  kg_probe_verdicts "$mode" "bearer_valid=deviation:$BEYOND" "no_key=deviation:$BEYOND" \
    "unknown_key_bearer=deviation:$BEYOND" "expired_bearer=deviation:$BEYOND"
  server_stop
done
# the count of bytes is named: one, or a whole second answer
assert_contains "the server sent 1 byte beyond" "$(cat "$TMP/trailing.out")" "trailing: the count"
assert_match "the server sent [0-9]{3} bytes beyond" "$(cat "$TMP/later.out")" "later: the count"

for mode in echo big+echo; do
  server "$mode"
  probe "$mode"
  assert_eq 1 "$RC" "$mode: exit ($(head -c 300 "$TMP/$mode.err"))"
  kg_probe_verdicts "$mode" "bearer_valid=deviation:$BEYOND" "bearer_valid=deviation:$ECHO" \
    "unknown_key_bearer=deviation:$ECHO" "expired_bearer=deviation:$ECHO" \
    "no_key=pass"
  kg_probe_no_key_shown "$mode"
  server_stop
done

kg_done
