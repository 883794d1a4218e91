#!/usr/bin/env bash
# server_gateway.sh — nginx/conf/gateway.conf (rendered by `keygate serve
# --print-config --upstream`) in front of an upstream: a
# valid request is proxied without its key headers
# (keygate_hide_credentials) and with the account, key id and request id
# from the module's variables; a refused one never reaches the upstream.
set -euo pipefail
. "$(dirname "$0")/server_common.bash"

"$KEYGATE" accounts create acme --tier pro >/dev/null
IFS=$'\t' read -r KID K < <(new_key acme gateway)

# The upstream: answers every request with the header lines it received,
# and counts requests in $T/upstream.count; says it is bound by creating
# its ready file.
cat >"$T/upstream.py" <<'PY'
import http.server, json, sys
port, count, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(count, "a") as f:
            f.write("1\n")
        body = json.dumps([[k, v] for k, v in self.headers.items()]).encode()
        # /.../status/NNN answers NNN; /.../own-id answers with an id of its own
        status = 200
        if "/status/" in self.path:
            status = int(self.path.split("/status/")[1][:3])
        self.send_response(status)
        if "/own-id" in self.path:
            self.send_header("X-Request-Id", "req_" + "u" * 24)
        if "/empty-id" in self.path:
            self.send_header("X-Request-Id", "")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer.timeout = 30
srv = http.server.HTTPServer(("127.0.0.1", port), Echo)
srv.timeout = 30
open(ready, "w").close()
for _ in range(80):  # bounded: at most 80 requests or 30 s each
    srv.handle_request()
PY
: >"$T/upstream.count"

# upstream_on PORT — one try at starting the upstream on PORT (see
# kg_start_on_free_port): 0 once it has bound the port.
upstream_on() {
  UP_PORT=$1
  rm -f "$T/upstream.ready"
  python3 "$T/upstream.py" "$UP_PORT" "$T/upstream.count" "$T/upstream.ready" \
    2>"$T/upstream.err" &
  UP_PID=$!
  for _ in $(seq 1 200); do
    [ -e "$T/upstream.ready" ] && return 0
    kill -0 "$UP_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$UP_PID" 2>/dev/null
  wait "$UP_PID" 2>/dev/null
  if kg_port_taken "$T/upstream.err"; then
    return "$KG_PORT_TAKEN"
  fi
  echo "the upstream did not start:" >&2
  cat "$T/upstream.err" >&2
  return 1
}
kg_start_on_free_port upstream_on || exit 1
kg_track "$UP_PID"

mkdir -p "$T/gw/empty"
DEAD_PORT=$(kg_free_port) # nothing listens there
# Locations that reach the upstream through an internal redirect (which
# clears every module's context and runs the access phase again, after
# keygate_hide_credentials removed the key lines): try_files to a named
# location, and error_page = to one. Added to the template's server{}.
cat >"$T/gw/redirects.conf" <<EOF
        # a second access log with every request-line variable, nginx's
        # combined format among them: the module redacts what holds a key
        access_log $T/gw/all.log all;
        # nginx's variables of the fields a valid request forwards: they
        # must read the masked values too (review 107 found them whole)
        location /vars/ {
            keygate on;
            keygate_hide_credentials on;
            access_log $T/gw/vars.log vars;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Cookie-Var \$http_cookie;
            proxy_set_header X-UA \$http_user_agent;
            proxy_set_header X-Sess \$cookie_sess;
            proxy_set_header X-Any \$http_x_trace;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
        # without keygate_hide_credentials the key goes upstream whole
        # (the operator's choice); the log still shows hints, also when a
        # look-alike name made the module rebuild the list, whose old
        # elements nginx's own pointers still name (review 115)
        location /nohide/ {
            keygate on;
            access_log $T/gw/nohide.log vars;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
        # a subrequest logged (log_subrequest on) shares its main
        # request's lines: they reach the main upstream as sent (review
        # 115 found them masked by the subrequest's log phase)
        location /sub/ {
            keygate on;
            log_subrequest on;
            access_log $T/gw/sub.log all;
            auth_request /authsub;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
        location = /authsub {
            internal;
            keygate on;
            log_subrequest on;
            access_log $T/gw/sub.log all;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
        location /try/ {
            keygate on;
            keygate_hide_credentials on;
            try_files /nonexistent @backend;
        }
        location /err/ {
            keygate on;
            keygate_hide_credentials on;
            root $T/gw/empty;
            error_page 404 = @backend;
        }
        # keygate_query_keys ignore passes the query on; a dead upstream
        # makes nginx log the upstream URL, which must not show the key.
        location /legacy/ {
            keygate on;
            keygate_query_keys ignore;
            keygate_hide_credentials on;
            proxy_pass http://127.0.0.1:$DEAD_PORT;
        }
        location @backend {
            keygate on;
            keygate_hide_credentials on;
            proxy_set_header X-Keygate-Account \$keygate_account;
            proxy_set_header X-Keygate-Key-Id \$keygate_key_id;
            proxy_set_header X-Request-Id \$keygate_request_id;
            keygate_request_id_header on;
            proxy_pass http://127.0.0.1:$UP_PORT;
        }
EOF
EXTRA="daemon off; master_process on;"
if [ "$(id -u)" -eq 0 ]; then EXTRA="$EXTRA user root root;"; fi

# gateway_on PORT — one try at starting nginx with the template on PORT:
# 0 once it has bound it (the pid file is written after the bind) and
# answers.
gateway_on() {
  PORT=$1
  "$KEYGATE" serve --print-config --module "$KEYGATE_NGINX_MODULE" \
    --db "$KEYGATE_DB" --listen "127.0.0.1:$PORT" \
    --upstream "127.0.0.1:$UP_PORT" --prefix "$T/gw" |
    sed -e "/^        location \/ {/e cat $T/gw/redirects.conf" \
      -e "/^http {/a\\    log_format all 'R[\$request] RU[\$request_uri] U[\$uri] M[\$request_method] P[\$server_protocol] S[\$status]';" \
      -e "/^http {/a\\    log_format vars 'UA[\$http_user_agent] C[\$http_cookie] S[\$cookie_sess] F[\$http_x_forwarded_for] T[\$http_x_trace] A[\$http_authorization] X[\$http_x_api_key] D[\$keygate_decision]';" \
      >"$T/gw/nginx.conf"
  rm -f "$T/gw/nginx.pid" "$T/gw/error.log"
  kg_nginx_start "$T/gw/nginx.pid" "$T/gw/error.log" "$T/gw/stderr" "$PORT" -- \
    nginx -p "$T/gw/" -c "$T/gw/nginx.conf" -g "$EXTRA"
}
kg_start_on_free_port gateway_on || exit 1
# nginx stops gracefully on QUIT, what a gateway gets (kg_nginx_stop).
kg_on_exit 'kg_nginx_stop "$NGINX_PID"'
assert_eq 3 "$(grep -c '@backend' "$T/gw/nginx.conf")" "redirect locations added"
assert_eq 0 "$(grep -c '@[A-Z]*@' "$T/gw/nginx.conf" || true)" "template fully substituted"

wait_ready

H='Host: api.test\r\nConnection: close\r\n'
send_proxied "GET /v1/things HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nX-Trace: 7\r\n\r\n"
assert_eq 200 "$(resp_status)" "valid key: proxied"
body=$(resp_body)
rid=$(resp_header x-request-id)
assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "valid key: X-Request-Id to the client"
assert_eq 1 "$(resp_header_count x-request-id)" "valid key: one X-Request-Id"
assert_eq 0 "$(grep -ci '"authorization"' <<<"$body" || true)" "upstream saw no Authorization"
assert_eq 0 "$(grep -ci '"x-api-key"' <<<"$body" || true)" "upstream saw no X-API-Key"
assert_eq 0 "$(grep -c "${K#sk_live_}" <<<"$body" || true)" "upstream saw no key"
assert_eq 1 "$(grep -c '\["X-Trace", "7"\]' <<<"$body")" "upstream saw the other headers"
assert_eq 1 "$(grep -c '\["X-Keygate-Account", "acme"\]' <<<"$body")" "upstream saw the account"
assert_eq 1 "$(grep -c "\\[\"X-Keygate-Key-Id\", \"$KID\"\\]" <<<"$body")" "upstream saw the key id"
assert_eq 1 "$(grep -c "\\[\"X-Request-Id\", \"$rid\"\\]" <<<"$body")" "upstream saw the same request id"

send_proxied "GET /v1/things HTTP/1.1\r\n${H}X-API-Key: $K\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n"
assert_eq 200 "$(resp_status)" "valid X-API-Key beside Basic: proxied"
assert_eq 0 "$(grep -ci '"authorization"' <<<"$(resp_body)" || true)" "Basic credentials hidden too"

# Names that read as a key or identity header once '_' is '-' (a CGI-style
# upstream sees HTTP_X_API_KEY for both) never reach the upstream, whatever
# keygate_hide_credentials says (docs/contract.md).
K2=sk_live_$(printf 'L%.0s' $(seq 1 32))
send_proxied "GET /v1/things HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nX_API_Key: $K2\r\nX_Keygate_Account: evil\r\nX-Keygate_Key_Id: 999\r\nX-Request_Id: req_forged\r\nX_Trace: 8\r\n\r\n"
assert_eq 200 "$(resp_status)" "look-alike names: proxied"
body=$(resp_body)
assert_eq 0 "$(grep -c 'LLLLLLLL' <<<"$body" || true)" "look-alike names: the upstream saw no X_API_Key"
assert_eq 0 "$(grep -c 'evil' <<<"$body" || true)" "look-alike names: no forged account"
# the forged value as a whole string: a bare 999 also matched the random
# request id, the key id or a port in the echo (CI saw it once)
assert_eq 0 "$(grep -c '"999"' <<<"$body" || true)" "look-alike names: no forged key id"
assert_eq 0 "$(grep -c 'req_forged' <<<"$body" || true)" "look-alike names: no forged request id"
assert_eq 1 "$(grep -c '\["X-Keygate-Account", "acme"\]' <<<"$body")" "look-alike names: the real account"
assert_eq 1 "$(grep -c '\["X_Trace", "8"\]' <<<"$body")" "look-alike names: other '_' names pass"
# A key in a Referer (any of them: nginx keeps only the first in
# headers_in.referer) reaches the upstream masked; the request passes.
send_proxied "GET /v1/things HTTP/1.1\r\n${H}X-API-Key: $K\r\nReferer: https://x/?api_key=$K\r\nreferer: https://y/?q=sk%5flive%5f${K#sk_live_}\r\nReferer: https://w/%252573k_live_${K#sk_live_}\r\nReferer: https://z/\r\n\r\n"
assert_eq 200 "$(resp_status)" "keys in two Referers: proxied"
body=$(resp_body)
assert_eq 3 \
  "$(grep -o '"[Rr]eferer", "<redacted>"' <<<"$body" | wc -l)" "keys in three Referers (one encoded three times): all masked upstream"
assert_eq 1 \
  "$(grep -c '"Referer", "https://z/"' <<<"$body")" "keys in two Referers: a clean one passes"
assert_eq 0 "$(grep -c "${K#sk_live_}" <<<"$body" || true)" "keys in two Referers: no key upstream"
# A key in any other field (a cookie, Proxy-Authorization, a header of
# the client's own naming) reaches the upstream masked as the logs show
# keys, the rest of the value kept (a review found them forwarded whole).
send_proxied "GET /v1/things HTTP/1.1\r\n${H}X-API-Key: $K\r\nCookie: theme=dark; api_key=$K; x=1\r\nProxy-Authorization: Bearer $K\r\nX-Forwarded-Authorization: bearer SK_LIVE_${K#sk_live_}\r\nX-API-Key2: $K,$K2\r\n\r\n"
assert_eq 200 "$(resp_status)" "keys in other fields: proxied"
body=$(resp_body)
hint="sk_live_****${K: -4}"
assert_contains "[\"Cookie\", \"theme=dark; api_key=$hint; x=1\"]" "$body" \
  "a key in a cookie: masked, the other cookies kept"
assert_contains "[\"Proxy-Authorization\", \"Bearer $hint\"]" "$body" \
  "a key in Proxy-Authorization: masked"
assert_contains "[\"X-Forwarded-Authorization\", \"bearer ****${K: -4}\"]" "$body" \
  "a key with its prefix in another case: masked (kg_key_hint shows no prefix it does not know)"
assert_contains "[\"X-API-Key2\", \"$hint,sk_live_****LLLL\"]" "$body" \
  "two keys in one value: each masked"
assert_eq 0 "$(grep -c -e "${K#sk_live_}" -e "${K:8:20}" -e 'LLLLLLLL' <<<"$body" || true)" \
  "keys in other fields: no key upstream"
# The same fields through nginx's variables: $http_user_agent,
# $http_cookie, $cookie_NAME, $proxy_add_x_forwarded_for and an unknown
# field's $http_ read the masked values, in proxy_set_header and in a
# log_format (they kept pointing at the unmasked lines: review 107).
send_proxied "GET /vars/x HTTP/1.1\r\n${H}X-API-Key: $K\r\nX-Forwarded-For: 192.0.2.1, $K2\r\nCookie: sess=$K2\r\nUser-Agent: client/$K\r\nX-Trace: t=$K2\r\n\r\n"
assert_eq 200 "$(resp_status)" "keys read through variables: proxied"
body=$(resp_body)
assert_contains "[\"X-UA\", \"client/$hint\"]" "$body" '$http_user_agent: masked'
assert_contains "[\"X-Sess\", \"sk_live_****LLLL\"]" "$body" '$cookie_sess: masked'
assert_contains "[\"X-Cookie-Var\", \"sess=sk_live_****LLLL\"]" "$body" '$http_cookie: masked'
assert_contains "[\"X-Forwarded-For\", \"192.0.2.1, sk_live_****LLLL, 127.0.0.1\"]" "$body" \
  '$proxy_add_x_forwarded_for: masked'
assert_contains "[\"X-Any\", \"t=sk_live_****LLLL\"]" "$body" '$http_x_trace: masked'
assert_eq 0 "$(grep -c -e "${K#sk_live_}" -e "${K:8:20}" -e 'LLLLLLLL' <<<"$body" || true)" \
  "keys read through variables: no key upstream"
send_proxied "GET /nohide/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nUser-Agent: ua $K\r\nCookie: sess=$K2\r\nX_API_Key: zzz\r\n\r\n"
assert_eq 200 "$(resp_status)" "no hide, a look-alike name: proxied"
assert_contains "[\"Authorization\", \"Bearer $K\"]" "$(resp_body)" \
  "no hide: the key upstream as sent"
send_proxied "GET /sub/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nUser-Agent: ua $K\r\n\r\n"
assert_eq 200 "$(resp_status)" "auth_request, log_subrequest on: proxied"
body=$(resp_body)
assert_contains "[\"Authorization\", \"Bearer $K\"]" "$body" \
  "a logged subrequest: the main upstream gets the key line as sent"
assert_contains "[\"User-Agent\", \"ua $K\"]" "$body" \
  "a logged subrequest: the main upstream gets the other lines as sent"
send "GET /vars/x?api_key=1 HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nCookie: sess=$K\r\nUser-Agent: client/$K\r\n\r\n"
assert_eq 400 "$(resp_status)" "a key in the query beside the valid key: refused"
send "GET /vars/x HTTP/1.1\r\n${H}Authorization: Bearer $K2\r\nX-API-Key: $K\r\n\r\n"
assert_eq 400 "$(resp_status)" "two different keys: refused"
send "GET /vars/x HTTP/1.1\r\n${H}X-API-Key: $K2\r\nX-Trace: t=$K\r\n\r\n"
assert_eq 401 "$(resp_status)" "a malformed key: refused"
# A key in a field's name (nginx passes "X-sk_live_..." with
# ignore_invalid_headers off) reaches the upstream masked the same way, the
# value kept (a review found such names forwarded whole).
send_proxied "GET /v1/things HTTP/1.1\r\n${H}X-API-Key: $K\r\nX-$K: v\r\n$K: 1\r\nX-Sk_Live_${K#sk_live_}: 2\r\n\r\n"
assert_eq 200 "$(resp_status)" "keys in field names: proxied"
body=$(resp_body)
assert_contains "[\"X-$hint\", \"v\"]" "$body" "a key in a field's name: masked, the value kept"
assert_contains "[\"$hint\", \"1\"]" "$body" "a field named by a key: masked"
assert_contains "[\"X-****${K: -4}\", \"2\"]" "$body" \
  "a key with its prefix in another case in a name: masked"
assert_eq 0 "$(grep -c -e "${K#sk_live_}" -e "${K:8:20}" <<<"$body" || true)" \
  "keys in field names: no key upstream"
# A valid request whose body breaks its framing: nginx refuses it while
# reading the body for the upstream; the answer names the body (the key
# lines were hidden, so the head is not read again).
send_proxied "POST /v1/things HTTP/1.1\r\n${H}X-API-Key: $K\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
assert_eq 400 "$(resp_status)" "a broken chunked body: 400"
assert_match '"code":"bad_request","message":"The request body does not match its framing' "$(resp_body)" \
  "a broken chunked body: the message names the body"
send_proxied "GET /v1/things HTTP/1.1\r\n${H}X_API_Key: $K\r\n\r\n"
assert_eq 401 "$(resp_status)" "X_API_Key is not X-API-Key: missing"

expect_error "no key: not proxied" "GET /v1/things HTTP/1.1\r\n$H\r\n" 401 missing_api_key
assert_eq 1 "$(resp_header_count x-request-id)" "one X-Request-Id on an error"
expect_error "key in the query: not proxied" \
  "GET /v1/things?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n" 400 api_key_in_query
expect_error "duplicate Authorization: not proxied" \
  "GET /v1/things HTTP/1.1\r\n${H}Authorization: Bearer $K\r\nAuthorization: Bearer $K\r\n\r\n" \
  400 ambiguous_api_key

# Internal redirects keep the decision made before them (and its variables);
# the key lines stay hidden.
for loc in try err; do
  send_proxied "GET /$loc/x HTTP/1.1\r\n${H}Authorization: Bearer $K\r\n\r\n"
  assert_eq 200 "$(resp_status)" "$loc: valid key, proxied after the redirect"
  body=$(resp_body)
  rid=$(resp_header x-request-id)
  assert_eq 0 "$(grep -ci '"authorization"' <<<"$body" || true)" "$loc: upstream saw no Authorization"
  assert_eq 0 "$(grep -c "${K#sk_live_}" <<<"$body" || true)" "$loc: upstream saw no key"
  assert_eq 1 "$(grep -c '\["X-Keygate-Account", "acme"\]' <<<"$body")" "$loc: upstream saw the account"
  assert_eq 1 "$(grep -c "\\[\"X-Keygate-Key-Id\", \"$KID\"\\]" <<<"$body")" "$loc: upstream saw the key id"
  assert_eq 1 \
    "$(grep -c "\\[\"X-Request-Id\", \"$rid\"\\]" <<<"$body")" "$loc: upstream saw the client's request id"
  expect_error "$loc: no key, not proxied" "GET /$loc/x HTTP/1.1\r\n$H\r\n" 401 missing_api_key
done
send_proxied "GET /legacy/x?api_key=$K&type=ipv4 HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq 502 "$(resp_status)" "query_keys ignore, dead upstream: 502"
# nginx's own 502 (the upstream unreachable) is an answer in the JSON shape,
# with the request id the upstream would have been sent
rid=$(resp_header x-request-id)
assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "dead upstream: X-Request-Id"
assert_eq 1 "$(resp_header_count x-request-id)" "dead upstream: one X-Request-Id"
assert_eq "{\"error\":{\"code\":\"bad_gateway\",\"message\":\"The API behind the gateway could not be reached. Retry in a few seconds.\",\"request_id\":\"$rid\"}}" \
  "$(resp_body)" "dead upstream: the JSON body"
assert_eq "no-store" "$(resp_header cache-control)" "dead upstream: Cache-Control"
assert_eq "application/json" "$(resp_header content-type)" "dead upstream: Content-Type"
assert_eq 1 \
  "$(grep 'connect() failed' "$T/gw/error.log" | grep -c 'upstream: "http://[^"]*/legacy/x?<redacted>"' || true)" "query_keys ignore: the upstream URL in the error log is redacted"
assert_eq 1 \
  "$(grep 'connect() failed' "$T/gw/error.log" | grep -c 'request: "GET /legacy/x?<redacted> HTTP/1.1"' || true)" "query_keys ignore: the request line too"
# A request passed on under ignore whose chunked body is broken: nginx
# reads it for the upstream, logs "client sent invalid chunked body" with
# the request line, and answers its own 400 (JSON, via error_page).
send_proxied "POST /legacy/x?api_key=$K HTTP/1.1\r\n${H}X-API-Key: $K\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"
assert_eq 400 "$(resp_status)" "broken chunked body: nginx's 400"
assert_eq 1 \
  "$(grep 'invalid chunked body' "$T/gw/error.log" | grep -c 'request: "POST /legacy/x?<redacted> HTTP/1.1"' || true)" "broken chunked body: logged, redacted"
# keygate_request_id_header on: the upstream's answers of any status carry
# the id it was sent (add_header without "always" drops it on 4xx/5xx),
# once; an upstream's own id is kept; keygate's own answers carry theirs.
for path in /v1/status/500 /v1/status/404 /try/status/503; do
  send_proxied "GET $path HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
  assert_eq "${path: -3}" "$(resp_status)" "$path: the upstream's status"
  rid=$(resp_header x-request-id)
  assert_eq 1 "$(resp_header_count x-request-id)" "$path: one X-Request-Id"
  assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "$path: the id"
  assert_eq 1 "$(grep -c "\\[\"X-Request-Id\", \"$rid\"\\]" <<<"$(resp_body)")" \
    "$path: the id the upstream was sent"
done
send_proxied "GET /v1/own-id HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
assert_eq "req_uuuuuuuuuuuuuuuuuuuuuuuu" "$(resp_header x-request-id)" "an upstream's own id is kept"
assert_eq 1 "$(resp_header_count x-request-id)" "... and not doubled"
send_proxied "GET /v1/empty-id HTTP/1.1\r\n${H}X-API-Key: $K\r\n\r\n"
rid=$(resp_header x-request-id)
assert_match '^req_[0-9A-Za-z]{24}$' "$rid" "an upstream's empty id is given the request's"
assert_eq 1 "$(resp_header_count x-request-id)" "... once"
assert_eq 1 "$(grep -c "\\[\"X-Request-Id\", \"$rid\"\\]" <<<"$(resp_body)")" \
  "... the one the upstream was sent"
send_proxied "GET /v1/status/500 HTTP/1.1\r\n$H\r\n"
assert_eq 401 "$(resp_status)" "no key: keygate's own answer"
assert_eq 1 "$(resp_header_count x-request-id)" "no key: one X-Request-Id"
assert_eq 17 "$(wc -l <"$T/upstream.count")" "the upstream got exactly the seventeen valid requests (one an auth_request subrequest)"
# Lines nginx never finished (the client closes mid-line, or mid-protocol,
# or cuts a pipelined second request short): $request is made from the
# raw buffer when it is logged; the module makes and redacts it first
# (a review found the key in a \$request log).
for r in "GET /api/v1/iocs?api_key=$K" "GET /x/$K HTT" \
  "GET /v1/things HTTP/1.1\r\nHost: api.test\r\n\r\nGET /v1/$K"; do
  send "$r"
done
sleep 0.3
assert_eq 1 "$(grep -c '^R\[GET /api/v1/iocs?<redacted>\] ' "$T/gw/all.log" || true)" \
  "a line cut in its query: \$request redacted to its query"
assert_eq 2 "$(grep -c '^R\[<redacted>\] ' "$T/gw/all.log" || true)" \
  "a key in the path of a cut line: \$request redacted whole"
L4=sk_live_****LLLL
assert_eq 1 "$(grep -cxF "UA[client/$hint] C[sess=$L4] S[$L4] F[192.0.2.1, $L4] T[t=$L4] A[-] X[-] D[valid]" "$T/gw/vars.log" || true)" \
  "a log_format of the fields' variables: every key masked ($(cat "$T/gw/vars.log"))"
# Refused requests go through the same log_format: their lines are masked
# in the log phase, the key lines among them (a review found a refused
# request's keys whole there: the access phase masks a valid request's
# lines only). The valid key with a key in the query, an ambiguous pair,
# a malformed key beside keys in other fields.
assert_eq 1 "$(grep -cxF "UA[client/$hint] C[sess=$hint] S[$hint] F[-] T[-] A[Bearer $hint] X[-] D[api_key_in_query]" "$T/gw/vars.log" || true)" \
  "a refused request (a key in the query): its lines masked in the log ($(cat "$T/gw/vars.log"))"
assert_eq 1 "$(grep -cxF "UA[-] C[-] S[-] F[-] T[-] A[Bearer $L4] X[$hint] D[ambiguous_api_key]" "$T/gw/vars.log" || true)" \
  "a refused request (two keys): both key lines masked in the log"
assert_eq 1 "$(grep -cxF "UA[-] C[-] S[-] F[-] T[t=$hint] A[-] X[$L4] D[invalid_api_key]" "$T/gw/vars.log" || true)" \
  "a refused request (a malformed key): masked in the log"
assert_eq 1 "$(grep -cxF "UA[ua $hint] C[sess=$L4] S[$L4] F[-] T[-] A[Bearer $hint] X[-] D[valid]" "$T/gw/nohide.log" || true)" \
  "no hide, a look-alike name: the log shows hints ($(cat "$T/gw/nohide.log"))"
assert_eq "" "$(grep -rl -e "${K#sk_live_}" -e 'LLLLLLLL' "$T/gw" --include='*.log' || true)" "no key in the gateway's logs"
kg_done
