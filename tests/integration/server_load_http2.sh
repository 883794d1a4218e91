#!/usr/bin/env bash
# server_load_http2.sh — `keygate load` over HTTP/2 against the contract:
# Debian's nginx terminates TLS with a self-signed certificate made here and
# speaks HTTP/2 (ALPN h2), proxying to `keygate serve` (nginx with the
# keygate module) on loopback; a second listener speaks h2c (HTTP/2 with
# prior knowledge, no TLS). Every response verifies over:
#   - https:// with ALPN left to choose (h2 is chosen: the report says h2),
#   - --http2 on https:// and on the h2c listener,
#   - --http1.1 on https:// (TLS on the native HTTP/1.1 engine),
#   - --engine curl on https://,
# with several streams per connection; --cacert with the certificate
# verifies, and without it the certificate is refused (exit 2, one line);
# no key body in any output.
set -euo pipefail
# shellcheck source=tests/integration/server_common.bash
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
"$KEYGATE" keys seed --valid 30 --expired 4 --deactivated 4 --out "$T/keys.tsv" >/dev/null
start_serve --workers 1
UPSTREAM=$PORT

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 1 \
  -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
# nginx 1.25 has "http2 on"; before it HTTP/2 is a listen parameter
if "$NGINX" -V 2>&1 | grep -qE 'nginx/1\.(2[5-9]|[3-9][0-9])'; then
  H2_LISTEN="" H2_ON="http2 on;"
else
  H2_LISTEN=" http2" H2_ON=""
fi
PROXY_PID=""
stop_proxy() {
  kg_nginx_stop "$PROXY_PID"
}
kg_on_exit stop_proxy

# proxy_on PORT — nginx with a TLS+h2 listener on PORT and an h2c one on
# PORT2 (picked here), in front of keygate serve.
proxy_on() {
  local tls_port=$1
  H2C_PORT=$(kg_free_port)
  mkdir -p "$T/proxy"
  cat >"$T/proxy/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $T/proxy/nginx.pid;
error_log $T/proxy/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $T/proxy;
  proxy_temp_path $T/proxy;
  fastcgi_temp_path $T/proxy;
  uwsgi_temp_path $T/proxy;
  scgi_temp_path $T/proxy;
  upstream keygate { server 127.0.0.1:$UPSTREAM; keepalive 16; }
  server {
    listen 127.0.0.1:$tls_port ssl$H2_LISTEN;
    listen 127.0.0.1:$H2C_PORT$H2_LISTEN;
    $H2_ON
    ssl_certificate $T/cert.pem;
    ssl_certificate_key $T/key.pem;
    location / {
      proxy_pass http://keygate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  local rc=0
  kg_nginx_start - "$T/proxy/error.log" "$T/proxy/out" "$tls_port" "$H2C_PORT" -- \
    "$NGINX" -c "$T/proxy/nginx.conf" -p "$T/proxy" || rc=$?
  PROXY_PID=$NGINX_PID
  return "$rc"
}
kg_start_on_free_port proxy_on || kg_fail "the TLS/h2 proxy did not start"
TLS=$KG_PORT

# py FILE EXPR — evaluate EXPR on the JSON document d in FILE.
py() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# run NAME URL [options] — one load run that must verify every response.
run() {
  local name=$1 url=$2
  shift 2
  assert_exit 0 "$name: exit" -- "$KEYGATE" load "$url/api/v1/iocs" --keys "$T/keys.tsv" \
    --requests 1500 -c 4 --json "$T/$name.json" "$@"
  cp "$TMP/out" "$T/$name.out"
  cp "$TMP/err" "$T/$name.err"
  assert_eq 0 "$(py "$T/$name.json" 'd["classes"]["all"]["mismatches"]')" "$name: no mismatch"
  assert_eq 0 "$(py "$T/$name.json" 'd["classes"]["all"]["errors"]')" "$name: no socket error"
  assert_eq 1500 "$(py "$T/$name.json" 'd["classes"]["all"]["requests"]')" "$name: every request answered"
  for c in valid invalid missing expired; do
    assert_eq True "$(py "$T/$name.json" "d['classes']['$c']['requests'] > 0")" "$name: $c keys were sent"
  done
}

run alpn "https://localhost:$TLS" --cacert "$T/cert.pem" --streams 8
assert_eq h2 "$(py "$T/alpn.json" 'd["config"]["protocol"]')" "alpn: ALPN chose h2"
assert_eq nghttp2 "$(py "$T/alpn.json" 'd["config"]["engine"]')" "alpn: the HTTP/2 engine ran"

run h2 "https://127.0.0.1:$TLS" --insecure --http2 --streams 16 --header bearer
assert_eq h2 "$(py "$T/h2.json" 'd["config"]["protocol"]')" "h2: protocol"

run h2c "http://127.0.0.1:$H2C_PORT" --http2 --streams 16 --header x-api-key
assert_eq h2 "$(py "$T/h2c.json" 'd["config"]["protocol"]')" "h2c: protocol"

run tls11 "https://127.0.0.1:$TLS" --insecure --http1.1
assert_eq http/1.1 "$(py "$T/tls11.json" 'd["config"]["protocol"]')" "tls11: protocol"

run curl "https://localhost:$TLS" --cacert "$T/cert.pem" --engine curl --streams 4
assert_eq curl "$(py "$T/curl.json" 'd["config"]["engine"]')" "curl: engine"

# a self-signed certificate not given with --cacert is refused before the run
assert_exit 2 "unknown certificate refused" -- "$KEYGATE" load "https://localhost:$TLS/api/v1/iocs" \
  --keys "$T/keys.tsv" --requests 10 -c 1 --http2
assert_eq 1 "$(wc -l <"$TMP/err")" "unknown certificate: one line"
assert_contains "keygate load:" "$(cat "$TMP/err")" "unknown certificate: names the command"
assert_contains "certificate" "$(cat "$TMP/err")" "unknown certificate: says why"

# no key body in any output
for f in "$T"/*.out "$T"/*.err "$T"/*.json; do
  while IFS=$'\t' read -r _ key; do
    assert_not_contains "${key:8}" "$(cat "$f")" "no key in $(basename "$f")"
  done < <(head -n 3 "$T/keys.tsv")
done
kg_done
