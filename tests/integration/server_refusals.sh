#!/usr/bin/env bash
# server_refusals.sh — every answer nginx gives by itself before the access
# phase (400, 405, 414, 431/494, 501, 505, and HTTP/0.9) comes out of
# `keygate serve` in the JSON shape of SPEC §1.4: Content-Type, Cache-Control:
# no-store, an X-Request-Id that the body repeats, the status nginx chose
# (431 for its private 494), and a message naming the cause, the one the
# core gives for the same head (kg_head_screen; docs/server.md). Where the
# request line is readable, a key in it is api_key_in_query first (SPEC
# §1.3), also in a line too long (414). Raw bytes, each on its own
# connection; no key body in any log afterwards.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme refusals)
SECRET=${K#sk_live_}
start_serve --workers 1

LONG=$(head -c 9000 /dev/zero | tr '\0' a)
H='Host: a\r\nConnection: close\r\n'

# refused NAME REQUEST STATUS CODE MESSAGE-REGEX
refused() {
  send "$2"
  assert_eq "$3" "$(resp_status)" "$1: status"
  assert_eq application/json "$(resp_header content-type)" "$1: content-type"
  assert_eq no-store "$(resp_header cache-control)" "$1: cache-control"
  local rid
  rid=$(resp_header x-request-id)
  assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$1: x-request-id"
  assert_match "^\\{\"error\":\\{\"code\":\"$4\",\"message\":\"$5\",\"request_id\":\"$rid\"\\}\\}\$" "$(resp_body)" \
    "$1: body"
}

refused "no Host on HTTP/1.1" "GET /api/v1/iocs HTTP/1.1\r\nConnection: close\r\n\r\n" \
  400 bad_request 'The request has no Host header\..*'
refused "Host twice" "GET /api/v1/iocs HTTP/1.1\r\n${H}Host: b\r\n\r\n" \
  400 bad_request 'Host, Content-Length, Transfer-Encoding or another header the server takes once (.*) was sent more than once\..*'
refused "bad method" "G@T /api/v1/iocs HTTP/1.1\r\n$H\r\n" \
  400 bad_request 'The method is malformed\..*'
refused "whitespace before a colon" "GET /api/v1/iocs HTTP/1.1\r\n${H}X-Thing : 1\r\n\r\n" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'
refused "TRACE" "TRACE /api/v1/iocs HTTP/1.1\r\n$H\r\n" \
  405 method_not_allowed 'This method is not allowed\..*'
assert_eq "GET, HEAD" "$(resp_header allow)" "TRACE: Allow"
# A POST to the reference API with a valid key and a body nginx refuses
# (bad chunk size): nginx's 400 for the body, without the Allow of the 405
# it would have been (the review found it carried over).
refused "POST with a broken chunked body" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}X-API-Key: $K\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n" \
  400 bad_request 'The request body does not match its framing.*'
assert_eq 0 "$(resp_header_count allow)" "POST with a broken chunked body: no Allow"
refused "POST with a valid key" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}X-API-Key: $K\r\nContent-Length: 3\r\n\r\nabc" \
  405 method_not_allowed 'Use GET /api/v1/iocs\.'
assert_eq "GET, HEAD" "$(resp_header allow)" "POST with a valid key: Allow"
refused "URI too long" "GET /api/v1/iocs?q=$LONG HTTP/1.1\r\n$H\r\n" \
  414 uri_too_long 'The request line is too long\..*'
refused "URI too long holding a key: the key first" \
  "GET /api/v1/iocs?api_key=$K&q=$LONG HTTP/1.1\r\n$H\r\n" \
  400 api_key_in_query 'API keys must not be sent in the URL\..*'
refused "URI too long, a key in its path" \
  "GET /api/v1/iocs/$K/$LONG HTTP/1.1\r\n$H\r\n" \
  400 api_key_in_query 'API keys must not be sent in the URL\..*'
# The same lines in TCP segments, as a real network sends 9 KB: nginx gives
# up at its 8 KiB buffer before the rest arrives, and the module waits for
# the rest of the line (a review saw 414 for each of these).
cat >"$T/segments.py" <<'PY'
import socket, sys, time
port, gap, tail_gap, mode = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
head = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
body, tail = head[:-300], head[-300:]
for i in range(0, len(body), 1460):
    s.sendall(body[i:i + 1460])
    time.sleep(gap)
time.sleep(tail_gap)
started = time.monotonic()
if mode == "1":  # half-close mid-line
    s.sendall(tail[:100])
    s.shutdown(socket.SHUT_WR)
elif mode == "0":
    s.sendall(tail)
# mode "2": stop sending, keep the connection open
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
status = data[9:12].decode()
code = data.split(b'"code":"', 1)[1].split(b'"', 1)[0].decode() if b'"code":"' in data else ""
print(status, code)
if mode == "2":
    print("waited %.0f s" % (time.monotonic() - started), file=sys.stderr)
PY
segmented() { # NAME GAP TAIL_GAP MODE WANT REQUEST (mode 0 all, 1 half-close, 2 stall)
  local got
  got=$(printf '%b' "$6" | python3 "$T/segments.py" "$PORT" "$2" "$3" "$4" 2>"$T/segments.err")
  assert_eq "$5" "$got" "$1"
}
segmented "a long line in segments 5 ms apart, the key at its end" 0.005 0 0 \
  "400 api_key_in_query" "GET /api/v1/iocs?q=$LONG&api_key=$K HTTP/1.1\r\n$H\r\n"
segmented "a long line in segments 20 ms apart, the key at its end" 0.02 0 0 \
  "400 api_key_in_query" "GET /api/v1/iocs?q=$LONG&api_key=$K HTTP/1.1\r\n$H\r\n"
segmented "the end with the key 300 ms later" 0 0.3 0 \
  "400 api_key_in_query" "GET /api/v1/iocs?q=$LONG&api_key=$K HTTP/1.1\r\n$H\r\n"
segmented "a long line in segments, no key: 414 once it is whole" 0.005 0 0 \
  "414 uri_too_long" "GET /api/v1/iocs?q=$LONG$LONG HTTP/1.1\r\n$H\r\n"
segmented "a client that stops sending mid-line (half-close): what came" 0.005 0 1 \
  "414 uri_too_long" "GET /api/v1/iocs?q=$LONG&x=$(head -c 400 /dev/zero | tr '\0' b) HTTP/1.1\r\n$H\r\n"
segmented "a client that stalls mid-line: what came, after at most 5 s" 0.005 0 2 \
  "414 uri_too_long" "GET /api/v1/iocs?q=$LONG&x=$(head -c 400 /dev/zero | tr '\0' b) HTTP/1.1\r\n$H\r\n"
assert_match '^waited [4-6] s$' "$(cat "$T/segments.err")" "the stalled line: answered after the 5 s bound"
refused "header too large" "GET /api/v1/iocs HTTP/1.1\r\n${H}X-Big: $LONG\r\n\r\n" \
  431 header_too_large 'A header line is too long\..*'
refused "Transfer-Encoding: identity" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n" \
  501 unsupported_transfer_coding 'This Transfer-Encoding is not supported\..*'
# Heads whose lines end in an LF alone: the message names the cause as for
# CR LF (review 87: the module read two lines as one and fell back to the
# generic message), a body after the head too.
refused "LF alone: Host twice" \
  "GET /api/v1/iocs HTTP/1.1\nHost: a\nConnection: close\nHost: b\n\n" \
  400 bad_request 'Host, Content-Length, Transfer-Encoding or another header the server takes once (.*) was sent more than once\..*'
refused "LF alone: no Host, a body after the head" \
  "POST /api/v1/iocs HTTP/1.1\nConnection: close\nContent-Length: 3\n\nabc" \
  400 bad_request 'The request has no Host header\..*'
refused "LF alone: a coding nginx does not take, spaces before the line end" \
  "POST /api/v1/iocs HTTP/1.1\nHost: a\nConnection: close\nTransfer-Encoding: gzip  \n\n" \
  501 unsupported_transfer_coding 'This Transfer-Encoding is not supported\..*'
# Review 88: a space nginx wrote its NUL over before an LF; an LF-only
# obs-fold; a body after the line nginx refused; CR LF and LF mixed.
DUP='Host, Content-Length, Transfer-Encoding or another header the server takes once (.*) was sent more than once\..*'
FRAMING='The request body.s length is ambiguous\..*'
refused "LF alone: a trailing space, then Host twice" \
  "GET /api/v1/iocs HTTP/1.1\nConnection: close\nX-A: a \nHost: a\nHost: b\n\n" \
  400 bad_request "$DUP"
refused "LF alone: an obs-fold" \
  "GET /api/v1/iocs HTTP/1.1\nConnection: close\nX-A: 1\n Host: a\n\n" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'
refused "LF alone: chunked and a length, a body after" \
  "POST /api/v1/iocs HTTP/1.1\nConnection: close\nHost: a \nTransfer-Encoding: chunked\nContent-Length: 5\n\nabcde" \
  400 bad_request "$FRAMING"
refused "LF alone: a length not digits after a trailing space" \
  "POST /api/v1/iocs HTTP/1.1\nConnection: close\nHost: a \nContent-Length: x\n\n" \
  400 bad_request "$FRAMING"
refused "LF then CR LF: Host twice" \
  "GET /api/v1/iocs HTTP/1.1\nConnection: close\nHost: a\r\nHost: b\r\n\r\n" \
  400 bad_request "$DUP"
refused "CR LF then LF: Host twice, a body after the refused line" \
  "POST /api/v1/iocs HTTP/1.1\r\nConnection: close\r\nHost: a\r\nContent-Length: 2\nHost: b\n\n{}" \
  400 bad_request "$DUP"
# A head over client_header_buffer_size (1 KiB): nginx reads the rest into
# its large buffers, and the module rebuilds the head from what nginx
# stored (review 88: the generic message, or the body blamed).
PAD=$(head -c 1100 /dev/zero | tr '\0' b)
refused "over 1 KiB: chunked and a length, a body after" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}Cookie: $PAD\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nabcde" \
  400 bad_request "$FRAMING"
refused "over 1 KiB: Host twice" \
  "GET /api/v1/iocs HTTP/1.1\r\n${H}X-Pad: $PAD\r\nHost: b\r\n\r\n" \
  400 bad_request "$DUP"
refused "over 1 KiB: no Host" \
  "GET /api/v1/iocs HTTP/1.1\r\nConnection: close\r\nX-Pad: $PAD\r\n\r\n" \
  400 bad_request 'The request has no Host header\..*'
# Review 89: a line nginx refused without storing it, in a head over 1 KiB;
# a refused line whose LF is the last byte read; a second Referer the
# module masked; a line without a colon, LF alone.
refused "over 1 KiB: a bad name before Host" \
  "GET /api/v1/iocs HTTP/1.1\r\nConnection: close\r\nX-Pad: $PAD\r\nBad Name: x\r\nHost: a\r\n\r\n" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'
refused "over 1 KiB: a bad name after a length not digits" \
  "GET /api/v1/iocs HTTP/1.1\r\n${H}Content-Length: x\r\nX-Pad: $PAD\r\nBad Name: x\r\n\r\n" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'
# the empty line 200 ms later: nginx refuses the second Host with its LF
# the last byte it has read
RAW_OPTS=--last-later refused "LF alone: Host twice, the empty line later" \
  "GET /api/v1/iocs HTTP/1.1\nHost: a\nHost: b\n\n" \
  400 bad_request "$DUP"
refused "a second Referer holding a key, Host twice" \
  "GET /api/v1/iocs HTTP/1.1\r\n${H}Referer: https://x/\r\nReferer: https://y/?api_key=sk_live_abc\r\nHost: b\r\n\r\n" \
  400 bad_request "$DUP"
# (check refuses the colon-less line, docs/contract.md: the core's answer
# for the same head, never the body's; review 89 saw the body blamed)
refused "LF alone: a line without a colon, chunked and a length" \
  "POST /api/v1/iocs HTTP/1.1\nConnection: close\nHost: a\nTransfer-Encoding: chunked\nFoo\nContent-Length: 5\n\nabcde" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'
refused "CR LF: a line without a colon, chunked and a length" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nFoo\r\nContent-Length: 5\r\n\r\nabcde" \
  400 bad_request 'The request is malformed\. Send each header on one line.*'

refused "CR LF, a coding with a Content-Length: the coding first, as nginx" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\nContent-Length: 0\r\n\r\n" \
  501 unsupported_transfer_coding 'This Transfer-Encoding is not supported\..*'
refused "HTTP/2.0 on a plain port" "GET /api/v1/iocs HTTP/2.0\r\n$H\r\n" \
  505 http_version_not_supported 'This HTTP version is not supported here\..*'
refused "HTTP/2's preface on a plain port: 505 as keygate check says" \
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" \
  505 http_version_not_supported 'This HTTP version is not supported here\..*'
refused "HTTP/0.9: a status line and headers after all" "GET /api/v1/iocs\r\n" \
  400 bad_request 'The request line is malformed\..*'
refused "HTTP/0.9 with a key in the path" "GET /api/v1/iocs/$K\r\n" \
  400 api_key_in_query 'API keys must not be sent in the URL\..*'
refused "no Host, key in the query" \
  "GET /api/v1/iocs?key=$K HTTP/1.1\r\nConnection: close\r\n\r\n" \
  400 api_key_in_query 'API keys must not be sent in the URL\..*'

cp -r "$T/tmp" "$T/private-copy"
stop_serve
assert_eq "" \
  "$(grep -rl -e "$SECRET" -e "${SECRET:0:16}" "$T/logs" "$T/private-copy" || true)" "no key in any log"
kg_done
