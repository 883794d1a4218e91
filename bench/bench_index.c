/*
 * bench_index.c — kg_index_lookup, hit and miss, at 1, 3, 50, 10,000,
 * 1,000,000 and 10,000,000 keys, with the index's memory per key.
 *
 * Big indexes are random digests (fixtures.c) plus up to FX_REAL_KEYS_MAX
 * (2^21) digests of real keys; lookups walk those in order, and their
 * 256 MiB of bucket lines are eight times the last-level cache, so at 10M
 * keys nearly every lookup misses the caches (at 1M the whole 36 MiB table
 * is about the cache's size). Each lookup's digest is chosen by the
 * previous lookup's result (adding 0 or 1 from it; fx_next wraps without
 * a branch), so lookups do not overlap, at one key either: the time is a
 * lookup's latency, comparable with one access of
 * the pointer chase (bench_context.c).
 */
#include "fixtures.h"
#include "shim/kgbench.h"

static const int64_t sizes[] = {1, 3, 50, 10000, 1000000, 10000000};

static void report_memory(kgb_state *st, const fx_index *fx) {
  double mem = (double)kg_index_memory(fx->index);
  kgb_counter(st, "bytes_per_key", mem / (double)fx->n, KGB_COUNTER_PLAIN);
  kgb_counter(st, "index_MiB", mem / (1024.0 * 1024.0), KGB_COUNTER_PLAIN);
}

static void bm_lookup(kgb_state *st, void *ctx) {
  const int hit = ctx != NULL;
  const fx_index *fx = fx_index_get((size_t)kgb_arg_get(st, 0));
  const uint8_t(*probe)[KG_DIGEST_LEN] = hit ? fx->digests : fx->misses;
  kg_record rec;
  size_t j = 0;
  int64_t found = 0;
  KGB_LOOP(st) {
    int r = kg_index_lookup(fx->index, probe[j], &rec);
    found += r;
    /* A hit adds 1 (r), a miss adds 1 - r: data-dependent either way. */
    j = fx_next(j, (size_t)(hit ? r : 1 - r), fx->real);
  }
  if (found != (hit ? kgb_iterations(st) : 0)) {
    kgb_skip_with_error(st, "a lookup answered wrongly");
    return;
  }
  kgb_set_items_processed(st, kgb_iterations(st));
  report_memory(st, fx);
}

KGB_REGISTER(index) {
  static int hit = 1;
  kgb_bench *h =
      kgb_arg_name(kgb_register("index/lookup_hit", bm_lookup, &hit), "keys");
  kgb_bench *m =
      kgb_arg_name(kgb_register("index/lookup_miss", bm_lookup, NULL), "keys");
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    kgb_arg(h, sizes[i]);
    kgb_arg(m, sizes[i]);
  }
}
