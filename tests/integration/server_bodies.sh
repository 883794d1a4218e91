#!/usr/bin/env bash
# server_bodies.sh — a refused request does not cost its body: no
# "100 Continue" before the 401 of a request with Expect: 100-continue and
# no valid key, and a 100 GB Content-Length gets its 401 with Connection:
# close and the connection closed within 1 s, not drained for nginx's
# lingering time (docs/server.md). Also while the client keeps sending.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
start_serve --workers 1

cat >"$T/body.py" <<'PY'
import socket, sys, threading, time
port, mode = int(sys.argv[1]), sys.argv[2]
head = (b"POST /api/v1/iocs HTTP/1.1\r\nHost: a\r\n"
        b"Content-Length: 107374182400\r\n")
if mode == "expect":
    head += b"Expect: 100-continue\r\n"
head += b"\r\n"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(head)
stop = threading.Event()
def stream():  # bounded: at most 3 s of body
    chunk = b"x" * 65536
    end = time.time() + 3
    while not stop.is_set() and time.time() < end:
        try:
            s.sendall(chunk)
        except OSError:
            return
if mode == "stream":
    threading.Thread(target=stream, daemon=True).start()
buf = b""
while b"\r\n\r\n" not in buf:
    b = s.recv(65536)
    if not b:
        break
    buf += b
t0 = time.time()
status = buf.split(b"\r\n", 1)[0].decode("latin-1")
conn = [l for l in buf.split(b"\r\n") if l.lower().startswith(b"connection:")]
closed = "open"
try:
    while time.time() - t0 < 3:
        b = s.recv(65536)
        if not b:
            closed = "closed"
            break
except ConnectionResetError:
    closed = "closed"
except socket.timeout:
    pass
stop.set()
elapsed = time.time() - t0
print(status)
print(conn[0].decode() if conn else "no connection header")
print(closed, "fast" if elapsed < 1.0 else "slow %.2f" % elapsed)
PY

for mode in expect plain stream; do
  out=$(timeout 20 python3 "$T/body.py" "$PORT" "$mode")
  assert_eq "HTTP/1.1 401 Unauthorized" "$(sed -n 1p <<<"$out")" "$mode: the 401 first (no 100 Continue)"
  assert_eq "Connection: close" "$(sed -n 2p <<<"$out")" "$mode: Connection: close"
  assert_eq "closed fast" "$(sed -n 3p <<<"$out")" "$mode: closed within 1 s"
done
# The server still answers afterwards.
send "GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
assert_eq 401 "$(resp_status)" "still serving"
kg_done
