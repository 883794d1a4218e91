/*
 * test_fixtures.c — the latency loops' helpers of fixtures.h: fx_next
 * wraps to 0 exactly when j + step reaches n (at n = 1 always, at small n
 * every n-th step), keeps j on a step of 0, and fx_hide returns its value:
 * a wrong wrap (an index past the keys, or a reset too early) is what this
 * catches. Not that the loops keep the data dependence: a branching wrap
 * would pass here (its values are the same); fixtures.h says how that was
 * checked (the compiled loops, read). And watch.h's fx_watch_quiet: which
 * slices count as quiet, their median and share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixtures.h"
#include "watch.h"

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

/* fx_watch_quiet (watch.h): a slice is quiet when the readings on both
 * its sides are within 1.125x the fastest; the median of those, their share. */
static void watch_keeps_slices_between_quiet_readings(void **state) {
  (void)state;
  /* readings 10, 11.25 (1.125x: quiet), 11.5 (over), 10, 11, 30; slices k
   * between readings k and k + 1 */
  const double sensor[] = {10, 11.25, 11.5, 10, 11, 30};
  double slice[] = {70, 90, 95, 72, 200};
  double fastest = 0;
  double share = 0;
  double quiet = 0;
  /* quiet: slice 0 (10, 11.25) and 3 (10, 11); 1 and 2 touch 11.5, 4 30 */
  assert_int_equal(fx_watch_quiet(slice, sensor, 5, &fastest, &share, &quiet),
                   1);
  assert_true(fastest == 10);
  assert_true(share == 2.0 / 5.0);
  assert_true(quiet == 71); /* the median of 70 and 72 */
  /* an odd count: the middle one, not the mean */
  const double s3[] = {10, 10, 10, 10};
  double v3[] = {100, 60, 61};
  assert_int_equal(fx_watch_quiet(v3, s3, 3, &fastest, &share, &quiet), 1);
  assert_true(quiet == 61 && share == 1.0);
  /* the fastest reading is looked for in every reading, the first and the
   * last (n + 1 of them) */
  const double first[] = {10, 11, 12};
  double vf[] = {70, 80};
  assert_int_equal(fx_watch_quiet(vf, first, 2, &fastest, &share, &quiet), 1);
  assert_true(fastest == 10 && share == 0.5 && quiet == 70);
  const double last[] = {11, 11.5, 12, 10};
  double vl[] = {70, 80, 90};
  assert_int_equal(fx_watch_quiet(vl, last, 3, &fastest, &share, &quiet), 0);
  assert_true(fastest == 10 && share == 0.0);
  /* no quiet slice: every slice has a reading over 1.125x on one side */
  const double s2[] = {10, 11.3, 10};
  double v2[] = {80, 81};
  assert_int_equal(fx_watch_quiet(v2, s2, 2, &fastest, &share, &quiet), 0);
  assert_true(share == 0.0 && fastest == 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(next_at_one_key),
      cmocka_unit_test(next_walks_and_wraps),
      cmocka_unit_test(next_stays_below_n),
      cmocka_unit_test(hide_is_identity),
      cmocka_unit_test(watch_keeps_slices_between_quiet_readings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
