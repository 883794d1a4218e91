#!/usr/bin/env bash
# load_cli.sh — `keygate load`'s exit codes and messages, as grep and diff
# have them: 2 and one stderr line "keygate load: ..." for a usage error or
# a run that cannot happen (bad option values, a class the key file lacks,
# an unreadable key file, a target nothing listens on), with nothing on
# stdout; 1 when a threshold is violated, each violated one named on
# stderr and none that holds; 0 when every threshold holds.
#
# Environment: KEYGATE (the keygate program). Needs python3.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
FAKE="$(cd "$(dirname "$0")" && pwd)/fake_api.py"

# ---- helpers --------------------------------------------------------------

# make_keys FILE [CLASS...] — a key file as `keygate keys seed --out` writes
# one, one random key (sk_live_ + 38 base62) per CLASS, mode 0600.
make_keys() {
  key_file "$@"
}

# fake_start / fake_stop: tests/integration/fake_common.bash
. "$(dirname "$0")/fake_common.bash"

# usage_error WHAT REGEX ARGS... — `keygate load ARGS` exits 2 with one
# stderr line that starts "keygate load: " and matches REGEX (extended),
# and prints nothing on stdout.
usage_error() {
  local what=$1 regex=$2
  shift 2
  assert_exit 2 "$what: exit" -- timeout 30 "$KEYGATE" load "$@"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what: one line on stderr ($(head -c 300 "$TMP/err"))"
  assert_eq "keygate load: " "$(head -c 14 "$TMP/err")" "$what: the line names the command"
  KG_ASSERTS=$((KG_ASSERTS + 1))
  grep -qE "$regex" "$TMP/err" ||
    kg_fail "$what: stderr [$(cat "$TMP/err")] does not match /$regex/"
  assert_eq "" "$(cat "$TMP/out")" "$what: nothing on stdout"
}

# checks FILE — assertions on the JSON document FILE, read from stdin, one
# a line: WHAT ;; COND [;; SHOW]. COND and SHOW are Python (d is the
# document); each line is one assertion; the first false COND fails the
# script, printing SHOW's value.
checks() {
  kg_json_checks "$1"
}

KEYS=$TMP/keys.tsv
make_keys "$KEYS" valid valid valid valid expired deactivated
VALID_ONLY=$TMP/valid.tsv
make_keys "$VALID_ONLY" valid valid
mkdir "$TMP/adir"
fake_start ok

# ---- 2: usage errors, and runs that cannot happen ---------------------------
# Against a server that answers, so nothing but the named fault can be why.
usage_error "no URL" "give the URL" --keys "$KEYS" -n 10
usage_error "two URLs" "one URL only" "$URL" "$URL" --keys "$KEYS" -n 10
usage_error "not an http URL" "http:// or https://" "ftp://127.0.0.1/" --keys "$KEYS" -n 10
usage_error "bad --mix weight" "^keygate load: --mix 'valid=abc'" "$URL" --keys "$KEYS" --mix valid=abc -n 10
usage_error "--mix with an unknown class" "^keygate load: --mix 'bogus=5'" "$URL" --keys "$KEYS" --mix bogus=5 -n 10
usage_error "--mix naming a class twice" "^keygate load: --mix 'valid=5,valid=5'" "$URL" --keys "$KEYS" --mix valid=5,valid=5 -n 10
usage_error "--mix sending nothing" "^keygate load: --mix" "$URL" --keys "$KEYS" --mix valid=0 -n 10
usage_error "--duration without a unit" "^keygate load: --duration '10': .*unit" "$URL" --keys "$KEYS" --duration 10
usage_error "unknown option" "^keygate load: unknown option '--bogus'" "$URL" --keys "$KEYS" --bogus -n 10
usage_error "option without its value" "^keygate load: option -c needs a value" "$URL" --keys "$KEYS" -n 10 -c
usage_error "--rate below 10^-6" "^keygate load: --rate '0.0000000000001': at least 0.000001" "$URL" --keys "$KEYS" --rate 0.0000000000001
# a duration of zero or less is refused as such (it was "want a duration
# with its unit", which 0s has)
usage_error "--duration 0s" "^keygate load: --duration '0s': must be more than zero" "$URL" --keys "$KEYS" --duration 0s
usage_error "--duration -1s" "^keygate load: --duration '-1s': must be more than zero" "$URL" --keys "$KEYS" -d -1s
# every unit of the one time grammar is named in --help (d was taken, not named)
assert_exit 0 "load --help" -- "$KEYGATE" load --help
assert_contains "ms, s, m, h, d or w" "$(cat "$TMP/out")" "load --help names every unit of -d"
usage_error "--duration past 30 days" "^keygate load: --duration '10000000000s': at most 720h" "$URL" --keys "$KEYS" --duration 10000000000s
usage_error "--warmup past 30 days" "^keygate load: --warmup '721h': at most 720h" "$URL" --keys "$KEYS" --warmup 721h
usage_error "--duration with --requests" "exclude each other" "$URL" --keys "$KEYS" --duration 2s --requests 10
usage_error "bad --threshold (operator)" "^keygate load: --threshold 'p99<<5': missing number after the operator" "$URL" --keys "$KEYS" -n 10 --threshold 'p99<<5'
usage_error "bad --threshold (metric)" "^keygate load: --threshold 'p98<5ms'" "$URL" --keys "$KEYS" -n 10 --threshold 'p98<5ms'
usage_error "bad --threshold (unit)" "^keygate load: --threshold 'p99<5parsecs'" "$URL" --keys "$KEYS" -n 10 --threshold 'p99<5parsecs'
usage_error "a latency threshold without its unit" \
  "^keygate load: --threshold 'p99<50': .*p99 is a latency: give its unit \(us, ms or s\)" \
  "$URL" --keys "$KEYS" -n 10 --threshold 'p99<50'
usage_error "bad --expect" "^keygate load: --expect 'invalid=99'" "$URL" --keys "$KEYS" -n 10 --expect invalid=99
usage_error "--json - and --html - both" "^keygate load: --json - and --html - both want standard output" \
  "$URL" --keys "$KEYS" -n 10 --json - --html -
# a seed past 2^64 - 1 is refused, never clamped; negative and signed ones too
for seed in 18446744073709551616 99999999999999999999 -1 +5 1e3 ""; do
  usage_error "--seed '$seed'" "^keygate load: --seed '.*': want a number 0\.\.18446744073709551615" \
    "$URL" --keys "$KEYS" -n 10 --seed "$seed"
done
usage_error "fewer connections than threads" "^keygate load: --connections \(1\) must be at least --threads \(2\)" \
  "$URL" --keys "$KEYS" -n 10 -c 1 -t 2
usage_error "a class the key file lacks" "^keygate load: --mix asks for expired keys and the key file has none" \
  "$URL" --keys "$VALID_ONLY" --mix valid=50,expired=50 -n 10
usage_error "the default mix, a key file without expired keys" "expired" \
  "$URL" --keys "$VALID_ONLY" -n 10
usage_error "a key file that does not exist" "^keygate load: cannot read the key file $TMP/none.tsv" \
  "$URL" --keys "$TMP/none.tsv" -n 10
usage_error "a key file that is a folder" "^keygate load: cannot read the key file $TMP/adir" \
  "$URL" --keys "$TMP/adir" -n 10
usage_error "a --json file that cannot be written" "^keygate load: $TMP/adir/no/r\.json" \
  "$URL" --keys "$KEYS" -n 10 -q --json "$TMP/adir/no/r.json"
DEAD=$(kg_free_port) # nothing listens there
usage_error "a target nothing listens on" "^keygate load: cannot connect to 127\.0\.0\.1:$DEAD" \
  "http://127.0.0.1:$DEAD/api/v1/iocs" --keys "$KEYS" -n 10

# the largest seed is kept exactly (it was clamped to 2^63 - 1 before)
assert_exit 0 "--seed 2^64 - 1: exit" -- timeout 30 "$KEYGATE" load "$URL" \
  --keys "$KEYS" -c 2 -n 20 -q --seed 18446744073709551615 --json "$TMP/seed.json"
assert_eq 18446744073709551615 "$(json_get "$TMP/seed.json" config | python3 -c 'import json, sys
print(json.load(sys.stdin)["seed"])')" "--seed 2^64 - 1: in the JSON"

# ---- 0 and --help --------------------------------------------------------------
assert_exit 0 "--help: exit" -- "$KEYGATE" load --help
assert_contains "usage: keygate load URL" "$(cat "$TMP/out")" "--help: usage on stdout"
assert_eq "" "$(cat "$TMP/err")" "--help: nothing on stderr"

assert_exit 0 "thresholds that hold: exit" -- timeout 30 "$KEYGATE" load "$URL" \
  --keys "$KEYS" -c 4 -n 500 --json "$TMP/hold.json" \
  --threshold 'p99<10s' --threshold 'errors<1%' --threshold 'valid.p99.9<10s'
assert_eq "" "$(cat "$TMP/err")" "thresholds that hold: nothing on stderr (not a terminal)"
# and mismatches==0, whose metric none of them names (errors<1% names errors)
assert_contains "thresholds: 4 of 4 hold" "$(cat "$TMP/out")" "thresholds that hold: the table says so"
checks "$TMP/hold.json" <<'EOF'
thresholds that hold: four in the JSON ;; [t['expr'] for t in d['thresholds']] == ['p99<10s', 'errors<1%', 'valid.p99.9<10s', 'mismatches==0'] ;; d['thresholds']
thresholds that hold: each holds ;; all(t['holds'] is True for t in d['thresholds']) ;; d['thresholds']
thresholds that hold: 500 requests ;; d['classes']['all']['requests'] == 500 ;; d['classes']['all']['requests']
thresholds that hold: p99 measured in seconds, below 10 ;; 0 < d['thresholds'][0]['actual'] < 10 ;; d['thresholds'][0]
EOF

assert_exit 0 "--quiet: exit" -- timeout 30 "$KEYGATE" load "$URL" --keys "$KEYS" \
  -c 2 -n 100 --quiet
assert_eq "" "$(cat "$TMP/out")$(cat "$TMP/err")" "--quiet: no output at all"

# ---- 1: a violated threshold, named ---------------------------------------------
assert_exit 1 "rps>=100000000: exit" -- timeout 30 "$KEYGATE" load "$URL" \
  --keys "$KEYS" -c 4 -n 500 --json "$TMP/rps.json" --threshold 'rps>=100000000'
assert_eq 1 "$(wc -l <"$TMP/err")" "rps>=100000000: one line on stderr"
assert_contains "keygate load: threshold violated: rps>=100000000" "$(cat "$TMP/err")" \
  "rps>=100000000: stderr names it"
assert_contains "VIOLATED" "$(cat "$TMP/out")" "rps>=100000000: the table says so"
checks "$TMP/rps.json" <<'EOF'
rps>=100000000: violated in the JSON, the defaults held ;; [(t['expr'], t['holds']) for t in d['thresholds']] == [('rps>=100000000', False), ('mismatches==0', True), ('errors==0', True)] ;; d['thresholds']
rps>=100000000: the measured rate is the run's ;; abs(d['thresholds'][0]['actual'] - d['totals']['rps']) <= 0.01 * d['totals']['rps'] ;; [d['thresholds'][0], d['totals']]
rps>=100000000: every answer verified ;; d['totals']['mismatches'] == 0 and d['errors']['overall'] == 0 ;; d['totals']
EOF

# One violated among several: only it is named.
assert_exit 1 "one of three violated: exit" -- timeout 30 "$KEYGATE" load "$URL" \
  --keys "$KEYS" -c 4 -n 500 --threshold 'mismatches==0' --threshold 'p99<1us' \
  --threshold 'errors<1%'
assert_contains "threshold violated: p99<1us" "$(cat "$TMP/err")" "one of three violated: named"
assert_eq 1 "$(wc -l <"$TMP/err")" "one of three violated: only it on stderr"
assert_contains "thresholds: 2 of 3 hold" "$(cat "$TMP/out")" "one of three violated: the table"

# A class that was not sent measures 0 on every metric: requests>0 fails.
assert_exit 1 "expired.requests>0 with no expired traffic: exit" -- timeout 30 \
  "$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 100 --mix valid=1 \
  --threshold 'expired.requests>0'
assert_contains "threshold violated: expired.requests>0" "$(cat "$TMP/err")" \
  "expired.requests>0 with no expired traffic: named"

fake_stop
kg_done
