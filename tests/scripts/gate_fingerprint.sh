#!/usr/bin/env bash
# gate_fingerprint.sh — the instruction gate's baseline per toolchain
# fingerprint (ctest scripts.gate_fingerprint).
#
# A baseline file holds one entry per toolchain. On a toolchain it has no
# entry for, the gate fails in CI (CI=true) naming what differs, unless a
# re-baseline is asked for (--rebaseline or KEYGATE_GATE_REBASELINE=1),
# which adds today's entry and passes; outside CI it warns and passes. A
# re-baseline never hides a regression on a toolchain that has an entry.
# --update-baseline replaces today's entry and keeps the others
# (--drop-others removes them). Measures fresh, two operations.
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
gate=(env -u CI -u KEYGATE_GATE_REBASELINE "$py" "$src/scripts/bench-instructions")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ops=decide_valid,key_check_valid

fail() {
  echo "gate_fingerprint: $*" >&2
  exit 1
}

# run NAME [VAR=VALUE...] -- GATE ARGS: output in NAME.out, exit code in $rc.
run() {
  local name=$1
  shift
  local vars=()
  while [ "$1" != "--" ]; do
    vars+=("$1")
    shift
  done
  shift
  set +e
  "${gate[@]:0:5}" "${vars[@]}" "${gate[@]:5}" "$@" >"$tmp/$name.out" 2>&1
  rc=$?
  set -e
  cat "$tmp/$name.out"
}

# entries FILE: the number of toolchain entries in a baseline file.
entries() {
  "$py" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["baselines"]))' "$1"
}

run measure -- --ops "$ops" --update-baseline --baseline "$tmp/base.json"
[ "$rc" -eq 0 ] || fail "could not measure"
[ "$(entries "$tmp/base.json")" -eq 1 ] || fail "a fresh baseline should have one entry"

# other.json: the same counts under another OpenSSL only.
"$py" - "$tmp/base.json" "$tmp/other.json" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
base["baselines"][0]["fingerprint"]["openssl"] = "OpenSSL 0.0.1 (elsewhere)"
json.dump(base, open(sys.argv[2], "w"), indent=2)
PY
cp "$tmp/other.json" "$tmp/other.orig.json"

# 1. CI=true, unknown toolchain: exit 1, naming what differs and the fix;
#    the baseline file is left alone.
run ci CI=true -- --ops "$ops" --baseline "$tmp/other.json"
[ "$rc" -eq 1 ] || fail "CI=true on an unknown toolchain exited $rc, expected 1"
grep -q "^bench-instructions: FAIL unknown toolchain in CI (openssl differ" "$tmp/ci.out" ||
  fail "the CI failure does not name the differing entry"
grep -q -- "--rebaseline' (or set KEYGATE_GATE_REBASELINE=1)" "$tmp/ci.out" ||
  fail "the CI failure does not say how to re-baseline"
cmp -s "$tmp/other.json" "$tmp/other.orig.json" || fail "the failing gate changed the baseline"

# 2. Outside CI (CI unset, or CI=false): the same file warns and passes.
for ci in "" "CI=false"; do
  run local ${ci:+"$ci"} -- --ops "$ops" --baseline "$tmp/other.json"
  [ "$rc" -eq 0 ] || fail "'${ci:-no CI}' on an unknown toolchain exited $rc, expected 0"
  grep -q "^bench-instructions: WARNING: baseline from another toolchain (openssl)" \
    "$tmp/local.out" || fail "'${ci:-no CI}': no warning"
done

# 3. --no-pin is diagnosis: never fails, even in CI.
run nopin CI=true -- --ops "$ops" --baseline "$tmp/base.json" --no-pin
[ "$rc" -eq 0 ] || fail "--no-pin in CI exited $rc, expected 0"

# 4. CI=true told to re-baseline: today's entry is added, exit 0; then the
#    gate enforces it.
for how in flag env; do
  cp "$tmp/other.orig.json" "$tmp/other.json"
  if [ "$how" = flag ]; then
    run rebase CI=true -- --baseline "$tmp/other.json" --rebaseline
  else
    run rebase CI=true KEYGATE_GATE_REBASELINE=1 -- --baseline "$tmp/other.json"
  fi
  [ "$rc" -eq 0 ] || fail "re-baseline ($how) exited $rc, expected 0"
  grep -q "^bench-instructions: REBASELINE: new toolchain (openssl differ)" \
    "$tmp/rebase.out" || fail "re-baseline ($how) does not say what it did"
  [ "$(entries "$tmp/other.json")" -eq 2 ] || fail "re-baseline ($how) did not add an entry"
  run after CI=true -- --ops "$ops" --baseline "$tmp/other.json"
  [ "$rc" -eq 0 ] || fail "CI=true after a re-baseline ($how) exited $rc"
  grep -q "^bench-instructions: ok" "$tmp/after.out" || fail "no ok after re-baseline ($how)"
done

# 5. A re-baseline does not hide a regression on a known toolchain: today's
#    entry made 10 % cheaper for decide_valid still fails.
"$py" - "$tmp/other.json" "$tmp/cheaper.json" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
for e in base["baselines"]:
    if not e["fingerprint"]["openssl"].startswith("OpenSSL 0.0.1"):
        e["operations"]["decide_valid"] = round(e["operations"]["decide_valid"] * 0.9, 1)
json.dump(base, open(sys.argv[2], "w"), indent=2)
PY
cp "$tmp/cheaper.json" "$tmp/cheaper.orig.json"
run hide CI=true KEYGATE_GATE_REBASELINE=1 -- --ops "$ops" --baseline "$tmp/cheaper.json"
[ "$rc" -eq 1 ] || fail "a re-baseline hid a regression on a known toolchain (exit $rc)"
grep -q "^bench-instructions: FAIL decide_valid: " "$tmp/hide.out" || fail "decide_valid not named"
cmp -s "$tmp/cheaper.json" "$tmp/cheaper.orig.json" || fail "a failing re-baseline wrote the file"

# 6. --update-baseline replaces today's entry and keeps the other's;
#    --drop-others removes it.
run upd -- --ops "$ops" --update-baseline --baseline "$tmp/cheaper.json"
[ "$rc" -eq 0 ] || fail "--update-baseline exited $rc"
[ "$(entries "$tmp/cheaper.json")" -eq 2 ] || fail "--update-baseline lost the other entry"
grep -q "note: kept the baseline of another toolchain (gcc .*, OpenSSL 0.0.1" "$tmp/upd.out" ||
  fail "--update-baseline does not name the entry it kept"
run ok CI=true -- --ops "$ops" --baseline "$tmp/cheaper.json"
[ "$rc" -eq 0 ] || fail "after --update-baseline the gate exited $rc"
run drop -- --ops "$ops" --update-baseline --drop-others --baseline "$tmp/cheaper.json"
[ "$(entries "$tmp/cheaper.json")" -eq 1 ] || fail "--drop-others kept another entry"

# 7. --rebaseline with --ops is a usage error: a new entry measures every
#    operation (it used to be ignored, and the failure named it as the fix).
run both CI=true -- --ops "$ops" --baseline "$tmp/other.json" --rebaseline
[ "$rc" -eq 2 ] || fail "--rebaseline --ops exited $rc, expected 2"
grep -q "drop --ops" "$tmp/both.out" || fail "--rebaseline --ops does not say to drop --ops"

echo "gate_fingerprint: ok (unknown toolchain: fails in CI, warns elsewhere;" \
  "re-baseline adds an entry and cannot hide a regression)"
