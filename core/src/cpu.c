/*
 * cpu.c — which x86-64 features beyond SSE2 the core uses (cpu.h).
 */
#include "cpu.h"

#include <stddef.h>
#include <stdlib.h>

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
#endif
  return f;
}

unsigned kg_cpu_word;

/* Before main: no thread can read kg_cpu_word while it is written. */
__attribute__((constructor)) static void kg_cpu_init(void) {
  kg_cpu_word = kg_cpu_allowed(getenv("KEYGATE_CPU"), detect());
}
