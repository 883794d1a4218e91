#!/usr/bin/env bash
# unit.exports — libkeygate.so exports exactly the functions the public
# headers declare (core/include/keygate/*.h), both ways: nothing internal
# leaks into the ABI (kg_char_class, kg_crc32, kg_ct_eq, ...), and nothing
# declared is missing from the library.
#   exports.sh CC LIBKEYGATE_SO INCLUDE_DIR [CLANG]
set -euo pipefail
cc=$1 so=$2 inc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Declared: every kg_ identifier followed by '(' in the preprocessed public
# headers (comments gone), which hold declarations only.
printf '#include "keygate/keygate.h"\n' >"$tmp/all.c"
"$cc" -E -P -I"$inc" "$tmp/all.c" -o "$tmp/all.i"
grep -o '\bkg_[a-z0-9_]*[[:space:]]*(' "$tmp/all.i" | tr -d ' (' |
  sort -u >"$tmp/declared"

nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
  grep -v '^_' | sort -u >"$tmp/exported"

if [ "$(wc -l <"$tmp/declared")" -lt 40 ]; then
  echo "unit.exports: only $(wc -l <"$tmp/declared") declarations found in $inc: the scan is broken" >&2
  exit 1
fi
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
rc=0
if [ -n "$extra" ]; then
  echo "unit.exports: libkeygate.so exports symbols no public header declares (mark them static, or keep them out of KG_API):" >&2
  echo "$extra" | sed 's/^/  /' >&2
  rc=1
fi
if [ -n "$missing" ]; then
  echo "unit.exports: public headers declare functions libkeygate.so does not export (add KG_API, or a definition):" >&2
  echo "$missing" | sed 's/^/  /' >&2
  rc=1
fi

# KG_NODISCARD: with clang, ignoring a builder's or a check's result is a
# warning (an error here), and a (void) cast is the way to discard it.
clang=${4:-}
if [ -n "$clang" ]; then
  printf '#include "keygate/keygate.h"\nvoid f(kg_key_policy *p);\nvoid f(kg_key_policy *p) { kg_key_check(p, "k", 1); }\n' >"$tmp/drop.c"
  printf '#include "keygate/keygate.h"\nvoid f(kg_key_policy *p);\nvoid f(kg_key_policy *p) { (void)kg_key_check(p, "k", 1); }\n' >"$tmp/void.c"
  if "$clang" -std=c11 -Werror=unused-result -fsyntax-only -I"$inc" "$tmp/drop.c" 2>/dev/null; then
    echo "unit.exports: ignoring kg_key_check's result compiles without a warning under clang (KG_NODISCARD lost)" >&2
    rc=1
  fi
  if ! "$clang" -std=c11 -Werror=unused-result -fsyntax-only -I"$inc" "$tmp/void.c"; then
    echo "unit.exports: a (void) discard of kg_key_check does not compile under clang" >&2
    rc=1
  fi
fi
[ "$rc" = 0 ] && echo "unit.exports: $(wc -l <"$tmp/exported") exported = declared"
exit "$rc"
