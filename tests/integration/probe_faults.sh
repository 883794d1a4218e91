#!/usr/bin/env bash
# probe_faults.sh — `keygate probe` against servers that lie in one way
# each (fake_api.py's probe modes; a regression test per finding of the
# review of issue 11):
#   rid-key          an X-Request-Id made of 24 characters of the key: the
#                    report (table, stderr, JSON) never shows it, and the
#                    case deviates naming the echo;
#   echo-chunked     the key in a 2xx body split by chunk framing: caught;
#   echo-b64, echo-b64url, echo-pct, echo-json
#                    the key base64- (both alphabets), percent- or
#                    \uXXXX-encoded: caught, and no output shows it;
#   noquote          §1.4's challenge with token realm and error and no
#                    error_description: each 401 case deviates naming it;
#   trickle          an answer one byte every 300 ms: --timeout 1s is each
#                    case's deadline, so the run ends in seconds;
#   h2-split         an h2c SETTINGS frame in two writes: HTTP/2 only, exit 2;
#   close-delimited over TLS, closed without close_notify: the answers are
#                    whole (probe and `keygate load` alike);
#   big-body, big-body-echo, big-error
#                    a 256 KiB 2xx body passes (it was a deviation: "longer
#                    than 64 KiB"), a key at 200 KiB across a chunk boundary
#                    is caught, an error answer over 64 KiB still deviates;
#   echo-short, echo-forever
#                    the key in an answer that closes early (Content-Length
#                    larger than sent) or never ends (chunked forever): the
#                    key crossed the wire, the echo is noted and the case
#                    listed under no_key_echo (review 3, F5);
#   echo-trailer, echo-ext
#                    the key in a chunk trailer or a chunk extension past
#                    the first 64 KiB: caught (review 3, F4).
#
# Environment: KEYGATE. Needs python3 and openssl.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
HERE=$(cd "$(dirname "$0")" && pwd)

# two test keys with valid checksums, in no store (the fake knows them)
kg_probe_test_keys # VALID, EXPIRED and their files (lib.sh)

# fake MODE [ARGS...] — fake_api.py --mode MODE (it picks its port); sets
# FAKE_PORT.
fake() {
  local mode=$1
  shift
  kg_listener_start "fake_api.py --mode $mode" python3 "$HERE/fake_api.py" \
    --keys "$TMP/keys.tsv" --mode "$mode" --max-seconds 120 "$@"
  FAKE_PID=$KG_LISTENER_PID
  FAKE_PORT=$KG_LISTENER_PORT
}

fake_stop() {
  kill "$FAKE_PID" 2>/dev/null || true
  wait "$FAKE_PID" 2>/dev/null || true
}

# probe NAME SCHEME [options] — keygate probe at the fake (at most 60 s);
# exit status in RC, output in $TMP/NAME.{out,err,json}, time in WALL_MS.
probe() {
  local name=$1 scheme=$2 t0
  shift 2
  RC=0
  t0=$(date +%s%N)
  timeout 60 "$KEYGATE" probe "$scheme://127.0.0.1:$FAKE_PORT/api/v1/iocs" \
    --key-file "$TMP/valid.key" --expired-key-file "$TMP/expired.key" \
    --interval 0 --json "$TMP/$name.json" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
  WALL_MS=$((($(date +%s%N) - t0) / 1000000))
}



ECHO="the answer holds a piece of a key sent"

# ---- finding 1: a request id made of the key ----------------------------------
fake rid-key
probe rid http --only bearer_valid,unknown_key_bearer,no_key,request_id_unique
assert_eq 1 "$RC" "rid-key: exit ($(head -c 300 "$TMP/rid.err"))"
# -q drops the table, not the verdict: one line on stderr says how many
# cases deviate (it printed nothing at all and exited 1), masked as all is
probe ridq http --only bearer_valid,unknown_key_bearer,no_key,request_id_unique -q
assert_eq 1 "$RC" "rid-key -q: exit ($(head -c 300 "$TMP/ridq.err"))"
assert_eq "" "$(cat "$TMP/ridq.out")" "rid-key -q: no table"
assert_eq 1 "$(wc -l <"$TMP/ridq.err")" "rid-key -q: one line on stderr"
assert_match "^keygate probe: [1-4] of 4 cases deviate from the contract; the JSON report says which$" \
  "$(cat "$TMP/ridq.err")" "rid-key -q: the line"
kg_probe_no_key_shown ridq
kg_probe_verdicts rid "bearer_valid=deviation:$ECHO" "unknown_key_bearer=deviation:$ECHO" \
  no_key=pass request_id_unique=pass
kg_probe_no_key_shown rid
KG_ASSERTS=$((KG_ASSERTS + 1))
python3 - "$TMP/rid.json" <<'EOF' || kg_fail "rid-key: request_id reported"
import json, sys
c = {c["name"]: c for c in json.load(open(sys.argv[1]))["cases"]}
assert c["bearer_valid"]["request_id"] is None, c["bearer_valid"]
assert c["no_key"]["request_id"].startswith("req_"), c["no_key"]
EOF
fake_stop

# ---- findings 2 and 3: echoes in a chunked 2xx body, and encoded ---------------
fake echo-chunked
probe chunked http --only bearer_valid,x_api_key_valid,no_key
assert_eq 1 "$RC" "echo-chunked: exit"
kg_probe_verdicts chunked "bearer_valid=deviation:$ECHO" "x_api_key_valid=deviation:$ECHO" no_key=pass
kg_probe_no_key_shown chunked
fake_stop

for mode in echo-b64 echo-b64url echo-pct echo-json; do
  fake "$mode"
  probe "$mode" http --only no_key,unknown_key_bearer,bearer_tab,expired_bearer
  assert_eq 1 "$RC" "$mode: exit ($(head -c 300 "$TMP/$mode.err"))"
  kg_probe_verdicts "$mode" no_key=pass "unknown_key_bearer=deviation:$ECHO" \
    "bearer_tab=deviation:$ECHO" "expired_bearer=deviation:$ECHO"
  kg_probe_no_key_shown "$mode"
  fake_stop
done

# ---- finding 7: §1.4's challenge to the letter ---------------------------------
fake noquote
probe noquote http --only no_key,unknown_key_bearer,expired_bearer,bearer_valid
assert_eq 1 "$RC" "noquote: exit"
kg_probe_verdicts noquote "no_key=deviation:realm is not a quoted-string" \
  "unknown_key_bearer=deviation:realm is not a quoted-string" \
  "expired_bearer=deviation:realm is not a quoted-string" bearer_valid=pass
fake_stop

# ---- finding 5: --timeout is a case's deadline ---------------------------------
fake trickle --delay-ms 300
probe trickle http --only no_key,bearer_valid --timeout 1s
assert_eq 1 "$RC" "trickle: exit ($(head -c 300 "$TMP/trickle.err"))"
kg_probe_verdicts trickle "no_key=deviation:no whole answer within 1s" \
  "bearer_valid=deviation:no whole answer within 1s"
KG_ASSERTS=$((KG_ASSERTS + 1))
[ "$WALL_MS" -lt 8000 ] || kg_fail "trickle: two cases took $WALL_MS ms with --timeout 1s"
fake_stop

# ---- finding 6: an HTTP/2 frame header in two reads ----------------------------
fake h2-split --delay-ms 200
probe h2split http --only no_key,bearer_valid
assert_eq 2 "$RC" "h2-split: exit ($(head -c 300 "$TMP/h2split.err"))"
assert_contains "speaks only HTTP/2" "$(cat "$TMP/h2split.err")" "h2-split: says why"
fake_stop

# ---- a long valid answer: read on, searched, not a deviation -------------------
# A 2xx body over the 64 KiB the probe keeps (256 KiB here) was "the answer
# is longer than 64 KiB", a deviation of every valid-key case against a
# conforming API. It is read to its end now (bounded by --timeout) and
# searched for key pieces as it streams: a key at 200 KiB, split by chunk
# framing, is still caught. An error answer stays bounded (its body is
# checked as JSON).
fake big-body
probe bigbody http --only bearer_valid,x_api_key_valid,no_key
assert_eq 0 "$RC" "big-body: exit ($(head -c 300 "$TMP/bigbody.err"); $(head -c 600 "$TMP/bigbody.out"))"
kg_probe_verdicts bigbody bearer_valid=pass x_api_key_valid=pass no_key=pass
fake_stop
fake big-body-echo
probe bigecho http --only bearer_valid,no_key
assert_eq 1 "$RC" "big-body-echo: exit"
kg_probe_verdicts bigecho "bearer_valid=deviation:$ECHO" no_key=pass
kg_probe_no_key_shown bigecho
fake_stop
fake big-error --body-kib 100
probe bigerror http --only bearer_valid,no_key
assert_eq 1 "$RC" "big-error: exit"
kg_probe_verdicts bigerror bearer_valid=pass "no_key=deviation:an error answer longer than 64 KiB"
fake_stop

# ---- the key in an answer that never became whole, or in framing past 64 KiB ---
# Before, an answer that closed early or never ended was "no answer" only
# (its echo computed and dropped, raw bytes never searched), and bytes past
# the first 64 KiB reached the search only de-chunked: a key in a trailer
# or a chunk extension there was not found.
fake echo-short
probe echoshort http --only bearer_valid,no_key,no_key_echo
assert_eq 1 "$RC" "echo-short: exit"
kg_probe_verdicts echoshort "bearer_valid=deviation:$ECHO" "bearer_valid=deviation:closed in the middle" \
  no_key=pass "no_key_echo=deviation:bearer_valid"
kg_probe_no_key_shown echoshort
fake_stop
fake echo-forever
probe echoforever http --only bearer_valid,no_key,no_key_echo --timeout 1s
assert_eq 1 "$RC" "echo-forever: exit"
kg_probe_verdicts echoforever "bearer_valid=deviation:$ECHO" "bearer_valid=deviation:no whole answer within" \
  no_key=pass "no_key_echo=deviation:bearer_valid"
kg_probe_no_key_shown echoforever
fake_stop
for mode in echo-trailer echo-ext; do
  fake "$mode" --body-kib 100
  probe "$mode" http --only bearer_valid,no_key,no_key_echo
  assert_eq 1 "$RC" "$mode: exit ($(head -c 300 "$TMP/$mode.err"))"
  kg_probe_verdicts "$mode" "bearer_valid=deviation:$ECHO" no_key=pass "no_key_echo=deviation:bearer_valid"
  kg_probe_no_key_shown "$mode"
  fake_stop
done

# ---- finding 4: TLS closed without close_notify --------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
  -keyout "$TMP/tls.key" -out "$TMP/tls.crt" 2>"$TMP/openssl.err" ||
  kg_fail "openssl req: $(cat "$TMP/openssl.err")"
fake close-delimited --cert "$TMP/tls.crt" --key "$TMP/tls.key"
probe tlseof https --insecure --only no_key,unknown_key_bearer,bearer_valid,expired_bearer
assert_eq 0 "$RC" "TLS close-delimited: exit ($(head -c 300 "$TMP/tlseof.err"); $(cat "$TMP/tlseof.out"))"
kg_probe_verdicts tlseof no_key=pass unknown_key_bearer=pass bearer_valid=pass expired_bearer=pass
# the load generator's native engine reads the same answers whole
RC=0
timeout 60 "$KEYGATE" load "https://127.0.0.1:$FAKE_PORT/api/v1/iocs" --insecure \
  --mix missing=100 -d 1s -c 2 --json "$TMP/load.json" \
  >"$TMP/load.out" 2>"$TMP/load.err" || RC=$?
KG_ASSERTS=$((KG_ASSERTS + 1))
python3 - "$TMP/load.json" <<'EOF' || kg_fail "load over TLS close-delimited: $(head -c 300 "$TMP/load.err")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["errors"]["overall"] == 0, d["errors"]
assert d["classes"]["all"]["requests"] > 0, d["classes"]["all"]
assert d["classes"]["all"]["ok"] == d["classes"]["all"]["requests"], d["classes"]["all"]
EOF
fake_stop

kg_done
