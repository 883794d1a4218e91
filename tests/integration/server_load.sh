#!/usr/bin/env bash
# server_load.sh — `keygate load` against the real thing: `keygate serve`
# (nginx with the keygate module and the reference API) on loopback, over a
# store seeded with `keygate keys seed`. With each credential header
# (bearer, x-api-key, mixed) every response verifies, the per-class counts
# add up to the total, follow the mix and match the decisions in the
# server's access log, and no key body appears in any
# output; --mix valid=100 sends only valid keys; a key file that lies about
# a key's class is caught against the real server too.
#
# Named server_*.sh so ctest gives it KEYGATE_NGINX_MODULE. Environment:
# KEYGATE (the keygate program: keys seed, serve and load),
# KEYGATE_NGINX_MODULE; KEYGATE_LOAD, when set, is the program whose
# `load` is tested (default $KEYGATE).
set -euo pipefail
# shellcheck source=tests/integration/server_common.bash
. "$(dirname "$0")/server_common.bash"

LOAD=${KEYGATE_LOAD:-$KEYGATE}
N=3000
TOL=0.03 # each class's share of the requests: within 3 points of the mix

# checks FILE — assertions on the JSON document FILE, read from stdin, one
# a line: WHAT ;; COND [;; SHOW]. COND and SHOW are Python (d is the
# document); each line is one assertion; the first false COND fails the
# script, printing SHOW's value.
checks() {
  kg_json_checks "$1"
}

# assert_no_keys WHAT FILE... — no key body of the store (the 38
# characters after sk_live_) in FILEs. Only the file is named, never the key.
assert_no_keys() {
  local what=$1 f
  shift
  KG_ASSERTS=$((KG_ASSERTS + 1))
  for f in "$@"; do
    if grep -qF -f "$T/bodies" "$f"; then
      kg_fail "$what: a full key appears in $(basename "$f")"
    fi
  done
}

# load NAME [options] — keygate load at the reference API (at most 60 s);
# exit status in RC, stdout, stderr and JSON in $T/NAME.{out,err,json}.
load() {
  local name=$1
  shift
  RC=0
  timeout 60 "$LOAD" load "http://127.0.0.1:$PORT/api/v1/iocs" \
    --json "$T/$name.json" "$@" >"$T/$name.out" 2>"$T/$name.err" || RC=$?
}

"$KEYGATE" keys seed --valid 40 --expired 5 --deactivated 5 \
  --out "$T/keys.tsv" >"$T/seed.out"
sed -n 's/^[a-z]*\tsk_live_//p' "$T/keys.tsv" >"$T/bodies"
assert_eq 50 "$(grep -cE '^[A-Za-z0-9]{38}$' "$T/bodies")" "seeded key bodies to grep for"
assert_eq "40 5 5" "$(printf '%s ' "$(grep -c '^valid' "$T/keys.tsv")" \
  "$(grep -c '^expired' "$T/keys.tsv")" "$(grep -c '^deactivated' "$T/keys.tsv")" |
  sed 's/ $//')" "seeded classes"
start_serve

# ---- each header: all verified, counts add up, shares follow the mix --------
for header in bearer x-api-key mixed; do
  before=$(wc -l <"$T/logs/access.log")
  load "$header" --keys "$T/keys.tsv" --header "$header" --requests "$N" \
    --threads 2 -c 8
  assert_eq 0 "$RC" "$header: exit ($(head -c 400 "$T/$header.err"))"
  # The server's side: its access log's decisions for this run (nginx
  # writes each line as the request ends; wait for them, at most 5 s).
  for _ in $(seq 1 100); do
    [ $(($(wc -l <"$T/logs/access.log") - before)) -ge "$N" ] && break
    sleep 0.05
  done
  SRV=$(tail -n +$((before + 1)) "$T/logs/access.log" |
    awk '{ n[$9]++ } END { for (k in n) printf "\"%s\": %d, ", k, n[k] }')
  checks "$T/$header.json" <<EOF
$header: set-up echoed ;; (d['config']['header'], d['config']['threads'], d['config']['connections'], d['config']['protocol']) == ('$header', 2, 8, 'http/1.1') ;; d['config']
$header: $N requests ;; d['classes']['all']['requests'] == d['totals']['requests'] == $N ;; d['totals']
$header: classes add up to the total ;; sum(d['classes'][c]['requests'] for c in C) == d['classes']['all']['requests'] ;; {c: d['classes'][c]['requests'] for c in C}
$header: zero mismatches ;; d['totals']['mismatches'] == 0 and all(d['classes'][c]['mismatches'] == 0 for c in C) ;; {c: d['classes'][c]['mismatch_kinds'] for c in C}
$header: zero errors ;; d['errors']['overall'] == 0 ;; d['errors']
$header: every response verified ;; all(d['classes'][c]['ok'] == d['classes'][c]['requests'] for c in C) ;; {c: (d['classes'][c]['ok'], d['classes'][c]['requests']) for c in C}
$header: no sample ;; d['samples'] == [] ;; d['samples']
$header: the default mix ;; d['config']['mix'] == {'valid': 70, 'invalid': 15, 'missing': 10, 'expired': 5} ;; d['config']['mix']
$header: each share within $TOL of the mix ;; all(abs(d['classes'][c]['requests'] / $N - d['config']['mix'][c] / 100) <= $TOL for c in C) ;; {c: d['classes'][c]['requests'] / $N for c in C}
$header: the server logged what load counted ;; {$SRV} == {'valid': d['classes']['valid']['requests'], 'invalid_api_key': d['classes']['invalid']['requests'], 'missing_api_key': d['classes']['missing']['requests'], 'expired_api_key': d['classes']['expired']['requests']} ;; [{$SRV}, {c: d['classes'][c]['requests'] for c in C}]
$header: latency per class ;; all(0 < d['classes'][c]['latency_us']['p50'] <= d['classes'][c]['latency_us']['max'] for c in C) ;; {c: d['classes'][c]['latency_us'] for c in C}
EOF
  assert_no_keys "$header" "$T/$header.out" "$T/$header.err" "$T/$header.json"
done

# ---- --mix valid=100 sends only valid keys ----------------------------------
load only-valid --keys "$T/keys.tsv" --mix valid=100 --requests 1000 -c 4
assert_eq 0 "$RC" "valid=100: exit ($(head -c 400 "$T/only-valid.err"))"
checks "$T/only-valid.json" <<'EOF'
valid=100: all valid ;; d['classes']['valid']['requests'] == d['classes']['all']['requests'] == 1000 ;; {c: d['classes'][c]['requests'] for c in C}
valid=100: no other class ;; all(d['classes'][c]['requests'] == 0 for c in C[1:]) ;; {c: d['classes'][c]['requests'] for c in C}
valid=100: all verified ;; d['classes']['valid']['ok'] == 1000 ;; d['classes']['valid']
EOF
assert_no_keys "valid=100" "$T/only-valid.out" "$T/only-valid.err" "$T/only-valid.json"

# ---- the real server is checked, not trusted -------------------------------
# Expired and deactivated keys labelled valid: the server answers them
# expired_api_key, which is a status mismatch in the valid class.
sed -n 's/^\(expired\|deactivated\)\t/valid\t/p' "$T/keys.tsv" >"$T/lying.tsv"
load lying --keys "$T/lying.tsv" --mix valid=100 --requests 300 -c 4
assert_eq 1 "$RC" "mislabelled keys: exit"
assert_contains "threshold violated: mismatches==0" "$(cat "$T/lying.err")" \
  "mislabelled keys: names the threshold"
checks "$T/lying.json" <<'EOF'
mislabelled keys: every answer a status mismatch ;; d['classes']['valid']['mismatch_kinds']['status'] == d['classes']['valid']['requests'] == 300 ;; d['classes']['valid']
mislabelled keys: samples mask the key ;; all(s['key'].startswith('sk_live_****') and len(s['key']) == 16 for s in d['samples']) ;; [s['key'] for s in d['samples']]
mislabelled keys: samples show the 401 ;; len(d['samples']) == 10 and all(s['status'] == 401 for s in d['samples']) ;; d['samples']
EOF
assert_no_keys "mislabelled keys" "$T/lying.out" "$T/lying.err" "$T/lying.json"
# A sample says why the server refused: the body's error.code, read for a
# status mismatch even in the valid class (load/verify.h, kgl_verify).
checks "$T/lying.json" <<'EOF'
mislabelled keys: samples name the code the server sent ;; all(s['code'] == 'expired_api_key' for s in d['samples']) ;; [s['code'] for s in d['samples']]
EOF

stop_serve
kg_done
