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
  assert_eq 1 "$rc" "$1: nginx -t fails"
  assert_match "$2" "$(grep emerg "$T/t.out" | head -n 1)" "$1: says why"
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
assert_eq 1 "$rc" "keygate on without a store: nginx -t fails"
assert_match '"keygate on" needs a "keygate_db" in scope' \
  "$(grep emerg "$T/t.out" | head -n 1)" "keygate on without a store: says why" 

# ---- a good configuration --------------------------------------------------
write_conf "$KEYGATE_DB" "keygate_refresh 500ms;"
nginx -t -p "$D/" -c "$D/nginx.conf" -g "$G" >"$T/t.out" 2>&1
assert_eq 1 "$(grep -c 'test is successful' "$T/t.out")" "nginx -t passes"

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
kg_on_exit 'kg_nginx_stop "$NGINX_PID"'

H='Host: d.test\r\nConnection: close\r\n'
send "GET /api/v1/iocs?limit=1 HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "valid: 200"
assert_eq valid "$(resp_header x-decision)" "valid: \$keygate_decision"
assert_eq "$KID" "$(resp_header x-key-id)" "valid: \$keygate_key_id"
assert_eq acme "$(resp_header x-account)" "valid: \$keygate_account"
assert_eq "$(resp_header x-request-id)" "$(resp_header x-rid)" \
  "valid: \$keygate_request_id is X-Request-Id"

send "GET /api/v1/iocs HTTP/1.1\r\n$H\r\n"
assert_eq 401 "$(resp_status)" "missing: 401"
assert_eq missing_api_key "$(resp_header x-decision)" "missing: \$keygate_decision"
assert_eq "" "$(resp_header x-key-id)" "missing: no key id"
assert_eq "$(resp_header x-request-id)" "$(resp_header x-rid)" \
  "missing: \$keygate_request_id is X-Request-Id"
assert_match "\"request_id\":\"$(resp_header x-request-id)\"" "$(resp_body)" \
  "missing: request id in the body"

send "GET /api/v1/iocs HTTP/1.1\r\n${H}Authorization: Bearer $OLD\r\n\r\n"
assert_eq 401 "$(resp_status)" "deactivated: 401"
assert_eq expired_api_key "$(resp_header x-decision)" "deactivated: \$keygate_decision"
assert_eq "$OLD_ID" "$(resp_header x-key-id)" "deactivated: its key id"
assert_eq acme "$(resp_header x-account)" "deactivated: its account"

send "GET /realm/x HTTP/1.1\r\n$H\r\n"
assert_eq 'Bearer realm="staff area"' "$(resp_header www-authenticate)" "keygate_realm"
send "GET /realm/x HTTP/1.1\r\n${H}X-API-Key: sk_live_nope\r\n\r\n"
assert_eq 'Bearer realm="staff area", error="invalid_token"' "$(resp_header www-authenticate)" \
  "keygate_realm on invalid"

send "GET /ignore/x?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq valid "$(resp_header x-decision)" "query_keys ignore: the header decides"
assert_eq 404 "$(resp_status)" "query_keys ignore: past the check (404 of the mock)"
send "GET /ignore/x?api_key=$K HTTP/1.1\r\n$H\r\n"
assert_eq 401 "$(resp_status)" "query_keys ignore: a query key is no credential"
assert_eq missing_api_key "$(resp_header x-decision)" "query_keys ignore: missing"
send "GET /api/v1/iocs?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq api_key_in_query "$(resp_header x-decision)" "query_keys reject (default)"
send "GET /ignore/$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq api_key_in_query \
  "$(resp_header x-decision)" "query_keys ignore: a key in the path is still refused"
send "GET /ignore/x;k=%2573k_live_abc HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq api_key_in_query \
  "$(resp_header x-decision)" "query_keys ignore: a double-encoded key after ';' in the path too"

send "GET /test-keys/x HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq invalid_api_key \
  "$(resp_header x-decision)" "key_format prefix sk_test_: a live key is invalid"

send "GET /open/x HTTP/1.1\r\n$H\r\n"
assert_eq 404 "$(resp_status)" "keygate off: no check"
assert_eq "" "$(resp_header x-decision)" "keygate off: no decision"

send "GET /same/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\n\r\n"
assert_eq 404 "$(resp_status)" "redirect, same store: past the check (404 of the mock)"
assert_eq valid "$(resp_header x-decision)" "redirect, same store: the first decision"
assert_eq "$KID" "$(resp_header x-key-id)" "redirect, same store: its key id"
assert_eq "" \
  "$(resp_header x-authorization-left)" "redirect, same store: hidden by the new location"
send "GET /same/x HTTP/1.1\r\n$H\r\n"
assert_eq 401 "$(resp_status)" "redirect, same store: no key is refused before it"
send "GET /other/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\n\r\n"
assert_eq 401 "$(resp_status)" "redirect to another store: decided again"
assert_eq invalid_api_key \
  "$(resp_header x-decision)" "redirect to another store: not in that store"

# ---- nginx's own 400s: the server's policy, the request line redacted --
TWICE="Authorization: Bearer $K\r\nAuthorization: Bearer $K\r\n"
PORT_SAVED=$PORT
PORT=$PORT2
send "GET /api/v1/iocs?q=pk_0123456789abcdef HTTP/1.1\r\n${H}$TWICE\r\n"
assert_eq 400 "$(resp_status)" "refused by nginx, pk_ key in the query: 400"
assert_eq api_key_in_query \
  "$(resp_header x-decision)" "refused by nginx, pk_ key in the query: the server's policy decides"
assert_eq "GET /api/v1/iocs?<redacted> HTTP/1.1" \
  "$(resp_header x-request-line)" "refused by nginx, pk_ key in the query: request line redacted"
send "GET /api/v1/iocs?q=sk_live_0123456789abcdef HTTP/1.1\r\n${H}$TWICE\r\n"
assert_eq ambiguous_api_key \
  "$(resp_header x-decision)" "refused by nginx, sk_live_ in the query under prefix pk_: ambiguous"
assert_eq "GET /api/v1/iocs?q=sk_live_0123456789abcdef HTTP/1.1" \
  "$(resp_header x-request-line)" \
  "refused by nginx, no key in the query: request line kept"
PORT=$PORT_SAVED

# ---- a reload with an unreadable store keeps the old configuration --------
write_conf "$T/none.db" "keygate_refresh 500ms;"
kill -HUP "$NGINX_PID"
for _ in $(seq 1 100); do
  grep -q 'cannot load the key store' "$D/error.log" && break
  sleep 0.05
done
assert_match 'keygate_db ".*/none.db": cannot load the key store' \
  "$(grep 'emerg' "$D/error.log" | tail -n 1)" "reload refused, with the reason"
send "GET /api/v1/iocs HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "the old configuration still serves"
assert_eq 0 "$(grep -c "${K#sk_live_}" "$D/error.log" || true)" "no key in the error log"
kill -QUIT "$NGINX_PID"
kg_done
