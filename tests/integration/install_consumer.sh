#!/usr/bin/env bash
# install_consumer.sh — libkeygate installs as a library others can use:
# `cmake --install` into a fresh prefix, then the consumer in tests/install
# is built against that prefix both ways, find_package(keygate) with
# keygate::keygate (shared) and keygate::keygate_static, and pkg-config
# keygate, and each build runs; the key store (libkeygate_store.a, store.h,
# store_admin.h) both ways too, keygate::keygate_store and keygate-store. Also checks the installed headers compile
# as C++ and that no internal header is installed. Needs KEYGATE_BUILD and
# KEYGATE_SRC (set by ctest).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${KEYGATE_BUILD:?set KEYGATE_BUILD to a configured and built tree}"
: "${KEYGATE_SRC:?set KEYGATE_SRC to the source tree}"
CMAKE=${CMAKE_COMMAND:-cmake}
CC=${CC:-cc}
CXX=${CXX:-c++}

PREFIX=$TMP/prefix
WANT_OUTPUT=$'keygate 0.1.0\nvalid 200\nmissing_api_key 401\ninvalid_api_key 401\napi_key_in_query 400'

# A sanitized build's libraries need the sanitizer runtime in the program.
SAN=""
if grep -q '^KEYGATE_SANITIZE:BOOL=ON' "$KEYGATE_BUILD/CMakeCache.txt"; then
  SAN="-fsanitize=address,undefined"
fi

# ---- install ------------------------------------------------------------------
assert_exit 0 "cmake --install" -- \
  "$CMAKE" --install "$KEYGATE_BUILD" --prefix "$PREFIX"

for h in "$KEYGATE_SRC"/core/include/keygate/*.h; do
  [ -f "$PREFIX/include/keygate/$(basename "$h")" ] ||
    kg_fail "header $(basename "$h") not installed"
  KG_ASSERTS=$((KG_ASSERTS + 1))
done
for h in "$KEYGATE_SRC"/core/src/*.h; do
  [ -e "$h" ] || continue
  if [ -e "$PREFIX/include/keygate/$(basename "$h")" ] ||
    [ -e "$PREFIX/include/$(basename "$h")" ]; then
    kg_fail "internal header $(basename "$h") installed"
  fi
  KG_ASSERTS=$((KG_ASSERTS + 1))
done

PC=$(find "$PREFIX" -name keygate.pc -print -quit)
CONFIG=$(find "$PREFIX" -name keygateConfig.cmake -print -quit)
[ -n "$PC" ] || kg_fail "keygate.pc not installed"
[ -n "$CONFIG" ] || kg_fail "keygateConfig.cmake not installed"
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libkeygate.a' -print -quit)")
[ -f "$LIBDIR/libkeygate.a" ] || kg_fail "libkeygate.a not installed"
[ -e "$LIBDIR/libkeygate.so" ] || kg_fail "libkeygate.so not installed"
KG_ASSERTS=$((KG_ASSERTS + 5))

# ---- find_package(keygate) ----------------------------------------------------
assert_exit 0 "consumer: cmake configure" -- \
  "$CMAKE" -S "$KEYGATE_SRC/tests/install" -B "$TMP/consumer" \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$SAN" \
  -DCMAKE_EXE_LINKER_FLAGS="$SAN"
assert_contains "$PREFIX" \
  "$(grep '^keygate_DIR' "$TMP/consumer/CMakeCache.txt")" "find_package found the installed package"
assert_exit 0 "consumer: cmake build" -- "$CMAKE" --build "$TMP/consumer"

assert_exit 0 "find_package, shared: run" -- "$TMP/consumer/consumer_shared"
assert_eq "$WANT_OUTPUT" "$(cat "$TMP/out")" "find_package, shared: output"
assert_contains "$LIBDIR/libkeygate.so" \
  "$(ldd "$TMP/consumer/consumer_shared")" "find_package, shared: loads the installed library"

assert_exit 0 "find_package, static: run" -- "$TMP/consumer/consumer_static"
assert_eq "$WANT_OUTPUT" "$(cat "$TMP/out")" "find_package, static: output"
assert_not_contains "libkeygate" "$(ldd "$TMP/consumer/consumer_static")" \
  "find_package, static: no libkeygate.so needed"

assert_exit 0 "find_package, store: run" -- "$TMP/consumer/consumer_store" "$TMP/cmake-store.db"
assert_eq "store valid 200 acme" "$(cat "$TMP/out")" "find_package, store: a key made in the store decides valid"

# ---- pkg-config keygate -------------------------------------------------------
export PKG_CONFIG_PATH
PKG_CONFIG_PATH="$(dirname "$PC")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
assert_exit 0 "pkg-config --modversion" -- pkg-config --modversion keygate
assert_eq 0.1.0 "$(cat "$TMP/out")" "pkg-config: version"
# The .pc may name its directories relative to itself (${pcfiledir}): compare
# them resolved.
assert_exit 0 "pkg-config --variable=includedir" -- \
  pkg-config --variable=includedir keygate
assert_eq "$(realpath "$PREFIX/include")" "$(realpath -m "$(cat "$TMP/out")")" \
  "pkg-config: include directory is the install prefix's"
assert_exit 0 "pkg-config --variable=libdir" -- \
  pkg-config --variable=libdir keygate
assert_eq "$(realpath "$LIBDIR")" "$(realpath -m "$(cat "$TMP/out")")" \
  "pkg-config: library directory is the install prefix's"
assert_exit 0 "pkg-config --static --libs" -- \
  pkg-config --static --libs keygate
assert_contains "-lcrypto" "$(cat "$TMP/out")" "pkg-config --static: OpenSSL"
assert_not_contains "-lz" "$(cat "$TMP/out")" "pkg-config --static: no zlib (the core's CRC-32 is its own)"

# shellcheck disable=SC2046,SC2086 # pkg-config output and $SAN split on purpose
assert_exit 0 "pkg-config: compile and link" -- \
  "$CC" $SAN $(pkg-config --cflags keygate) \
  "$KEYGATE_SRC/tests/install/consumer.c" -o "$TMP/consumer_pc" \
  $(pkg-config --libs keygate) -Wl,-rpath,"$LIBDIR"
assert_exit 0 "pkg-config: run" -- "$TMP/consumer_pc"
assert_eq "$WANT_OUTPUT" "$(cat "$TMP/out")" "pkg-config: output"
assert_contains "$LIBDIR/libkeygate.so" "$(ldd "$TMP/consumer_pc")" \
  "pkg-config: loads the installed library"

# ---- pkg-config keygate-store ---------------------------------------------------
for h in store.h store_admin.h; do
  [ -f "$PREFIX/include/keygate/$h" ] || kg_fail "store header $h not installed"
  KG_ASSERTS=$((KG_ASSERTS + 1))
done
# shellcheck disable=SC2046,SC2086 # pkg-config output and $SAN split on purpose
assert_exit 0 "pkg-config keygate-store: compile and link" -- \
  "$CC" $SAN $(pkg-config --cflags keygate-store) \
  "$KEYGATE_SRC/tests/install/consumer_store.c" -o "$TMP/consumer_store_pc" \
  $(pkg-config --libs keygate-store) -Wl,-rpath,"$LIBDIR"
assert_exit 0 "pkg-config keygate-store: run" -- "$TMP/consumer_store_pc" "$TMP/pc-store.db"
assert_eq "store valid 200 acme" "$(cat "$TMP/out")" "pkg-config keygate-store: output"

# ---- the README's embedding example, as written ------------------------------
sed -n '/^```c$/,/^```$/p' "$KEYGATE_SRC/README.md" | sed '1d;$d' >"$TMP/app.c"
assert_contains "kg_decide" "$(cat "$TMP/app.c")" "README: the C example is found"
# shellcheck disable=SC2046,SC2086 # pkg-config output and $SAN split on purpose
assert_exit 0 "README example: compile and link as the README says" -- \
  "$CC" -std=c11 -Wall -Wextra -Werror $SAN $(pkg-config --cflags keygate) \
  "$TMP/app.c" -o "$TMP/app" $(pkg-config --libs keygate) -Wl,-rpath,"$LIBDIR"
# ... and with clang too, whose warn_unused_result is stricter than gcc's
# (review 79: the example dropped kg_decide's result and clang -Werror
# refused it)
if command -v clang >/dev/null; then
  # shellcheck disable=SC2046,SC2086 # pkg-config output and $SAN split on purpose
  assert_exit 0 "README example: compile with clang -Werror" -- \
    clang -std=c11 -Wall -Wextra -Werror $SAN $(pkg-config --cflags keygate) \
    "$TMP/app.c" -o "$TMP/app-clang" $(pkg-config --libs keygate) -Wl,-rpath,"$LIBDIR"
fi
assert_exit 0 "README example: run" -- "$TMP/app"
assert_contains $'\nvalid 200\n' "$(cat "$TMP/out")" "README example: a valid key"
assert_contains "WWW-Authenticate: Bearer realm=\"api\"" "$(cat "$TMP/out")" \
  "README example: the 401 answer"
assert_contains $'\nmissing_api_key 401' "$(cat "$TMP/out")" \
  "README example: a missing key"
assert_contains $'\napi_key_in_query 400' "$(cat "$TMP/out")" \
  "README example: a key in the path (the whole target goes to kg_decide; review 78)"

# ---- the installed headers are C++-safe ---------------------------------------
# shellcheck disable=SC2046 # pkg-config output splits on purpose
assert_exit 0 "headers compile as C++" -- \
  "$CXX" -fsyntax-only -Wall -Wextra -Werror $(pkg-config --cflags keygate) \
  "$KEYGATE_SRC/tests/install/cxx_include.cpp"

kg_done
