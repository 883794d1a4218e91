/*
 * test_cpu.c — which CPU features the core uses (cpu.h): KEYGATE_CPU takes
 * features away and never adds one, "baseline" takes every one, and
 * kg_cpu() is what the CPU has, less what the variable takes, for the
 * process's life.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cpu.h"

#ifdef KG_CPU_X86_DISPATCH
#include <cpuid.h>
#endif
#include "guard.h"

#define ALL KG_CPU_PCLMUL
#define EVERY (KG_CPU_PCLMUL | KG_CPU_SHA | KG_CPU_AVX2)

static void keygate_cpu_only_takes_features_away(void **state) {
  (void)state;
  static const struct {
    const char *spec;
    unsigned detected;
    unsigned want;
  } cases[] = {
      {NULL, ALL, ALL},        {"", ALL, ALL},         {"baseline", ALL, 0},
      {"baseline", 0, 0},      {"-pclmul", ALL, 0},    {"-pclmul", 0, 0},
      {"+pclmul", 0, 0},                             /* cannot add */
      {"pclmul", 0, 0},        {"-pclmu", ALL, ALL}, /* whole words only */
      {"-pclmulx", ALL, ALL},  {"x,baseline", ALL, 0}, {"-pclmul,", ALL, 0},
      {",,-pclmul", ALL, 0},   {"-avx512", ALL, ALL}, /* an unknown word is
                                                        ignored */
      {"x,-pclmul,y", ALL, 0}, {"native", ALL, ALL},  /* an unknown word is
                                                         ignored */
  };
  /* each feature taken away alone, or both */
  static const struct {
    const char *spec;
    unsigned want;
  } each[] = {
      {"-pclmul", KG_CPU_SHA | KG_CPU_AVX2},
      {"-sha", KG_CPU_PCLMUL | KG_CPU_AVX2},
      {"-avx2", KG_CPU_PCLMUL | KG_CPU_SHA},
      {"-sha,-pclmul", KG_CPU_AVX2},
      {"-avx2,-sha,-pclmul", 0},
      {"-shaa", EVERY},
      {"sha", EVERY},
      {"avx2", EVERY},
      {"-avx", EVERY},
      {"-sha,baseline", 0},
  };
  for (size_t i = 0; i < sizeof each / sizeof each[0]; i++) {
    unsigned got = kg_cpu_allowed(each[i].spec, EVERY);
    if (got != each[i].want) {
      fail_msg("KEYGATE_CPU=%s on %#x: %#x, want %#x", each[i].spec, EVERY, got,
               each[i].want);
    }
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned got = kg_cpu_allowed(cases[i].spec, cases[i].detected);
    if (got != cases[i].want) {
      fail_msg("KEYGATE_CPU=%s on %#x: %#x, want %#x",
               cases[i].spec ? cases[i].spec : "(unset)", cases[i].detected,
               got, cases[i].want);
    }
  }
}

static unsigned detected(void) {
  unsigned f = 0;
#ifdef KG_CPU_X86_DISPATCH
  __builtin_cpu_init();
  f |= __builtin_cpu_supports("pclmul") ? KG_CPU_PCLMUL : 0u;
  /* SHA: CPUID leaf 7, EBX bit 29, with SSE4.1 */
  unsigned a = 0;
  unsigned b = 0;
  unsigned c = 0;
  unsigned d = 0;
  if (__builtin_cpu_supports("sse4.1") &&
      __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1u) != 0) {
    f |= KG_CPU_SHA;
  }
  f |= __builtin_cpu_supports("avx2") ? KG_CPU_AVX2 : 0u;
#endif
  return f;
}

static void kg_cpu_is_the_cpu_less_the_variable_for_good(void **state) {
  (void)state;
  unsigned want = kg_cpu_allowed(getenv("KEYGATE_CPU"), detected());
  assert_int_equal(kg_cpu(), want);
  /* read once: a later change of the variable changes nothing */
  setenv("KEYGATE_CPU", want ? "baseline" : "", 1);
  assert_int_equal(kg_cpu(), want);
  print_message("features in use:%s%s%s%s\n",
                (want & KG_CPU_PCLMUL) ? " pclmul" : "",
                (want & KG_CPU_SHA) ? " sha" : "",
                (want & KG_CPU_AVX2) ? " avx2" : "", want == 0 ? " none" : "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(keygate_cpu_only_takes_features_away,
                                guard_teardown),
      cmocka_unit_test_teardown(kg_cpu_is_the_cpu_less_the_variable_for_good,
                                guard_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
