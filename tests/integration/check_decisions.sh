#!/usr/bin/env bash
# check_decisions.sh — `keygate check` answers every decision of SPEC §1 as
# specified: the JSON fields (decision, status, detail, key_id, key_hint,
# sources, request_id) and the full HTTP error response, byte for byte, with
# X-Request-Id equal to the body's request_id. No presented key is ever
# printed. Needs $KEYGATE (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
export LC_ALL=C # ${#body} counts bytes

: "${KEYGATE:?set KEYGATE to the keygate program}"

# Strict keys with valid checksums (Python zlib.crc32); see tests/unit.
K_ACTIVE=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk
K_DEACT=sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4
K_EXPIRED=sk_live_9ufjjaJ1sjNNTR5PvbZVt7RWpmtcuVPw0e127O
K_FOREIGN='sk_live_foreign-issuer.token~v1/AB+cd=='
K_TEST=sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz
K_UNKNOWN=sk_live_p6SijozWGSxzBzRrkUy4fHvVN6ClsQ9S4YpUa2
K_BADSUM=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGl
ALL_KEYS=("$K_ACTIVE" "$K_DEACT" "$K_EXPIRED" "$K_FOREIGN" "$K_TEST"
  "$K_UNKNOWN" "$K_BADSUM")

KEYS=$TMP/keys.tsv
{
  printf '# keygate check test keys: ids follow the key lines\n\n'
  printf 'active\t%s\n' "$K_ACTIVE"       # key_00000000001
  printf '# a comment between keys\n'
  printf 'deactivated\t%s\n' "$K_DEACT"   # key_00000000002
  printf '\n'
  printf 'expired\t%s\n' "$K_EXPIRED"     # key_00000000003
  printf 'active\t%s\n' "$K_FOREIGN"      # key_00000000004
  printf 'active\t%s\n' "$K_TEST"         # key_00000000005
} >"$KEYS"

# JSON-escaped messages (docs/contract.md §4); '→' is U+2192.
MSG_MISSING='API key is required. Include it in the Authorization header as \"Bearer sk_live_...\" or in the X-API-Key header.'
MSG_INVALID='API key is invalid. Check for typos or extra whitespace, and verify the key in Settings → API Keys.'
MSG_EXPIRED='API key has been deactivated or has expired. Generate a new key in Settings → API Keys and update your integration.'
MSG_AMBIGUOUS='More than one API key was sent. Send exactly one key, in the Authorization header or in the X-API-Key header.'
MSG_IN_QUERY='API keys must not be sent in the URL. Send the key in the Authorization header or in the X-API-Key header, and replace this key: the URL may already be in logs.'

# run_check NAME REQUEST_BYTES [FLAGS...] — decide one request; JSON in
# $TMP/$NAME.json. REQUEST_BYTES is a printf format (\r\n, \t, \x01 work).
run_check() {
  local name=$1 req=$2
  shift 2
  # shellcheck disable=SC2059 # the request is a printf format on purpose
  printf "$req" >"$TMP/$name.req"
  assert_exit 0 "$name: exit status" -- \
    "$KEYGATE" check --keys "$KEYS" --now 2026-01-01T00:00:00Z "$@" \
    <"$TMP/$name.req"
  cp "$TMP/out" "$TMP/$name.json"
  local k printed
  printed=$(cat "$TMP/out" "$TMP/err")
  for k in "${ALL_KEYS[@]}"; do
    assert_not_contains "$k" "$printed" "$name: a presented key in the output"
  done
  # One python start per run: every top-level field into $TMP/$name.f/KEY
  # (a string raw, anything else as JSON), read back by `field`.
  mkdir -p "$TMP/$name.f"
  PYTHONIOENCODING=utf-8 python3 -c 'import json, sys
obj = json.load(open(sys.argv[1], encoding="utf-8"))
for k, v in obj.items():
    with open(sys.argv[2] + "/" + k, "w", encoding="utf-8", newline="") as f:
        f.write(v if isinstance(v, str) else json.dumps(v))' \
    "$TMP/$name.json" "$TMP/$name.f"
}

# field NAME KEY — a field of run NAME's JSON ("<absent>" when missing).
field() {
  if [ -f "$TMP/$1.f/$2" ]; then
    cat "$TMP/$1.f/$2"
  else
    echo "<absent>"
  fi
}

# expect NAME DECISION STATUS DETAIL KEY_ID KEY_HINT ("-": hint not checked)
expect() {
  local name=$1
  assert_eq "$2" "$(field "$name" decision)" "$name: decision"
  assert_eq "$3" "$(field "$name" status)" "$name: status"
  assert_eq "$4" "$(field "$name" detail)" "$name: detail"
  assert_eq "$5" "$(field "$name" key_id)" "$name: key_id"
  if [ "$6" != - ]; then
    assert_eq "$6" "$(field "$name" key_hint)" "$name: key_hint"
  fi
  local rid
  rid=$(field "$name" request_id)
  [[ $rid =~ ^req_[0-9A-Za-z]{24}$ ]] || kg_fail "$name: request_id [$rid]"
}

# expect_response NAME CODE MESSAGE CHALLENGE — the whole HTTP response.
# CHALLENGE is the WWW-Authenticate value, or "" for none.
expect_response() {
  local name=$1 code=$2 msg=$3 challenge=$4
  local resp rid status reason
  resp=$(field "$name" response)
  rid=$(field "$name" request_id)
  status=$(field "$name" status)
  reason="Bad Request"
  [ "$status" = 401 ] && reason=Unauthorized
  local body="{\"error\":{\"code\":\"$code\",\"message\":\"$msg\",\"request_id\":\"$rid\"}}"
  local want
  want="HTTP/1.1 $status $reason"$'\r\n'
  want+="Content-Type: application/json"$'\r\n'
  want+="Cache-Control: no-store"$'\r\n'
  want+="X-Request-Id: $rid"$'\r\n'
  if [ -n "$challenge" ]; then
    want+="WWW-Authenticate: $challenge"$'\r\n'
  fi
  want+="Content-Length: ${#body}"$'\r\n'$'\r\n'
  want+="$body"
  assert_eq "$want" "$resp" "$name: response"
}

CH_MISSING='Bearer realm="api"'
CH_INVALID='Bearer realm="api", error="invalid_token"'
CH_EXPIRED='Bearer realm="api", error="invalid_token", error_description="The API key has expired"'

# ---- valid ------------------------------------------------------------------
run_check valid_bearer \
  "GET /api/v1/iocs?type=ipv4&limit=10 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer $K_ACTIVE\r\n\r\n"
expect valid_bearer valid 200 ok key_00000000001 'sk_live_****cUGk'
assert_eq null "$(field valid_bearer response)" "valid: no response"
assert_eq '["authorization"]' "$(field valid_bearer sources)" "valid: sources"

run_check valid_x_api_key_bare_lf \
  "GET /api/v1/iocs HTTP/1.1\nhost: api\nx-api-key: \t $K_ACTIVE \t\n\n"
expect valid_x_api_key_bare_lf valid 200 ok key_00000000001 'sk_live_****cUGk'
assert_eq '["x-api-key"]' "$(field valid_x_api_key_bare_lf sources)" \
  "x-api-key: sources"

run_check valid_both_headers_same_key \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_ACTIVE\r\nauthorization: bearer   $K_ACTIVE\r\n\r\n"
expect valid_both_headers_same_key valid 200 ok key_00000000001 'sk_live_****cUGk'
assert_eq '["authorization", "x-api-key"]' \
  "$(field valid_both_headers_same_key sources)" "both: sources"

run_check valid_without_final_empty_line \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer $K_ACTIVE\r\n"
expect valid_without_final_empty_line valid 200 ok key_00000000001 'sk_live_****cUGk'

# ---- missing ----------------------------------------------------------------
run_check missing "GET /api/v1/iocs HTTP/1.1\r\nHost: api\r\n\r\n"
expect missing missing_api_key 401 ok null null
expect_response missing missing_api_key "$MSG_MISSING" "$CH_MISSING"

run_check missing_basic_scheme \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n"
expect missing_basic_scheme missing_api_key 401 ok null null

run_check missing_empty_bearer \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer   \r\nX-API-Key:\r\n\r\n"
expect missing_empty_bearer missing_api_key 401 ok null null

# ---- invalid ----------------------------------------------------------------
run_check unknown "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_UNKNOWN\r\n\r\n"
expect unknown invalid_api_key 401 key_unknown null 'sk_live_****pUa2'
expect_response unknown invalid_api_key "$MSG_INVALID" "$CH_INVALID"

run_check bad_checksum \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer $K_BADSUM\r\n\r\n"
expect bad_checksum invalid_api_key 401 key_bad_checksum null 'sk_live_****cUGl'
expect_response bad_checksum invalid_api_key "$MSG_INVALID" "$CH_INVALID"

# A control byte inside a key header is a malformed key, as the server
# answers it (nginx hands such values to the module), not a parse error.
run_check control_byte_in_x_api_key \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: ${K_ACTIVE:0:20}\x01${K_ACTIVE:21}\r\n\r\n"
expect control_byte_in_x_api_key invalid_api_key 401 key_malformed null -
expect_response control_byte_in_x_api_key invalid_api_key "$MSG_INVALID" "$CH_INVALID"

run_check del_in_basic_authorization \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Basic \x7f\r\n\r\n"
expect del_in_basic_authorization invalid_api_key 401 key_malformed null -

run_check key_as_query_parameter_name \
  "GET /api/v1/iocs?${K_ACTIVE}=1 HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_ACTIVE\r\n\r\n"
expect key_as_query_parameter_name api_key_in_query 400 key_prefix_in_url null null
expect_response key_as_query_parameter_name api_key_in_query "$MSG_IN_QUERY" ""

run_check truncated \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer ${K_ACTIVE:0:30}\r\n\r\n"
# 22 characters after the prefix: the last four are shown
expect truncated invalid_api_key 401 key_bad_length null 'sk_live_****Zrkn'

run_check short_key "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: sk_live_abcdefghijk\r\n\r\n"
# 11 characters after the prefix: none of them shown
expect short_key invalid_api_key 401 key_bad_length null 'sk_live_****'

run_check tab_after_bearer \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer\t$K_ACTIVE\r\n\r\n"
expect tab_after_bearer invalid_api_key 401 key_malformed null -
expect_response tab_after_bearer invalid_api_key "$MSG_INVALID" "$CH_INVALID"

run_check not_token68 "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: sk_live_a b\r\n\r\n"
expect not_token68 invalid_api_key 401 key_malformed null -

# ---- expired ----------------------------------------------------------------
run_check deactivated "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_DEACT\r\n\r\n"
expect deactivated expired_api_key 401 key_deactivated key_00000000002 \
  'sk_live_****TBN4'
expect_response deactivated expired_api_key "$MSG_EXPIRED" "$CH_EXPIRED"

run_check expired "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer $K_EXPIRED\r\n\r\n"
expect expired expired_api_key 401 key_expired key_00000000003 'sk_live_****127O'
expect_response expired expired_api_key "$MSG_EXPIRED" "$CH_EXPIRED"

# ---- ambiguous --------------------------------------------------------------
run_check duplicate_x_api_key \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_ACTIVE\r\nX-API-Key: $K_ACTIVE\r\n\r\n"
expect duplicate_x_api_key ambiguous_api_key 400 duplicate_field null -
expect_response duplicate_x_api_key ambiguous_api_key "$MSG_AMBIGUOUS" ""

run_check conflicting_keys \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer $K_ACTIVE\r\nX-API-Key: $K_UNKNOWN\r\n\r\n"
expect conflicting_keys ambiguous_api_key 400 conflicting_keys null -
expect_response conflicting_keys ambiguous_api_key "$MSG_AMBIGUOUS" ""

# ---- key in the query -------------------------------------------------------
run_check query_key_beats_valid_header \
  "GET /api/v1/iocs?api_key=$K_ACTIVE HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer $K_ACTIVE\r\n\r\n"
assert_eq api_key_in_query "$(field query_key_beats_valid_header decision)" \
  "query: decision"
assert_eq 400 "$(field query_key_beats_valid_header status)" "query: status"
expect_response query_key_beats_valid_header api_key_in_query "$MSG_IN_QUERY" ""

run_check query_percent_encoded_prefix \
  "GET /x?q=sk%%5Flive%%5Fabc HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
assert_eq api_key_in_query "$(field query_percent_encoded_prefix decision)" \
  "percent-encoded query: decision"

# ---- flags ------------------------------------------------------------------
run_check custom_realm "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n" --realm 'My API'
expect_response custom_realm missing_api_key "$MSG_MISSING" 'Bearer realm="My API"'

run_check prefix_policy \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_FOREIGN\r\n\r\n" --policy prefix
expect prefix_policy valid 200 ok key_00000000004 'sk_live_****cd=='

run_check strict_policy_refuses_foreign \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_FOREIGN\r\n\r\n"
expect strict_policy_refuses_foreign invalid_api_key 401 key_bad_length null \
  'sk_live_****cd=='

run_check test_prefix \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_TEST\r\n\r\n" --prefix sk_test_
expect test_prefix valid 200 ok key_00000000005 'sk_test_****iVSz'

run_check test_prefix_refuses_live \
  "GET / HTTP/1.1\r\nHost: api.example.com\r\nX-API-Key: $K_ACTIVE\r\n\r\n" --prefix sk_test_
expect test_prefix_refuses_live invalid_api_key 401 key_bad_prefix null \
  '****cUGk'

# ---- request ids are fresh --------------------------------------------------
assert_not_contains "$(field missing_basic_scheme request_id)" \
  "$(field missing request_id)" "two runs share a request_id"

kg_done
