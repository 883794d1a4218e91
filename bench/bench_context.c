/*
 * bench_context.c — yardsticks that are not keygate, measured in the same
 * run for context (SPEC §4):
 *
 *   context/pointer_chase/MiB:N   one dependent random access through N MiB
 *                                 (a random cyclic permutation of 64-byte
 *                                 nodes, Sattolo's algorithm): ns per access
 *                                 is the time per iteration
 *   context/pointer_chase_hugepages/MiB:N
 *                                 the same in memory advised for transparent
 *                                 huge pages (fewer TLB misses), as the
 *                                 index asks for its big tables
 *   context/digest_chase_hugepages/MiB:N
 *                                 a huge-page chase through N MiB (the
 *                                 10,000,000-key table's size) with a
 *                                 kg_digest on each step's chain before its
 *                                 access: what a decision's digest and
 *                                 access cost without the rest of it
 *   context/bucket_chase_hugepages/MiB:N
 *                                 one dependent random access of an index
 *                                 bucket's size (BUCKET_BYTES, aligned as
 *                                 the index's buckets are), the next
 *                                 address made from a word of every line,
 *                                 so the access ends when its last line
 *                                 arrives: what a lookup's bucket costs
 *                                 beyond a one-line access (nothing since
 *                                 a bucket is one line, issue 14's ninth
 *                                 pass; kept so older runs compare)
 *   context/plaintext_map/keys:N  what nginx's `map $http_x_api_key` recipe
 *                                 does: hash the plaintext key (nginx's
 *                                 hash, key*31 + c), find its bucket, compare
 *                                 lengths and memcmp; a hit every time
 */
#define _DEFAULT_SOURCE 1 /* madvise, MADV_HUGEPAGE */

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fixtures.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "shim/kgbench.h"

/* ---- pointer chase ------------------------------------------------------ */

typedef struct node {
  struct node *next;
  char pad[64 - sizeof(struct node *)];
} node;

#define HUGE_PAGE (2u << 20)

/* The 10,000,000-key index table's size in MiB (its rows' index_MiB
 * counter: 32-byte slots at 85 % load, docs/benchmarks.md). */
#define DIGEST_CHASE_MIB 360

/* perm[0..n): Sattolo's uniformly random permutation with a single cycle,
 * from seed; returns the generator's state after it. */
static uint64_t sattolo(uint32_t *perm, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    perm[i] = (uint32_t)i;
  }
  uint64_t state = seed;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(fx_rand(&state) % i);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return state;
}

static node *chase_make(size_t bytes, int huge, size_t *count) {
  size_t n = bytes / sizeof(node);
  bytes = (n * sizeof(node) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  node *nodes = aligned_alloc(HUGE_PAGE, bytes);
  uint32_t *perm = malloc(n * sizeof *perm);
  if (nodes == NULL || perm == NULL) {
    fx_die("out of memory for the pointer chase");
  }
#ifdef MADV_HUGEPAGE
  /* Advice only: where transparent huge pages are off it changes nothing. */
  if (huge) {
    (void)madvise(nodes, bytes, MADV_HUGEPAGE);
  }
#else
  (void)huge;
#endif
  sattolo(perm, n, 42);
  for (size_t i = 0; i < n; i++) {
    nodes[i].next = &nodes[perm[i]];
  }
  free(perm);
  *count = n;
  return nodes;
}

/* The chases' buffers, one for each kind of page and size, kept for the
 * next run: scripts/bench interleaves repetitions at random, and a rebuilt
 * GiB would cost more than the repetition. Each run goes on from where the
 * last one stopped (`at`), so no run can re-walk lines the run before it
 * left in the caches. A possible bias removed, not one measured: a review
 * found a restart at the head no faster once a run walks 30,000 steps, and
 * a run walks about a million (docs/benchmarks.md). Two chases of one kind
 * and size walk one buffer. */
typedef struct chase {
  node *nodes, *at;
  size_t bytes, count;
  int huge;
} chase;

#define CHASE_SLOTS 4

static chase *chase_get(kgb_state *st, int huge) {
  static chase chases[CHASE_SLOTS];
  size_t want = (size_t)kgb_arg_get(st, 0) << 20;
  for (size_t i = 0; i < CHASE_SLOTS; i++) {
    chase *c = &chases[i];
    if (c->nodes == NULL) {
      c->nodes = chase_make(want, huge, &c->count);
      c->bytes = want;
      c->huge = huge;
      c->at = c->nodes;
      return c;
    }
    if (c->bytes == want && c->huge == huge) {
      return c;
    }
  }
  fx_die("more pointer chases than CHASE_SLOTS");
  return NULL;
}

static void bm_chase(kgb_state *st, void *ctx) {
  chase *c = chase_get(st, ctx != NULL);
  node *p = c->at;
  KGB_LOOP(st) {
    p = p->next;
    KGB_KEEP(p);
  }
  kgb_escape(p);
  c->at = p;
  kgb_set_items_processed(st, kgb_iterations(st));
}

/* The huge-page chase with a kg_digest before each access, the decision's
 * chain at millions of keys without its parse and compare: the key's
 * address waits on the last access and the next access on the digest
 * (fx_hide(0) joins both, as digest/sha256_chained joins its digests).
 * Run through a buffer of the 10,000,000-key table's size (DIGEST_CHASE_MIB),
 * so that its access and the lookup's reach the same amount of memory. */
static void bm_digest_chase(kgb_state *st, void *ctx) {
  (void)ctx;
  static char key[FX_KEY_LEN + 1];
  if (key[0] == '\0') {
    fx_key(0, key);
  }
  chase *c = chase_get(st, 1);
  kg_digester *d = fx_digester();
  const uintptr_t zero = fx_hide(0);
  uint8_t out[KG_DIGEST_LEN];
  node *p = c->at;
  KGB_LOOP(st) {
    kg_status s = kg_digest(d, key + ((uintptr_t)p & zero), FX_KEY_LEN, out);
    KGB_KEEP(s);
    uint64_t w;
    memcpy(&w, out, sizeof w);
    p = ((node *)((uintptr_t)p ^ ((uintptr_t)w & zero)))->next;
    KGB_KEEP(p);
  }
  kgb_escape(p);
  c->at = p;
  kgb_set_items_processed(st, kgb_iterations(st));
}

/* ---- bucket chase ------------------------------------------------------- */

#define BUCKET_BYTES ((size_t)64) /* index.c: a bucket is one cache line */
#define BUCKET_LINES (BUCKET_BYTES / 64)
_Static_assert(KG_INDEX_BUCKET_SLOTS * 32 == BUCKET_BYTES,
               "index.c: two 32-byte slots a bucket");

/* The chase's cycle over blocks of BUCKET_BYTES: block i's next address,
 * XOR-split over the first word of each of its lines. */
static unsigned char *bucket_make(size_t bytes) {
  size_t n = bytes / BUCKET_BYTES;
  if (n < 2) {
    fx_die("the bucket chase needs two buckets at least");
  }
  unsigned char *mem = aligned_alloc(HUGE_PAGE, bytes);
  uint32_t *perm = malloc(n * sizeof *perm);
  if (mem == NULL || perm == NULL) {
    fx_die("out of memory for the bucket chase");
  }
#ifdef MADV_HUGEPAGE
  (void)madvise(mem, bytes, MADV_HUGEPAGE);
#endif
  uint64_t state = sattolo(perm, n, 43);
  for (size_t i = 0; i < n; i++) {
    uintptr_t rest = (uintptr_t)(mem + (size_t)perm[i] * BUCKET_BYTES);
    unsigned char *b = mem + i * BUCKET_BYTES;
    for (size_t l = 1; l < BUCKET_LINES; l++) {
      uintptr_t w = (uintptr_t)fx_rand(&state);
      memcpy(b + 64 * l, &w, sizeof w);
      rest ^= w;
    }
    memcpy(b, &rest, sizeof rest);
  }
  free(perm);
  return mem;
}

static void bm_bucket_chase(kgb_state *st, void *ctx) {
  (void)ctx;
  static unsigned char *mem;
  static const unsigned char *at; /* where the last run stopped (bm_chase) */
  static size_t bytes;
  size_t want = (size_t)kgb_arg_get(st, 0) << 20;
  if (mem == NULL || bytes != want) {
    free(mem);
    mem = bucket_make(want);
    bytes = want;
    at = mem;
  }
  const unsigned char *p = at;
  KGB_LOOP(st) {
    uintptr_t next = 0;
    for (size_t l = 0; l < BUCKET_LINES; l++) {
      uintptr_t w;
      memcpy(&w, p + 64 * l, sizeof w);
      next ^= w;
    }
    p = (const unsigned char *)next;
    KGB_KEEP(p);
  }
  kgb_escape(&p);
  at = p;
  kgb_set_items_processed(st, kgb_iterations(st));
}

/* ---- plaintext map ------------------------------------------------------ */

/* An entry as nginx's hash keeps one: the value, the name's length, the
 * name inline. */
typedef struct map_entry {
  const void *value;
  uint16_t len;
  char name[FX_KEY_LEN];
} map_entry;

typedef struct map {
  size_t n, buckets;
  map_entry *entries; /* buckets x MAP_SLOTS, unused: len 0 */
  char *keys;         /* the n keys, FX_KEY_STRIDE apart */
} map;

#define MAP_SLOTS 4

static size_t nginx_hash(const char *s, size_t len) {
  size_t h = 0;
  for (size_t i = 0; i < len; i++) {
    h = h * 31 + (unsigned char)s[i];
  }
  return h;
}

static void map_build(map *m, size_t n) {
  if (n == 0) {
    fx_die("an empty plaintext map");
  }
  m->n = n;
  m->buckets = n / 2 + 1; /* ~2 entries per bucket of 4 */
  m->entries = calloc(m->buckets * MAP_SLOTS, sizeof *m->entries);
  m->keys = calloc(n, FX_KEY_STRIDE);
  if (m->entries == NULL || m->keys == NULL) {
    fx_die("out of memory for the plaintext map");
  }
  for (size_t i = 0; i < n; i++) {
    char *k = m->keys + i * FX_KEY_STRIDE;
    fx_key(i, k);
    map_entry *b =
        &m->entries[nginx_hash(k, FX_KEY_LEN) % m->buckets * MAP_SLOTS];
    size_t s = 0;
    while (s < MAP_SLOTS && b[s].len != 0) {
      s++;
    }
    if (s == MAP_SLOTS) {
      /* Full bucket: linear probing into the next ones. */
      size_t at = (size_t)(b - m->entries);
      while (m->entries[at].len != 0) {
        at = (at + 1) % (m->buckets * MAP_SLOTS);
      }
      b = &m->entries[at];
      s = 0;
    }
    b[s].value = k;
    b[s].len = FX_KEY_LEN;
    memcpy(b[s].name, k, FX_KEY_LEN);
  }
}

static const void *map_find(const map *m, const char *key, size_t len) {
  size_t total = m->buckets * MAP_SLOTS;
  size_t at = nginx_hash(key, len) % m->buckets * MAP_SLOTS;
  for (size_t tries = 0; tries < total; tries++, at = (at + 1) % total) {
    const map_entry *e = &m->entries[at];
    if (e->len == 0) {
      return NULL;
    }
    if (e->len == len && memcmp(e->name, key, len) == 0) {
      return e->value;
    }
  }
  return NULL;
}

static void bm_map(kgb_state *st, void *ctx) {
  (void)ctx;
  static map maps[3];
  size_t n = (size_t)kgb_arg_get(st, 0);
  map *m = NULL;
  for (size_t i = 0; i < 3 && m == NULL; i++) {
    if (maps[i].n == n || maps[i].n == 0) {
      m = &maps[i];
    }
  }
  if (m == NULL) {
    kgb_skip_with_error(st, "too many map sizes");
    return;
  }
  if (m->n == 0) {
    map_build(m, n);
  }
  size_t j = 0;
  KGB_LOOP(st) {
    const char *k = m->keys + j * FX_KEY_STRIDE;
    const char *v = map_find(m, k, FX_KEY_LEN);
    /* v == k: the next key depends on the answer, as in bench_index.c. */
    j = fx_next(j, 1 + (size_t)(v - k), n);
    KGB_KEEP(j);
  }
  kgb_set_items_processed(st, kgb_iterations(st));
}

KGB_REGISTER(context) {
  static int huge = 1;
  kgb_arg_name(
      kgb_arg(kgb_register("context/pointer_chase", bm_chase, NULL), 1024),
      "MiB");
  kgb_arg_name(
      kgb_arg(kgb_register("context/pointer_chase_hugepages", bm_chase, &huge),
              1024),
      "MiB");
  kgb_arg_name(kgb_arg(kgb_register("context/digest_chase_hugepages",
                                    bm_digest_chase, NULL),
                       DIGEST_CHASE_MIB),
               "MiB");
  kgb_arg_name(kgb_arg(kgb_register("context/bucket_chase_hugepages",
                                    bm_bucket_chase, NULL),
                       1024),
               "MiB");
  kgb_bench *m =
      kgb_arg_name(kgb_register("context/plaintext_map", bm_map, NULL), "keys");
  kgb_arg(m, 10000);
  kgb_arg(m, 1000000);
  kgb_arg(m, 10000000);
}
