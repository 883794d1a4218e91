#!/usr/bin/env python3
"""tests/integration/fake_api.py — an HTTP/1.1 API that plays the key
contract (SPEC §1.4), or breaks it in exactly one way, for the tests of
`keygate load`.

    fake_api.py --keys KEYS.tsv [--port 0] [--mode MODE] [--delay-ms 50]
                [--close-every 7] [--max-seconds 120] [--max-answers N]

KEYS.tsv holds <class>TAB<key> lines as `keygate keys seed --out` writes
them. A request's key is the Authorization Bearer token or the X-API-Key
value; the answer is:

    no key                    401 missing_api_key
    a "valid" key             200 {"data":[],"count":0,"request_id":...}
    an expired/deactivated    401 expired_api_key
    anything else             401 invalid_api_key

each with Content-Type: application/json, Cache-Control: no-store and an
X-Request-Id (req_ + 24 base62) equal to the body's request_id; 401s carry
§1.4's WWW-Authenticate. Connections are kept alive (HTTP/1.1) unless the
client says Connection: close.

MODE makes the server wrong in one way, in one class only, so a test can
check that `keygate load` blames the right kind in the right class:

    ok                    the contract
    ok-chunked            the contract, every body sent chunked
    invalid-200           invalid keys get the valid 200           (invalid)
    wrong-code            invalid_api_key is sent as "unauthorized" (invalid)
    no-www-auth           expired_api_key without WWW-Authenticate  (expired)
    malformed-body        missing_api_key's body with a trailing comma
                                                                   (missing)
    request-id-mismatch   expired_api_key: X-Request-Id differs from the
                          body's request_id (both well shaped)     (expired)
    close-mid-response    every --close-every'th answer (any class): the
                          head and half the body, then the connection closed
    stall                 nothing is answered during the first 200 ms of
                          every second (answers wait for the stall to end)
    stall-end             one stall: from --stall-at seconds after the first
                          request, for --stall-for seconds, nothing is
                          answered (answers wait for the stall to end)
    slow                  every answer waits --delay-ms first
    echo-key              every 401 for a presented key quotes the key in its
                          message (the leak `keygate probe` must catch)
    blackhole             requests are read and never answered; the
                          connection stays open until the client closes it
    hang-tab              a request whose Authorization value holds a tab
                          is read and never answered (a gateway that hangs
                          on one malformed request); others get the contract
    hang-valid            a request with a valid key is read and never
                          answered (a gateway whose upstream hangs); the
                          others get the contract at once
    extra-bytes           every answer is followed by "GARBAGE\r\n" in the
                          same write (bytes the framing does not cover)
    unsolicited           every answer is followed, --delay-ms later (default
                          50), by a second whole answer on the same
                          connection, which nobody asked for
    big-head              every answer carries one 20 KiB header
                          (X-Padding), above a 16 KiB head buffer
    two-cl                every answer has two Content-Length lines that
                          differ (the body's length, and one more)

Modes for `keygate probe` (tests/integration/probe_faults.sh): a server
that lies in one way the probe must see through.

    rid-key               X-Request-Id and the body's request_id are req_ +
                          24 characters of the secret part of the key sent
    echo-b64              every answer for a presented key carries
    echo-b64url           X-Debug: the key as standard base64, URL-safe
    echo-pct              base64, or every byte percent-encoded
    echo-json             every 401 for a presented key has the key, each
                          character \\uXXXX-escaped, as its message
    echo-chunked          the 200 of a valid key quotes the key in its body,
                          sent chunked 4 bytes a chunk (framing splits it)
    noquote               §1.4's challenge with realm and error as tokens,
                          not quoted-strings, and no error_description
    trickle               every answer sent one byte every --delay-ms
    h2-split              instead of an answer, an HTTP/2 SETTINGS frame in
                          two writes (4 bytes, --delay-ms, 5 bytes)
    h2-goaway             to a connection's first bytes: an HTTP/2 SETTINGS
                          frame, then a GOAWAY (HTTP_1_1_REQUIRED), then the
                          connection held open 0.5 s
    close-delimited       every answer without Content-Length, its end the
                          close; over TLS the close skips close_notify
    big-body              the 200 of a valid key has a --body-kib KiB body
                          (default 256: a long "data" list), Content-Length
    big-body-echo         the same sent chunked (4 KiB chunks), the key sent
                          quoted at about 200 KiB across a chunk boundary
    big-error             every error body is followed by --body-kib KiB of
                          spaces (still JSON, longer than a probe reads)
    echo-short            the 200 of a valid key quotes the key in its body,
                          with a Content-Length 5000 larger than what is
                          sent, then the connection is closed
    echo-forever          the 200 of a valid key is chunked, quotes the key in
                          its first chunk, and never ends (a 4 KiB chunk
                          every 10 ms until the client closes, or 30 s)
    echo-trailer          the 200 of a valid key: --body-kib KiB chunked
                          (4 KiB chunks), the key in a trailer field
    echo-ext              the same, the key in the extension of a last 4-byte
                          chunk (after --body-kib KiB)

--max-answers N: once the Nth answer is sent and its connection closed,
the server stops: its port refuses connections from then on (a target
lost in the middle of a run).

--silent-after N: after the Nth answer, every request is read and never
answered, the port still accepting (a target that goes silent in the
middle of a run).

--cert CERT --key KEY serves TLS (any mode; the close at the end of a
Connection: close answer skips close_notify).

It binds 127.0.0.1 only, prints "listening on PORT" once bound (PORT 0: the
system picks one, the real one is printed), exits 0 on SIGTERM or SIGINT,
and exits by itself after --max-seconds. Standard library only.
"""

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import string
import sys
import threading
import time

MODES = (
    "ok",
    "ok-chunked",
    "invalid-200",
    "wrong-code",
    "no-www-auth",
    "malformed-body",
    "request-id-mismatch",
    "close-mid-response",
    "stall",
    "stall-end",
    "slow",
    "echo-key",
    "blackhole",
    "hang-tab",
    "hang-valid",
    "extra-bytes",
    "unsolicited",
    "big-head",
    "two-cl",
    "rid-key",
    "echo-b64",
    "echo-b64url",
    "echo-pct",
    "echo-json",
    "echo-chunked",
    "noquote",
    "trickle",
    "h2-split",
    "h2-goaway",
    "close-delimited",
    "big-body",
    "big-body-echo",
    "echo-short",
    "echo-forever",
    "echo-trailer",
    "echo-ext",
    "big-error",
)
NOQUOTE = {
    "missing_api_key": "Bearer realm=api",
    "invalid_api_key": "Bearer realm=api, error=invalid_token",
    "expired_api_key": "Bearer realm=api, error=invalid_token",
}
H2_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # RFC 9113 §6.5

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

CHALLENGE = {
    "missing_api_key": 'Bearer realm="api"',
    "invalid_api_key": 'Bearer realm="api", error="invalid_token"',
    "expired_api_key": 'Bearer realm="api", error="invalid_token", '
    'error_description="The API key has expired"',
}
MESSAGE = {
    "missing_api_key": "API key is required. Include it in the Authorization "
    'header as \\"Bearer sk_live_...\\" or in the X-API-Key header.',
    "invalid_api_key": "API key is invalid. Check for typos or extra "
    "whitespace, and verify the key in Settings \\u2192 API Keys.",
    "expired_api_key": "API key has been deactivated or has expired. Generate "
    "a new key in Settings \\u2192 API Keys and update your integration.",
}
REASON = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}

MAX_HEAD = 16384
BIG_HEADER = 20 * 1024  # big-head: the X-Padding value's length
GARBAGE = b"GARBAGE\r\n"  # extra-bytes
STALL_S = 0.2  # the stall at the start of every second


def request_id():
    return "req_" + "".join(secrets.choice(BASE62) for _ in range(24))


class State:
    """What every connection thread shares."""

    def __init__(self, opts, keys):
        self.opts = opts
        self.keys = keys  # key -> "valid" | "expired"
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.count = 0
        self.first = None  # stall-end: when the first request came
        self.answered = 0  # --max-answers: answers sent whole

    def next_count(self):
        with self.lock:
            self.count += 1
            return self.count


def read_keys(path):
    keys = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            cls, _, key = line.partition("\t")
            if cls == "valid":
                keys[key] = "valid"
            elif cls in ("expired", "deactivated"):
                keys[key] = "expired"
    return keys


def parse_head(head):
    """(method, {lower-case name: [values]}) of a request head (bytes)."""
    lines = head.decode("latin-1").split("\r\n")
    method = lines[0].split(" ", 1)[0]
    fields = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("header line without a colon")
        fields.setdefault(name.strip().lower(), []).append(value.strip(" \t"))
    return method, fields


def credential(fields):
    """The key presented, or None when no key was sent."""
    auth = fields.get("authorization")
    if auth:
        scheme, _, token = auth[0].partition(" ")
        if scheme.lower() == "bearer":
            return token.strip()
        return auth[0]  # another scheme: not a key we know
    xkey = fields.get("x-api-key")
    if xkey:
        return xkey[0]
    return None


def decide(state, key):
    """(class, status, code or None) for the key presented."""
    if key is None:
        return "missing", 401, "missing_api_key"
    known = state.keys.get(key)
    if known == "valid":
        return "valid", 200, None
    if known == "expired":
        return "expired", 401, "expired_api_key"
    return "invalid", 401, "invalid_api_key"


def answer(state, key):
    """The bytes of one answer, and how many of them to send before closing
    (None: send all and keep the connection)."""
    mode = state.opts.mode
    cls, status, code = decide(state, key)
    if mode == "invalid-200" and cls == "invalid":
        status, code = 200, None
    rid = request_id()
    secret = key.rsplit("_", 1)[-1] if key is not None else ""
    if mode == "rid-key" and len(secret) >= 24:
        rid = "req_" + secret[:24]
    headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("X-Request-Id", rid),
    ]
    if mode == "big-head":
        headers.append(("X-Padding", "p" * BIG_HEADER))
    if key is not None and mode in ("echo-b64", "echo-b64url", "echo-pct"):
        raw = key.encode("ascii")
        enc = {
            "echo-b64": lambda: base64.b64encode(raw),
            "echo-b64url": lambda: base64.urlsafe_b64encode(raw),
            "echo-pct": lambda: b"".join(b"%%%02X" % c for c in raw),
        }[mode]()
        headers.append(("X-Debug", enc.decode("ascii")))
    if code is None and mode == "echo-chunked" and key is not None:
        body = '{"data":[],"count":0,"request_id":"%s","debug":"%s"}' % (
            rid,
            key,
        )
    elif code is None and mode in ("echo-short", "echo-forever") and key:
        body = '{"data":[],"count":0,"request_id":"%s","debug":"%s"}' % (
            rid,
            key,
        )
    elif code is None and mode in ("big-body", "big-body-echo",
                                   "echo-trailer", "echo-ext"):
        item = '{"type":"ipv4","value":"192.0.2.1"},'
        n = state.opts.body_kib * 1024 // len(item) + 1
        items = item * n
        if mode == "big-body-echo" and key is not None:
            # the key across the 4 KiB chunk boundary nearest 200 KiB
            at = 200 * 1024 - len('{"data":[') - len(key) // 2
            items = items[:at] + key + items[at:]
        body = '{"data":[%s],"count":%d,"request_id":"%s"}' % (
            items[:-1] if items.endswith(",") else items,
            n,
            rid,
        )
    elif code is None:
        body = '{"data":[],"count":0,"request_id":"%s"}' % rid
    else:
        sent_code = code
        if mode == "wrong-code" and code == "invalid_api_key":
            sent_code = "unauthorized"
        body_rid = rid
        if mode == "request-id-mismatch" and code == "expired_api_key":
            body_rid = request_id()
        message = MESSAGE[code]
        if mode == "echo-key" and key is not None:
            message = json.dumps("API key %s was refused." % key)[1:-1]
        if mode == "echo-json" and key is not None:
            message = "".join("\\u%04x" % ord(ch) for ch in key)
        body = '{"error":{"code":"%s","message":"%s","request_id":"%s"}}' % (
            sent_code,
            message,
            body_rid,
        )
        if mode == "malformed-body" and code == "missing_api_key":
            body = body[:-1] + ",}"  # {"error":{...},}
        if mode == "big-error":
            body += " " * (state.opts.body_kib * 1024)
        if not (mode == "no-www-auth" and code == "expired_api_key"):
            table = NOQUOTE if mode == "noquote" else CHALLENGE
            headers.append(("WWW-Authenticate", table[code]))
    body = body.encode("ascii")
    cut = None
    if mode in ("echo-trailer", "echo-ext") and code is None and key:
        # the key past the first 64 KiB, where only framing carries it
        headers.append(("Transfer-Encoding", "chunked"))
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
            for i in range(0, len(body), 4096)
        )
        if mode == "echo-ext":
            payload += b"4;leak=%s\r\n    \r\n0\r\n\r\n" % key.encode()
        else:
            payload += b"0\r\nX-Leak: %s\r\n\r\n" % key.encode()
    elif mode == "echo-forever" and code is None and key:
        headers.append(("Transfer-Encoding", "chunked"))
        payload = b"%x\r\n%s\r\n" % (len(body), body)  # serve() goes on
    elif mode == "echo-short" and code is None and key:
        headers.append(("Content-Length", str(len(body) + 5000)))
        payload = body
    elif mode == "big-body-echo" and code is None:
        headers.append(("Transfer-Encoding", "chunked"))
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
            for i in range(0, len(body), 4096)
        ) + b"0\r\n\r\n"
    elif mode == "echo-chunked" and code is None:
        headers.append(("Transfer-Encoding", "chunked"))
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 4]), body[i : i + 4])
            for i in range(0, len(body), 4)
        ) + b"0\r\n\r\n"
    elif mode == "close-delimited":
        headers.append(("Connection", "close"))
        payload = body
    elif mode == "ok-chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        third = max(1, len(body) // 3)
        parts = [body[:third], body[third : 2 * third], body[2 * third :]]
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p
        ) + b"0\r\n\r\n"
    else:
        headers.append(("Content-Length", str(len(body))))
        if mode == "two-cl":
            headers.append(("Content-Length", str(len(body) + 1)))
        payload = body
    head = "HTTP/1.1 %d %s\r\n" % (status, REASON.get(status, "Other"))
    head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    data = head.encode("latin-1") + payload
    if mode == "echo-short" and code is None and key:
        cut = len(data)
    if mode == "close-mid-response":
        if state.next_count() % state.opts.close_every == 0:
            cut = len(head) + len(payload) // 2
    return data, cut


def delay(state):
    mode = state.opts.mode
    if mode == "slow":
        time.sleep(state.opts.delay_ms / 1000.0)
    elif mode == "stall":
        phase = (time.monotonic() - state.t0) % 1.0
        if phase < STALL_S:
            time.sleep(STALL_S - phase)
    elif mode == "stall-end":
        now = time.monotonic()
        with state.lock:
            if state.first is None:
                state.first = now
        start = state.first + state.opts.stall_at
        end = start + state.opts.stall_for
        if start <= now < end:
            time.sleep(end - now)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        state = self.server.state
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.server.tls is not None:
            sock.settimeout(10)
            try:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                return
            sock.settimeout(None)
        try:
            self.serve(state, sock)
        finally:
            if self.server.tls is not None:
                # the close skips close_notify: the raw descriptor goes
                try:
                    socket.socket(fileno=sock.detach()).close()
                except OSError:
                    pass
            limit = state.opts.max_answers
            if limit > 0 and state.answered >= limit:
                # the listener first: once the client sees this connection
                # close, a new one is refused, never taken and dropped
                self.server.socket.close()
                sock.close()
                os._exit(0)

    def serve(self, state, sock):
        if state.opts.mode == "h2-split":
            # RFC 9113 §3.4: a server's preface is a SETTINGS frame
            sock.sendall(H2_SETTINGS[:4])
            time.sleep(state.opts.delay_ms / 1000.0)
            sock.sendall(H2_SETTINGS[4:])
            time.sleep(0.5)
            return
        if state.opts.mode == "h2-goaway":
            # RFC 9113 §6.8: last stream 0, error HTTP_1_1_REQUIRED (0xd)
            try:
                sock.recv(65536)
                sock.sendall(H2_SETTINGS + b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"
                             + b"\x00\x00\x00\x00\x00\x00\x00\x0d")
            except OSError:
                return
            time.sleep(0.5)
            return
        buf = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    return
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                continue
            head, buf = buf[:end], buf[end + 4 :]
            try:
                _, fields = parse_head(head)
                length = int(fields.get("content-length", ["0"])[0])
            except ValueError:
                sock.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"
                )
                return
            while len(buf) < length:  # a request body: read and drop it
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[length:]
            if state.opts.mode == "blackhole":
                continue  # read on, answer nothing
            if state.opts.mode == "hang-tab" and any(
                    "\t" in v for v in fields.get("authorization", [])):
                continue
            if state.opts.mode == "hang-valid" and \
                    state.keys.get(credential(fields)) == "valid":
                continue
            silent = state.opts.silent_after
            if silent > 0 and state.answered >= silent:
                continue
            data, cut = answer(state, credential(fields))
            delay(state)
            try:
                if cut is not None:
                    sock.sendall(data[:cut])
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                if state.opts.mode == "extra-bytes":
                    data += GARBAGE
                if state.opts.mode == "echo-forever" and b"chunked" in data[:512]:
                    sock.sendall(data)
                    filler = b"1000\r\n" + b" " * 4096 + b"\r\n"
                    t_end = time.monotonic() + 30
                    while time.monotonic() < t_end:
                        sock.sendall(filler)  # OSError once the client closed
                        time.sleep(0.01)
                    return
                if state.opts.mode == "trickle":
                    for i in range(len(data)):
                        sock.sendall(data[i : i + 1])
                        time.sleep(state.opts.delay_ms / 1000.0)
                    return
                limit = state.opts.max_answers
                if limit > 0 and state.answered + 1 >= limit:
                    # the listener before the last answer: the client
                    # connects again only once it has this answer, and by
                    # then nothing listens (closed after it, a connection
                    # could be queued first and then dropped unanswered).
                    # shutdown stops the listening at once (Linux); close
                    # alone waits for serve_forever's poll to let go of it
                    for stop in (lambda: self.server.socket.shutdown(
                            socket.SHUT_RDWR), self.server.socket.close):
                        try:
                            stop()
                        except OSError:
                            pass
                sock.sendall(data)
                with state.lock:
                    state.answered += 1
                if state.opts.mode == "unsolicited":
                    time.sleep(state.opts.delay_ms / 1000.0)
                    sock.sendall(answer(state, credential(fields))[0])
            except OSError:
                return
            conn = [v.lower() for v in fields.get("connection", [])]
            if "close" in conn or state.opts.mode == "close-delimited":
                return


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", required=True, help="<class>TAB<key> lines")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=MODES, default="ok")
    p.add_argument(
        "--delay-ms",
        type=float,
        default=50.0,
        help="slow: the wait before each answer; unsolicited: the gap "
        "before the second answer",
    )
    p.add_argument(
        "--close-every",
        type=int,
        default=7,
        help="close-mid-response: cut every Nth answer",
    )
    p.add_argument(
        "--stall-at",
        type=float,
        default=1.0,
        help="stall-end: seconds after the first request",
    )
    p.add_argument(
        "--stall-for",
        type=float,
        default=2.0,
        help="stall-end: how long nothing is answered",
    )
    p.add_argument(
        "--body-kib",
        type=int,
        default=256,
        help="big-body, big-body-echo, big-error: the body's size",
    )
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--silent-after", type=int, default=0,
                   help="answer nothing after the Nth answer")
    p.add_argument(
        "--max-answers",
        type=int,
        default=0,
        help="stop after the Nth answer's connection closes (0: never)",
    )
    p.add_argument("--cert", help="serve TLS with this certificate (PEM)")
    p.add_argument("--key", dest="tls_key", help="and this private key")
    opts = p.parse_args()
    if opts.close_every < 1:
        p.error("--close-every must be >= 1")

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, opts.max_seconds)

    server = Server(("127.0.0.1", opts.port), Handler)
    server.state = State(opts, read_keys(opts.keys))
    server.tls = None
    if opts.cert:
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(opts.cert, opts.tls_key)
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        sys.stdout.flush()
        os._exit(0)  # do not wait for connection threads


if __name__ == "__main__":
    main()
