#!/usr/bin/env bash
# server_slow_clients.sh — one client must not take the gateway down: while
# one client holds 2,000 connections to `keygate serve` (one worker), each
# dribbling a partial header, a second client's requests are each answered
# within 1 s (docs/server.md: worker_connections, the timeouts, limit_conn).
# Bounded: about 8 s, 127.0.0.1 only, every socket closed at the end.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme slow)
start_serve --workers 1

cat >"$T/slow.py" <<'PY'
import resource, socket, sys, time
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 512), hard))
slow = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /api/v1/iocs HTTP/1.1\r\nHost: a\r\n")
    slow.append(s)
held = len(slow)
worst, statuses = 0.0, []
req = ("GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: a\r\nX-API-Key: %s\r\n"
       "Connection: close\r\n\r\n" % key).encode()
for round in range(5):
    for s in slow:  # one more header byte-line from each slow client
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass
    t0 = time.time()
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        c.sendall(req)
        data = c.recv(64)
        c.close()
        statuses.append(data.split(b" ")[1].decode() if data else "none")
    except OSError as e:
        statuses.append("error")
    worst = max(worst, time.time() - t0)
    time.sleep(0.5)
for s in slow:
    s.close()
print(held)
print(" ".join(statuses))
print("fast" if worst < 1.0 else "slow %.2f" % worst)
PY
out=$(timeout 60 python3 "$T/slow.py" "$PORT" "$K" 2000)
assert_eq 2000 "$(sed -n 1p <<<"$out")" "2,000 slow connections held"
assert_eq "200 200 200 200 200" "$(sed -n 2p <<<"$out")" "the second client's answers"
assert_eq fast "$(sed -n 3p <<<"$out")" "each within 1 s"
kg_done
