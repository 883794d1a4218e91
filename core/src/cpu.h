/*
 * cpu.h — the x86-64 features the core chooses code by at run time
 * (internal; issue 14).
 *
 * Every SIMD path of the core is SSE2 (every x86-64 CPU has it) with a
 * scalar twin (KEYGATE_NO_SIMD). A few paths have a faster variant for
 * features beyond that baseline, chosen here once per process:
 *
 *   KG_CPU_PCLMUL  crc32.c: the CRC-32 by carry-less multiplication
 *   KG_CPU_SHA     digest.c: a one-block SHA-256 by the SHA extensions
 *                  (SHA-NI, with SSE4.1), its block built in registers,
 *                  and kg_decide's URL scan among its rounds (urlscan.h:
 *                  16-byte steps by SSSE3's pshufb, which every SHA CPU
 *                  has)
 *   KG_CPU_AVX2    credential.c: a target over 64 bytes scanned 32 bytes
 *                  a step (the 16-byte chunk's lanes, twice as wide);
 *                  index.c: the lookup's slots compared and selected 32
 *                  bytes at a time
 *
 * (A first AVX2 target scan, with 64-byte joins, was measured slower and
 * not kept: docs/benchmarks.md, issue 14.) A feature is used when the CPU has
 * it and the environment variable KEYGATE_CPU does not take it away:
 * KEYGATE_CPU=baseline takes every one away (the instruction gate sets it, so
 * counts do not depend on the CPU; docs/benchmarks.md), and a comma-separated
 * list of "-pclmul",
 * "-sha" and "-avx2" takes those named. Other words are ignored. The variable
 * is read once, by a constructor when the program starts (before main, before
 * any thread); code that runs before it (another constructor) sees no feature
 * and takes the baseline paths, which give the same answers.
 */
#ifndef KEYGATE_CPU_H
#define KEYGATE_CPU_H

#define KG_CPU_PCLMUL 1u
#define KG_CPU_SHA 2u
#define KG_CPU_AVX2 4u

/* The x86-64 variants are compiled where the compiler can target them per
 * function (GCC and clang on x86-64 with SSE2) and KEYGATE_NO_SIMD is not
 * set; elsewhere kg_cpu() is 0 and only the baseline code exists. */
#if defined(__x86_64__) && defined(__SSE2__) && !defined(KEYGATE_NO_SIMD) &&   \
    (defined(__GNUC__) || defined(__clang__))
#define KG_CPU_X86_DISPATCH 1
/* A function compiled for AVX2, called only when kg_cpu() has KG_CPU_AVX2. */
#define KG_AVX2_TARGET __attribute__((target("avx2")))
#endif

/* Written once by cpu.c's constructor, read only afterwards. */
extern unsigned kg_cpu_word;

/* kg_cpu — the KG_CPU_* features this process uses; the same answer for
 * the process's life once it started. One load. */
static inline unsigned kg_cpu(void) {
  return kg_cpu_word;
}

/* kg_cpu_allowed — what KEYGATE_CPU's value `spec` (NULL: unset) leaves of
 * `detected`. Pure; for kg_cpu and its test. */
unsigned kg_cpu_allowed(const char *spec, unsigned detected);

#endif /* KEYGATE_CPU_H */
