#!/usr/bin/env python3
"""rawhttp.py — send raw request bytes to 127.0.0.1:PORT, print the answers.

Usage: rawhttp.py PORT [--no-half-close] [--last-later] < request-bytes

The request bytes go out exactly as given (duplicate lines, tabs, control
bytes, bad framing: whatever the test writes). Every response on the
connection is read (Content-Length framing; until close otherwise) and
printed as

    STATUS <code>
    REASON <reason phrase, empty when none was sent>
    H <lowercased name>: <value>      (one line per header, in order)
    BODY <body bytes, with \\r, \\n and non-printables escaped as \\xNN>

After sending, the write side is shut (a half-close) so a server waiting
for more bytes sees the end; --no-half-close leaves it open (nginx takes a
half-close during a proxied request for a client abort, 499), and then the
request must end with Connection: close. --last-later sends the last byte
200 ms after the rest (the server reads the head in two parts, the first
ending one byte short). A connection closed before any
response prints "STATUS none". Exit code 0
unless the connection could not be made. Bounded: 5 s per socket read.
"""
import socket
import sys
import time


def escape(data: bytes) -> str:
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b != 0x5C:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def read_responses(sock: socket.socket) -> list:
    buf = b""
    responses = []
    closed = False
    while True:
        while b"\r\n\r\n" not in buf and not closed:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
            buf += chunk
        if b"\r\n\r\n" not in buf:
            return responses
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        status = parts[1].decode() if len(parts) > 1 else "?"
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        headers = []
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.decode("latin-1").lower()
            value = value.strip().decode("latin-1")
            headers.append((name, value))
            if name == "content-length":
                length = int(value)
        if length is None:
            while not closed:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                rest += chunk
            body, buf = rest, b""
        else:
            while len(rest) < length and not closed:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                rest += chunk
            body, buf = rest[:length], rest[length:]
        responses.append((status, reason, headers, body))
        if closed and not buf:
            return responses


def main() -> int:
    port = int(sys.argv[1])
    request = sys.stdin.buffer.read()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as e:
        print("rawhttp: cannot connect to 127.0.0.1:%d: %s" % (port, e), file=sys.stderr)
        return 1
    responses = []
    try:
        late = "--last-later" in sys.argv[2:] and len(request) > 1
        sock.sendall(request[:-1] if late else request)
        if late:
            time.sleep(0.2)
            try:  # the server may have answered and closed meanwhile
                sock.sendall(request[-1:])
            except OSError:
                pass
        if "--no-half-close" not in sys.argv[2:]:
            try:  # after --last-later the server may have closed already
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        responses = read_responses(sock)
    except (socket.timeout, ConnectionResetError):
        pass
    finally:
        sock.close()
    if not responses:
        print("STATUS none")
    for status, reason, headers, body in responses:
        print("STATUS " + status)
        print("REASON " + reason)
        for name, value in headers:
            print("H %s: %s" % (name, value))
        print("BODY " + escape(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
