#!/usr/bin/env bash
# fuzz/build.sh — configure and build the libFuzzer targets (clang,
# ASan+UBSan); used by scripts/fuzz and scripts/fuzz-test.
#
#   fuzz/build.sh            the `fuzz` preset, in build/fuzz
#   FUZZ_BUILD_DIR=DIR fuzz/build.sh
#                            the same settings in another folder (what a
#                            helper or a second checkout uses)
# KEYGATE_FUZZ_SECONDS (default 20) sets how long each ctest fuzz run lasts.
# Prints nothing but errors; the build folder is $FUZZ_BUILD_DIR or
# build/fuzz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${KEYGATE_FUZZ_SECONDS:-20}
jobs=${JOBS:-2}
if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
  cmake -S . -B "$FUZZ_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DKEYGATE_TESTS=OFF -DKEYGATE_FUZZ=ON -DKEYGATE_NGINX=OFF \
    -DKEYGATE_FUZZ_SECONDS="$seconds" >/dev/null
  cmake --build "$FUZZ_BUILD_DIR" -j"$jobs" --target fuzz_all fuzz_replay_all \
    >/dev/null
else
  cmake --preset fuzz -DKEYGATE_FUZZ_SECONDS="$seconds" >/dev/null
  cmake --build --preset fuzz -j"$jobs" --target fuzz_all fuzz_replay_all \
    >/dev/null
fi
