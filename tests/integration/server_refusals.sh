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
  400 bad_request 'Host, Content-Length or Transfer-Encoding was sent more than once\..*'
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
refused "header too large" "GET /api/v1/iocs HTTP/1.1\r\n${H}X-Big: $LONG\r\n\r\n" \
  431 header_too_large 'A header line is too long\..*'
refused "Transfer-Encoding: identity" \
  "POST /api/v1/iocs HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n\r\n" \
  501 unsupported_transfer_coding 'This Transfer-Encoding is not supported\..*'
refused "HTTP/2.0 on a plain port" "GET /api/v1/iocs HTTP/2.0\r\n$H\r\n" \
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
