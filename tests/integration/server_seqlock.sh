#!/usr/bin/env bash
# server_seqlock.sh — a worker deciding with the shared index while its
# generation is odd (the writer in the middle of a change; docs/server.md,
# "One index per server"). The test plays the writer: it maps the published
# index file itself and writes the header's generation (offset 32), as a
# writer off its CPU mid-change would leave it.
#   1. odd for a few ms while a request is in flight (a writer preempted,
#      or waiting on a page fault of the file): the request waits and is
#      answered 200, never 503;
#   2. left odd (a writer that died or hangs mid-change): the first request
#      answers 503 service_unavailable after about the bound (40 ms), the
#      next at once (no second wait for the same generation), and the
#      worker answers another location meanwhile (the wait is a timer, not
#      a sleep of the worker);
#   3. even again: 200.
# One worker, so the writer answers (its snapshot's index is the region);
# nothing changes in the store meanwhile, so the real writer leaves the
# region alone.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme one)
start_serve --workers 1
wait_for_answer "the key is served" "$K" "200 " 5

INDEX=$(find "$T" -maxdepth 1 -name 'keys.db-index.*' | head -n 1)
assert_eq 1 "$(($(printf '%s' "$INDEX" | wc -c) > 0))" "the shared index is published"

python3 - "$INDEX" "$PORT" "$K" >"$T/seqlock" <<'EOF'
import mmap, socket, struct, sys, threading, time

path, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = open(path, "r+b")
m = mmap.mmap(f.fileno(), 0)
GEN = 32  # region_header.gen (core/src/index.c)
g = struct.unpack_from("<Q", m, GEN)[0]
print("start", g % 2)
req = (f"GET /api/v1/iocs?limit=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
       f"X-API-Key: {key}\r\n\r\n").encode()


def fetch(raw):
    """One request on a new connection: (status, milliseconds)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(raw)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data.split(b" ")[1].decode(), int((time.monotonic() - t0) * 1000)


def ask():
    return fetch(req)


def put(v):
    struct.pack_into("<Q", m, GEN, v)

# 1. odd for 5 ms, a request in flight
put(g + 1)
timer = threading.Timer(0.005, put, (g + 2,))
timer.start()
st, ms = ask()
timer.join()
print("transient", st, ms)
# 2. left odd; while the first request waits, the status location answers
put(g + 3)
status = {}


def ask_status():
    time.sleep(0.01)
    status["st"], _ = fetch(b"GET /_keygate/status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    status["done"] = time.monotonic()


side = threading.Thread(target=ask_status)
side.start()
st1, ms1 = ask()
first_done = time.monotonic()
side.join()
st2, ms2 = ask()
print("stuck", st1, ms1, st2, ms2)
print("side", status.get("st"), 1 if status.get("done", 1e18) < first_done else 0)
# 3. even again
put(g + 4)
st3, ms3 = ask()
print("even", st3, ms3)
m.flush()
EOF
read -r _ start <<<"$(grep '^start' "$T/seqlock")"
read -r _ tst tms <<<"$(grep '^transient' "$T/seqlock")"
read -r _ s1 ms1 s2 ms2 <<<"$(grep '^stuck' "$T/seqlock")"
read -r _ s3 _ <<<"$(grep '^even' "$T/seqlock")"
read -r _ sst sbefore <<<"$(grep '^side' "$T/seqlock")"
assert_eq 0 "$start" "the published generation is even at rest"
assert_eq 200 "$tst" "odd for 5 ms with a request in flight: the request waits, 200 (took $tms ms)"
assert_eq 503 "$s1" "left odd: 503"
assert_eq 1 "$((ms1 >= 35))" "... after waiting about the bound, 40 ms ($ms1 ms)"
assert_eq "200 1" "$sst $sbefore" "the worker answered another location while that request waited"
assert_eq 503 "$s2" "the next request, same odd generation: 503"
assert_eq 1 "$((ms2 < ms1 / 2))" "... at once, no second wait ($ms2 ms after $ms1)"
assert_eq 200 "$s3" "even again: 200"
assert_eq 0 "$(grep -c "${K#sk_live_}" "$T/logs/error.log" || true)" "no key in the error log"
kg_done
