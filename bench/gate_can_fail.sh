#!/usr/bin/env bash
# gate_can_fail.sh — proves the instruction-count gate can fail (ctest
# bench.gate_can_fail).
#
# With a baseline measured now, the gate passes; with the same baseline
# made 10 % cheaper for one operation, it must exit 1 and name that
# operation, and only that one. Measuring fresh (rather than reading the
# committed baseline) keeps this test about the gate itself: the committed
# baseline is checked by scripts/test, which runs the gate.
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
gate=("$py" "$src/scripts/bench-instructions")
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
base["operations"][sys.argv[3]] = round(base["operations"][sys.argv[3]] * 0.9, 1)
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
echo "gate_can_fail: ok (fails naming $cheap, passes $other)"
