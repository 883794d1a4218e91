#!/usr/bin/env bash
# fuzz/test-oss-fuzz-build.sh — run fuzz/oss-fuzz-build.sh without Docker,
# with the variables OSS-Fuzz / ClusterFuzzLite set for a libFuzzer
# ASan+UBSan build, then check what it wrote and run every built binary
# once over its own seed corpus (unzipped from <target>_seed_corpus.zip),
# with its .options and .dict, as the services' runner does.
#
#   fuzz/test-oss-fuzz-build.sh        (needs clang, zip, unzip)
#
# Prints one line per target and a closing "N passed, N failed" line; exits
# non-zero when the build or any target fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keygate-ossfuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# As the services' base-builder sets them (address + undefined).
export SRC="$tmp/src" WORK="$tmp/work" OUT="$tmp/out"
export CC=clang CXX=clang++
export SANITIZER=address FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64
san="-fsanitize=address,undefined -fsanitize-address-use-after-scope -fno-sanitize-recover=undefined"
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $san -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer
mkdir -p "$SRC" "$WORK" "$OUT"
# The services build from $SRC/<project>: use a copy, so nothing depends on
# the script being run from the source tree it lives in.
mkdir -p "$SRC/keygate"
cp -r "$root/core" "$root/load" "$root/fuzz" "$root/corpus" "$SRC/keygate/"

bash "$SRC/keygate/fuzz/oss-fuzz-build.sh" > "$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log"
  echo "oss-fuzz-build: the build failed"
  exit 1
}

passed=0
failed=0
for src in "$root"/fuzz/fuzz_*.c; do
  t=$(basename "${src%.c}")
  problems=()
  for f in "$OUT/$t" "$OUT/$t.options" "$OUT/${t}_seed_corpus.zip"; do
    [ -s "$f" ] || problems+=("missing $(basename "$f")")
  done
  if [ -f "$root/fuzz/$t.dict" ] && ! cmp -s "$root/fuzz/$t.dict" "$OUT/$t.dict"; then
    problems+=("missing or stale $t.dict")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    seeds="$tmp/seeds/$t"
    mkdir -p "$seeds"
    unzip -q "$OUT/${t}_seed_corpus.zip" -d "$seeds"
    want=$(find "$root/corpus/$t" -type f | wc -l)
    got=$(find "$seeds" -type f | wc -l)
    [ "$want" -eq "$got" ] || problems+=("zip holds $got seeds, corpus $want")
    args=(-runs=0 -artifact_prefix="$tmp/")
    max_len=$(sed -n 's/^max_len *= *\([0-9][0-9]*\).*/\1/p' "$OUT/$t.options")
    [ -n "$max_len" ] && args+=(-max_len="$max_len")
    [ -f "$OUT/$t.dict" ] && args+=(-dict="$OUT/$t.dict")
    if ! "$OUT/$t" "${args[@]}" "$seeds" > "$tmp/$t.log" 2>&1; then
      problems+=("crashed on its seed corpus (see below)")
      tail -n 30 "$tmp/$t.log"
    elif ! grep -q "INITED" "$tmp/$t.log"; then
      problems+=("did not run its corpus")
    fi
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $t: built, $got seeds ran"
    passed=$((passed + 1))
  else
    echo "FAIL $t: ${problems[*]}"
    failed=$((failed + 1))
  fi
done
echo "oss-fuzz-build: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
