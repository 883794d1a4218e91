#!/usr/bin/env bash
# fuzz/oss-fuzz-build.sh — build keygate's fuzz targets the way OSS-Fuzz and
# ClusterFuzzLite expect (https://google.github.io/oss-fuzz/getting-started/
# new-project-guide/#buildsh), without CMake.
#
# Honours the variables the services set:
#   CC, CXX, CFLAGS, CXXFLAGS   compilers and their flags (sanitizers, and
#                               -fsanitize=fuzzer-no-link or coverage flags)
#   LIB_FUZZING_ENGINE          the engine to link (-fsanitize=fuzzer)
#   OUT                         where the binaries and their files go
#   SRC, WORK                   source and scratch folders (WORK optional)
# and, for this project:
#   KEYGATE_OPENSSL_DIR         prefix of an OpenSSL 3 build (include/, lib/)
#                               when the system's is older (the services'
#                               Ubuntu 20.04 image ships 1.1.1)
#
# Writes, for every fuzz/fuzz_*.c: $OUT/<target>, $OUT/<target>.dict,
# $OUT/<target>.options and $OUT/<target>_seed_corpus.zip (corpus/<target>/).
# Libraries are linked statically where a static archive exists, so the
# binaries run on the services' runner image, which lacks the -dev packages.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${OUT:?oss-fuzz-build: set OUT to the output folder}"
CC=${CC:-clang}
CXX=${CXX:-clang++}
CFLAGS=${CFLAGS:-}
CXXFLAGS=${CXXFLAGS:-}
LIB_FUZZING_ENGINE=${LIB_FUZZING_ENGINE:--fsanitize=fuzzer}
work=${WORK:-${TMPDIR:-/tmp}}/keygate-oss-fuzz
rm -rf "$work"
mkdir -p "$work/core" "$work/load" "$work/fuzz" "$OUT"

inc=(-I"$root/core/include" -I"$root/core/src" -I"$root/fuzz"
     -I"$root/load/include" -I"$root/load/src")
libdirs=()
if [ -n "${KEYGATE_OPENSSL_DIR:-}" ]; then
  inc=(-I"$KEYGATE_OPENSSL_DIR/include" "${inc[@]}")
  libdirs=(-L"$KEYGATE_OPENSSL_DIR/lib" -L"$KEYGATE_OPENSSL_DIR/lib64")
fi

# One library: -l<name> as a static archive when the compiler finds one.
static_or_shared() {
  local name=$1 dir
  for dir in "${KEYGATE_OPENSSL_DIR:+$KEYGATE_OPENSSL_DIR/lib}" \
             "${KEYGATE_OPENSSL_DIR:+$KEYGATE_OPENSSL_DIR/lib64}"; do
    if [ -n "$dir" ] && [ -f "$dir/lib$name.a" ]; then
      echo "$dir/lib$name.a"
      return
    fi
  done
  local a
  a=$($CC -print-file-name="lib$name.a")
  if [ "$a" != "lib$name.a" ] && [ -f "$a" ]; then
    echo "$a"
  else
    echo "-l$name"
  fi
}
libs=("$(static_or_shared jansson)" "$(static_or_shared crypto)"
      "$(static_or_shared z)" -ldl -pthread)

# The core (the one source list, set(KEYGATE_CORE_SOURCES ...) in
# core/CMakeLists.txt) and the shared fuzz sources, compiled once.
mapfile -t core_srcs < <(sed -n '/^set(KEYGATE_CORE_SOURCES/,/)/s/^ *\(src\/[a-z0-9_]*\.c\)[ )]*$/\1/p' \
  "$root/core/CMakeLists.txt")
if [ "${#core_srcs[@]}" -lt 5 ]; then
  echo "oss-fuzz-build: cannot read the core's sources from core/CMakeLists.txt" >&2
  exit 1
fi
objs=()
for src in "${core_srcs[@]/#/$root/core/}" "$root"/fuzz/reference_credential.c; do
  obj="$work/core/$(basename "${src%.c}").o"
  # shellcheck disable=SC2086 # CFLAGS is a list of flags
  $CC $CFLAGS -std=c11 "${inc[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done

# fuzz_redact's own: the redaction of load/ and the request-id check it
# calls (fuzz/CMakeLists.txt lists the same two).
redact_objs=()
for src in "$root"/load/src/redact.c "$root"/load/src/verify.c; do
  obj="$work/load/$(basename "${src%.c}").o"
  # shellcheck disable=SC2086
  $CC $CFLAGS -std=c11 "${inc[@]}" -c "$src" -o "$obj"
  redact_objs+=("$obj")
done

targets=()
for src in "$root"/fuzz/fuzz_*.c; do
  t=$(basename "${src%.c}")
  targets+=("$t")
  extra=()
  [ "$t" = fuzz_redact ] && extra=("${redact_objs[@]}")
  # shellcheck disable=SC2086
  $CC $CFLAGS -std=c11 "${inc[@]}" -c "$src" -o "$work/fuzz/$t.o"
  # Link with the C++ driver: libFuzzer is C++.
  # shellcheck disable=SC2086
  $CXX $CXXFLAGS $LIB_FUZZING_ENGINE "$work/fuzz/$t.o" "${extra[@]}" \
    "${objs[@]}" "${libdirs[@]}" "${libs[@]}" -o "$OUT/$t"
  [ -f "$root/fuzz/$t.dict" ] && cp "$root/fuzz/$t.dict" "$OUT/$t.dict"
  [ -f "$root/fuzz/$t.options" ] && cp "$root/fuzz/$t.options" "$OUT/$t.options"
  rm -f "$OUT/${t}_seed_corpus.zip"
  if [ -d "$root/corpus/$t" ]; then
    (cd "$root/corpus/$t" && zip -q -X "$OUT/${t}_seed_corpus.zip" ./*)
  fi
done
echo "oss-fuzz-build: built ${#targets[@]} targets into $OUT: ${targets[*]}"
