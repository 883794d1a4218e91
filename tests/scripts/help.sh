#!/usr/bin/env bash
# help.sh — --help of the fuzzing, benchmark and top-level scripts (ctest
# scripts.help): exit 0, a usage line, the options documented whole, and
# nothing started (no build, no run); an unknown option exits 2.
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "help: $*" >&2
  exit 1
}

# script | words its --help must contain
cases=(
  "fuzz|reproduce minimize add-seed coverage --merge --dry-run Exit"
  "fuzz-test|KEYGATE_FUZZ_SECONDS crashes exit"
  "fuzz-coverage|FUZZ_COVERAGE_MIN html Exit"
  "bench|--filter --repetitions --quick --out --report --build-dir git_commit Exit"
  "bench-compare|--fail-above --markdown --json --metric inconclusive Exit"
  "bench-instructions|--update-baseline --rebaseline KEYGATE_GATE_REBASELINE CI=true Exit"
  "demo|serve load verified Exit"
  "lint|clang-tidy cppcheck BUILD Exit"
  "setup|apt-get Idempotent Exit"
  "test|ctest lint timing Exit"
)
for c in "${cases[@]}"; do
  IFS='|' read -r s words <<<"$c"
  # A --help that starts work would run for minutes: bound it.
  set +e
  timeout 20 "$src/scripts/$s" --help >"$tmp/$s.out" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || { cat "$tmp/$s.out"; fail "scripts/$s --help exited $rc"; }
  grep -qi "usage\|scripts/$s" "$tmp/$s.out" || fail "scripts/$s --help has no usage"
  for w in $words; do
    grep -q -- "$w" "$tmp/$s.out" || fail "scripts/$s --help does not mention $w"
  done
  if grep -qE "^[a-z-]+: (building|plan:)|^setup:|^==>" "$tmp/$s.out"; then
    fail "scripts/$s --help started work"
  fi
  set +e
  timeout 20 "$src/scripts/$s" --no-such-option >"$tmp/$s.bad" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || { cat "$tmp/$s.bad"; fail "scripts/$s --no-such-option exited $rc, expected 2"; }
done
echo "help: ok (${#cases[@]} scripts)"
