#!/usr/bin/env bash
# gate_cpu_independent.sh — proves the instruction-count gate's counts do
# not depend on the CPU (ctest bench.gate_cpu_independent).
#
# OpenSSL and glibc pick code paths from CPUID; the gate pins both to the
# x86-64 baseline. This test makes the counted process see other CPUs, the
# way another machine would show them: OPENSSL_ia32cap and GLIBC_TUNABLES
# presets in the environment take features away (no SHA/AVX2; a Sandy
# Bridge; an SSE2-only K8) or change glibc's per-model preferences, and
# the gate applies its pin on top. Every count must equal the count with no
# preset, to the instruction. Unpinned (--no-pin), the same presets change
# the counts: that shows the presets reach the libraries, so the equality
# is not vacuous (where they do not, e.g. valgrind already shows an
# SSE2-only CPU, the test says so and still checks the equality).
set -euo pipefail

src=${KEYGATE_SRC:?KEYGATE_SRC must point at the source tree}
py=${PYTHON:-python3}
gate=("$py" "$src/scripts/bench-instructions")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "gate_cpu_independent: $*" >&2
  exit 1
}

case "$(uname -m)" in
x86_64) ;;
*)
  echo "gate_cpu_independent: not x86-64, no pin to test"
  exit 0
  ;;
esac

# OpenSSL's SHA-256 and glibc's memchr/memcmp/memcpy/strlen are on these.
ops=digest_sha256,decide_valid,credential_extract_typical,response_render

# name | OPENSSL_ia32cap preset | GLIBC_TUNABLES preset
presets=(
  "no_sha_avx2|:~0x20000020|"
  "sandybridge|:~0x128|glibc.cpu.hwcaps=-AVX2,-BMI1,-BMI2,-LZCNT,-MOVBE"
  "k8_sse2|0x07880010:0x0|glibc.cpu.hwcaps=-AVX,-AVX2,-SSSE3,-SSE4_1,-SSE4_2,-POPCNT,-MOVBE,-BMI1,-BMI2,-LZCNT,-ERMS,-AVX_Fast_Unaligned_Load"
  "model_prefs|~0x40000000|glibc.cpu.hwcaps=Prefer_ERMS,Fast_Rep_String,Slow_BSF,Fast_Copy_Backward:glibc.cpu.x86_rep_movsb_threshold=0x200:glibc.cpu.x86_data_cache_size=0x4000"
)

# count NAME OSSL TUNABLES [gate options]: the gate's counts, as JSON.
count() {
  local name=$1 ossl=$2 tun=$3
  shift 3
  env -u OPENSSL_ia32cap -u GLIBC_TUNABLES \
    ${ossl:+OPENSSL_ia32cap=$ossl} ${tun:+GLIBC_TUNABLES=$tun} \
    "${gate[@]}" --ops "$ops" --baseline "$tmp/base.json" \
    --json "$tmp/$name.json" "$@" >"$tmp/$name.out" 2>&1 || {
    cat "$tmp/$name.out"
    fail "the gate failed for $name"
  }
}

# The reference: pinned, no preset; it is also the baseline of the others.
env -u OPENSSL_ia32cap -u GLIBC_TUNABLES "${gate[@]}" --ops "$ops" \
  --update-baseline --baseline "$tmp/base.json" >"$tmp/update.out" 2>&1 || {
  cat "$tmp/update.out"
  fail "could not measure (did the pin take effect?)"
}
count host "" ""
count host.nopin "" "" --no-pin

differed=0
for p in "${presets[@]}"; do
  IFS='|' read -r name ossl tun <<<"$p"
  count "$name" "$ossl" "$tun"
  grep -q "bench-instructions: ok" "$tmp/$name.out" || {
    cat "$tmp/$name.out"
    fail "$name: the gate did not pass against the reference"
  }
  if ! cmp -s "$tmp/host.json" "$tmp/$name.json"; then
    diff "$tmp/host.json" "$tmp/$name.json" || true
    fail "$name: pinned counts differ from the reference"
  fi
  count "$name.nopin" "$ossl" "$tun" --no-pin
  if ! cmp -s "$tmp/host.nopin.json" "$tmp/$name.nopin.json"; then
    differed=$((differed + 1))
  fi
  echo "gate_cpu_independent: $name: pinned counts equal the reference"
done

if [ "$differed" -eq 0 ]; then
  echo "gate_cpu_independent: note: unpinned, no preset changed a count on" \
    "this host; the equality above held trivially here"
else
  echo "gate_cpu_independent: unpinned, $differed of ${#presets[@]} presets" \
    "changed the counts"
fi
echo "gate_cpu_independent: ok"
