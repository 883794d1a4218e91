#!/usr/bin/env bash
# tests/ct/taint.sh — run ct_taint under valgrind memcheck and judge it.
#   taint.sh clean   BINARY MODE   valgrind must report nothing
#   taint.sh branch  BINARY MODE   valgrind must report a conditional jump on
#                                  tainted data inside leaky_equal
#   taint.sh address BINARY MODE   valgrind must report a tainted address
#                                  inside leaky_chain_lookup
# In every case the program itself must finish its work (exit 0). Valgrind's
# own verdict comes back as exit code 99 (--error-exitcode), so a finding
# is never confused with the program failing.
set -euo pipefail
expect=$1 bin=$2 mode=$3

if ! command -v valgrind >/dev/null 2>&1; then
  echo "taint: valgrind not found; install it (scripts/setup lists it)"
  exit 1
fi
# ASan and UBSan runtimes do not work under valgrind, and a sanitized build
# is not the code that ships: refuse it.
# nm's whole list first: `nm | grep -q` under pipefail fails open when grep
# stops reading early and nm dies of SIGPIPE.
if ! syms=$(nm "$bin"); then
  echo "taint: nm $bin failed"
  exit 1
fi
if [[ $syms =~ __(a|ub)san_ ]]; then
  echo "taint: $bin is built with sanitizers; tests/ct must build it without"
  exit 1
fi

log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
set +e
valgrind --tool=memcheck --error-exitcode=99 --track-origins=yes \
  --log-file="$log" "$bin" "$mode" >"$out"
rc=$?
set -e
cat "$out"
# Show valgrind's findings (not its banner) so a failure explains itself.
grep -vE '^==[0-9]+== (Memcheck|Copyright|Using Valgrind|Command|$)' "$log" |
  head -60 || true
errors=$(grep -oE 'ERROR SUMMARY: [0-9]+ errors' "$log" | grep -oE '[0-9]+' |
  head -1 || true)
echo "taint: mode $mode, valgrind exit $rc, ${errors:-?} errors"

# A run for a CPU path this process does not take (KG_CT_EXPECT_CPU,
# tests/ct/expect_cpu.h) is skipped, not judged: ctest's SKIP_RETURN_CODE.
if [ "$rc" -eq 77 ] && grep -q '^ct_taint: SKIP: ' "$out"; then
  exit 77
fi
if [ "$rc" -eq 2 ]; then
  echo "taint: FAIL: ct_taint $mode refused its arguments or environment (exit 2: its message is above)"
  exit 1
fi
# The program prints one summary line per part when it finished its work.
if ! grep -q "^taint $mode" "$out"; then
  echo "taint: FAIL: ct_taint $mode did not finish its work (exit $rc)"
  exit 1
fi

case $expect in
clean)
  if [ "$rc" -ne 0 ]; then
    echo "taint: FAIL: expected no valgrind error and exit 0"
    exit 1
  fi
  ;;
branch | address)
  if [ "$rc" -ne 99 ]; then
    echo "taint: FAIL: the leaky lookup went unreported (exit $rc, want 99):"
    echo "taint: the detector does not work"
    exit 1
  fi
  if [ "$expect" = branch ]; then
    want='Conditional jump or move depends on uninitialised value' fn=leaky_equal
  else
    want='Use of uninitialised value of size' fn=leaky_chain_lookup
  fi
  if ! grep -q "$want" "$log" || ! grep -q "$fn" "$log" ||
    ! grep -q 'created by a client request' "$log"; then
    echo "taint: FAIL: expected '$want' in $fn, traced to the client request"
    exit 1
  fi
  if grep -q 'kg_' "$log"; then
    echo "taint: FAIL: valgrind blamed keygate code in a leak-control run"
    exit 1
  fi
  echo "taint: the detector works: it caught the deliberate leak in $fn"
  ;;
*)
  echo "taint: unknown expectation '$expect'"
  exit 2
  ;;
esac
