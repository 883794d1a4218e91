/*
 * kgbench.h — a small C API over Google Benchmark, so that keygate's
 * benchmarks can be written in C like the code they measure.
 *
 * One C++ file (kgbench.cc) implements it and owns main(). A benchmark file
 * registers its functions from a KGB_REGISTER block, which runs before
 * main():
 *
 *     static void bm_sha256(kgb_state *st, void *ctx) {
 *       uint8_t out[32];
 *       KGB_LOOP(st) {
 *         kg_digest(d, key, len, out);
 *         kgb_escape(out);
 *       }
 *       kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
 *     }
 *     KGB_REGISTER(digest) {
 *       kgb_register("digest/sha256", bm_sha256, NULL);
 *     }
 *
 * Everything here is a thin forward to benchmark::State and
 * benchmark::internal::Benchmark; the names say which (kgb_range_multiplier
 * is Benchmark::RangeMultiplier, and so on). Nothing allocates on the timed
 * path; registration allocates and never frees (as Google Benchmark does).
 */
#ifndef KEYGATE_BENCH_KGBENCH_H
#define KEYGATE_BENCH_KGBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* benchmark::State, passed to every benchmark function. Not owned. */
typedef struct kgb_state kgb_state;
/* benchmark::internal::Benchmark, returned by kgb_register. Not owned. */
typedef struct kgb_bench kgb_bench;

/* A benchmark: st drives the loop; ctx is the pointer given at
 * registration (may be NULL). */
typedef void (*kgb_fn)(kgb_state *st, void *ctx);

/* ---- registration ------------------------------------------------------ */

/*
 * KGB_REGISTER(name) { ... } — a block of registrations that runs before
 * main() (a constructor). One or more per benchmark file; name must be
 * unique within the file.
 */
#define KGB_REGISTER(name)                                                     \
  static void kgb_register_##name(void) __attribute__((constructor));          \
  static void kgb_register_##name(void)

/*
 * kgb_register — register fn under name (copied) with ctx. Returns the
 * benchmark, for the setters below; each returns its argument so calls can
 * nest. Aborts the program when Google Benchmark refuses the name.
 */
kgb_bench *kgb_register(const char *name, kgb_fn fn, void *ctx);

/* One value of argument 0 (Benchmark::Arg). */
kgb_bench *kgb_arg(kgb_bench *b, int64_t a);
/* A two-argument tuple (Benchmark::Args({a, c})). */
kgb_bench *kgb_args2(kgb_bench *b, int64_t a, int64_t c);
/* Powers of the range multiplier (default 8) from lo to hi, both
 * included (Benchmark::Range). */
kgb_bench *kgb_range(kgb_bench *b, int64_t lo, int64_t hi);
/* lo, lo+step, ... up to hi (Benchmark::DenseRange). */
kgb_bench *kgb_dense_range(kgb_bench *b, int64_t lo, int64_t hi, int step);
/* Multiplier for kgb_range (Benchmark::RangeMultiplier). */
kgb_bench *kgb_range_multiplier(kgb_bench *b, int mult);
/* Name of argument 0 in the benchmark's name ("keys:10000"). */
kgb_bench *kgb_arg_name(kgb_bench *b, const char *name);

typedef enum kgb_time_unit { KGB_NS = 0, KGB_US = 1, KGB_MS = 2 } kgb_time_unit;
/* Time unit of the report (Benchmark::Unit). */
kgb_bench *kgb_unit(kgb_bench *b, kgb_time_unit u);
/* Minimum seconds per run (Benchmark::MinTime). */
kgb_bench *kgb_min_time(kgb_bench *b, double seconds);
/* A fixed iteration count instead of the adaptive one. */
kgb_bench *kgb_fixed_iterations(kgb_bench *b, int64_t n);

/* A key/value line in the JSON context block (AddCustomContext); both
 * copied. Call from a KGB_REGISTER block. */
void kgb_context(const char *key, const char *value);

/* ---- the keep-running loop --------------------------------------------- */

/*
 * kgb_keep_running — State::KeepRunning: 1 while the benchmark should run
 * another iteration, then 0. The timer starts at the first call. Costs a
 * function call per iteration: prefer KGB_LOOP for bodies under ~20 ns.
 */
int kgb_keep_running(kgb_state *st);

/*
 * kgb_batch — the whole iteration count at once: returns the number of
 * iterations to run (timer started) on the first call and 0 (timer
 * stopped) on the second. KGB_LOOP wraps it.
 */
int64_t kgb_batch(kgb_state *st);

/*
 * KGB_LOOP(st) { body } — run body the number of times Google Benchmark
 * asks for, timed, with nothing but a counter around it. `break` leaves the
 * inner loop only: use kgb_skip_with_error and return instead.
 */
#define KGB_LOOP(st)                                                           \
  for (int64_t kgb_n_ = kgb_batch(st); kgb_n_ > 0; kgb_n_ = kgb_batch(st))     \
    for (int64_t kgb_i_ = 0; kgb_i_ < kgb_n_; kgb_i_++)

/* ---- inside a benchmark ------------------------------------------------ */

/* Argument i of this run (State::range(i)). */
int64_t kgb_arg_get(const kgb_state *st, size_t i);
/* Iterations run so far (after the loop: all of them). */
int64_t kgb_iterations(const kgb_state *st);
/* Stop / restart the timer around work that is not measured. */
void kgb_pause(kgb_state *st);
void kgb_resume(kgb_state *st);
/* Report bytes / items per second from the total processed. */
void kgb_set_bytes_processed(kgb_state *st, int64_t bytes);
void kgb_set_items_processed(kgb_state *st, int64_t items);
/* A label shown next to the result (copied). */
void kgb_set_label(kgb_state *st, const char *label);
/* Abort this benchmark with a message (copied); the run goes on. */
void kgb_skip_with_error(kgb_state *st, const char *msg);

/* Counter flags: the values of benchmark::Counter::Flags. */
enum {
  KGB_COUNTER_PLAIN = 0,
  KGB_COUNTER_RATE = 1 << 0,           /* divided by the run's seconds */
  KGB_COUNTER_PER_ITERATION = 1 << 3,  /* divided by the iterations */
  KGB_COUNTER_INVERT = (int)(1u << 31) /* 1/x, applied last */
};
/* A user counter shown as its own column and in the JSON (copied name). */
void kgb_counter(kgb_state *st, const char *name, double value, int flags);

/* ---- the do-not-optimise barrier --------------------------------------- */

/*
 * kgb_escape — the compiler must assume the memory at p is read and written
 * here: results stored there are kept, inputs read from there are reloaded.
 * Emits no instruction.
 */
static inline void kgb_escape(const void *p) {
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

/* kgb_clobber — every memory location may have changed. No instruction. */
static inline void kgb_clobber(void) {
  __asm__ __volatile__("" : : : "memory");
}

/*
 * KGB_KEEP(x) — x (a register-sized scalar lvalue) is used and may have
 * changed, so the computation that made it is kept and the next one is not
 * hoisted.
 */
#define KGB_KEEP(x) __asm__ __volatile__("" : "+r"(x) : : "memory")

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_BENCH_KGBENCH_H */
