#!/usr/bin/env bash
# cli_stdout.sh — standard output is what a command promises there, or the
# command says it is not (docs/cli.md, "Exit status"):
#  - with a document on stdout (load --json - or --html -, probe --json -)
#    stdout holds that document alone: the table goes to stderr (review:
#    load --html - and probe --json - printed the table before it);
#  - a write to stdout that fails (here onto /dev/full) is exit 2 and one
#    line naming standard output and the reason, for every command that
#    prints there (review: report show/check/compare, probe and probe
#    --list exited 0, and report show --format json said "-: cannot
#    write" with no reason).
#
# Environment: KEYGATE. Needs python3.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE:?KEYGATE must name the keygate program}"
VALID=sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk
EXPIRED=sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4
printf '%s\n' "$VALID" >"$TMP/valid.key"
KEYS=$TMP/keys.tsv
printf 'valid\t%s\nexpired\t%s\n' "$VALID" "$EXPIRED" >"$KEYS"
. "$(dirname "$0")/fake_common.bash"
fake_start ok
kg_on_exit fake_stop

# ---- a document on stdout is alone there ------------------------------------
assert_exit 0 "load --html -" -- "$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 40 --html -
assert_eq "<!DOCTYPE html>" "$(head -n 1 "$TMP/out")" "load --html -: stdout starts with the page"
assert_not_contains "keygate load  http" "$(cat "$TMP/out")" "load --html -: no table on stdout"
assert_contains "keygate load  http" "$(cat "$TMP/err")" "load --html -: the table on stderr"

assert_exit 0 "probe --json -" -- "$KEYGATE" probe "$URL" --key-file "$TMP/valid.key" \
  --only no_key,bearer_valid --interval 0s --json -
cp "$TMP/out" "$TMP/probe.json"
kg_json_checks "$TMP/probe.json" <<'CHECKS'
probe --json -: stdout is the JSON alone ;; d["schema"] == "keygate-probe v1"
CHECKS
assert_contains "no_key" "$(cat "$TMP/err")" "probe --json -: the table on stderr"

# ---- a failed write to stdout is exit 2, one line naming it -----------------
"$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 40 --json "$TMP/a.json" -q ||
  kg_fail "the first run failed"
"$KEYGATE" load "$URL" --keys "$KEYS" -c 2 -n 40 --json "$TMP/b.json" -q ||
  kg_fail "the second run failed"

# full WANT CMD WHAT ARGS... — with stdout on /dev/full: exit WANT, one line
# "keygate CMD: cannot write ... standard output: No space left on device"
full() {
  local want=$1 cmd=$2 what=$3 rc=0
  shift 3
  "$KEYGATE" "$@" >/dev/full 2>"$TMP/err" || rc=$?
  assert_eq "$want" "$rc" "$what onto /dev/full: exit"
  assert_eq 1 "$(wc -l <"$TMP/err")" "$what onto /dev/full: one line ($(head -c 300 "$TMP/err"))"
  assert_match "^keygate${cmd:+ $cmd}: cannot write (the table )?to standard output: No space left on device$" \
    "$(cat "$TMP/err")" "$what onto /dev/full: the line"
}

if [ -c /dev/full ]; then
  for f in table markdown json; do
    full 2 "report show" "report show --format $f" report show "$TMP/a.json" --format "$f"
  done
  full 2 "report check" "report check" report check "$TMP/a.json"
  # a violated threshold is 1 when the table got out, 2 when it did not
  assert_exit 1 "report check, violated" -- "$KEYGATE" report check "$TMP/a.json" --threshold 'p99<1us'
  full 2 "report check" "report check, violated" report check "$TMP/a.json" --threshold 'p99<1us'
  for f in table markdown json; do
    full 2 "report compare" "report compare --format $f" report compare "$TMP/a.json" "$TMP/b.json" --format "$f"
  done
  full 2 "report merge" "report merge" report merge "$TMP/a.json" "$TMP/b.json" --force
  full 2 "probe" "probe --list" probe --list
  full 2 "probe" "probe" probe "$URL" --key-file "$TMP/valid.key" --only no_key --interval 0s
  full 2 "probe" "probe --json -" probe "$URL" --key-file "$TMP/valid.key" --only no_key \
    --interval 0s --json - -q
  full 2 "load" "load" load "$URL" --keys "$KEYS" -c 2 -n 20
  full 2 "" "keygate --help" --help
  full 2 "" "keygate version" version
else
  echo "skip: writes that fail (no /dev/full)"
fi

kg_done
