/*
 * test_fixtures.c — the latency loops' helpers of fixtures.h: fx_next
 * wraps to 0 exactly when j + step reaches n (at n = 1 always, at small n
 * every n-th step), keeps j on a step of 0, and fx_hide returns its value:
 * a wrong wrap (an index past the keys, or a reset too early) is what this
 * catches. Not that the loops keep the data dependence: a branching wrap
 * would pass here (its values are the same); fixtures.h says how that was
 * checked (the compiled loops, read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixtures.h"

static void next_at_one_key(void **state) {
  (void)state;
  assert_int_equal(fx_next(0, 1, 1), 0);
  assert_int_equal(fx_next(0, 0, 1), 0);
  assert_int_equal(fx_next(0, 2, 1), 0);
}

static void next_walks_and_wraps(void **state) {
  (void)state;
  const size_t want[] = {1, 2, 0, 1, 2, 0, 1};
  size_t j = 0;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    j = fx_next(j, 1, 3);
    assert_int_equal(j, want[i]);
  }
  assert_int_equal(fx_next(1, 0, 3), 1); /* a miss's step of 0 stays */
  assert_int_equal(fx_next(2, 0, 3), 2);
  assert_int_equal(fx_next(1, 2, 3), 0); /* 3 reaches n: wrap */
  assert_int_equal(fx_next(0, 2, 3), 2);
  const size_t n = FX_REAL_KEYS_MAX;
  assert_int_equal(fx_next(n - 2, 1, n), n - 1);
  assert_int_equal(fx_next(n - 1, 1, n), 0);
  assert_int_equal(fx_next(n - 1, 2, n), 0);
}

static void next_stays_below_n(void **state) {
  (void)state;
  for (size_t n = 1; n <= 70; n++) {
    size_t j = 0;
    for (size_t i = 0; i < 3 * n; i++) {
      j = fx_next(j, 1 + (i % 2), n);
      assert_true(j < n);
    }
  }
}

static void hide_is_identity(void **state) {
  (void)state;
  assert_int_equal(fx_hide(0), 0);
  assert_int_equal(fx_hide(1), 1);
  assert_true(fx_hide(SIZE_MAX) == SIZE_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_at_one_key),
      cmocka_unit_test(next_walks_and_wraps),
      cmocka_unit_test(next_stays_below_n),
      cmocka_unit_test(hide_is_identity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
