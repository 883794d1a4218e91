#!/usr/bin/env bash
# server_probe_map.sh — `keygate probe` against the plaintext recipe most
# teams copy: a plain nginx with
#     map $http_x_api_key $ok { default 0; "<key>" 1; }
#     if ($ok = 0) { return 401 '{"error":"unauthorized"}'; }
# (no module), started by this test on a free loopback port. The probe
# reports where it departs from the contract and exits 1: Bearer is not
# understood, errors carry no WWW-Authenticate, Cache-Control or
# X-Request-Id and not the contract's body, a duplicate X-API-Key takes the
# first value, a key in the query or the path is accepted, nginx's own 400
# for a duplicate Authorization is HTML. What the recipe does get right
# (the documented X-API-Key, names in any case) passes. No key appears in
# the probe's output.
#
# Named server_*.sh: it runs where the nginx-based tests run (nginx
# installed). Environment: KEYGATE.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || kg_fail "nginx not found; run scripts/setup"

export KEYGATE_DB="$TMP/keys.db"
"$KEYGATE" accounts create acme >/dev/null
KEY=$("$KEYGATE" keys create --account acme --name map --format tsv | cut -f2)
printf '%s\n' "$KEY" >"$TMP/valid.key"
printf '%s\n' "${KEY#sk_live_}" >"$TMP/bodies"
mkdir -p "$TMP/map"
USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then USER_LINE="user root root;"; fi

# map_on PORT — start the recipe's nginx on PORT; 0 once it answers,
# $KG_PORT_TAKEN when the port was taken.
map_on() {
  local port=$1
  cat >"$TMP/map/nginx.conf" <<EOF
$USER_LINE
daemon off;
master_process off;
worker_processes 1;
pid $TMP/map/nginx.pid;
error_log $TMP/map/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $TMP/map/body;
  proxy_temp_path $TMP/map/proxy;
  fastcgi_temp_path $TMP/map/fastcgi;
  uwsgi_temp_path $TMP/map/uwsgi;
  scgi_temp_path $TMP/map/scgi;
  map \$http_x_api_key \$ok {
    default 0;
    "$KEY" 1;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      if (\$ok = 0) {
        return 401 '{"error":"unauthorized"}';
      }
      return 200 '{"data":[]}';
    }
  }
}
EOF
  kg_nginx_start - "$TMP/map/error.log" "$TMP/map/stderr" "$port" -- \
    "$NGINX" -p "$TMP/map/" -c "$TMP/map/nginx.conf" || return
  MAP_PID=$NGINX_PID
  kg_track "$MAP_PID"
}
kg_start_on_free_port map_on || kg_fail "the map nginx did not start"

RC=0
timeout 120 "$KEYGATE" probe "http://127.0.0.1:$KG_PORT/api/v1/iocs" \
  --key-file "$TMP/valid.key" --interval 10ms --json "$TMP/map.json" \
  >"$TMP/map.out" 2>"$TMP/map.err" || RC=$?
assert_eq 1 "$RC" "the map recipe deviates: exit ($(head -c 300 "$TMP/map.err"))"
assert_contains "deviation" "$(cat "$TMP/map.out")" "the table names deviations"

# verdict CASE — the case's verdict; note CASE — its notes.
field() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print([c[sys.argv[3]] for c in d["cases"] if c["name"] == sys.argv[2]][0])' \
    "$TMP/map.json" "$1" "$2"
}

# What the recipe gets right.
for c in x_api_key_valid x_api_key_name_uppercase x_api_key_name_lowercase \
  query_empty_token_allowed query_unrelated_allowed request_id_unique \
  no_key_echo; do
  assert_eq pass "$(field "$c" verdict)" "$c: the recipe passes"
done

# Bearer is not understood: the documented form is refused.
for c in bearer_valid scheme_lowercase bearer_two_spaces both_headers_different_keys; do
  assert_eq deviation "$(field "$c" verdict)" "$c: deviation"
done
assert_eq 401 "$(field bearer_valid got)" "bearer_valid: refused with 401"

# Errors without the contract's headers and body.
for c in no_key unknown_key_x_api_key bad_checksum x_api_key_empty; do
  assert_eq deviation "$(field "$c" verdict)" "$c: deviation"
  notes=$(field "$c" notes)
  assert_contains "no WWW-Authenticate" "$notes" "$c: names the missing challenge"
  assert_contains "no Cache-Control: no-store" "$notes" "$c: names Cache-Control"
  assert_contains "no X-Request-Id" "$notes" "$c: names X-Request-Id"
  assert_contains "error.code is not" "$notes" "$c: names the code"
done

# A duplicate X-API-Key takes the first value; two Authorization lines get
# nginx's HTML 400.
for c in duplicate_x_api_key_same duplicate_x_api_key_different; do
  assert_eq deviation "$(field "$c" verdict)" "$c: deviation"
  assert_eq 200 "$(field "$c" got)" "$c: the first value was taken"
done
assert_eq deviation "$(field duplicate_authorization_same verdict)" "duplicate Authorization: deviation"
assert_contains "Content-Type text/html" "$(field duplicate_authorization_same notes)" \
  "duplicate Authorization: nginx's HTML 400"

# A key in the URL is accepted.
for c in query_api_key query_apikey query_key query_access_token query_token \
  query_key_as_name query_percent_encoded path_segment path_parameter; do
  assert_eq deviation "$(field "$c" verdict)" "$c: deviation"
  assert_eq 200 "$(field "$c" got)" "$c: accepted"
done

# A tab or surrounding whitespace is not handled as the contract says.
assert_eq deviation "$(field x_api_key_surrounding_ows verdict)" "surrounding OWS: deviation"

assert_no_keys() {
  local f
  for f in "$@"; do
    KG_ASSERTS=$((KG_ASSERTS + 1))
    if grep -qF -f "$TMP/bodies" "$f"; then
      kg_fail "a full key appears in $(basename "$f")"
    fi
  done
}
assert_no_keys "$TMP/map.out" "$TMP/map.err" "$TMP/map.json"
kg_done
