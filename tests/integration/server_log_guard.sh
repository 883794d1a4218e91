#!/usr/bin/env bash
# server_log_guard.sh — nginx writes a request's line, Host and Referer into
# error-log lines before keygate's access phase runs too: limit_conn's
# notice when a client has 256 requests in progress is one, at the shipped
# level. The module's log handler redacts them when the line is written, for
# every request (issue 12's review, F1): a key in the query, in the path,
# in Host and in a second Referer never reaches error.log, and each such
# line is there, redacted. Bounded: 256 held connections for a few seconds,
# 127.0.0.1 only, every socket closed.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme guard)
start_serve --workers 1
SECRET=${K#sk_live_}

cat >"$T/hold.py" <<'PY'
import socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
# 256 requests in progress: answered, their announced bodies never sent,
# so each request lives on while nginx waits to discard the body.
held = []
for i in range(256):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n"
               "Content-Length: 100000\r\n\r\n" % key).encode())
    held.append(s)
for s in held:
    s.settimeout(5)
    s.recv(4096)  # the 200 came; the request is still in progress
over = [
    "GET /api/v1/iocs?api_key=%s HTTP/1.1\r\nHost: a\r\n" % key,
    "GET /api/v1/iocs/%s HTTP/1.1\r\nHost: a\r\n" % key,
    "GET /api/v1/iocs HTTP/1.1\r\nHost: %s\r\n" % key,
    "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nReferer: https://x/\r\n"
    "Referer: https://y/?k=%s\r\n" % key,
]
statuses = []
for head in over:
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall((head + "Connection: close\r\n\r\n").encode())
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    c.close()
    statuses.append(data.split(b" ")[1].decode() if data else "none")
for s in held:
    s.close()
print(" ".join(statuses))
PY
out=$(timeout 60 python3 "$T/hold.py" "$PORT" "$K")
assert_eq "400 400 400 429" "$out" "over the limit: a key in the URL first (SPEC §1.3), then 429"
cp "$T/logs/error.log" "$T/error.copy"; stop_serve

limited=$(grep -c 'limiting connections' "$T/logs/error.log" || true)
assert_match '^[4-9]$|^[1-9][0-9]+$' "$limited" "the limit's notice lines were written"
assert_eq 1 \
  "$(grep 'limiting connections' "$T/logs/error.log" |
    grep -c 'request: "GET /api/v1/iocs?<redacted> HTTP/1.1"' || true)" "their request fields redacted (query)"
assert_eq 1 \
  "$(grep 'limiting connections' "$T/logs/error.log" |
    grep -c 'request: "<redacted>"' || true)" "their request fields redacted (path)"
assert_eq 1 \
  "$(grep 'limiting connections' "$T/logs/error.log" |
    grep -c 'host: "<redacted>"' || true)" "their host fields redacted"
assert_eq "" \
  "$(grep -rl -e "$SECRET" -e "${SECRET:0:16}" "$T/logs" || true)" "no key in any log"
kg_done
