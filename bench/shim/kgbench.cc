// kgbench.cc — the C API of kgbench.h over Google Benchmark, and main().
//
// A kgb_state* is a benchmark::State*, a kgb_bench* a
// benchmark::internal::Benchmark*: the casts below are the whole bridge.

#include "kgbench.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

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

namespace {

// Rounds (--kgb_rounds=R --kgb_out=FILE): the benchmarks run R times in
// one process, each time in a new random order when
// --benchmark_enable_random_interleaving is given, so round r holds every
// benchmark's r-th repetition, all run within the round's span (a fifth
// of a whole run at five rounds). Google Benchmark's own interleaving
// shuffles all repetitions of all benchmarks at once: there, a
// benchmark's r-th repetition and another's can be the whole run apart.
// Fixtures are built once per process, so the rounds cost no rebuild;
// each round estimates its iteration counts afresh (about a fifth more
// time than the library's repetitions on cheap benchmarks).
//
// The display reporter prints as usual; every iteration run is kept, its
// repetition_index made round * (repetitions a round) + its own, and FILE
// gets them all as one Google Benchmark JSON, without aggregates
// (scripts/bench adds them). This reporter stands in the display's slot,
// so it sees what the display is sent: the aggregates-only flags, which
// would leave it no iteration runs, are refused with rounds (main).
class RoundReporter : public benchmark::BenchmarkReporter {
public:
  RoundReporter(benchmark::BenchmarkReporter *display, std::ostream *out,
                long rounds)
      : display_(display), rounds_(rounds) {
    json_.SetOutputStream(out);
    json_.SetErrorStream(&std::cerr);
  }

  void StartRound(long r) {
    round_ = r;
  }

  bool ReportContext(const Context &context) override {
    if (reported_) {
      return true; // printed once, with the first round that runs
    }
    reported_ = true;
    json_.ReportContext(context);
    return display_->ReportContext(context);
  }

  // Whether a round ran anything (no context: no benchmark matched).
  bool Reported() const {
    return reported_;
  }

  void ReportRuns(const std::vector<Run> &runs) override {
    display_->ReportRuns(runs);
    for (const Run &run : runs) {
      if (run.run_type != Run::RT_Iteration) {
        continue;
      }
      Run kept = run;
      kept.repetition_index = round_ * run.repetitions + run.repetition_index;
      kept.repetitions = rounds_ * run.repetitions;
      kept_.push_back(kept);
    }
  }

  void Finalize() override {} // once, by Write, after the last round

  void Write() {
    json_.ReportRuns(kept_);
    json_.Finalize();
    display_->Finalize();
  }

private:
  benchmark::BenchmarkReporter *display_;
  benchmark::JSONReporter json_;
  std::vector<Run> kept_;
  long rounds_;
  long round_ = 0;
  bool reported_ = false;
};

// A flag Google Benchmark would take from argv or, as its default, from
// the environment (BENCHMARK_OUT for --benchmark_out, ...).
bool given(const std::vector<std::string> &args, const char *flag,
           const char *env) {
  for (const std::string &a : args) {
    if (a.rfind(flag, 0) == 0 &&
        (a.size() == std::strlen(flag) || a[std::strlen(flag)] == '=')) {
      return true;
    }
  }
  const char *e = std::getenv(env);
  return e != nullptr && *e != '\0';
}

int usage(const char *why) {
  std::fprintf(stderr, "keygate_bench: %s\n", why);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  // Take --kgb_rounds and --kgb_out out before Google Benchmark reads the
  // rest (it refuses flags it does not know).
  long rounds = 1;
  const char *out = nullptr;
  std::vector<std::string> passed;
  int kept = 1;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a.rfind("--kgb_rounds=", 0) == 0) {
      char *end = nullptr;
      rounds = std::strtol(a.c_str() + 13, &end, 10);
      if (end == a.c_str() + 13 || *end != '\0' || rounds < 1 ||
          rounds > 1000) {
        return usage("--kgb_rounds takes a count from 1 to 1000");
      }
    } else if (a.rfind("--kgb_out=", 0) == 0) {
      out = argv[i] + 10;
    } else {
      passed.push_back(a);
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 2;
  }
  if (rounds == 1 && out == nullptr) {
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  if (out == nullptr || *out == '\0') {
    return usage("--kgb_rounds needs --kgb_out=FILE");
  }
  if (given(passed, "--benchmark_out", "BENCHMARK_OUT")) {
    return usage("--kgb_out writes the rounds' file: leave --benchmark_out "
                 "(and BENCHMARK_OUT) out: it would be rewritten every round");
  }
  if (given(passed, "--benchmark_display_aggregates_only",
            "BENCHMARK_DISPLAY_AGGREGATES_ONLY") ||
      given(passed, "--benchmark_report_aggregates_only",
            "BENCHMARK_REPORT_AGGREGATES_ONLY")) {
    return usage("--kgb_rounds keeps every run: leave the aggregates-only "
                 "flags out (scripts/bench adds the aggregates)");
  }
  if (given(passed, "--benchmark_list_tests", "BENCHMARK_LIST_TESTS")) {
    return usage("--benchmark_list_tests runs nothing: leave --kgb_rounds out");
  }
  std::ofstream file(out);
  if (!file) {
    return usage((std::string("cannot write ") + out).c_str());
  }
  // The library's own display reporter (--benchmark_format, colours): it
  // keeps it, so it is not ours to free.
  RoundReporter rr(benchmark::CreateDefaultDisplayReporter(), &file, rounds);
  for (long r = 0; r < rounds; r++) {
    std::fprintf(stderr, "keygate_bench: round %ld of %ld\n", r + 1, rounds);
    rr.StartRound(r);
    if (benchmark::RunSpecifiedBenchmarks(&rr) == 0 || !rr.Reported()) {
      file.close();
      (void)std::remove(out);
      return usage("no benchmark ran (a filter that matches none?): no file "
                   "written");
    }
  }
  rr.Write();
  benchmark::Shutdown();
  file.close();
  if (!file) {
    return usage((std::string("cannot write ") + out).c_str());
  }
  return 0;
}
