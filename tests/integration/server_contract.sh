#!/usr/bin/env bash
# server_contract.sh — every case of SPEC §1 and the reference API of
# SPEC §3, sent as raw bytes to `keygate serve` (nginx with the keygate
# module): status, WWW-Authenticate, Content-Type, Cache-Control,
# X-Request-Id and the exact body of each answer.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

# ---- keys: active (two accounts), expired, deactivated, deleted ----------
"$KEYGATE" accounts create acme --tier pro >/dev/null
"$KEYGATE" accounts create globex --tier free >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme live)
IFS=$'\t' read -r _ K2 < <(new_key globex other)
IFS=$'\t' read -r DEACT_ID DEACT < <(new_key acme to-deactivate)
IFS=$'\t' read -r DEL_ID DEL < <(new_key acme to-delete)
"$KEYGATE" keys deactivate "$DEACT_ID" >/dev/null
"$KEYGATE" keys delete "$DEL_ID" >/dev/null
"$KEYGATE" keys seed --valid 0 --expired 1 --deactivated 0 \
  --out "$T/seeded.tsv" >/dev/null
EXPIRED=$(awk -F'\t' '$1 == "expired" { print $2; exit }' "$T/seeded.tsv")
[ -n "$EXPIRED" ] || { echo "no expired key seeded" >&2; exit 1; }

# A well-formed key that was never issued: 32 random base62 characters and
# the right CRC32 come from keys seed of a second, throw-away store.
KEYGATE_DB="$T/other.db" "$KEYGATE" keys seed --valid 1 --expired 0 \
  --deactivated 0 --out "$T/other.tsv" >/dev/null
UNKNOWN=$(cut -f2 "$T/other.tsv" | head -n 1)
# The same key with its last checksum character changed.
last=${K: -1}
if [ "$last" = "A" ]; then swap=B; else swap=A; fi
BADSUM="${K%?}$swap"

start_serve --workers 2

H='Host: api.test\r\nConnection: close\r\n'
GET='GET /api/v1/iocs HTTP/1.1\r\n'

# ---- valid keys ----------------------------------------------------------
expect_ok "bearer" "$GET${H}Authorization: Bearer $K\r\n\r\n"
expect_ok "x-api-key" "$GET${H}X-API-Key: $K\r\n\r\n"
expect_ok "second account" "$GET${H}X-API-Key: $K2\r\n\r\n"
expect_ok "both headers, same key" \
  "$GET${H}Authorization: Bearer $K\r\nX-API-Key: $K\r\n\r\n"
expect_ok "names and scheme in any case" \
  "${GET}host: api.test\r\nconnection: close\r\nAUTHORIZATION: bEaReR $K\r\n\r\n"
expect_ok "x-api-key name in upper case" "$GET${H}X-API-KEY: $K\r\n\r\n"
expect_ok "OWS around the value" "$GET${H}X-API-Key: \t $K \t\r\n\r\n"
expect_ok "several spaces after Bearer" \
  "$GET${H}Authorization: Bearer    $K\r\n\r\n"
expect_ok "Basic is ignored, X-API-Key counts" \
  "$GET${H}Authorization: Basic dXNlcjpwYXNz\r\nX-API-Key: $K\r\n\r\n"
expect_ok "bare LF line ends" "GET /api/v1/iocs HTTP/1.1\nHost: a\nConnection: close\nX-API-Key: $K\n\n"

# ---- missing_api_key -----------------------------------------------------
expect_error "no key" "$GET$H\r\n" 401 missing_api_key
expect_error "Bearer without a token" \
  "$GET${H}Authorization: Bearer\r\n\r\n" 401 missing_api_key
expect_error "Bearer and spaces only" \
  "$GET${H}Authorization: Bearer    \r\n\r\n" 401 missing_api_key
expect_error "empty X-API-Key" "$GET${H}X-API-Key: \r\n\r\n" 401 missing_api_key
expect_error "Basic only" \
  "$GET${H}Authorization: Basic dXNlcjpwYXNz\r\n\r\n" 401 missing_api_key
expect_error "HTTP/1.0, no key" "GET /api/v1/iocs HTTP/1.0\r\n\r\n" 401 missing_api_key

# ---- invalid_api_key -------------------------------------------------------
expect_error "unknown key" "$GET${H}X-API-Key: $UNKNOWN\r\n\r\n" 401 invalid_api_key
expect_error "bad checksum" "$GET${H}Authorization: Bearer $BADSUM\r\n\r\n" \
  401 invalid_api_key
expect_error "truncated key" "$GET${H}X-API-Key: ${K:0:30}\r\n\r\n" \
  401 invalid_api_key
expect_error "other prefix" "$GET${H}X-API-Key: sk_test_${K#sk_live_}\r\n\r\n" \
  401 invalid_api_key
expect_error "not token68" "$GET${H}Authorization: Bearer k@y\r\n\r\n" \
  401 invalid_api_key
expect_error "tab after Bearer" "$GET${H}Authorization: Bearer\t$K\r\n\r\n" \
  401 invalid_api_key
expect_error "control byte in the value" \
  "$GET${H}X-API-Key: ${K:0:20}\x01${K:21}\r\n\r\n" 401 invalid_api_key
expect_error "DEL in the value" "$GET${H}X-API-Key: $K\x7f\r\n\r\n" \
  401 invalid_api_key
expect_error "deleted key" "$GET${H}X-API-Key: $DEL\r\n\r\n" 401 invalid_api_key

# ---- expired_api_key -------------------------------------------------------
expect_error "deactivated key" "$GET${H}Authorization: Bearer $DEACT\r\n\r\n" \
  401 expired_api_key
expect_error "key past its expiry" "$GET${H}X-API-Key: $EXPIRED\r\n\r\n" \
  401 expired_api_key

# ---- ambiguous_api_key -----------------------------------------------------
expect_error "two different keys" \
  "$GET${H}Authorization: Bearer $K\r\nX-API-Key: $K2\r\n\r\n" \
  400 ambiguous_api_key
expect_error "X-API-Key on two lines, same key" \
  "$GET${H}X-API-Key: $K\r\nx-api-key: $K\r\n\r\n" 400 ambiguous_api_key
# nginx itself refuses a second Authorization line; error_page hands it to
# keygate_bad_request, which still answers the contract's code.
expect_error "Authorization on two lines (refused by nginx)" \
  "$GET${H}Authorization: Bearer $K\r\nAuthorization: Bearer $K\r\n\r\n" \
  400 ambiguous_api_key
expect_error "ambiguity beats a malformed key" \
  "$GET${H}Authorization: Bearer k@y\r\nX-API-Key: $K\r\n\r\n" \
  400 ambiguous_api_key

# ---- api_key_in_query ----------------------------------------------------
expect_error "api_key parameter, valid header" \
  "GET /api/v1/iocs?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n" \
  400 api_key_in_query
expect_error "token parameter, any value" \
  "GET /api/v1/iocs?type=ipv4&token=abc HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n" \
  400 api_key_in_query
expect_error "a value starting with the prefix" \
  "GET /api/v1/iocs?q=$K HTTP/1.1\r\n$H\r\n" 400 api_key_in_query
expect_error "percent-encoded key" \
  "GET /api/v1/iocs?x=sk%5Flive%5F${K#sk_live_} HTTP/1.1\r\n$H\r\n" \
  400 api_key_in_query
expect_error "query beats ambiguity" \
  "GET /api/v1/iocs?apikey=$K HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nX-API-Key: $K2\r\n\r\n" \
  400 api_key_in_query
# nginx refuses a second Authorization line itself (error_page ->
# keygate_bad_request): the query still comes first, whatever its form, as
# `keygate check` decides for the same bytes.
TWICE="Authorization: Bearer $K\r\nAuthorization: Bearer $K\r\n"
for q in 'token=a' 'x=sk_live_KEY' 'KEY=1' 'x=sk%5flive%5fa' 'a&sk_live_x' \
  'access%5Ftoken=z'; do
  req="GET /api/v1/iocs?${q/sk_live_KEY/$K} HTTP/1.1\r\n${H}$TWICE\r\n"
  expect_error "?$q, Authorization twice (refused by nginx)" "$req" \
    400 api_key_in_query
  assert_eq api_key_in_query \
    "$(printf '%b' "$req" | "$KEYGATE" check --db "$KEYGATE_DB" |
      json_get /dev/stdin decision)" "?$q, Authorization twice: keygate check agrees"
done
expect_error "no query, Authorization twice" \
  "GET /api/v1/iocs? HTTP/1.1\r\n${H}$TWICE\r\n" 400 ambiguous_api_key
expect_error "harmless query, Authorization twice" \
  "GET /api/v1/iocs?type=ipv4&limit=2 HTTP/1.1\r\n${H}$TWICE\r\n" \
  400 ambiguous_api_key
expect_error "key in the query, a line nginx refuses" \
  "GET /api/v1/iocs?token=a HTTP/1.1\r\n${H}X-API-Key : $K\r\n\r\n" \
  400 api_key_in_query

# ---- requests nginx refuses before any module runs -------------------------
expect_error "whitespace before the colon" \
  "$GET${H}Authorization : Bearer $K\r\n\r\n" 400 bad_request
expect_error "NUL in a value" "$GET${H}X-API-Key: ab\0cd\r\n\r\n" 400 bad_request
expect_error "obs-fold" "$GET${H}X-API-Key: $K\r\n  more\r\n\r\n" 400 bad_request
# The message names the cause, the one the core gives for the same head
# (kg_refusal_message; server_refusals.sh has every class).
GENERIC=${MESSAGE[bad_request]}
MESSAGE[bad_request]='The request has no Host header. HTTP/1.1 requests must send exactly one Host header (RFC 9112 section 3.2).'
expect_error "HTTP/1.1 without Host" \
  "${GET}Connection: close\r\nX-API-Key: $K\r\n\r\n" 400 bad_request
MESSAGE[bad_request]='The request line is malformed. Send METHOD /path HTTP/1.1, one space apart.'
expect_error "a request line that is not one" "GARBAGE\r\n\r\n" 400 bad_request
MESSAGE[bad_request]=$GENERIC
MESSAGE[header_too_large]='A header line is too long. Keep each header under 8 KiB.'
BIG=$(head -c 20000 /dev/zero | tr '\0' a)
expect_error "a head too large (nginx's 494, RFC 6585's 431)" \
  "$GET${H}X-API-Key: $K\r\nX-Big: $BIG\r\n\r\n" 431 header_too_large

# ---- the reference API (SPEC §3) ---------------------------------------------
A="${H}X-API-Key: $K\r\n\r\n"
expect_ok "default list" "$GET$A"
assert_eq 10 "$(resp_body | grep -o '"id":' | wc -l)" "default limit is 10"
for type in ipv4 ipv6 domain url sha256; do
  expect_ok "type=$type" "GET /api/v1/iocs?type=$type&limit=3 HTTP/1.1\r\n$A"
  assert_eq 3 \
    "$(resp_body | grep -o "\"type\":\"$type\"" | wc -l)" "type=$type: three of that type"
  assert_eq '"count":3,' "$(resp_body | grep -o '"count":3,')" "type=$type: count"
done
expect_ok "limit=100" "GET /api/v1/iocs?limit=100 HTTP/1.1\r\n$A"
assert_eq 100 "$(resp_body | grep -o '"id":' | wc -l)" "limit=100: 100 items"
expect_ok "limit=1" "GET /api/v1/iocs?limit=1&type=url HTTP/1.1\r\n$A"
assert_eq 1 "$(resp_body | grep -o '"id":' | wc -l)" "limit=1: 1 item"

# invalid_parameter: the error shape with the parameter's own message.
expect_param_error() {
  send "GET /api/v1/iocs?$2 HTTP/1.1\r\n$A"
  local rid
  rid=$(resp_header x-request-id)
  assert_eq 400 "$(resp_status)" "$1: status"
  assert_eq application/json "$(resp_header content-type)" "$1: content-type"
  assert_eq no-store "$(resp_header cache-control)" "$1: cache-control"
  assert_eq "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"$3\",\"request_id\":\"$rid\"}}" "$(resp_body)" \
    "$1: body"
}
LIMIT_MSG='limit must be a whole number from 1 to 100.'
TYPE_MSG='type must be one of ipv4, ipv6, domain, url, sha256.'
expect_param_error "limit=0" "limit=0" "$LIMIT_MSG"
expect_param_error "limit=101" "limit=101" "$LIMIT_MSG"
expect_param_error "limit=abc" "limit=abc" "$LIMIT_MSG"
expect_param_error "limit=-5" "limit=-5" "$LIMIT_MSG"
expect_param_error "limit empty" "limit=" "$LIMIT_MSG"
expect_param_error "type=ipv7" "type=ipv7" "$TYPE_MSG"
expect_param_error "type empty" "type=&limit=5" "$TYPE_MSG"
# a name without '=' is there with an empty value (as URLSearchParams reads
# it), not absent (a review saw 200 for "?type" and 400 for "?type=")
expect_param_error "type without =" "type&limit=5" "$TYPE_MSG"
expect_param_error "limit without =" "type=url&limit" "$LIMIT_MSG"
expect_param_error "the first one counts, any case" "LIMIT=0&limit=5" "$LIMIT_MSG"
expect_ok "a longer name is another parameter" "GET /api/v1/iocs?types&limits=0&xtype=bad HTTP/1.1\r\n$A"
assert_eq 10 "$(resp_body | grep -o '"id":' | wc -l)" "a longer name: the defaults"

# Authentication comes before the parameters and before routing.
expect_error "bad parameter, no key" "GET /api/v1/iocs?limit=0 HTTP/1.1\r\n$H\r\n" \
  401 missing_api_key
expect_error "unknown path, no key" "GET /admin HTTP/1.1\r\n$H\r\n" \
  401 missing_api_key
send "GET /admin HTTP/1.1\r\n$A"
assert_eq 404 "$(resp_status)" "unknown path, valid key: 404"
assert_match '^\{"error":\{"code":"not_found"' "$(resp_body)" "unknown path: JSON"
# The location error_page sends nginx's own 400s to is internal; asked for
# from outside it is a path like any other: authenticated first, then the
# JSON 404.
expect_error "the bad-request location from outside, no key" \
  "GET /_keygate/bad_request HTTP/1.1\r\n$H\r\n" 401 missing_api_key
send "GET /_keygate/bad_request HTTP/1.1\r\n$A"
assert_eq 404 "$(resp_status)" "the bad-request location from outside, valid key: 404"
assert_eq application/json \
  "$(resp_header content-type)" "the bad-request location from outside: JSON"
rid=$(resp_header x-request-id)
assert_eq "{\"error\":{\"code\":\"not_found\",\"message\":\"No such endpoint. The API serves GET /api/v1/iocs.\",\"request_id\":\"$rid\"}}" "$(resp_body)" \
  "the bad-request location from outside: the API's 404 body"
expect_error "the bad-request location from outside, key in the query" \
  "GET /_keygate/bad_request?api_key=x HTTP/1.1\r\n$A" 400 api_key_in_query

# ---- one connection, several requests ---------------------------------------
send "${GET}Host: a\r\nX-API-Key: $K\r\n\r\nPOST /api/v1/iocs HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello${GET}Host: a\r\nConnection: close\r\nX-API-Key: $K\r\n\r\n"
assert_eq "200 401 200 " \
  "$(printf '%s\n' "$RESP" | sed -n 's/^STATUS //p' | tr '\n' ' ')" "keep-alive: three answers"
ids=$(printf '%s\n' "$RESP" | sed -n 's/^H x-request-id: //p' | sort -u | wc -l)
assert_eq 3 "$ids" "keep-alive: three request ids"

kg_done
