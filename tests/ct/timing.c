/*
 * timing.c — the statistical timing test of keygate's constant-time code,
 * after dudect (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
 * time?", DATE 2017).
 *
 * For one experiment, two classes of inputs are measured interleaved in a
 * random order: each measurement times one call (cycle counter, or
 * CLOCK_MONOTONIC where there is none). The times go through Welch's t-test,
 * raw and cropped at DUDECT-style percentiles (measurements above the
 * p-th percentile dropped, for 100 values of p from the first, warm-up
 * batch), so that interrupts and other noise do not hide a small, steady
 * difference. If the two classes take the same time, |t| stays small; a
 * class-dependent time makes |t| grow with the square root of the number of
 * measurements. |t| > 10 is dudect's threshold ("probably not constant
 * time"; it says "definitely" above 500).
 *
 * Experiments on the index (10,000 random keys plus crafted ones):
 *   lookup_hit_vs_miss        a stored digest vs a random one
 *   lookup_hit_vs_near_miss   a stored digest vs the same digest with its
 *                             byte 13 changed, the last the index keeps
 *                             (same buckets; only the compare differs)
 *   lookup_first_vs_second    two records with the same two buckets, one
 *                             living in the first bucket read, one in the
 *                             second
 *   lookup_slot0_vs_slot1     two records forced into one bucket, one per slot
 *   eq32_equal_vs_random      kg_ct_eq32 (core/src/ct.h) against a fixed
 *                             secret: an equal vs a random input
 * Experiments on the digest of a 46-byte key (an sk_live_ key's length), on
 * the path the CPU takes (SHA-NI where it has the SHA extensions: valgrind's
 * CPU has not, so the taint check never runs that path; docs/security.md
 * section 6.1) and, with KEYGATE_CPU=baseline, on OpenSSL's compression:
 *   digest_key_fixed_vs_random   kg_digest without a pepper: a fixed key vs
 *                                random keys
 *   digest_hmac_key_fixed_vs_random  the same with a pepper (HMAC)
 *   digest_scan_key_fixed_vs_random  the digest with kg_decide's URL
 *                                scan among its rounds (kg_digest_scan;
 *                                SHA-NI only)
 * The pepper is fixed for a digester's life; what a client varies is the
 * key, which the second experiment varies under a pepper. (A pepper
 * against another needs a digester each, at two places: such experiments
 * measured the places, |t| just over 10 with either sign from run to run,
 * not the pepper; the taint check taints the pepper instead.)
 * two A/A checks of the harness itself, where both classes come from one
 * population and |t| must stay small:
 *   null_hit_vs_hit, null_miss_vs_miss
 * and the detector's own test, which must exceed the threshold:
 *   leak_memcmp               libc memcmp of 4 KiB: equal vs differing in the
 *                             first byte
 *   leak_eq32_early_exit      a byte loop that stops at the first difference,
 *                             32 bytes: equal vs differing in the first byte
 *
 * Usage: ct_timing EXPERIMENT|all|list. Exit 0 when every experiment ran
 * agreed with its expectation, 1 when one did not, 2 on a usage error (an
 * unknown experiment, a KG_CT_EXPECT_CPU word that is not sha, avx2 or
 * pclmul), 77 (ctest's skip) when KG_CT_EXPECT_CPU names a feature
 * (comma-separated) this process does not use: the run would time another
 * path than the one it is registered for (expect_cpu.h).
 * Budget per experiment: KG_CT_SECONDS (default 2.5) and KG_CT_MAX_MEAS
 * (default 4,000,000) measurements, whichever comes first. KG_CT_SEED fixes
 * the random class sequence (default: from the clock; printed).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "ct.h"
#include "expect_cpu.h"
#include "hotpath.h"
#include "keygate/digest.h"
#include "keygate/index.h"

#define T_THRESHOLD 10.0
#define NCROPS 100
#define BATCH 20000   /* measurements per batch */
#define ENOUGH 10000  /* per class, before a test counts */
#define NRANDOM 9808  /* random keys in the index... */
#define NINSTANCES 32 /* ...plus 6 crafted records per instance */
#define NCRAFTED_WORDS (3 * NINSTANCES)
#define INPUT_LEN 64  /* one input: a digest, or a key */
#define KEY_LEN 46    /* the digest experiments' key: an sk_live_ key's */
#define LONG_LEN 4096 /* leak_memcmp's buffers */

/* ---- the clock ----------------------------------------------------------- */

/* A timestamp in cycles (rdtsc, fenced so the call is not reordered around
 * it) or, elsewhere, nanoseconds. */
static inline uint64_t now_ticks(void) {
#if defined(__x86_64__) || defined(__i386__)
  _mm_lfence();
  uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Welch's t-test, online (Welford) ------------------------------------ */

typedef struct welch {
  double n[2];
  double mean[2];
  double m2[2];
} welch;

static void welch_push(welch *w, double x, int cls) {
  w->n[cls] += 1;
  double delta = x - w->mean[cls];
  w->mean[cls] += delta / w->n[cls];
  w->m2[cls] += delta * (x - w->mean[cls]);
}

static double welch_t(const welch *w) {
  double v0 = w->m2[0] / (w->n[0] - 1);
  double v1 = w->m2[1] / (w->n[1] - 1);
  double den = sqrt(v0 / w->n[0] + v1 / w->n[1]);
  return den > 0 ? (w->mean[0] - w->mean[1]) / den : 0;
}

static int welch_enough(const welch *w) {
  return w->n[0] > ENOUGH && w->n[1] > ENOUGH;
}

/* ---- the random class sequence ------------------------------------------- */

static uint64_t g_rng;

/* xorshift64* */
static uint64_t rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return g_rng * 0x2545F4914F6CDD1Du;
}

static void rnd_bytes(uint8_t *out, size_t len) {
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = rnd();
    memcpy(out + i, &v, len - i < 8 ? len - i : 8);
  }
}

/* ---- the index and its crafted records ----------------------------------- */

static kg_index *g_idx;
static kg_record *g_recs; /* the random records, [0, NRANDOM) */
/* As many digests that miss: drawn like the hits, so repeats (and the cache
 * hits they bring) are as frequent in both classes. */
static uint8_t g_misses[NRANDOM][KG_DIGEST_LEN];
/* Crafted records of instance i, by role. */
static uint8_t g_pair_a[NINSTANCES][KG_DIGEST_LEN]; /* words (P, P) */
static uint8_t g_pair_b[NINSTANCES][KG_DIGEST_LEN]; /* words (P, P) */
static uint8_t g_fill_x[NINSTANCES][KG_DIGEST_LEN]; /* words (X, X) */
static uint8_t g_fill_y[NINSTANCES][KG_DIGEST_LEN]; /* words (Y, Y) */
static uint8_t g_xy_a[NINSTANCES][KG_DIGEST_LEN];   /* words (X, Y) */
static uint8_t g_xy_b[NINSTANCES][KG_DIGEST_LEN];   /* words (X, Y) */

/* A random digest with words w1, w2: its bytes 0-3 and 4-7. The bytes
 * after them are random: two records with the same words differ there, in
 * the 14 bytes the index keeps (bytes 8-13), not in their buckets. */
static void set_words(uint8_t *digest, uint32_t w1, uint32_t w2) {
  rnd_bytes(digest, KG_DIGEST_LEN);
  memcpy(digest, &w1, 4);
  memcpy(digest + 4, &w2, 4);
}

/*
 * The index takes its two buckets from the digest's first and second 4-byte
 * words by range reduction (index.c), so a record's buckets follow from its
 * words whatever the table size, and equal words mean one bucket.
 *
 *  - Two records with words (P, P) can live nowhere but bucket P: they fill
 *    it, one per slot (lookup_slot0_vs_slot1 presents one or the other).
 *  - A record with words (X, X) takes one slot of X, one with (Y, Y) one
 *    slot of Y. Two records with words (X, Y) then have one free slot in X
 *    and one in Y: one lives in each (lookup_first_vs_second). Which one is
 *    where is the build's business; the test needs only that they differ.
 * In both experiments the two classes read the same buckets in the same
 * order: only where the match is differs.
 *
 * Crafted word number c has its top 10 bits equal to c and the next bit set:
 * it falls in the middle of the c-th 1024th of the table, so no two crafted
 * words share a bucket in a table of 2048 buckets or more (10,000 keys make
 * about 5,900). A random record has at least one word at or above the
 * crafted range, so it always has a bucket that no crafted record fills.
 */
#define CRAFTED_LIMIT ((uint32_t)NCRAFTED_WORDS << 22)

static uint32_t crafted_word(size_t c) {
  return ((uint32_t)c << 22) | ((uint32_t)1 << 21) | (uint32_t)(rnd() >> 43);
}

static void random_digest(uint8_t *digest) {
  rnd_bytes(digest, KG_DIGEST_LEN);
  uint32_t w1;
  uint32_t w2;
  memcpy(&w1, digest, 4);
  memcpy(&w2, digest + 4, 4);
  if (w1 < CRAFTED_LIMIT && w2 < CRAFTED_LIMIT) {
    w2 += CRAFTED_LIMIT;
    memcpy(digest + 4, &w2, 4);
  }
}

static int build_index(void) {
  size_t n = NRANDOM + 6 * NINSTANCES;
  kg_record *recs = calloc(n, sizeof *recs);
  g_recs = calloc(NRANDOM, sizeof *g_recs);
  if (recs == NULL || g_recs == NULL) {
    free(recs);
    return 0;
  }
  size_t k = 0;
  for (size_t i = 0; i < NINSTANCES; i++) {
    uint32_t p = crafted_word(3 * i);
    uint32_t x = crafted_word(3 * i + 1);
    uint32_t y = crafted_word(3 * i + 2);
    set_words(g_pair_a[i], p, p);
    set_words(g_pair_b[i], p, p);
    set_words(g_fill_x[i], x, x);
    set_words(g_fill_y[i], y, y);
    set_words(g_xy_a[i], x, y);
    set_words(g_xy_b[i], x, y);
    const uint8_t *crafted[6] = {g_pair_a[i], g_pair_b[i], g_fill_x[i],
                                 g_fill_y[i], g_xy_a[i],   g_xy_b[i]};
    for (size_t j = 0; j < 6; j++) {
      memcpy(recs[k++].digest, crafted[j], KG_DIGEST_LEN);
    }
  }
  for (size_t i = 0; i < NRANDOM; i++) {
    random_digest(g_recs[i].digest);
    g_recs[i].key_id = 1 + i;
    g_recs[i].account_id = i % 13;
    recs[k++] = g_recs[i];
    random_digest(g_misses[i]);
  }
  for (size_t i = 0; i < n; i++) {
    recs[i].key_id = recs[i].key_id != 0 ? recs[i].key_id : 100000 + i;
  }
  kg_status s = kg_index_build(recs, n, &g_idx);
  free(recs);
  return s == KG_OK;
}

/* ---- inputs and calls of each experiment --------------------------------- */

static volatile uint64_t g_sink;

/* One lookup; returns a value derived from the result without branching. */
__attribute__((noinline)) static uint64_t run_lookup(const uint8_t *in) {
  kg_record out;
  int found = kg_index_lookup(g_idx, in, &out);
  return (uint64_t)found ^ out.key_id;
}

static void prep_hit_vs_miss(uint8_t *in, int cls) {
  if (cls == 0) {
    memcpy(in, g_recs[rnd() % NRANDOM].digest, KG_DIGEST_LEN);
  } else {
    memcpy(in, g_misses[rnd() % NRANDOM], KG_DIGEST_LEN);
  }
}

/* The A/A checks: both classes draw from the same population. */
static void prep_hit_vs_hit(uint8_t *in, int cls) {
  prep_hit_vs_miss(in, 0);
  (void)cls;
}

static void prep_miss_vs_miss(uint8_t *in, int cls) {
  prep_hit_vs_miss(in, 1);
  (void)cls;
}

static void prep_hit_vs_near_miss(uint8_t *in, int cls) {
  memcpy(in, g_recs[rnd() % NRANDOM].digest, KG_DIGEST_LEN);
  in[KG_INDEX_DIGEST_KEPT - 1] ^= (uint8_t)cls; /* the last byte it keeps */
}

static void prep_first_vs_second(uint8_t *in, int cls) {
  size_t i = rnd() % NINSTANCES;
  memcpy(in, cls == 0 ? g_xy_a[i] : g_xy_b[i], KG_DIGEST_LEN);
}

static void prep_slot0_vs_slot1(uint8_t *in, int cls) {
  size_t i = rnd() % NINSTANCES;
  memcpy(in, cls == 0 ? g_pair_a[i] : g_pair_b[i], KG_DIGEST_LEN);
}

static uint8_t g_secret[KG_DIGEST_LEN];

__attribute__((noinline)) static uint64_t run_eq32(const uint8_t *in) {
  return kg_ct_eq32(g_secret, in);
}

static void prep_equal_vs_random(uint8_t *in, int cls) {
  if (cls == 0) {
    memcpy(in, g_secret, KG_DIGEST_LEN);
  } else {
    rnd_bytes(in, KG_DIGEST_LEN);
  }
}

/* The leak controls: equal vs differing in the first byte. */
static void prep_equal_vs_first_byte(uint8_t *in, int cls) {
  memcpy(in, g_secret, KG_DIGEST_LEN);
  in[0] ^= (uint8_t)cls;
}

/* The digest experiments: a plain digester, a keyed one (a random
 * pepper), the fixed key. */
static kg_digester *g_plain;
static kg_digester *g_keyed;
static uint8_t g_fixed_key[KEY_LEN];

static void prep_key_fixed_vs_random(uint8_t *in, int cls) {
  if (cls == 0) {
    memcpy(in, g_fixed_key, KEY_LEN);
  } else {
    rnd_bytes(in, KEY_LEN);
  }
}

static uint64_t digest_word(const kg_digester *d, const uint8_t *in) {
  uint8_t out[KG_DIGEST_LEN];
  (void)kg_digest(d, (const char *)in, KEY_LEN, out);
  uint64_t w;
  memcpy(&w, out, sizeof w);
  return w;
}

__attribute__((noinline)) static uint64_t run_digest_plain(const uint8_t *in) {
  return digest_word(g_plain, in);
}

__attribute__((noinline)) static uint64_t run_digest_hmac(const uint8_t *in) {
  return digest_word(g_keyed, in);
}

static kg_key_policy g_policy; /* sk_live_, for run_digest_scan's job */

/* The digest with kg_decide's URL scan among its rounds (kg_digest_scan;
 * hotpath.h), a browser's target and Host with stops (the same in both
 * classes: only the key differs); kg_digest where it declines (registered
 * for the SHA extensions only). */
__attribute__((noinline)) static uint64_t run_digest_scan(const uint8_t *in) {
  static const char target[] =
      "/api/v1/iocs?type=domain&limit=50&sort=-last_seen&fields=indicator,"
      "type,first_seen&include=sources%2Ctags&tz=Europe%2FLondon&q=example";
  static const kg_field host = {{"Host", 4}, {"api.example.com", 15}};
  static const kg_url_hosts hosts = {0, 0};
  uint8_t out[KG_DIGEST_LEN];
  kg_url_job job;
  const kg_span t = {target, sizeof target - 1};
  if (!kg_url_job_init(&g_policy, t, &host, 1, &hosts, &job) ||
      !kg_digest_scan(g_plain, (const char *)in, KEY_LEN, &job, out)) {
    (void)kg_digest(g_plain, (const char *)in, KEY_LEN, out);
  }
  uint64_t w;
  memcpy(&w, out, sizeof w);
  return w;
}

static int digesters_new(void) {
  if (kg_key_policy_init(&g_policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    return 0;
  }
  uint8_t pepper[32];
  rnd_bytes(pepper, sizeof pepper);
  rnd_bytes(g_fixed_key, sizeof g_fixed_key);
  int ok = kg_digester_new_ex(NULL, 0, KG_DIGEST_BUILTIN, &g_plain) == KG_OK &&
           kg_digester_new_ex(pepper, sizeof pepper, KG_DIGEST_BUILTIN,
                              &g_keyed) == KG_OK;
  kg_ct_wipe(pepper, sizeof pepper);
  return ok;
}

static uint8_t g_long_a[LONG_LEN];
static uint8_t g_long_b[2][LONG_LEN]; /* [0] equal to a, [1] differs at 0 */

__attribute__((noinline)) static uint64_t run_leak_memcmp(const uint8_t *in) {
  return memcmp(g_long_a, g_long_b[in[0] != g_secret[0]], LONG_LEN) == 0;
}

__attribute__((noinline)) static uint64_t run_leak_eq32(const uint8_t *in) {
  for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
    if (g_secret[i] != in[i]) {
      return 0;
    }
  }
  return 1;
}

typedef struct experiment {
  const char *name;
  const char *what;
  int must_leak; /* 1: a control, |t| must exceed the threshold */
  void (*prep)(uint8_t *in, int cls);
  uint64_t (*run)(const uint8_t *in);
} experiment;

static const experiment g_experiments[] = {
    {"lookup_hit_vs_miss", "kg_index_lookup: stored digest vs random digest", 0,
     prep_hit_vs_miss, run_lookup},
    {"lookup_hit_vs_near_miss",
     "kg_index_lookup: stored digest vs same digest, byte 13 changed", 0,
     prep_hit_vs_near_miss, run_lookup},
    {"lookup_first_vs_second",
     "kg_index_lookup: same two buckets, match in the first vs the second", 0,
     prep_first_vs_second, run_lookup},
    {"lookup_slot0_vs_slot1",
     "kg_index_lookup: match in one slot vs the other of one bucket", 0,
     prep_slot0_vs_slot1, run_lookup},
    {"eq32_equal_vs_random", "kg_ct_eq32: equal vs random 32 bytes", 0,
     prep_equal_vs_random, run_eq32},
    {"digest_key_fixed_vs_random",
     "kg_digest, no pepper: a fixed 46-byte key vs random ones", 0,
     prep_key_fixed_vs_random, run_digest_plain},
    {"digest_hmac_key_fixed_vs_random",
     "kg_digest, a pepper: a fixed 46-byte key vs random ones", 0,
     prep_key_fixed_vs_random, run_digest_hmac},
    {"digest_scan_key_fixed_vs_random",
     "kg_digest_scan, a browser's URL among the rounds: a fixed 46-byte key "
     "vs random ones",
     0, prep_key_fixed_vs_random, run_digest_scan},
    {"null_hit_vs_hit", "A/A: kg_index_lookup, two classes of random hits", 0,
     prep_hit_vs_hit, run_lookup},
    {"null_miss_vs_miss", "A/A: kg_index_lookup, two classes of random misses",
     0, prep_miss_vs_miss, run_lookup},
    {"leak_memcmp", "control: memcmp of 4 KiB, equal vs first byte differs", 1,
     prep_equal_vs_first_byte, run_leak_memcmp},
    {"leak_eq32_early_exit",
     "control: early-exit loop over 32 bytes, equal vs first byte differs", 1,
     prep_equal_vs_first_byte, run_leak_eq32},
};
#define NEXPERIMENTS (sizeof g_experiments / sizeof g_experiments[0])

/* ---- the measurement loop ------------------------------------------------ */

typedef struct tests {
  welch raw;
  welch crop[NCROPS];
  double cut[NCROPS]; /* crop thresholds, from the warm-up batch */
} tests;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a;
  uint64_t y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Measure one batch: classes at random, inputs prepared first, then one
 * timed call each. */
static void measure(const experiment *e, uint8_t *inputs, uint8_t *classes,
                    uint64_t *times) {
  for (size_t i = 0; i < BATCH; i++) {
    classes[i] = (uint8_t)(rnd() & 1);
    e->prep(inputs + i * INPUT_LEN, classes[i]);
  }
  uint64_t sink = 0;
  for (size_t i = 0; i < BATCH; i++) {
    uint64_t t0 = now_ticks();
    sink ^= e->run(inputs + i * INPUT_LEN);
    uint64_t t1 = now_ticks();
    times[i] = t1 - t0;
  }
  g_sink ^= sink;
}

/* Set the crop thresholds: percentile 1 - 0.5^(10 (k + 1) / NCROPS) of the
 * warm-up batch, as dudect does: dense near the fast end, where the
 * undisturbed measurements are. */
static void set_cuts(tests *t, uint64_t *times) {
  qsort(times, BATCH, sizeof *times, cmp_u64);
  for (size_t k = 0; k < NCROPS; k++) {
    double q = 1 - pow(0.5, 10.0 * (double)(k + 1) / NCROPS);
    t->cut[k] = (double)times[(size_t)(q * BATCH)];
  }
}

static void push_batch(tests *t, const uint8_t *classes,
                       const uint64_t *times) {
  for (size_t i = 0; i < BATCH; i++) {
    double x = (double)times[i];
    welch_push(&t->raw, x, classes[i]);
    for (size_t k = 0; k < NCROPS; k++) {
      if (x < t->cut[k]) {
        welch_push(&t->crop[k], x, classes[i]);
      }
    }
  }
}

/* The largest |t| over the raw and cropped tests with enough measurements;
 * *which is -1 for raw, else the crop index. */
static double max_t(const tests *t, int *which) {
  double best = welch_enough(&t->raw) ? fabs(welch_t(&t->raw)) : 0;
  *which = -1;
  for (size_t k = 0; k < NCROPS; k++) {
    if (welch_enough(&t->crop[k]) && fabs(welch_t(&t->crop[k])) > best) {
      best = fabs(welch_t(&t->crop[k]));
      *which = (int)k;
    }
  }
  return best;
}

static double env_double(const char *name, double dflt) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') {
    return dflt;
  }
  char *end = NULL;
  double d = strtod(v, &end);
  return (end != v && *end == '\0' && d > 0) ? d : dflt;
}

/* Run one experiment; 1 when its outcome is the expected one. */
static int run_experiment(const experiment *e, double budget_s,
                          double max_meas) {
  uint8_t *inputs = malloc((size_t)BATCH * INPUT_LEN);
  uint8_t *classes = malloc(BATCH);
  uint64_t *times = malloc(BATCH * sizeof *times);
  tests *t = calloc(1, sizeof *t);
  if (inputs == NULL || classes == NULL || times == NULL || t == NULL) {
    fprintf(stderr, "ct_timing: out of memory\n");
    exit(1);
  }
  measure(e, inputs, classes, times); /* warm-up: caches, predictors */
  set_cuts(t, times);
  double start = seconds();
  double t_abs = 0;
  int which = -1;
  while (t->raw.n[0] + t->raw.n[1] < max_meas && seconds() - start < budget_s) {
    measure(e, inputs, classes, times);
    push_batch(t, classes, times);
    t_abs = max_t(t, &which);
    if (t_abs > T_THRESHOLD) {
      break; /* decided: a leak is evident */
    }
  }
  if (getenv("KG_CT_DEBUG") != NULL) {
    for (size_t k = 0; k < NCROPS; k += 9) {
      printf(
          "  crop %3zu < %6.0f: n %7.0f/%7.0f mean %7.2f vs %7.2f t %+6.2f\n",
          k, t->cut[k], t->crop[k].n[0], t->crop[k].n[1], t->crop[k].mean[0],
          t->crop[k].mean[1], welch_t(&t->crop[k]));
    }
  }
  double n = t->raw.n[0] + t->raw.n[1];
  int leaked = t_abs > T_THRESHOLD;
  int ok = leaked == e->must_leak;
  printf("%-24s %6.2f M meas, %5.1f s, max |t| = %7.2f (%s), raw t = %+7.2f, "
         "mean %.1f vs %.1f ticks: %s%s\n",
         e->name, n / 1e6, seconds() - start, t_abs,
         which < 0 ? "raw" : "cropped", welch_t(&t->raw), t->raw.mean[0],
         t->raw.mean[1], leaked ? "LEAK" : "no leak found",
         ok ? ""
            : (e->must_leak ? "  <- FAIL: the control was not detected"
                            : "  <- FAIL: not constant time"));
  free(inputs);
  free(classes);
  free(times);
  free(t);
  return ok;
}

/* Check each lookup experiment's classes do what its name says. */
static int sanity(void) {
  kg_record out;
  uint8_t in[KG_DIGEST_LEN];
  for (size_t i = 0; i < NINSTANCES; i++) {
    if (!kg_index_lookup(g_idx, g_pair_a[i], &out) ||
        !kg_index_lookup(g_idx, g_pair_b[i], &out) ||
        !kg_index_lookup(g_idx, g_fill_x[i], &out) ||
        !kg_index_lookup(g_idx, g_fill_y[i], &out) ||
        !kg_index_lookup(g_idx, g_xy_a[i], &out) ||
        !kg_index_lookup(g_idx, g_xy_b[i], &out)) {
      return 0;
    }
  }
  for (int i = 0; i < 1000; i++) {
    prep_hit_vs_miss(in, 0);
    int hit = kg_index_lookup(g_idx, in, &out);
    prep_hit_vs_near_miss(in, 1);
    int near = kg_index_lookup(g_idx, in, &out);
    prep_hit_vs_miss(in, 1);
    int miss = kg_index_lookup(g_idx, in, &out);
    if (!hit || near || miss) {
      return 0;
    }
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: ct_timing EXPERIMENT|all|list\n");
    return 2;
  }
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < NEXPERIMENTS; i++) {
      printf("%-24s %s\n", g_experiments[i].name, g_experiments[i].what);
    }
    return 0;
  }
  const char *seed_env = getenv("KG_CT_SEED");
  uint64_t seed = seed_env != NULL && *seed_env != '\0'
                      ? strtoull(seed_env, NULL, 0)
                      : (uint64_t)now_ticks() ^ (uint64_t)time(NULL);
  g_rng = seed | 1;
  int known = strcmp(argv[1], "all") == 0;
  for (size_t i = 0; i < NEXPERIMENTS; i++) {
    known |= strcmp(argv[1], g_experiments[i].name) == 0;
  }
  if (!known) {
    fprintf(stderr,
            "ct_timing: unknown experiment '%s'; run 'ct_timing list'\n",
            argv[1]);
    return 2;
  }
  int cpu_rc = ct_expect_cpu("ct_timing");
  if (cpu_rc != 0) {
    return cpu_rc;
  }
  double budget_s = env_double("KG_CT_SECONDS", 2.5);
  double max_meas = env_double("KG_CT_MAX_MEAS", 4e6);
  printf("ct_timing: seed %llu, budget %.1f s or %.1f M measurements per "
         "experiment, threshold |t| > %.0f\n",
         (unsigned long long)seed, budget_s, max_meas / 1e6, T_THRESHOLD);
  if (!build_index()) {
    fprintf(stderr, "ct_timing: could not build the crafted index\n");
    return 1;
  }
  printf("ct_timing: index of %zu keys, %zu KiB\n", kg_index_count(g_idx),
         kg_index_memory(g_idx) / 1024);
  if (!digesters_new()) {
    fprintf(stderr, "ct_timing: could not make the digesters\n");
    return 1;
  }
  if (!sanity()) {
    fprintf(stderr, "ct_timing: the inputs do not hit and miss as the "
                    "experiments need\n");
    return 1;
  }
  rnd_bytes(g_secret, sizeof g_secret);
  memset(g_long_a, 0x5a, LONG_LEN);
  memcpy(g_long_b[0], g_long_a, LONG_LEN);
  memcpy(g_long_b[1], g_long_a, LONG_LEN);
  g_long_b[1][0] ^= 1;

  int ok = 1;
  for (size_t i = 0; i < NEXPERIMENTS; i++) {
    if (strcmp(argv[1], "all") == 0 ||
        strcmp(argv[1], g_experiments[i].name) == 0) {
      ok &= run_experiment(&g_experiments[i], budget_s, max_meas);
    }
  }
  kg_index_free(g_idx);
  free(g_recs);
  kg_digester_free(g_plain);
  kg_digester_free(g_keyed);
  return ok ? 0 : 1;
}
