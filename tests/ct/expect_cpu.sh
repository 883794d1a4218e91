#!/usr/bin/env bash
# tests/ct/expect_cpu.sh CT_TIMING — KG_CT_EXPECT_CPU as expect_cpu.h reads
# it, through ct_timing (which checks it before it measures anything):
# every value that is not a list of feature words is exit 2 with a message
# on stderr, never a pass or a skip; "none" (the _baseline runs) is 2 while
# the process still uses a feature, 0 with KEYGATE_CPU=baseline. Runs that
# would measure are not made: only the refusals and the skips.
set -euo pipefail
bin=$1
exp=eq32_equal_vs_random
fails=0 asserts=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

# expect RC VALUE [ENV...] — ct_timing's exit code with KG_CT_EXPECT_CPU=VALUE
expect() {
  local want=$1 value=$2 rc=0
  shift 2
  env "$@" KG_CT_EXPECT_CPU="$value" "$bin" "$exp" >"$out" 2>"$err" || rc=$?
  asserts=$((asserts + 1))
  if [ "$rc" -ne "$want" ]; then
    fail "KG_CT_EXPECT_CPU='$value' $*: exit $rc, want $want ($(cat "$err" "$out" | head -c 300))"
  elif [ "$want" -eq 2 ] && ! grep -q "^ct_timing: " "$err"; then
    fail "KG_CT_EXPECT_CPU='$value' $*: exit 2 without a message on stderr"
  elif [ "$want" -eq 77 ] && ! grep -q "^ct_timing: SKIP: " "$out"; then
    fail "KG_CT_EXPECT_CPU='$value' $*: exit 77 without a SKIP line"
  fi
}
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

for v in "" "," ",sha" "sha," "sha,,avx2" "SHA" "avx" "nonee" "none,sha" \
  "sha,none" " sha"; do
  expect 2 "$v"
done
# the CPU paths this process takes by default (printed before any refusal)
env KG_CT_EXPECT_CPU=bogus "$bin" "$exp" >"$out" 2>/dev/null || true
if grep -q "CPU paths: none beyond the x86-64 baseline" "$out"; then
  echo "expect_cpu: this CPU (or KEYGATE_CPU) gives no feature: 'none' holds by default here"
else
  expect 2 "none" # the process uses a feature: not a baseline run
  expect 2 "none" KEYGATE_CPU=basline
fi
# a feature taken away: the run for it is skipped, not passed
expect 77 "avx2" KEYGATE_CPU=baseline
expect 77 "sha" KEYGATE_CPU=baseline
expect 77 "avx2,sha" KEYGATE_CPU=baseline

if [ "$fails" -gt 0 ]; then
  echo "FAIL: expect_cpu.sh: $fails of $asserts assertions failed"
  exit 1
fi
echo "PASS: expect_cpu.sh: $asserts assertions"
