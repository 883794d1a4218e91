/*
 * expect_cpu.h — which of the core's CPU paths a constant-time run takes
 * (tests/ct: taint.c and timing.c).
 *
 * A run registered for a path (the lookup's AVX2 one, the digest's SHA-NI
 * one) sets KG_CT_EXPECT_CPU to the features it needs ("sha", "avx2",
 * "pclmul"; comma-separated), a _baseline run to "none". Where this process
 * does not use one of them (the CPU lacks it, or KEYGATE_CPU took it away:
 * core/src/cpu.h), the run would check another path under that path's name: it
 * says SKIP and exits CT_SKIP, ctest's SKIP_RETURN_CODE, instead.
 */
#ifndef KEYGATE_TESTS_CT_EXPECT_CPU_H
#define KEYGATE_TESTS_CT_EXPECT_CPU_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#define CT_SKIP 77

static const struct {
  const char *word;
  unsigned bit;
} ct_cpu_features[] = {
    {"sha", KG_CPU_SHA}, {"avx2", KG_CPU_AVX2}, {"pclmul", KG_CPU_PCLMUL}};
#define CT_CPU_NFEATURES (sizeof ct_cpu_features / sizeof ct_cpu_features[0])

/* The KG_CPU_* bit of the feature named by want[0..len); 0 for none. */
static inline unsigned ct_cpu_feature(const char *want, size_t len) {
  for (size_t i = 0; i < CT_CPU_NFEATURES; i++) {
    if (strlen(ct_cpu_features[i].word) == len &&
        memcmp(ct_cpu_features[i].word, want, len) == 0) {
      return ct_cpu_features[i].bit;
    }
  }
  return 0;
}

/* The names of the features in bits, each after a space, into out. */
static inline void ct_cpu_words(unsigned bits, char *out, size_t size) {
  out[0] = '\0';
  for (size_t i = 0; i < CT_CPU_NFEATURES; i++) {
    if ((bits & ct_cpu_features[i].bit) != 0) {
      size_t n = strlen(out);
      snprintf(out + n, size - n, " %s", ct_cpu_features[i].word);
    }
  }
}

/* Print the features this process uses, then check KG_CT_EXPECT_CPU.
 * Returns 0 when the process takes every feature it names (or it is
 * unset): go on; CT_SKIP (after printing SKIP) when it lacks one; 2 (after
 * saying why on stderr) when the value is not a list of feature words: a
 * mistyped word, an empty one (",sha", "sha,,avx2", "sha,") or an empty
 * value (a CMake variable that expanded to nothing) must not pass a run on
 * whatever path it takes. "none" is a run for the x86-64 baseline (the
 * _baseline runs, KEYGATE_CPU=baseline): a process that still uses a
 * feature answers 2, since no CPU can make that run take its path. A
 * nonzero answer is the program's exit code. */
static inline int ct_expect_cpu(const char *prog) {
  const unsigned cpu = kg_cpu();
  char words[64];
  ct_cpu_words(cpu, words, sizeof words);
  printf("%s: CPU paths:%s\n", prog,
         cpu == 0 ? " none beyond the x86-64 baseline" : words);
  fflush(stdout);
  const char *want = getenv("KG_CT_EXPECT_CPU");
  if (want == NULL) {
    return 0;
  }
  unsigned need = 0;
  int none = 0, words_seen = 0;
  for (;;) {
    size_t len = strcspn(want, ",");
    unsigned bit = ct_cpu_feature(want, len);
    if (len == 4 && memcmp(want, "none", 4) == 0) {
      none = 1;
    } else if (bit == 0) {
      fprintf(stderr,
              "%s: KG_CT_EXPECT_CPU='%s': '%.*s' is not sha, avx2, pclmul "
              "or none\n",
              prog, getenv("KG_CT_EXPECT_CPU"), (int)len, want);
      return 2;
    }
    need |= bit;
    words_seen++;
    if (want[len] == '\0') {
      break;
    }
    want += len + 1;
  }
  if (none && words_seen > 1) {
    fprintf(stderr, "%s: KG_CT_EXPECT_CPU: 'none' goes alone\n", prog);
    return 2;
  }
  if (none && cpu != 0) {
    fprintf(stderr,
            "%s: this run is for the x86-64 baseline (KG_CT_EXPECT_CPU=none), "
            "but the process uses%s: set KEYGATE_CPU=baseline\n",
            prog, words);
    return 2;
  }
  if ((need & ~cpu) != 0) {
    ct_cpu_words(need & ~cpu, words, sizeof words);
    printf("%s: SKIP: this run is for the%s path, which this CPU (or "
           "KEYGATE_CPU) does not give\n",
           prog, words);
    fflush(stdout);
    return CT_SKIP;
  }
  return 0;
}

#endif /* KEYGATE_TESTS_CT_EXPECT_CPU_H */
