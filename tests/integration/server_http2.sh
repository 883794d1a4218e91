#!/usr/bin/env bash
# server_http2.sh — the keygate module itself served over HTTP/2: Debian's
# nginx with the module loaded, a TLS listener with http2 and a
# self-signed certificate made here, the `keygate serve` directives in
# front of the reference API. Every SPEC §1 case HTTP/2 can express is sent
# with curl --http2 (and the duplicate `authorization` field also with
# nghttp), and the same request with curl --http1.1 on the same listener:
# both answer the same status, WWW-Authenticate, Content-Type,
# Cache-Control, X-Request-Id and body, byte for byte. Two `authorization`
# fields in one HTTP/2 request are ambiguous, as two lines are in
# HTTP/1.1. No key body reaches any log file.
set -euo pipefail
# shellcheck source=tests/integration/server_common.bash
. "$(dirname "$0")/server_common.bash"

command -v curl >/dev/null || kg_fail "curl is needed"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || kg_fail "nginx is needed"

# ---- keys: two accounts, deactivated, expired, never issued ---------------
"$KEYGATE" accounts create acme --tier pro >/dev/null
"$KEYGATE" accounts create globex --tier free >/dev/null
IFS=$'\t' read -r _ K < <(new_key acme live)
IFS=$'\t' read -r _ K2 < <(new_key globex other)
IFS=$'\t' read -r DEACT_ID DEACT < <(new_key acme to-deactivate)
"$KEYGATE" keys deactivate "$DEACT_ID" >/dev/null
"$KEYGATE" keys seed --valid 0 --expired 1 --deactivated 0 \
  --out "$T/seeded.tsv" >/dev/null
EXPIRED=$(awk -F'\t' '$1 == "expired" { print $2; exit }' "$T/seeded.tsv")
[ -n "$EXPIRED" ] || kg_fail "no expired key seeded"
KEYGATE_DB="$T/other.db" "$KEYGATE" keys seed --valid 1 --expired 0 \
  --deactivated 0 --out "$T/other.tsv" >/dev/null
UNKNOWN=$(cut -f2 "$T/other.tsv" | head -n 1)

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
  -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1

# nginx 1.25 has "http2 on"; before it HTTP/2 is a listen parameter.
if "$NGINX" -V 2>&1 | grep -qE 'nginx/1\.(2[5-9]|[3-9][0-9])'; then
  H2_LISTEN="" H2_ON="http2 on;"
else
  H2_LISTEN=" http2" H2_ON=""
fi
USER_LINE=""
if [ "$(id -u)" = 0 ]; then
  USER_LINE="user $(id -un) $(id -gn);"
fi

NGINX_PID=""
stop_nginx() {
  kg_nginx_stop "$NGINX_PID"
  NGINX_PID=""
}
kg_on_exit stop_nginx

# nginx_on PORT — the module's nginx on a TLS+h2 listener at PORT. The
# directives are those `keygate serve` writes (cli/cmd_serve.c), with the
# listener changed.
nginx_on() {
  local port=$1
  mkdir -p "$T/ngx"
  cat >"$T/ngx/nginx.conf" <<EOF
load_module "$KEYGATE_NGINX_MODULE";
daemon off;
master_process on;
worker_processes 1;
$USER_LINE
pid "$T/ngx/nginx.pid";
error_log "$T/logs/error.log" notice;
events { worker_connections 1024; }
http {
  server_tokens off;
  default_type application/json;
  client_body_temp_path "$T/ngx";
  proxy_temp_path "$T/ngx";
  fastcgi_temp_path "$T/ngx";
  uwsgi_temp_path "$T/ngx";
  scgi_temp_path "$T/ngx";
  log_format keygate '\$remote_addr [\$time_iso8601] "\$request_method \$uri \$server_protocol" \$status \$body_bytes_sent \$request_time \$keygate_decision \$keygate_key_id \$keygate_account \$keygate_request_id';
  access_log "$T/logs/access.log" keygate;
  client_max_body_size 0;
  ignore_invalid_headers off;
  keygate_refresh 1s;
  keygate_max_staleness 10s;
  server {
    listen 127.0.0.1:$port ssl$H2_LISTEN;
    $H2_ON
    ssl_certificate "$T/cert.pem";
    ssl_certificate_key "$T/key.pem";
    keygate_db "$KEYGATE_DB";
    error_page 400 405 413 414 429 501 505 /_keygate/bad_request;
    error_page 494 =494 /_keygate/bad_request;
    location = /_keygate/bad_request { internal; keygate_bad_request; error_page 404 = @keygate_outside; }
    location / { keygate on; keygate_mock_iocs; }
    location @keygate_outside { keygate on; keygate_mock_iocs; }
  }
}
EOF
  kg_nginx_start - "$T/logs/error.log" "$T/ngx/out" "$port" -- \
    "$NGINX" -c "$T/ngx/nginx.conf" -p "$T/ngx"
}
kg_start_on_free_port nginx_on || kg_fail "nginx with the module did not start"
TLS=$KG_PORT

H2_SENT=0 # HTTP/2 requests sent, each one access log line

# req VERSION TARGET [curl options] — one request (VERSION: 2 or 1.1);
# sets R_VERSION, R_STATUS, R_BODY, and $T/h holds the header lines with
# their names in lower case.
req() {
  local v=$1 target=$2
  shift 2
  local flag=--http2
  if [ "$v" = 1.1 ]; then flag=--http1.1; else H2_SENT=$((H2_SENT + 1)); fi
  R_VERSION=$(curl -sS -k "$flag" --max-time 10 -D "$T/h.raw" -o "$T/b" \
    -w '%{http_version}' "$@" "https://127.0.0.1:$TLS$target" 2>"$T/curl.err" ||
    true)
  tr -d '\r' <"$T/h.raw" | awk -F': ' 'NR > 1 && NF > 1 {
      n = tolower($1); sub(/^[^:]*: /, ""); print n ": " $0 }' >"$T/h"
  R_STATUS=$(head -n 1 "$T/h.raw" | awk '{ print $2 }')
  R_BODY=$(cat "$T/b")
}
hdr() { sed -n "s/^$1: //p" "$T/h" | head -n 1; }
hdr_count() { grep -c "^$1: " "$T/h" || true; }

# One answer as the contract states it: status, headers, body.
check_error_answer() {
  local name=$1 status=$2 code=$3
  assert_eq "$status" "$R_STATUS" "$name: status"
  assert_eq application/json "$(hdr content-type)" "$name: content-type"
  assert_eq no-store "$(hdr cache-control)" "$name: cache-control"
  local rid
  rid=$(hdr x-request-id)
  assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$name: x-request-id"
  if [ -n "${CHALLENGE[$code]:-}" ]; then
    assert_eq "${CHALLENGE[$code]}" "$(hdr www-authenticate)" "$name: www-authenticate"
  else
    assert_eq 0 "$(hdr_count www-authenticate)" "$name: no www-authenticate"
  fi
  local msg
  msg=$(printf '%b' "${MESSAGE[$code]}")
  assert_eq "{\"error\":{\"code\":\"$code\",\"message\":\"$msg\",\"request_id\":\"$rid\"}}" "$R_BODY" \
    "$name: body"
}

# both_error NAME TARGET STATUS CODE [curl options] — over HTTP/2, then
# over HTTP/1.1: the same answer (request ids aside) on each.
both_error() {
  local name=$1 target=$2 status=$3 code=$4
  shift 4
  req 2 "$target" "$@"
  assert_eq 2 "$R_VERSION" "$name: h2: spoken"
  check_error_answer "$name: h2" "$status" "$code"
  local h2_status=$R_STATUS h2_code
  h2_code=$(printf '%s' "$R_BODY" | sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p')
  req 1.1 "$target" "$@"
  assert_eq 1.1 "$R_VERSION" "$name: h1: spoken"
  check_error_answer "$name: h1" "$status" "$code"
  assert_eq "$R_STATUS $(printf '%s' "$R_BODY" | sed -n 's/.*"code":"\([a-z_]*\)".*/\1/p')" "$h2_status $h2_code" \
    "$name: h2 and h1 agree"
}

# both_ok NAME TARGET [curl options] — a 200 of the reference API on each.
both_ok() {
  local name=$1 target=$2 v
  shift 2
  for v in 2 1.1; do
    req "$v" "$target" "$@"
    assert_eq "$v" "$R_VERSION" "$name: h$v: spoken"
    assert_eq 200 "$R_STATUS" "$name: h$v: status"
    assert_eq no-store "$(hdr cache-control)" "$name: h$v: cache-control"
    local rid
    rid=$(hdr x-request-id)
    assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$name: h$v: x-request-id"
    assert_match "^\\{\"data\":\\[.*\\],\"count\":[0-9]+,\"request_id\":\"$rid\"\\}\$" "$R_BODY" \
      "$name: h$v: body"
  done
}

P=/api/v1/iocs

# ---- valid keys ----------------------------------------------------------
both_ok "bearer" $P -H "Authorization: Bearer $K"
both_ok "x-api-key" $P -H "X-API-Key: $K"
both_ok "second account" "$P?type=ipv4&limit=3" -H "X-API-Key: $K2"
both_ok "both headers, same key" $P -H "Authorization: Bearer $K" -H "X-API-Key: $K"
both_ok "scheme in any case" $P -H "Authorization: bEaReR $K"
both_ok "Basic ignored, X-API-Key counts" $P \
  -H "Authorization: Basic dXNlcjpwYXNz" -H "X-API-Key: $K"

# ---- missing, invalid, expired -------------------------------------------
both_error "no key" $P 401 missing_api_key
both_error "Bearer without a token" $P 401 missing_api_key -H "Authorization: Bearer"
both_error "Basic only" $P 401 missing_api_key -H "Authorization: Basic dXNlcjpwYXNz"
both_error "unknown key" $P 401 invalid_api_key -H "X-API-Key: $UNKNOWN"
both_error "truncated key" $P 401 invalid_api_key -H "Authorization: Bearer ${K:0:30}"
both_error "not token68" $P 401 invalid_api_key -H "Authorization: Bearer k@y"
both_error "deactivated key" $P 401 expired_api_key -H "Authorization: Bearer $DEACT"
both_error "key past its expiry" $P 401 expired_api_key -H "X-API-Key: $EXPIRED"

# ---- a head nginx refuses itself --------------------------------------------
# nginx's own 400, kept over HTTP/2: an HTTP/2 head is not re-read as text
# (review 89: rebuilt with its "HTTP/2.0", the core's 505 replaced it)
req 2 $P -X POST -H "Content-Length: x"
assert_eq 2 "$R_VERSION" "Content-Length not digits: h2: spoken"
check_error_answer "Content-Length not digits: h2" 400 bad_request

# ---- ambiguous_api_key ---------------------------------------------------
both_error "two different keys" $P 400 ambiguous_api_key \
  -H "Authorization: Bearer $K" -H "X-API-Key: $K2"
both_error "X-API-Key twice, same key" $P 400 ambiguous_api_key \
  -H "X-API-Key: $K" -H "X-API-Key: $K"
both_error "Authorization twice, same key" $P 400 ambiguous_api_key \
  -H "Authorization: Bearer $K" -H "Authorization: Bearer $K"
both_error "Authorization twice, different keys" $P 400 ambiguous_api_key \
  -H "Authorization: Bearer $K" -H "Authorization: Bearer $K2"
both_error "ambiguity beats a malformed key" $P 400 ambiguous_api_key \
  -H "Authorization: Bearer k@y" -H "X-API-Key: $K"

# The same two authorization fields from a second HTTP/2 client, so the
# case does not rest on how curl builds its HEADERS frame.
if command -v nghttp >/dev/null; then
  out=$(nghttp -v --timeout=10 -H "authorization: Bearer $K" \
    -H "authorization: Bearer $K" "https://127.0.0.1:$TLS$P" 2>&1 || true)
  assert_eq 2 \
    "$(printf '%s\n' "$out" | grep -c "authorization: Bearer")" "nghttp: two authorization fields sent"
  assert_match ':status: 400' "$out" "nghttp: status 400"
  assert_match '"code":"ambiguous_api_key"' "$out" "nghttp: ambiguous_api_key"
  assert_match 'cache-control: no-store' "$out" "nghttp: no-store"
  H2_SENT=$((H2_SENT + 1))
else
  echo "nghttp not installed: the curl cases stand alone" >&2
fi

# ---- api_key_in_query ----------------------------------------------------
SECRET=${K#sk_live_}
both_error "api_key parameter, valid header" "$P?api_key=$K" 400 \
  api_key_in_query -H "X-API-Key: $K"
both_error "token parameter, any value" "$P?type=ipv4&token=abc" 400 \
  api_key_in_query -H "X-API-Key: $K"
both_error "a value starting with the prefix" "$P?q=$K" 400 api_key_in_query
both_error "percent-encoded key" "$P?x=sk%5Flive%5F$SECRET" 400 api_key_in_query
both_error "key in the path" "$P/$K" 400 api_key_in_query
both_error "query beats ambiguity" "$P?apikey=$K" 400 api_key_in_query \
  -H "Authorization: Bearer $K" -H "X-API-Key: $K2"
both_error "query beats Authorization twice" "$P?apikey=$K" 400 \
  api_key_in_query -H "Authorization: Bearer $K" -H "Authorization: Bearer $K"

# ---- several streams on one connection ------------------------------------
# curl sends both URLs on one HTTP/2 connection: each answer is its own.
curl -sS -k --http2 --max-time 10 -H "X-API-Key: $K" \
  -o "$T/s1" "https://127.0.0.1:$TLS$P?limit=1" \
  -o "$T/s2" "https://127.0.0.1:$TLS$P?api_key=$K" \
  -w '%{http_version} %{http_code} %{num_connects}\n' >"$T/streams" 2>&1 || true
H2_SENT=$((H2_SENT + 2))
assert_eq "2 200 2 400 " "$(cut -d' ' -f1,2 "$T/streams" | tr '\n' ' ')" "two streams: statuses"
assert_eq "1 0 " "$(cut -d' ' -f3 "$T/streams" | tr '\n' ' ')" "two streams: one connection"
assert_match '^\{"data":' "$(cat "$T/s1")" "two streams: first is data"
assert_match '"code":"api_key_in_query"' "$(cat "$T/s2")" "two streams: second refused"

# ---- the logs --------------------------------------------------------------
stop_nginx
h2_lines=$(grep -Ec '"(GET|POST) [^ ]* HTTP/2.0" ' "$T/logs/access.log" || true)
assert_eq "$H2_SENT" "$h2_lines" "access log: one HTTP/2.0 line per HTTP/2 request"
for f in "$T/logs/access.log" "$T/logs/error.log" "$T/ngx/out"; do
  [ -f "$f" ] || continue
  for key in "$K" "$K2" "$DEACT" "$EXPIRED" "$UNKNOWN"; do
    assert_eq 0 \
      "$(grep -cF "${key#sk_live_}" "$f" || true)" "no key body in $(basename "$f")"
  done
done
kg_done
