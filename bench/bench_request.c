/*
 * bench_request.c — the full decision on realistic request heads (issue
 * 14), the SPEC §4 yardstick's main fixtures.
 *
 *   decide/<head>/valid/keys:N     kg_decide of a parsed realistic head
 *                                  (fixtures.h: api_bearer, api_xkey,
 *                                  browser_bearer, browser_xkey) whose key
 *                                  is stored, at 1, 50, 10,000, 1,000,000
 *                                  and 10,000,000 keys
 *   decide/<head>/unknown/keys:N   the same head with a well-formed key
 *                                  that is not stored: constant time means
 *                                  it costs what a valid one costs
 *   decide/<head>/malformed        the same head with a key whose checksum
 *                                  digit is not base62: refused before the
 *                                  digest, far cheaper
 *
 *   context/decide_paired/<head>/keys:N
 *                                  the valid and the unknown decision side
 *                                  by side, at 10,000, 1,000,000 and
 *                                  10,000,000 keys: an iteration is a
 *                                  slice of PAIR_SLICE valid decisions
 *                                  then as many unknown ones (the order
 *                                  swapped every other iteration), each
 *                                  timed; counters valid_ns, unknown_ns
 *                                  (the slices' medians) and
 *                                  unknown_over_valid (the median of each
 *                                  iteration's ratio). A big table's
 *                                  access moves with the host's memory
 *                                  from one benchmark to the next (the
 *                                  two medians above can be 10 % apart
 *                                  with no difference in the code's
 *                                  work); slices tens of microseconds
 *                                  apart share it
 *   context/decide_distinct/api_bearer/keys:10000/distinct:M
 *                                  decide/api_bearer/valid at 10,000
 *                                  keys, deciding only the first M of
 *                                  them in turn (1, 256, 2,048, 10,000):
 *                                  the same table and code, the lookup's
 *                                  lines in L1, L2 or beyond (the
 *                                  10,000-key step, docs/benchmarks.md)
 *
 * The head is parsed once, outside the loop (head/parse/<head> measures
 * parsing); each iteration points the key field at the next key, chosen
 * from the previous decision's record (`fx_next(j, 1 + (key_id >> 63))`,
 * which adds 1 only once the record has been read, and wraps to key 0
 * without a branch), so decisions cannot overlap, at one key either:
 * the time is one decision's latency, comparable with one access of
 * context/pointer_chase. Counters: `huge_pages` (1 when the index's table
 * was advised MADV_HUGEPAGE and the kernel accepted it), `index_MiB`.
 *
 * Up to 10,000 keys the loop also watches the core (watch.h): every
 * FX_WATCH_SLICE decisions, with the timer paused, a sensor reads whether
 * the core's other hardware thread was busy; counters sensor_ns,
 * quiet_share and quiet_ns (the decision over the slices the core was its
 * own). The benchmark's own time is the plain one, every slice.
 */
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "hotpath.h"
#include "shim/kgbench.h"
#include "watch.h"

static const int64_t sizes[] = {1, 50, 10000, 1000000, 10000000};

typedef enum which { VALID, UNKNOWN, MALFORMED } which;

typedef struct bench_case {
  fx_head_kind head;
  which what;
  int distinct; /* 1: argument 0 is how many different keys, at DISTINCT_OF */
} bench_case;

typedef struct request {
  kg_head head;
  kg_field fields[KG_HEAD_MAX_FIELDS];
  size_t key_field; /* the Authorization or X-API-Key field */
  int xkey;         /* 1: the value is the key; 0: "Bearer " + key */
} request;

/* Parse the fixture head and find its key field; 0 on failure. */
static int request_parse(fx_head_kind k, request *r) {
  size_t len = 0;
  size_t used = 0;
  const char *buf = fx_head(k, &len);
  kg_head_init(&r->head, r->fields, KG_HEAD_MAX_FIELDS, 0);
  if (kg_head_parse(buf, len, &r->head, &used) != KG_OK || used != len) {
    return 0;
  }
  r->xkey = fx_head_xkey(k);
  const char *want = r->xkey ? "X-API-Key" : "Authorization";
  for (size_t i = 0; i < r->head.nfields; i++) {
    if (r->fields[i].name.len == strlen(want) &&
        memcmp(r->fields[i].name.ptr, want, strlen(want)) == 0) {
      r->key_field = i;
      return 1;
    }
  }
  return 0;
}

/* Point the key field at entry i of a "Bearer <key>" array. */
static inline void request_set_key(request *r, const char *bearers, size_t i) {
  const char *b = bearers + i * FX_KEY_STRIDE;
  kg_field *f = &r->fields[r->key_field];
  f->value.ptr = r->xkey ? b + FX_BEARER_LEN : b;
  f->value.len = r->xkey ? FX_KEY_LEN : FX_BEARER_LEN + FX_KEY_LEN;
}

/* Rows up to this many keys watch the core (watch.h). */
#define WATCH_MAX_KEYS 10000

/* The table the context/decide_distinct rows decide against. */
#define DISTINCT_OF 10000

static void bm_decide(kgb_state *st, void *ctx) {
  const bench_case *bc = ctx;
  const size_t nkeys = bc->distinct ? DISTINCT_OF : (size_t)kgb_arg_get(st, 0);
  const fx_index *fx = fx_index_get(nkeys);
  /* The keys decided in turn: all of the table's, or its first `distinct`. */
  size_t cycle = fx->real;
  if (bc->distinct) {
    const int64_t m = kgb_arg_get(st, 0);
    if (m < 1 || (size_t)m > fx->real) {
      kgb_skip_with_error(st, "distinct keys out of the table's range");
      return;
    }
    cycle = (size_t)m;
  }
  kg_checker c = fx_checker(fx->index);
  request r;
  if (!request_parse(bc->head, &r)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  const char *keys = bc->what == VALID ? fx->bearer : fx_unknown_get(fx);
  kg_status want = bc->what == VALID ? KG_VALID : KG_INVALID_API_KEY;
  kg_status want_detail = bc->what == VALID ? KG_OK : KG_KEY_UNKNOWN;
  kg_decision d;
  size_t j = 0;
  int64_t right = 0;
  fx_watch *w = NULL;
  if (nkeys <= WATCH_MAX_KEYS && (w = fx_watch_new()) == NULL) {
    kgb_skip_with_error(st, "the sensor's head is not a missing key");
    return;
  }
  FX_WATCH_LOOP(st, w) {
    request_set_key(&r, keys, j);
    kg_status s =
        kg_decide(&c, r.fields, r.head.nfields, r.head.target, FX_NOW, &d);
    right += s == want && d.detail == want_detail;
    /* key_id < 2^63 (0 on a miss): adds 1, once the record is read. */
    j = fx_next(j, 1 + (size_t)(d.record.key_id >> 63), cycle);
  }
  if (w != NULL && !fx_watch_report(w, st)) {
    kgb_skip_with_error(st, "a sensor decision was not a missing key");
    return;
  }
  if (right != kgb_iterations(st)) {
    kgb_skip_with_error(st, "a decision was not the one expected");
    return;
  }
  kgb_set_items_processed(st, kgb_iterations(st));
  kgb_counter(st, "huge_pages", kg_index_huge_pages(fx->index),
              KGB_COUNTER_PLAIN);
  kgb_counter(st, "index_MiB",
              (double)kg_index_memory(fx->index) / (1024.0 * 1024.0),
              KGB_COUNTER_PLAIN);
}

/* A key whose last character is not base62: the format check refuses it
 * before the digest. One request, repeated (L1-hot). */
static void bm_malformed(kgb_state *st, void *ctx) {
  const bench_case *bc = ctx;
  kg_checker c = fx_checker(fx_outcomes_get()->index);
  request r;
  if (!request_parse(bc->head, &r)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  char bad[FX_BEARER_KEY_SIZE];
  memcpy(bad, fx_outcomes_get()->valid, sizeof bad);
  bad[FX_BEARER_LEN + FX_KEY_LEN - 1] = '*';
  request_set_key(&r, bad, 0);
  kg_decision d;
  kg_status s =
      kg_decide(&c, r.fields, r.head.nfields, r.head.target, FX_NOW, &d);
  if (s != KG_INVALID_API_KEY) {
    kgb_skip_with_error(st, "the malformed key was not refused");
    return;
  }
  KGB_LOOP(st) {
    kgb_escape(&r);
    s = kg_decide(&c, r.fields, r.head.nfields, r.head.target, FX_NOW, &d);
    KGB_KEEP(s);
    kgb_escape(&d);
  }
  kgb_set_items_processed(st, kgb_iterations(st));
}

/* ---- valid and unknown side by side ------------------------------------ */

#define PAIR_SLICE 256   /* decisions a slice: ~17-80 us */
#define PAIRS_KEPT 65536 /* iterations whose slices are kept */

/* ns a decision over PAIR_SLICE decisions of the keys of `keys` in turn,
 * from *j (advanced as bm_decide advances it); *right counts the
 * decisions that came out as want. */
static double pair_slice(const kg_checker *c, request *r, const char *keys,
                         size_t *j, size_t cycle, kg_status want,
                         int64_t *right) {
  kg_decision d;
  const double t0 = fx_now_ns();
  for (int i = 0; i < PAIR_SLICE; i++) {
    request_set_key(r, keys, *j);
    kg_status s =
        kg_decide(c, r->fields, r->head.nfields, r->head.target, FX_NOW, &d);
    *right += s == want;
    *j = fx_next(*j, 1 + (size_t)(d.record.key_id >> 63), cycle);
  }
  return (fx_now_ns() - t0) / PAIR_SLICE;
}

static void bm_paired(kgb_state *st, void *ctx) {
  const bench_case *bc = ctx;
  const fx_index *fx = fx_index_get((size_t)kgb_arg_get(st, 0));
  kg_checker c = fx_checker(fx->index);
  request r;
  if (!request_parse(bc->head, &r)) {
    kgb_skip_with_error(st, "the fixture head does not parse");
    return;
  }
  const char *unknown = fx_unknown_get(fx);
  fx_pairs pairs;
  fx_pairs_init(&pairs);
  size_t jv = 0;
  size_t ju = 0;
  int64_t valid = 0;
  int64_t refused = 0;
  KGB_LOOP(st) {
    double v;
    double u;
    if ((kgb_i_ & 1) == 0) {
      v = pair_slice(&c, &r, fx->bearer, &jv, fx->real, KG_VALID, &valid);
      u = pair_slice(&c, &r, unknown, &ju, fx->real, KG_INVALID_API_KEY,
                     &refused);
    } else {
      u = pair_slice(&c, &r, unknown, &ju, fx->real, KG_INVALID_API_KEY,
                     &refused);
      v = pair_slice(&c, &r, fx->bearer, &jv, fx->real, KG_VALID, &valid);
    }
    fx_pairs_add(&pairs, u, v);
  }
  const int64_t want = kgb_iterations(st) * PAIR_SLICE;
  if (valid != want || refused != want) {
    fx_pairs_free(&pairs);
    kgb_skip_with_error(st, "a decision was not the one expected");
    return;
  }
  fx_pairs_report(&pairs, st, "unknown_ns", "valid_ns", "unknown_over_valid");
}

static bench_case cases[FX_HEAD_REALISTIC][3];

/* How many different keys the context/decide_distinct rows decide
 * (scripts/bench's DISTINCT_COUNTS reports them). */
static const int64_t distinct_counts[] = {1, 256, 2048, 10000};

KGB_REGISTER(request) {
  static const char *const what_name[] = {"valid", "unknown", "malformed"};
  for (size_t h = 0; h < FX_HEAD_REALISTIC; h++) {
    fx_head_kind k = (fx_head_kind)(FX_HEAD_REALISTIC_FIRST + h);
    for (size_t w = 0; w < 3; w++) {
      cases[h][w].head = k;
      cases[h][w].what = (which)w;
      char name[96];
      snprintf(name, sizeof name, "decide/%s/%s", fx_head_name(k),
               what_name[w]);
      if (w == MALFORMED) {
        kgb_register(name, bm_malformed, &cases[h][w]);
        continue;
      }
      kgb_bench *b =
          kgb_arg_name(kgb_register(name, bm_decide, &cases[h][w]), "keys");
      for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        kgb_arg(b, sizes[i]);
      }
    }
  }
  static const int64_t paired_sizes[] = {10000, 1000000, 10000000};
  for (size_t h = 0; h < FX_HEAD_REALISTIC; h++) {
    char name[96];
    snprintf(name, sizeof name, "context/decide_paired/%s",
             fx_head_name(cases[h][VALID].head));
    kgb_bench *b =
        kgb_arg_name(kgb_register(name, bm_paired, &cases[h][VALID]), "keys");
    for (size_t i = 0; i < sizeof paired_sizes / sizeof paired_sizes[0]; i++) {
      kgb_arg(b, paired_sizes[i]);
    }
  }
  static bench_case distinct = {
      .head = FX_HEAD_API_BEARER, .what = VALID, .distinct = 1};
  char name[96];
  snprintf(name, sizeof name, "context/decide_distinct/%s/keys:%d",
           fx_head_name(distinct.head), DISTINCT_OF);
  kgb_bench *b =
      kgb_arg_name(kgb_register(name, bm_decide, &distinct), "distinct");
  for (size_t i = 0; i < sizeof distinct_counts / sizeof distinct_counts[0];
       i++) {
    kgb_arg(b, distinct_counts[i]);
  }
}
