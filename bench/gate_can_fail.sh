#!/usr/bin/env bash
# gate_can_fail.sh — proves the instruction-count gate can fail (ctest
# bench.gate_can_fail).
#
# With a baseline measured now, the gate passes; with the same baseline
# made 10 % cheaper for one operation (same fingerprint), it must exit 1 and
# name that operation, and only that one. With that cheaper baseline under
# another toolchain's fingerprint (or none, as older baselines have), it
# must print the comparison and one warning line on how to refresh, and
# exit 0 (outside CI: CI=true is unset here; tests/scripts/gate_fingerprint.sh
# tests the CI rule). Measuring fresh (rather than reading the committed baseline)
# keeps this test about the gate itself: the committed baseline is checked
# by scripts/test, which runs the gate.
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
# Outside CI: an unknown toolchain warns (CI=true would fail it).
gate=(env -u CI -u KEYGATE_GATE_REBASELINE "$py" "$src/scripts/bench-instructions")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cheap=decide_valid  # the operation made cheaper in the baseline
other=key_check_valid
ops="$cheap,$other"

fail() {
  echo "gate_can_fail: $*" >&2
  exit 1
}

"${gate[@]}" --ops "$ops" --update-baseline --baseline "$tmp/base.json" \
  >"$tmp/update.out" 2>&1 || { cat "$tmp/update.out"; fail "could not measure"; }

# 1. Against what was just measured: passes.
if ! "${gate[@]}" --ops "$ops" --baseline "$tmp/base.json" >"$tmp/pass.out" 2>&1; then
  cat "$tmp/pass.out"
  fail "the gate failed against its own fresh baseline (counts not deterministic?)"
fi
grep -q "bench-instructions: ok" "$tmp/pass.out" || fail "no 'ok' line on a pass"

# 2. Against a baseline 10 % cheaper for $cheap: fails, naming it alone.
"$py" - "$tmp/base.json" "$tmp/cheaper.json" "$cheap" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
ops = base["baselines"][0]["operations"]
ops[sys.argv[3]] = round(ops[sys.argv[3]] * 0.9, 1)
json.dump(base, open(sys.argv[2], "w"), indent=2)
PY
set +e
"${gate[@]}" --ops "$ops" --baseline "$tmp/cheaper.json" >"$tmp/fail.out" 2>&1
rc=$?
set -e
cat "$tmp/fail.out"
[ "$rc" -eq 1 ] || fail "expected exit 1 against the cheaper baseline, got $rc"
grep -q "^bench-instructions: FAIL $cheap: " "$tmp/fail.out" ||
  fail "the failure does not name $cheap"
if grep -q "FAIL $other" "$tmp/fail.out"; then
  fail "$other failed too: the gate is not selective"
fi
grep -Eq "^$cheap .*\+1[01]\.[0-9]%  FAIL" "$tmp/fail.out" ||
  fail "$cheap is not reported about 11% over the cheaper baseline"

# 3. The same cheaper baseline from another toolchain: compared, not enforced.
"$py" - "$tmp/cheaper.json" "$tmp/other.json" "$tmp/nofp.json" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
entry = base["baselines"][0]
assert len(base["baselines"]) == 1, "a fresh baseline has one toolchain"
assert entry["fingerprint"]["openssl"], "no fingerprint in a fresh baseline"
other = json.loads(json.dumps(base))
other["baselines"][0]["fingerprint"]["openssl"] = "OpenSSL 0.0.0 (another toolchain)"
json.dump(other, open(sys.argv[2], "w"), indent=2)
# The older one-toolchain format without a fingerprint.
old = {"iterations": base["iterations"],
       "tolerance_percent": base["tolerance_percent"],
       "operations": entry["operations"]}
json.dump(old, open(sys.argv[3], "w"), indent=2)
PY
for variant in other nofp; do
  set +e
  "${gate[@]}" --ops "$ops" --baseline "$tmp/$variant.json" >"$tmp/$variant.out" 2>&1
  rc=$?
  set -e
  cat "$tmp/$variant.out"
  [ "$rc" -eq 0 ] || fail "$variant: expected exit 0 with another toolchain's baseline, got $rc"
  grep -Eq "^$cheap .*\+1[01]\.[0-9]%  over \(not enforced\)" "$tmp/$variant.out" ||
    fail "$variant: the comparison of $cheap is not printed as not enforced"
  if grep -q "FAIL" "$tmp/$variant.out"; then
    fail "$variant: a FAIL was printed although the toolchain differs"
  fi
  [ "$(grep -c "^bench-instructions: WARNING: " "$tmp/$variant.out")" -eq 1 ] ||
    fail "$variant: expected exactly one WARNING line"
  grep -q "^bench-instructions: WARNING: baseline from another toolchain.*--update-baseline" \
    "$tmp/$variant.out" || fail "$variant: the warning does not say how to refresh"
done
grep -q "openssl: baseline 'OpenSSL 0.0.0 (another toolchain)'" "$tmp/other.out" ||
  fail "the differing fingerprint entry is not named"

# 4. Updating some operations of another toolchain's baseline is refused.
set +e
"${gate[@]}" --ops "$other" --update-baseline --baseline "$tmp/other.json" \
  >"$tmp/merge.out" 2>&1
rc=$?
set -e
cat "$tmp/merge.out"
[ "$rc" -ne 0 ] || fail "merged today's counts into another toolchain's baseline"
grep -q "another toolchain" "$tmp/merge.out" || fail "the refusal does not say why"

echo "gate_can_fail: ok (fails naming $cheap, passes $other; another" \
  "toolchain's baseline warns and passes)"
