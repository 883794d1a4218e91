/*
 * cpu.c — which x86-64 features beyond SSE2 the core uses (cpu.h).
 */
#include "cpu.h"

#include <stddef.h>
#include <stdlib.h>

#ifdef KG_CPU_X86_DISPATCH
#include <cpuid.h>
#endif

/* One word of `spec` (comma-separated) equal to `w`. */
static int has_word(const char *spec, const char *w) {
  size_t wl = 0;
  while (w[wl] != '\0') {
    wl++;
  }
  const char *p = spec;
  while (*p != '\0') {
    size_t n = 0;
    while (p[n] != '\0' && p[n] != ',') {
      n++;
    }
    size_t i = 0;
    while (i < n && i < wl && p[i] == w[i]) {
      i++;
    }
    if (n == wl && i == wl) {
      return 1;
    }
    p += n;
    if (*p == ',') {
      p++;
    }
  }
  return 0;
}

unsigned kg_cpu_allowed(const char *spec, unsigned detected) {
  if (spec == NULL) {
    return detected;
  }
  if (has_word(spec, "baseline")) {
    return 0;
  }
  unsigned out = detected;
  if (has_word(spec, "-pclmul")) {
    out &= ~KG_CPU_PCLMUL;
  }
  if (has_word(spec, "-sha")) {
    out &= ~KG_CPU_SHA;
  }
  if (has_word(spec, "-avx2")) {
    out &= ~KG_CPU_AVX2;
  }
  return out;
}

static unsigned detect(void) {
  unsigned f = 0;
#ifdef KG_CPU_X86_DISPATCH
  /* libgcc's and compiler-rt's CPUID reading */
  __builtin_cpu_init();
  if (__builtin_cpu_supports("pclmul")) {
    f |= KG_CPU_PCLMUL;
  }
  /* The SHA extensions (CPUID leaf 7, EBX bit 29; clang 14's
   * __builtin_cpu_supports knows no "sha"), used with SSE4.1. */
  unsigned a = 0;
  unsigned b = 0;
  unsigned c = 0;
  unsigned d = 0;
  if (__builtin_cpu_supports("sse4.1") &&
      __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1u) != 0) {
    f |= KG_CPU_SHA;
  }
  if (__builtin_cpu_supports("avx2")) {
    f |= KG_CPU_AVX2;
  }
#endif
  return f;
}

unsigned kg_cpu_word;

/* Before main: no thread can read kg_cpu_word while it is written. */
__attribute__((constructor)) static void kg_cpu_init(void) {
  kg_cpu_word = kg_cpu_allowed(getenv("KEYGATE_CPU"), detect());
}
