/*
 * expect_cpu.h — which of the core's CPU paths a constant-time run takes
 * (tests/ct: taint.c and timing.c).
 *
 * A run registered for a path (the lookup's AVX2 one, the digest's SHA-NI
 * one) sets KG_CT_EXPECT_CPU to the features it needs ("sha", "avx2",
 * "pclmul"; comma-separated). Where this process does not use one of them
 * (the CPU lacks it, or KEYGATE_CPU took it away: core/src/cpu.h), the run
 * would check another path under that path's name: it says SKIP and exits
 * CT_SKIP, ctest's SKIP_RETURN_CODE, instead.
 */
#ifndef KEYGATE_TESTS_CT_EXPECT_CPU_H
#define KEYGATE_TESTS_CT_EXPECT_CPU_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#define CT_SKIP 77

/* The KG_CPU_* bit of the feature named by want[0..len); 0 for none. */
static inline unsigned ct_cpu_feature(const char *want, size_t len) {
  static const struct {
    const char *word;
    unsigned bit;
  } features[] = {
      {"sha", KG_CPU_SHA}, {"avx2", KG_CPU_AVX2}, {"pclmul", KG_CPU_PCLMUL}};
  for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
    if (strlen(features[i].word) == len &&
        memcmp(features[i].word, want, len) == 0) {
      return features[i].bit;
    }
  }
  return 0;
}

/* Print the features this process uses, then check KG_CT_EXPECT_CPU: 1
 * when the process takes every feature it names (or it is unset), 0
 * (after printing SKIP) when it lacks one, -1 (after saying why) when a
 * word of it names no feature: a mistyped word must not pass a run on
 * whatever path it takes. */
static inline int ct_expect_cpu(const char *prog) {
  const unsigned cpu = kg_cpu();
  printf("%s: CPU paths:%s%s%s%s\n", prog, (cpu & KG_CPU_SHA) ? " sha" : "",
         (cpu & KG_CPU_AVX2) ? " avx2" : "",
         (cpu & KG_CPU_PCLMUL) ? " pclmul" : "",
         cpu == 0 ? " none beyond the x86-64 baseline" : "");
  const char *want = getenv("KG_CT_EXPECT_CPU");
  unsigned need = 0;
  while (want != NULL && *want != '\0') {
    size_t len = strcspn(want, ",");
    unsigned bit = ct_cpu_feature(want, len);
    if (bit == 0) {
      printf("%s: KG_CT_EXPECT_CPU: '%.*s' is not sha, avx2 or pclmul\n", prog,
             (int)len, want);
      return -1;
    }
    need |= bit;
    want += len + (want[len] == ',');
  }
  if ((need & ~cpu) != 0) {
    printf("%s: SKIP: this run is for the%s%s%s path, which this CPU (or "
           "KEYGATE_CPU) does not give\n",
           prog, (need & ~cpu & KG_CPU_SHA) ? " sha" : "",
           (need & ~cpu & KG_CPU_AVX2) ? " avx2" : "",
           (need & ~cpu & KG_CPU_PCLMUL) ? " pclmul" : "");
    fflush(stdout);
    return 0;
  }
  return 1;
}

#endif /* KEYGATE_TESTS_CT_EXPECT_CPU_H */
