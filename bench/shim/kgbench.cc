// kgbench.cc — the C API of kgbench.h over Google Benchmark, and main().
//
// A kgb_state* is a benchmark::State*, a kgb_bench* a
// benchmark::internal::Benchmark*: the casts below are the whole bridge.

#include "kgbench.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

benchmark::State &S(kgb_state *st) {
  return *reinterpret_cast<benchmark::State *>(st);
}
const benchmark::State &S(const kgb_state *st) {
  return *reinterpret_cast<const benchmark::State *>(st);
}
benchmark::internal::Benchmark *B(kgb_bench *b) {
  return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}
kgb_bench *C(benchmark::internal::Benchmark *b) {
  return reinterpret_cast<kgb_bench *>(b);
}

// The C flags are Google Benchmark's own values; keep them so.
static_assert(int{KGB_COUNTER_RATE} == int{benchmark::Counter::kIsRate},
              "flags");
static_assert(int{KGB_COUNTER_PER_ITERATION} ==
                  int{benchmark::Counter::kAvgIterations},
              "flags");
static_assert(int{KGB_COUNTER_INVERT} == int{benchmark::Counter::kInvert},
              "flags");

} // namespace

extern "C" {

kgb_bench *kgb_register(const char *name, kgb_fn fn, void *ctx) {
  benchmark::internal::Benchmark *b =
      benchmark::RegisterBenchmark(name, [fn, ctx](benchmark::State &st) {
        fn(reinterpret_cast<kgb_state *>(&st), ctx);
      });
  if (b == nullptr) {
    std::fprintf(stderr, "kgbench: cannot register %s\n", name);
    std::abort();
  }
  return C(b);
}

kgb_bench *kgb_arg(kgb_bench *b, int64_t a) {
  return C(B(b)->Arg(a));
}

kgb_bench *kgb_args2(kgb_bench *b, int64_t a, int64_t c) {
  return C(B(b)->Args({a, c}));
}

kgb_bench *kgb_range(kgb_bench *b, int64_t lo, int64_t hi) {
  return C(B(b)->Range(lo, hi));
}

kgb_bench *kgb_dense_range(kgb_bench *b, int64_t lo, int64_t hi, int step) {
  return C(B(b)->DenseRange(lo, hi, step));
}

kgb_bench *kgb_range_multiplier(kgb_bench *b, int mult) {
  return C(B(b)->RangeMultiplier(mult));
}

kgb_bench *kgb_arg_name(kgb_bench *b, const char *name) {
  return C(B(b)->ArgName(name));
}

kgb_bench *kgb_unit(kgb_bench *b, kgb_time_unit u) {
  switch (u) {
  case KGB_US:
    return C(B(b)->Unit(benchmark::kMicrosecond));
  case KGB_MS:
    return C(B(b)->Unit(benchmark::kMillisecond));
  case KGB_NS:
  default:
    return C(B(b)->Unit(benchmark::kNanosecond));
  }
}

kgb_bench *kgb_min_time(kgb_bench *b, double seconds) {
  return C(B(b)->MinTime(seconds));
}

kgb_bench *kgb_fixed_iterations(kgb_bench *b, int64_t n) {
  return C(B(b)->Iterations(n));
}

void kgb_context(const char *key, const char *value) {
  benchmark::AddCustomContext(key, value);
}

int kgb_keep_running(kgb_state *st) {
  return S(st).KeepRunning() ? 1 : 0;
}

int64_t kgb_batch(kgb_state *st) {
  benchmark::State &s = S(st);
  // The first call starts the timer and takes every iteration; the second
  // finds none left, stops the timer and returns false.
  return s.KeepRunningBatch(s.max_iterations) ? s.max_iterations : 0;
}

int64_t kgb_arg_get(const kgb_state *st, size_t i) {
  return S(st).range(i);
}

int64_t kgb_iterations(const kgb_state *st) {
  return S(st).iterations();
}

void kgb_pause(kgb_state *st) {
  S(st).PauseTiming();
}

void kgb_resume(kgb_state *st) {
  S(st).ResumeTiming();
}

void kgb_set_bytes_processed(kgb_state *st, int64_t bytes) {
  S(st).SetBytesProcessed(bytes);
}

void kgb_set_items_processed(kgb_state *st, int64_t items) {
  S(st).SetItemsProcessed(items);
}

void kgb_set_label(kgb_state *st, const char *label) {
  S(st).SetLabel(label);
}

void kgb_skip_with_error(kgb_state *st, const char *msg) {
  S(st).SkipWithError(msg);
}

void kgb_counter(kgb_state *st, const char *name, double value, int flags) {
  S(st).counters[name] =
      benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(flags));
}

} // extern "C"

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
