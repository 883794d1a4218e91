#!/usr/bin/env bash
# server_directives.sh — the module's directives and variables in a server
# of our own beside the template's (keygate serve --print-config): keygate_realm,
# keygate_query_keys ignore, keygate_key_format, keygate off, the four
# variables; `nginx -t` refusing each bad directive with a line that names
# it; a reload whose store is unreadable keeping the old configuration.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r KID K < <(new_key acme directives)
IFS=$'\t' read -r OLD_ID OLD < <(new_key acme retired)
"$KEYGATE" keys deactivate "$OLD_ID" >/dev/null
# A second store that does not hold K.
KEYGATE_DB="$T/other.db" "$KEYGATE" accounts create other >/dev/null

PORT=$(free_port)
PORT2=$(free_port)
D="$T/ngx"
mkdir -p "$D"
USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root root;"; fi

# write_conf DB EXTRA-HTTP-LINES — the configuration under test (DB "":
# no keygate_db at all): the project's template as `keygate serve
# --print-config` renders it, serving on PORT2 under a server-wide key
# policy (nginx's own 400s; $request shows whether the request line was
# redacted), with a server of our own on PORT and EXTRA and DB at the http
# level. A keygate_refresh in EXTRA goes to --refresh (the template sets it).
write_conf() {
  local db_line="" refresh=500ms extra=$2 drop_db='/^NONE$/d'
  if [ -n "$1" ]; then db_line="keygate_db $1;"; else drop_db='/^        keygate_db /d'; fi
  if [[ "$extra" =~ ^keygate_refresh\ ([0-9a-z]+)\;$ ]]; then
    refresh=${BASH_REMATCH[1]}
    extra=""
  fi
  cat >"$D/own.conf" <<EOF
  $db_line
  $extra
  server {
    listen 127.0.0.1:$PORT;
    add_header X-Decision \$keygate_decision always;
    add_header X-Key-Id \$keygate_key_id always;
    add_header X-Account \$keygate_account always;
    add_header X-Rid \$keygate_request_id always;
    location /api/v1/iocs { keygate on; keygate_mock_iocs; }
    location /realm/ { keygate on; keygate_realm "staff area"; keygate_mock_iocs; }
    location /ignore/ { keygate on; keygate_query_keys ignore; keygate_mock_iocs; }
    location /test-keys/ { keygate on; keygate_key_format prefix sk_test_; keygate_mock_iocs; }
    location /open/ { keygate_mock_iocs; }
    # Internal redirects: the decision made before one stands for the same
    # store (key lines hidden where the new location says so); a location
    # with another store decides again.
    location /same/ { keygate on; try_files /none @same; }
    location @same {
      keygate on;
      keygate_hide_credentials on;
      add_header X-Decision \$keygate_decision always;
      add_header X-Key-Id \$keygate_key_id always;
      add_header X-Authorization-Left "\$http_authorization" always;
      keygate_mock_iocs;
    }
    location /other/ { keygate on; try_files /none @other; }
    location @other { keygate on; keygate_db $T/other.db; keygate_mock_iocs; }
  }
EOF
  "$KEYGATE" serve --print-config --module "$KEYGATE_NGINX_MODULE" \
    --db "${1:-$KEYGATE_DB}" --listen "127.0.0.1:$PORT2" --workers 1 \
    --refresh "$refresh" --prefix "$D" |
    sed -e "/^    server {/e cat $D/own.conf" \
      -e '/^        listen /a\        keygate_key_format prefix pk_;\n        add_header X-Decision $keygate_decision always;\n        add_header X-Request-Line $request always;' \
      -e "$drop_db" >"$D/nginx.conf"
}
G="daemon off; master_process on; $USER_LINE"

# ---- nginx -t refuses bad directives, naming them ------------------------
# conf_fails NAME REGEX EXTRA-HTTP-LINES [DB]
conf_fails() {
  write_conf "${4:-$KEYGATE_DB}" "$3"
  local rc=0
  nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1 || rc=$?
  check "$1: nginx -t fails" "$rc" 1
  check_match "$1: says why" "$(grep emerg "$T/t.out" | head -n 1)" "$2"
}
conf_fails "unreadable store" 'keygate_db ".*/none.db": cannot load the key store' "" "$T/none.db"
conf_fails "bad realm" 'keygate_realm.*must be printable ASCII' 'keygate_realm "a\"b";'
conf_fails "short refresh" 'keygate_refresh must be at least 100ms' 'keygate_refresh 10ms;'
conf_fails "bad key format" 'keygate_key_format.*takes "strict" or "prefix"' 'keygate_key_format loose sk_;'
conf_fails "bad key prefix" 'keygate_key_format.*bad prefix' 'keygate_key_format prefix sk*;'
conf_fails "bad query mode" 'invalid value "maybe"' 'keygate_query_keys maybe;'
conf_fails "keygate_db twice in one block" '"keygate_db" directive is duplicate' \
  "keygate_db $KEYGATE_DB;"
write_conf "" ""
rc=0
nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1 || rc=$?
check "keygate on without a store: nginx -t fails" "$rc" 1
check_match "keygate on without a store: says why" \
  "$(grep emerg "$T/t.out" | head -n 1)" '"keygate on" needs a "keygate_db" in scope' 

# ---- a good configuration --------------------------------------------------
write_conf "$KEYGATE_DB" "keygate_refresh 500ms;"
nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1
check "nginx -t passes" "$(grep -c 'test is successful' "$T/t.out")" 1

# nginx_on PORT — one try at starting nginx with this configuration on PORT
# (and a second free port): 0 once it has bound both (its pid file is
# written after the bind) and answers; $KG_PORT_TAKEN when a port was taken
# in the meantime; 1 otherwise.
nginx_on() {
  PORT=$1
  PORT2=$(kg_free_port)
  write_conf "$KEYGATE_DB" "keygate_refresh 500ms;"
  rm -f "$D/nginx.pid" "$D/error.log"
  kg_nginx_start "$D/nginx.pid" "$D/error.log" "$D/stderr" "$PORT" -- \
    nginx -p "$D/" -c "$D/nginx.conf" -g "$G"
}
kg_start_on_free_port nginx_on || exit 1
kg_track "$NGINX_PID"

H='Host: d.test\r\nConnection: close\r\n'
send "GET /api/v1/iocs?limit=1 HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "valid: 200" "$(resp_status)" 200
check "valid: \$keygate_decision" "$(resp_header x-decision)" valid
check "valid: \$keygate_key_id" "$(resp_header x-key-id)" "$KID"
check "valid: \$keygate_account" "$(resp_header x-account)" acme
check "valid: \$keygate_request_id is X-Request-Id" "$(resp_header x-rid)" \
  "$(resp_header x-request-id)"

send "GET /api/v1/iocs HTTP/1.1\r\n$H\r\n"
check "missing: 401" "$(resp_status)" 401
check "missing: \$keygate_decision" "$(resp_header x-decision)" missing_api_key
check "missing: no key id" "$(resp_header x-key-id)" ""
check "missing: \$keygate_request_id is X-Request-Id" "$(resp_header x-rid)" \
  "$(resp_header x-request-id)"
check_match "missing: request id in the body" "$(resp_body)" \
  "\"request_id\":\"$(resp_header x-request-id)\""

send "GET /api/v1/iocs HTTP/1.1\r\n${H}Authorization: Bearer $OLD\r\n\r\n"
check "deactivated: 401" "$(resp_status)" 401
check "deactivated: \$keygate_decision" "$(resp_header x-decision)" expired_api_key
check "deactivated: its key id" "$(resp_header x-key-id)" "$OLD_ID"
check "deactivated: its account" "$(resp_header x-account)" acme

send "GET /realm/x HTTP/1.1\r\n$H\r\n"
check "keygate_realm" "$(resp_header www-authenticate)" 'Bearer realm="staff area"'
send "GET /realm/x HTTP/1.1\r\n${H}X-API-Key: sk_live_nope\r\n\r\n"
check "keygate_realm on invalid" "$(resp_header www-authenticate)" \
  'Bearer realm="staff area", error="invalid_token"'

send "GET /ignore/x?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "query_keys ignore: the header decides" "$(resp_header x-decision)" valid
check "query_keys ignore: past the check (404 of the mock)" "$(resp_status)" 404
send "GET /ignore/x?api_key=$K HTTP/1.1\r\n$H\r\n"
check "query_keys ignore: a query key is no credential" "$(resp_status)" 401
check "query_keys ignore: missing" "$(resp_header x-decision)" missing_api_key
send "GET /api/v1/iocs?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "query_keys reject (default)" "$(resp_header x-decision)" api_key_in_query
send "GET /ignore/$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "query_keys ignore: a key in the path is still refused" \
  "$(resp_header x-decision)" api_key_in_query
send "GET /ignore/x;k=%2573k_live_abc HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "query_keys ignore: a double-encoded key after ';' in the path too" \
  "$(resp_header x-decision)" api_key_in_query

send "GET /test-keys/x HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "key_format prefix sk_test_: a live key is invalid" \
  "$(resp_header x-decision)" invalid_api_key

send "GET /open/x HTTP/1.1\r\n$H\r\n"
check "keygate off: no check" "$(resp_status)" 404
check "keygate off: no decision" "$(resp_header x-decision)" ""

send "GET /same/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\n\r\n"
check "redirect, same store: past the check (404 of the mock)" "$(resp_status)" 404
check "redirect, same store: the first decision" "$(resp_header x-decision)" valid
check "redirect, same store: its key id" "$(resp_header x-key-id)" "$KID"
check "redirect, same store: hidden by the new location" \
  "$(resp_header x-authorization-left)" ""
send "GET /same/x HTTP/1.1\r\n$H\r\n"
check "redirect, same store: no key is refused before it" "$(resp_status)" 401
send "GET /other/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\n\r\n"
check "redirect to another store: decided again" "$(resp_status)" 401
check "redirect to another store: not in that store" \
  "$(resp_header x-decision)" invalid_api_key

# ---- nginx's own 400s: the server's policy, the request line redacted --
TWICE="Authorization: Bearer $K\r\nAuthorization: Bearer $K\r\n"
PORT_SAVED=$PORT
PORT=$PORT2
send "GET /api/v1/iocs?q=pk_0123456789abcdef HTTP/1.1\r\n${H}$TWICE\r\n"
check "refused by nginx, pk_ key in the query: 400" "$(resp_status)" 400
check "refused by nginx, pk_ key in the query: the server's policy decides" \
  "$(resp_header x-decision)" api_key_in_query
check "refused by nginx, pk_ key in the query: request line redacted" \
  "$(resp_header x-request-line)" "GET /api/v1/iocs?<redacted> HTTP/1.1"
send "GET /api/v1/iocs?q=sk_live_0123456789abcdef HTTP/1.1\r\n${H}$TWICE\r\n"
check "refused by nginx, sk_live_ in the query under prefix pk_: ambiguous" \
  "$(resp_header x-decision)" ambiguous_api_key
check "refused by nginx, no key in the query: request line kept" \
  "$(resp_header x-request-line)" \
  "GET /api/v1/iocs?q=sk_live_0123456789abcdef HTTP/1.1"
PORT=$PORT_SAVED

# ---- a reload with an unreadable store keeps the old configuration --------
write_conf "$T/none.db" "keygate_refresh 500ms;"
kill -HUP "$NGINX_PID"
for _ in $(seq 1 100); do
  grep -q 'cannot load the key store' "$D/error.log" && break
  sleep 0.05
done
check_match "reload refused, with the reason" \
  "$(grep 'emerg' "$D/error.log" | tail -n 1)" 'keygate_db ".*/none.db": cannot load the key store'
send "GET /api/v1/iocs HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
check "the old configuration still serves" "$(resp_status)" 200
check "no key in the error log" "$(grep -c "${K#sk_live_}" "$D/error.log" || true)" 0
kill -QUIT "$NGINX_PID"
finish
