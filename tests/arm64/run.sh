#!/usr/bin/env bash
# tests/arm64/run.sh BUILD_DIR — ctest's core.arm64: the core and the unit
# tests of its modules, built for arm64 by Debian's cross compiler
# (tests/arm64/CMakeLists.txt) into BUILD_DIR and run under qemu-user.
# What x86-64 does not show: the scalar twins of every SIMD path as arm64
# compiles them (no SSE2 there), char unsigned, the 64-bit product of the
# bucket reduction, the CPU choice (cpu.c) with no x86 features. Not shown:
# speed, and anything of a real arm64 core's memory order (qemu runs one
# thread at a time here).
# Exit 0: every test passed; 1: one failed or did not build; 77 (ctest:
# skipped): the cross tools are missing (scripts/setup installs them) or
# this machine is arm64 itself (the plain unit tests run there).
set -euo pipefail
build=${1:?usage: tests/arm64/run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(uname -m)" = aarch64 ]; then
  echo "SKIP: this machine is arm64: unit.* run the core natively"
  exit 77
fi
missing=()
for tool in aarch64-linux-gnu-gcc qemu-aarch64 cmake; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
for lib in libcrypto.so libz.so libcmocka.so; do
  [ -e "/usr/lib/aarch64-linux-gnu/$lib" ] || missing+=("$lib (arm64)")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIP: missing ${missing[*]}; scripts/setup installs them"
  exit 77
fi

mkdir -p "$build"
if ! cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$here/toolchain.cmake" >"$build/configure.log" 2>&1; then
  cat "$build/configure.log"
  echo "FAIL: core.arm64: configure failed"
  exit 1
fi
if ! cmake --build "$build" -j2 >"$build/build.log" 2>&1; then
  tail -n 40 "$build/build.log"
  echo "FAIL: core.arm64: the arm64 build failed"
  exit 1
fi

tests=$(cat "$build/tests.txt")
failed=0
ran=0
for m in $tests; do
  bin="$build/test_$m"
  if ! file -b "$bin" | grep -q 'ARM aarch64'; then
    echo "FAIL: $bin is not an arm64 program: $(file -b "$bin")"
    failed=$((failed + 1))
    continue
  fi
  out=$(cd "$build" && timeout 300 qemu-aarch64 "$bin" 2>&1) && rc=0 || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | tail -n 30
    echo "FAIL: test_$m under qemu-aarch64: exit $rc"
    failed=$((failed + 1))
  else
    echo "ok: test_$m ($(printf '%s\n' "$out" | grep -o 'PASSED  \] [0-9]* test' | grep -o '[0-9]*') cases)"
  fi
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "FAIL: core.arm64: no test listed in $build/tests.txt"
  exit 1
fi
if [ "$failed" -gt 0 ]; then
  echo "FAIL: core.arm64: $failed of $ran programs failed"
  exit 1
fi
echo "core.arm64: $ran programs passed under qemu-aarch64"
