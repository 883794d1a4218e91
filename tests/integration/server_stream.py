#!/usr/bin/env python3
"""server_stream.py — a bounded stream of authenticated requests.

Usage: server_stream.py PORT KEY COUNT PROGRESS [STOPFILE]

Sends COUNT requests (fewer when STOPFILE appears, or after 60 s) for GET /api/v1/iocs?limit=1 with X-API-Key: KEY to
127.0.0.1:PORT, one request per new connection, one after the other. After
each it appends one line to PROGRESS: the status code, or "error <why>"
when the connection failed, was reset or closed without an answer. Prints
"ok=N failed=M" at the end; exit 0 only when every request got a 200.
Every socket operation times out after 5 s.
"""
import os
import socket
import sys
import time


def one(port: int, key: str) -> str:
    req = ("GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: stream.test\r\n"
           "X-API-Key: %s\r\nConnection: close\r\n\r\n" % key).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return "error %s" % e.__class__.__name__
    if not data.startswith(b"HTTP/1.1 "):
        return "error no-answer"
    return data[9:12].decode()


def main() -> int:
    port, key, count, progress = (int(sys.argv[1]), sys.argv[2],
                                  int(sys.argv[3]), sys.argv[4])
    stopfile = sys.argv[5] if len(sys.argv) > 5 else None
    deadline = time.monotonic() + 60
    ok = failed = 0
    with open(progress, "a", buffering=1) as out:
        for _ in range(count):
            if (stopfile and os.path.exists(stopfile)) or \
                    time.monotonic() > deadline:
                break
            result = one(port, key)
            out.write(result + "\n")
            if result == "200":
                ok += 1
            else:
                failed += 1
    print("ok=%d failed=%d" % (ok, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
