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

/* Print the features this process uses; 0 (after printing SKIP) when
 * KG_CT_EXPECT_CPU names one it does not. */
static inline int ct_expect_cpu(const char *prog) {
  static const struct {
    const char *word;
    unsigned bit;
  } features[] = {
      {"sha", KG_CPU_SHA}, {"avx2", KG_CPU_AVX2}, {"pclmul", KG_CPU_PCLMUL}};
  const unsigned cpu = kg_cpu();
  const char *want = getenv("KG_CT_EXPECT_CPU");
  char used[64] = "";
  char missing[64] = "";
  for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
    char *to = NULL;
    if ((cpu & features[i].bit) != 0) {
      to = used;
    } else if (want != NULL && strstr(want, features[i].word) != NULL) {
      to = missing;
    }
    if (to != NULL) {
      size_t n = strlen(to);
      snprintf(to + n, sizeof used - n, " %s", features[i].word);
    }
  }
  printf("%s: CPU paths:%s\n", prog,
         used[0] != '\0' ? used : " none beyond the x86-64 baseline");
  if (missing[0] != '\0') {
    printf("%s: SKIP: this run is for the%s path, which this CPU (or "
           "KEYGATE_CPU) does not give\n",
           prog, missing);
    fflush(stdout);
    return 0;
  }
  return 1;
}

#endif /* KEYGATE_TESTS_CT_EXPECT_CPU_H */
