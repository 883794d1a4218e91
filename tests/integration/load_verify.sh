#!/usr/bin/env bash
# load_verify.sh — `keygate load` catches and classifies every way a server
# can break the key contract (SPEC §1.4). fake_api.py answers correctly, or
# wrongly in exactly one way in one class; for each wrong mode the run must
# exit 1 (the default threshold mismatches==0 is violated) and the JSON
# must blame the right kind in the right class, with only masked keys in
# its samples. A connection closed mid-response is a socket error
# (errors.closed), not a mismatch; chunked bodies are correct; --expect
# overrides an expectation.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
FAKE="$(cd "$(dirname "$0")" && pwd)/fake_api.py"
N=1000 # requests per run

# ---- helpers --------------------------------------------------------------

# make_keys FILE — a key file as `keygate keys seed --out` writes one: 8
# valid, 2 expired, 2 deactivated keys (sk_live_ + 38 base62), mode 0600.
make_keys() {
  key_file "$1" valid valid valid valid valid valid valid valid expired expired deactivated deactivated
}

# fake_start / fake_stop: tests/integration/fake_common.bash
. "$(dirname "$0")/fake_common.bash"

# load NAME [options] — one bounded run against $URL; its exit status in
# RC, stdout, stderr and JSON in $TMP/NAME.{out,err,json}.
load() {
  local name=$1
  shift
  RC=0
  timeout 60 "$KEYGATE" load "$URL" --keys "$KEYS" -c 4 -n "$N" \
    --json "$TMP/$name.json" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err" || RC=$?
  RUN=$name
}

# checks — assertions on the last run's JSON, read from stdin, one a line:
#   WHAT ;; COND [;; SHOW]
# COND and SHOW are Python (d is the document, re is imported); each line
# counts as one assertion, and the first COND that is false fails the
# script, printing SHOW's value (COND's parts when SHOW is absent). One
# python3 for all the lines of a run.
checks() {
  kg_json_checks "$TMP/$RUN.json"
}

# assert_rc WANT WHAT — the last run's exit status.
assert_rc() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  if [ "$RC" != "$1" ]; then
    kg_fail "$2: exit $RC, want $1; stderr: $(head -c 600 "$TMP/$RUN.err")"
  fi
}

# assert_no_keys WHAT — no key body of $KEYS (the 38 characters after
# sk_live_) in the last run's stdout, stderr or JSON. The key itself is
# never printed, only the file it was found in.
assert_no_keys() {
  KG_ASSERTS=$((KG_ASSERTS + 1))
  local f
  for f in "$TMP/$RUN.out" "$TMP/$RUN.err" "$TMP/$RUN.json"; do
    if [ -e "$f" ] && grep -qF -f "$TMP/bodies" "$f"; then
      kg_fail "$1: a full key appears in $(basename "$f")"
    fi
  done
}

# Samples show keys as sk_live_****Ab3x (or sk_live_**** when too short to
# show four), never more; the missing class has no key.
MASKED='all(re.fullmatch(r"sk_live_\*{4}([A-Za-z0-9]{4})?|\(none\)", s["key"]) for s in d["samples"])'

KEYS=$TMP/keys.tsv
make_keys "$KEYS"
cut -f2 "$KEYS" | sed 's/^sk_live_//' >"$TMP/bodies"
assert_eq 12 "$(grep -cE '^[A-Za-z0-9]{38}$' "$TMP/bodies")" "38-character key bodies to grep for"

# ---- a correct server: everything verifies ---------------------------------
fake_start ok
load ok
assert_rc 0 "ok: exit"
checks <<EOF
ok: requests ;; d['classes']['all']['requests'] == $N ;; d['classes']['all']['requests']
ok: no mismatch ;; d['totals']['mismatches'] == 0 ;; d['classes']['all']['mismatch_kinds']
ok: no socket error ;; d['errors']['overall'] == 0 ;; d['errors']
ok: no sample ;; d['samples'] == [] ;; d['samples']
ok: every class sent ;; all(d['classes'][c]['requests'] > 0 for c in ('valid', 'invalid', 'missing', 'expired')) ;; {c: v['requests'] for c, v in d['classes'].items()}
EOF
assert_no_keys "ok"

# --expect changes what is expected: a 200 for invalid keys is now wanted,
# so the contract's 401 is a status mismatch in the invalid class.
load ok-expect --expect invalid=200
assert_rc 1 "ok + --expect invalid=200: exit"
checks <<EOF
ok + --expect invalid=200: every invalid answer a status mismatch ;; d['classes']['invalid']['mismatch_kinds']['status'] == d['classes']['invalid']['requests'] > 0 ;; d['classes']['invalid']
ok + --expect invalid=200: no other class mismatches ;; d['totals']['mismatches'] == d['classes']['invalid']['mismatches'] ;; {c: v['mismatches'] for c, v in d['classes'].items()}
EOF

# keys the server does not hold (seeded into another store: a first hour's
# mistake): every valid answer is invalid_api_key, and one line says what
# that most likely means, naming the key file and no key
make_keys "$TMP/other.tsv"
load other-keys --keys "$TMP/other.tsv"
assert_rc 1 "keys the server lacks: exit"
assert_contains "keygate load: every valid key was refused (401 invalid_api_key): the server knows none of the valid keys in $TMP/other.tsv; does it read the store they were seeded into?" \
  "$(cat "$TMP/$RUN.err")" "keys the server lacks: says so"
assert_not_contains "every valid key was refused" "$(cat "$TMP/ok.err")" \
  "a correct run: no such line"
fake_stop

# ---- each wrong mode: caught, in the right class, as the right kind --------
# MODE CLASS KIND ALLOWED — ALLOWED: the kinds the class may show besides
# KIND (a malformed body has no code to compare; a 200 has no challenge).
while read -r mode cls kind allowed <&3; do
  fake_start "$mode"
  load "$mode"
  assert_rc 1 "$mode: exit"
  assert_contains "keygate load: threshold violated: mismatches==0" \
    "$(cat "$TMP/$RUN.err")" "$mode: names the threshold"
  assert_not_contains "every valid key was refused" "$(cat "$TMP/$RUN.err")" \
    "$mode: the valid class is not blamed on the keys"
  c="d['classes']['$cls']"
  checks <<EOF
$mode: $cls traffic sent ;; ${c}['requests'] > 0 ;; $c
$mode: every $cls answer a '$kind' mismatch ;; ${c}['mismatch_kinds']['$kind'] == ${c}['mismatches'] == ${c}['requests'] ;; $c
$mode: only the expected kinds ;; {k for k, n in ${c}['mismatch_kinds'].items() if n} <= set('$kind,$allowed'.split(',')) ;; ${c}['mismatch_kinds']
$mode: no other class mismatches ;; d['totals']['mismatches'] == ${c}['mismatches'] ;; {c: v['mismatches'] for c, v in d['classes'].items()}
$mode: all requests answered ;; d['classes']['all']['requests'] == $N and d['errors']['overall'] == 0 ;; [d['classes']['all']['requests'], d['errors']]
$mode: samples kept ;; 0 < len(d['samples']) <= 10 ;; len(d['samples'])
$mode: samples name the class and kind ;; all(s['class'] == '$cls' and '$kind' in s['kinds'] for s in d['samples']) ;; [(s['class'], s['kinds']) for s in d['samples']]
$mode: sample keys masked ;; $MASKED ;; [s['key'] for s in d['samples']]
EOF
  assert_no_keys "$mode"
  fake_stop
done 3<<'EOF'
invalid-200 invalid status code,body,www_authenticate,request_id,content_type
wrong-code invalid code -
no-www-auth expired www_authenticate -
malformed-body missing body code,request_id
request-id-mismatch expired request_id -
EOF

# ---- --expect for an API that differs on purpose ----------------------------
fake_start invalid-200
load invalid-200-expect --expect invalid=200
assert_rc 0 "invalid-200 + --expect invalid=200: exit"
checks <<EOF
invalid-200 + --expect: no mismatch ;; d['totals']['mismatches'] == 0 ;; d['classes']['invalid']
invalid-200 + --expect: echoed in config ;; d['config']['expect']['invalid']['status'] == 200 ;; d['config']['expect']
EOF
fake_stop

fake_start wrong-code
load wrong-code-expect --expect invalid=401:unauthorized
assert_rc 0 "wrong-code + --expect invalid=401:unauthorized: exit"
checks <<EOF
wrong-code + --expect: no mismatch ;; d['totals']['mismatches'] == 0 ;; d['classes']['invalid']
EOF
fake_stop

# ---- chunked bodies are correct ---------------------------------------------
fake_start ok-chunked
load ok-chunked
assert_rc 0 "ok-chunked: exit"
checks <<EOF
ok-chunked: requests ;; d['classes']['all']['requests'] == $N ;; d['classes']['all']
ok-chunked: no mismatch, no error ;; d['totals']['mismatches'] == 0 and d['errors']['overall'] == 0 ;; [d['classes']['all']['mismatch_kinds'], d['errors']]
EOF
assert_no_keys "ok-chunked"
fake_stop

# ---- a connection closed mid-response is a socket error ---------------------
# Every 7th answer is cut: about N/7 of them, all "closed", none a mismatch.
fake_start close-mid-response --close-every 7
# (errors<=100% names errors: the default errors==0 is not added)
load close --threshold mismatches==0 --threshold 'errors<=100%'
assert_rc 0 "close-mid-response: exit (mismatches==0 holds)"
checks <<EOF
close-mid-response: not a mismatch ;; d['totals']['mismatches'] == 0 ;; d['classes']['all']['mismatch_kinds']
close-mid-response: errors.closed about N/7 ;; $N // 7 * 0.9 <= d['errors']['closed'] <= $N // 7 * 1.1 ;; d['errors']
close-mid-response: only 'closed' errors ;; d['errors']['overall'] == d['errors']['closed'] == d['classes']['all']['error_kinds']['closed'] ;; d['errors']
close-mid-response: requests count the errors ;; d['classes']['all']['requests'] == $N ;; d['classes']['all']['requests']
EOF
assert_contains "closed" "$(cat "$TMP/$RUN.out")" "close-mid-response: the table names the error kind"
assert_no_keys "close-mid-response"
load close-threshold --threshold errors==0
assert_rc 1 "close-mid-response + errors==0: exit"
assert_contains "threshold violated: errors==0" "$(cat "$TMP/$RUN.err")" \
  "close-mid-response + errors==0: names the threshold"
# without --threshold the run is held to mismatches==0 and errors==0
load close-default
assert_rc 1 "close-mid-response, default thresholds: exit"
assert_contains "threshold violated: errors==0" "$(cat "$TMP/$RUN.err")" \
  "close-mid-response, default thresholds: names errors==0"
fake_stop

kg_done
