#!/usr/bin/env python3
"""tests/integration/tls_peer.py — a TLS server that completes every
handshake and then walks away, for the tests of `keygate load` against a
peer that closes (OpenSSL then writes into a dead socket: SIGPIPE).

    tls_peer.py --cert CERT.pem --key KEY.pem [--port 0]
                [--mode close|reset] [--max-seconds 60]

    close   after the handshake, the connection is closed (FIN)
    reset   after the handshake, the connection is reset (SO_LINGER 0: RST)

Nothing is ever read or answered after the handshake. It binds 127.0.0.1
only, prints "listening on PORT" once bound (PORT 0: the system picks one),
exits 0 on SIGTERM or SIGINT, and exits by itself after --max-seconds.
Standard library only.
"""

import argparse
import os
import signal
import socket
import ssl
import struct
import sys
import threading


def serve_one(conn, ctx, mode):
    """Handshake on CONN, then close or reset it."""
    conn.settimeout(2.0)
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (OSError, ssl.SSLError):
        conn.close()
        return
    try:
        if mode == "reset":
            tls.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        tls.close()
    except OSError:
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=("close", "reset"), default="close")
    p.add_argument("--max-seconds", type=float, default=60.0)
    opts = p.parse_args()

    def stop(signum, frame):
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, opts.max_seconds)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", opts.port))
    srv.listen(256)
    print("listening on %d" % srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(
            target=serve_one, args=(conn, ctx, opts.mode), daemon=True
        ).start()


if __name__ == "__main__":
    main()
