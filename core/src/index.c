/*
 * index.c — the constant-time key index of index.h.
 *
 * A bucketed cuckoo hash table (Pagh and Rodler; buckets of several slots
 * as in Fan et al.'s cuckoo filters). Slot = 32 bytes (struct slot below),
 * bucket = KG_INDEX_BUCKET_SLOTS slots = one 64-byte cache line, aligned.
 * Every digest may live in one of two buckets, b1 and b2, taken from the
 * digest's bytes 0-3 and 4-7 by multiply-shift range reduction (Lemire), so
 * the table can be any size. The digest is SHA-256 output: uniform, no
 * further hashing.
 *
 * A slot keeps the digest's first 14 bytes (its tag: they choose the
 * buckets too, so the cuckoo walk can move a slot without its record) and
 * the record packed in 18 bytes (index.h's KG_RECORD_*_MAX are the
 * fields' widths). A presented digest matches a slot when its first 14
 * bytes equal the tag: 112 bits (the record's digest is not kept whole; on
 * a hit the answer carries the presented one; docs/security.md §4). Half
 * the bytes of a whole kg_record a slot, so a lookup reads two cache lines,
 * not four, of a table half the size (issue 14's ninth pass,
 * docs/benchmarks.md).
 *
 * Lookup reads b1 and b2 whole and compares every slot's tag with the
 * presented one (16-byte vector compares: SSE2, or a slot per 32-byte load
 * where the CPU has AVX2; a scalar twin). Each slot's record bytes are ANDed
 * with its match mask and ORed into an accumulator, so only the matching
 * slot (at most one: tags are unique in a bucket pair) lands there, and no
 * address depends on which slot matched; the valgrind taint check
 * (tests/ct/taint.c) holds it to that. The addresses read depend on the
 * presented digest only; the work is the same for a hit and a miss. Empty
 * slots carry occupied = 0 (w1's top bit) and are compared like the
 * others.
 *
 * A region (index.h) is the same table in the caller's memory after a
 * 64-byte header; changes to it are bracketed by the header's generation
 * (a seqlock: odd while changing), and kg_index_lookup_stable retries a
 * lookup that a change overlapped.
 *
 * Tables of 2 MiB and more are allocated on 2 MiB boundaries and advised
 * for transparent huge pages (madvise MADV_HUGEPAGE, where the kernel has
 * it): at millions of keys a lookup's two random bucket reads then miss the
 * TLB far less often (docs/benchmarks.md has the numbers).
 */
#define _DEFAULT_SOURCE 1 /* madvise and MADV_HUGEPAGE in <sys/mman.h> */

#include "keygate/index.h"

#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "chars.h"
#include "cpu.h"
#include "ct.h"
#include "defensive.h"
#include "hotpath.h"

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#endif
#ifdef KG_CPU_X86_DISPATCH
#include <immintrin.h>
#endif

#define SLOT_OCCUPIED ((uint64_t)1 << 63) /* in w1 */
#define TAG_LEN KG_INDEX_DIGEST_KEPT /* a slot's tag: the digest's first 14 */
#define MAX_KICKS 1000
#define LOAD_FACTOR_NUM 85 /* at most 85 % of slots used */
#define LOAD_FACTOR_DEN 100
#define HUGE_PAGE ((size_t)2 << 20)

/*
 * A slot: the digest's tag, then the record in 18 bytes,
 *   lo = account_id's low 16 bits
 *   w0 = key_id (all 64 bits: the store's ids are random)
 *   w1 = account_id >> 16 (20 bits) | expires_at << 20 (41 bits)
 *        | status << 61 (2 bits) | occupied << 63
 * An empty slot is all zeroes.
 */
typedef struct slot {
  uint8_t tag[TAG_LEN];
  uint16_t lo;
  uint64_t w0;
  uint64_t w1;
} slot;

typedef struct bucket {
  slot slot[KG_INDEX_BUCKET_SLOTS];
} bucket;

/*
 * A region (kg_index_build_into, kg_index_attach): this header, then the
 * buckets. One cache line, so the buckets stay line-aligned. `gen` is the
 * seqlock of index.h: odd while the one writer applies a change. `magic`
 * is written last when a region is built, so a half-built one never
 * attaches.
 */
typedef struct region_header {
  uint64_t magic;
  uint32_t layout; /* REGION_LAYOUT */
  uint32_t zero;
  uint64_t nbuckets;
  uint64_t count;
  uint64_t gen;
  uint64_t unused[3];
} region_header;

#define REGION_MAGIC 0x3178646967796b6bu /* "kkygidx1" little-endian */
/* The slot's size and packing, and the bucket's slots: a region of the
 * 64-byte whole-record slots (layout 0x4002, before issue 14's ninth pass)
 * does not attach. */
#define REGION_LAYOUT                                                          \
  ((uint32_t)(1u << 16 | sizeof(slot) << 8 | KG_INDEX_BUCKET_SLOTS))

struct kg_index {
  bucket *buckets; /* aligned to 64, or to HUGE_PAGE when that big */
  size_t nbuckets;
  size_t bytes;          /* allocated for buckets (0 for a region's view) */
  size_t count;          /* a region's count is in its header */
  int huge;              /* 1 when madvise(MADV_HUGEPAGE) accepted the table */
  region_header *region; /* NULL: the table is the index's own */
};

_Static_assert(sizeof(region_header) == 64, "the header is one cache line");

_Static_assert(sizeof(slot) == 32 && offsetof(slot, lo) == TAG_LEN &&
                   offsetof(slot, w0) == 16 && offsetof(slot, w1) == 24,
               "a slot is a 14-byte tag, 2 bytes and two words");
_Static_assert(sizeof(bucket) == 64, "a bucket is one cache line");
/* The SSE2 lookup writes the record as two 16-byte halves after the
 * digest: key_id and account_id, then expires_at, status and reserved. */
_Static_assert(offsetof(kg_record, key_id) == KG_DIGEST_LEN &&
                   offsetof(kg_record, account_id) == KG_DIGEST_LEN + 8 &&
                   offsetof(kg_record, expires_at) == KG_DIGEST_LEN + 16 &&
                   offsetof(kg_record, status) == KG_DIGEST_LEN + 24 &&
                   offsetof(kg_record, reserved) == KG_DIGEST_LEN + 28 &&
                   sizeof(kg_record) == KG_DIGEST_LEN + 32,
               "a record is its digest and 32 bytes of fields");

/* ---- a record in a slot ---------------------------------------------- */

#define LOW20 (((uint64_t)1 << 20) - 1)
#define LOW41 (((uint64_t)1 << 41) - 1)

/* 1 when every field of r fits its slot (index.h's limits). */
static int record_fits(const kg_record *r) {
  return r->account_id <= KG_RECORD_ACCOUNT_ID_MAX && r->expires_at >= 0 &&
         r->expires_at <= KG_RECORD_EXPIRES_MAX && r->status <= 3u;
}

/* r (record_fits) in a slot, occupied. */
static slot pack(const kg_record *r) {
  slot s;
  memcpy(s.tag, r->digest, sizeof s.tag);
  s.lo = (uint16_t)(r->account_id & 0xFFFFu);
  s.w0 = r->key_id;
  s.w1 = r->account_id >> 16 | (uint64_t)r->expires_at << 20 |
         (uint64_t)r->status << 61 | SLOT_OCCUPIED;
  return s;
}

/*
 * alloc_table — zeroed memory for `bytes` of buckets; sets *alloc to the
 * size allocated. Big tables get 2 MiB alignment and the huge-page advice
 * (advice only: ignored where transparent huge pages are off).
 */
static bucket *alloc_table(size_t bytes, size_t *alloc, int *huge) {
  size_t align = 64;
  if (bytes >= HUGE_PAGE) {
    align = HUGE_PAGE;
  }
  *alloc = (bytes + align - 1) / align * align;
  bucket *b = aligned_alloc(align, *alloc);
  *huge = 0;
  if (b == NULL) {
    return NULL;
  }
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == HUGE_PAGE) {
    *huge = madvise(b, *alloc, MADV_HUGEPAGE) == 0;
  }
#endif
  memset(b, 0, *alloc);
  return b;
}

/* Buckets a table may have: h * nbuckets below fits 64 bits. */
#define MAX_BUCKETS ((size_t)1 << 31)

/* Bucket for 4 digest bytes: (h * nbuckets) >> 32 (Lemire's multiply-shift
 * range reduction), uniform over [0, n) to within n / 2^32 (0.3 % at the
 * 12 million buckets of KG_INDEX_MAX_KEYS). */
static size_t reduce(uint32_t h, size_t nbuckets) {
  return (size_t)(((uint64_t)h * (uint64_t)nbuckets) >> 32);
}

static uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The digest's bytes 0-3 and 4-7: inside the 14 a slot keeps (its tag), so
 * the cuckoo walk can move a slot; bytes 8-13 leave the buckets alone
 * (tests/ct/timing.c crafts records on that). */
static size_t bucket1(const kg_index *idx, const uint8_t *digest) {
  return reduce(load_u32(digest), idx->nbuckets);
}

static size_t bucket2(const kg_index *idx, const uint8_t *digest) {
  return reduce(load_u32(digest + 4), idx->nbuckets);
}

/* ---- building (not constant-time: runs at load, not per request) ---- */

static int slot_used(const slot *sl) {
  return (sl->w1 & SLOT_OCCUPIED) != 0;
}

/* Place sl in a free slot of bucket b; 1 when done. */
static int place(bucket *b, const slot *sl) {
  for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    if (!slot_used(&b->slot[s])) {
      b->slot[s] = *sl;
      return 1;
    }
  }
  return 0;
}

/* The slot holding digest (its tag), or NULL. */
static slot *find_slot(const kg_index *idx, const uint8_t *digest) {
  size_t bs[2] = {bucket1(idx, digest), bucket2(idx, digest)};
  for (int k = 0; k < 2; k++) {
    bucket *b = &idx->buckets[bs[k]];
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      if (slot_used(&b->slot[s]) &&
          memcmp(b->slot[s].tag, digest, TAG_LEN) == 0) {
        return &b->slot[s];
      }
    }
  }
  return NULL;
}

static int contains(const kg_index *idx, const uint8_t *digest) {
  return find_slot(idx, digest) != NULL;
}

/* xorshift64: deterministic victim choice for the cuckoo walk. */
static uint64_t next_rand(uint64_t *st) {
  uint64_t x = *st;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *st = x;
  return x;
}

/* Place sl in a free slot of either of its buckets; 1 when done. *b is its
 * first bucket either way (where a cuckoo walk starts). A slot's buckets
 * come from its tag, the digest's first 14 bytes. */
static int place_either(kg_index *idx, const slot *sl, size_t *b) {
  *b = bucket1(idx, sl->tag);
  return place(&idx->buckets[*b], sl) ||
         place(&idx->buckets[bucket2(idx, sl->tag)], sl);
}

/* One move of a cuckoo walk: *sl takes slot s of bucket *b; *sl is then
 * the record it pushed out, and *b that record's other bucket. */
static void kick_out(kg_index *idx, size_t *b, int s, slot *sl) {
  const slot victim = idx->buckets[*b].slot[s];
  idx->buckets[*b].slot[s] = *sl;
  *sl = victim;
  const size_t b1 = bucket1(idx, sl->tag);
  *b = (b1 == *b) ? bucket2(idx, sl->tag) : b1;
}

/* Insert sl; 1 when placed, 0 when the walk gave up (table too full). */
static int insert(kg_index *idx, slot sl, uint64_t *rng) {
  size_t b = 0;
  if (place_either(idx, &sl, &b)) {
    return 1;
  }
  for (int kick = 0; kick < MAX_KICKS; kick++) {
    kick_out(idx, &b, (int)(next_rand(rng) % KG_INDEX_BUCKET_SLOTS), &sl);
    if (place(&idx->buckets[b], &sl)) {
      return 1;
    }
  }
  /* sl is the record left homeless; put it back by failing the build. */
  return 0;
}

/* Insert recs[0..n) into idx's empty table (buckets and nbuckets set). A
 * record out of range refuses the set before anything else is looked at. */
static kg_status fill(const kg_record *recs, size_t n, kg_index *idx) {
  idx->count = 0;
  for (size_t i = 0; i < n; i++) {
    if (!record_fits(&recs[i])) {
      return KG_E_RECORD_RANGE;
    }
  }
  uint64_t rng = 0x9E3779B97F4A7C15u ^ (uint64_t)idx->nbuckets;
  for (size_t i = 0; i < n; i++) {
    if (contains(idx, recs[i].digest)) {
      return KG_E_DUPLICATE_DIGEST;
    }
    if (!insert(idx, pack(&recs[i]), &rng)) {
      return KG_E_TOO_MANY_KEYS; /* caller grows the table and retries */
    }
    idx->count++;
  }
  return KG_OK;
}

static kg_status try_build(const kg_record *recs, size_t n, size_t nbuckets,
                           kg_index *idx) {
  idx->buckets =
      alloc_table(nbuckets * sizeof(bucket), &idx->bytes, &idx->huge);
  if (idx->buckets == NULL) {
    return KG_E_NOMEM;
  }
  idx->nbuckets = nbuckets;
  return fill(recs, n, idx);
}

/* Buckets for `keys` records at the load factor. */
static size_t buckets_for(size_t keys) {
  size_t slots = keys * LOAD_FACTOR_DEN / LOAD_FACTOR_NUM + 1;
  size_t nbuckets = (slots + KG_INDEX_BUCKET_SLOTS - 1) / KG_INDEX_BUCKET_SLOTS;
  return nbuckets < 1 ? 1 : nbuckets;
}

kg_status kg_index_build_spare(const kg_record *recs, size_t n, size_t spare,
                               kg_index **out) {
  if (KG_NEVER(out == NULL || (recs == NULL && n > 0))) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (n > KG_INDEX_MAX_KEYS || spare > KG_INDEX_MAX_KEYS) {
    return KG_E_TOO_MANY_KEYS;
  }
  kg_index *idx = calloc(1, sizeof *idx);
  if (idx == NULL) {
    return KG_E_NOMEM;
  }
  size_t nbuckets = buckets_for(n + spare);
  for (int attempt = 0; attempt < 8; attempt++) {
    kg_status s = try_build(recs, n, nbuckets, idx);
    if (s == KG_OK) {
      *out = idx;
      return KG_OK;
    }
    if (idx->buckets != NULL) {
      OPENSSL_cleanse(idx->buckets, idx->bytes);
      free(idx->buckets);
      idx->buckets = NULL;
    }
    if (s != KG_E_TOO_MANY_KEYS) {
      free(idx);
      return s;
    }
    nbuckets = nbuckets + nbuckets / 4 + 1; /* a cuckoo cycle: grow 25 % */
  }
  free(idx);
  return KG_E_TOO_MANY_KEYS;
}

kg_status kg_index_build(const kg_record *recs, size_t n, kg_index **out) {
  return kg_index_build_spare(recs, n, 0, out);
}

/* ---- regions: an index in the caller's memory ------------------------- */

/* The count, wherever it lives. A region's is changed by its one writer;
 * relaxed is enough: it is not the request path's business. */
static size_t held(const kg_index *idx) {
  return idx->region != NULL
             ? (size_t)__atomic_load_n(&idx->region->count, __ATOMIC_RELAXED)
             : idx->count;
}

static void set_held(kg_index *idx, size_t count) {
  idx->count = count;
  if (idx->region != NULL) {
    __atomic_store_n(&idx->region->count, (uint64_t)count, __ATOMIC_RELAXED);
  }
}

/* The writer's side of the seqlock (index.h): odd, then the change, then
 * even. The release fence keeps the change's stores after the odd
 * generation; the release store keeps them before the even one. */
static void change_begin(kg_index *idx) {
  if (idx->region != NULL) {
    uint64_t g = __atomic_load_n(&idx->region->gen, __ATOMIC_RELAXED);
    __atomic_store_n(&idx->region->gen, g + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
  }
}

static void change_end(kg_index *idx) {
  if (idx->region != NULL) {
    uint64_t g = __atomic_load_n(&idx->region->gen, __ATOMIC_RELAXED);
    __atomic_store_n(&idx->region->gen, g + 1, __ATOMIC_RELEASE);
  }
}

size_t kg_index_region_size(size_t keys) {
  if (keys > KG_INDEX_MAX_KEYS) {
    return 0;
  }
  return sizeof(region_header) + buckets_for(keys) * sizeof(bucket);
}

kg_status kg_index_build_into(const kg_record *recs, size_t n, void *mem,
                              size_t cap) {
  if (KG_NEVER(mem == NULL || (recs == NULL && n > 0)) ||
      ((uintptr_t)mem & 63) != 0 ||
      cap < sizeof(region_header) + sizeof(bucket)) {
    return KG_E_ARGUMENT;
  }
  region_header *h = mem;
  kg_index view;
  memset(&view, 0, sizeof view);
  view.buckets = (bucket *)(h + 1);
  view.nbuckets = (cap - sizeof(region_header)) / sizeof(bucket);
  if (view.nbuckets > MAX_BUCKETS) {
    view.nbuckets = MAX_BUCKETS; /* 128 GiB: the rest of cap unused */
  }
  memset(mem, 0, sizeof(region_header) + view.nbuckets * sizeof(bucket));
  if (n > KG_INDEX_MAX_KEYS ||
      n * LOAD_FACTOR_DEN >
          view.nbuckets * KG_INDEX_BUCKET_SLOTS * LOAD_FACTOR_NUM + 1) {
    return KG_E_TOO_MANY_KEYS;
  }
  kg_status st = fill(recs, n, &view);
  if (st != KG_OK) {
    OPENSSL_cleanse(view.buckets, view.nbuckets * sizeof(bucket));
    return st;
  }
  h->layout = REGION_LAYOUT;
  h->nbuckets = view.nbuckets;
  h->count = view.count;
  h->gen = 0;
  __atomic_store_n(&h->magic, REGION_MAGIC, __ATOMIC_RELEASE);
  return KG_OK;
}

size_t kg_index_region_bytes(const kg_index *src) {
  if (KG_NEVER(src == NULL)) {
    return 0;
  }
  return sizeof(region_header) + src->nbuckets * sizeof(bucket);
}

kg_status kg_index_copy_into(const kg_index *src, void *mem, size_t cap) {
  if (KG_NEVER(src == NULL || mem == NULL) || ((uintptr_t)mem & 63) != 0 ||
      src->nbuckets == 0 || cap < kg_index_region_bytes(src)) {
    return KG_E_ARGUMENT;
  }
  region_header *h = mem;
  memset(h, 0, sizeof *h);
  memcpy(h + 1, src->buckets, src->nbuckets * sizeof(bucket));
  h->layout = REGION_LAYOUT;
  h->nbuckets = src->nbuckets;
  h->count = held(src);
  __atomic_store_n(&h->magic, REGION_MAGIC, __ATOMIC_RELEASE);
  return KG_OK;
}

kg_status kg_index_attach(void *mem, size_t cap, kg_index **out) {
  if (KG_NEVER(out == NULL)) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (KG_NEVER(mem == NULL) || ((uintptr_t)mem & 63) != 0 ||
      cap < sizeof(region_header)) {
    return KG_E_ARGUMENT;
  }
  region_header *h = mem;
  const uint64_t nb = h->nbuckets;
  if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != REGION_MAGIC ||
      h->layout != REGION_LAYOUT || nb == 0 || nb > MAX_BUCKETS ||
      nb > (cap - sizeof(region_header)) / sizeof(bucket) ||
      h->count > nb * KG_INDEX_BUCKET_SLOTS) {
    return KG_E_ARGUMENT;
  }
  kg_index *idx = calloc(1, sizeof *idx);
  if (idx == NULL) {
    return KG_E_NOMEM;
  }
  idx->buckets = (bucket *)(h + 1);
  idx->nbuckets = (size_t)nb;
  idx->count = (size_t)h->count;
  idx->region = h;
  *out = idx;
  return KG_OK;
}

uint64_t kg_index_generation(const kg_index *idx) {
  return idx != NULL && idx->region != NULL
             ? __atomic_load_n(&idx->region->gen, __ATOMIC_ACQUIRE)
             : 0;
}

int kg_index_lookup_stable(const kg_index *idx,
                           const uint8_t digest[KG_DIGEST_LEN], kg_record *out,
                           unsigned tries) {
  if (KG_NEVER(digest == NULL || out == NULL)) {
    return -1; /* no answer: the caller decides nothing */
  }
  if (idx == NULL || idx->region == NULL) {
    return kg_index_lookup(idx, digest, out);
  }
  for (unsigned t = 0; t < tries; t++) {
    const uint64_t g1 = __atomic_load_n(&idx->region->gen, __ATOMIC_ACQUIRE);
    if ((g1 & 1u) != 0) {
      continue; /* a change is being applied */
    }
    const int found = kg_index_lookup(idx, digest, out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&idx->region->gen, __ATOMIC_RELAXED) == g1) {
      return found;
    }
  }
  memset(out, 0, sizeof *out);
  return -1;
}

void kg_index_free(kg_index *idx) {
  if (idx == NULL) {
    return;
  }
  if (idx->region == NULL && idx->buckets != NULL) {
    OPENSSL_cleanse(idx->buckets, idx->bytes);
    free(idx->buckets);
  }
  free(idx);
}

size_t kg_index_count(const kg_index *idx) {
  return idx != NULL ? held(idx) : 0;
}

size_t kg_index_memory(const kg_index *idx) {
  return idx != NULL ? sizeof *idx + idx->bytes : 0;
}

/* ---- changes in place (maintenance, not constant-time) ---------------- */

/* Cuckoo walk that can be undone: MAX_PUT_KICKS moves, each remembered. */
#define MAX_PUT_KICKS 256

/* Insert r (not present); 1 when placed, 0 when there is no room, with the
 * table exactly as before (every move of the walk undone in reverse). */
static int insert_undoable(kg_index *idx, slot r) {
  size_t b = 0;
  if (place_either(idx, &r, &b)) {
    return 1;
  }
  size_t path_b[MAX_PUT_KICKS];
  int path_s[MAX_PUT_KICKS];
  uint64_t rng = 0x9E3779B97F4A7C15u ^ (uint64_t)held(idx);
  int kick = 0;
  for (; kick < MAX_PUT_KICKS; kick++) {
    int s = (int)(next_rand(&rng) % KG_INDEX_BUCKET_SLOTS);
    path_b[kick] = b;
    path_s[kick] = s;
    kick_out(idx, &b, s, &r);
    if (place(&idx->buckets[b], &r)) {
      return 1;
    }
  }
  /* r is homeless: put every record back where it was. */
  while (kick-- > 0) {
    slot *at = &idx->buckets[path_b[kick]].slot[path_s[kick]];
    slot moved = *at;
    *at = r;
    r = moved;
  }
  return 0;
}

/* kg_index_put's change; on a region, inside the seqlock. */
static kg_status put(kg_index *idx, const kg_record *rec) {
  const slot r = pack(rec);
  slot *at = find_slot(idx, rec->digest);
  if (at != NULL) {
    *at = r;
    return KG_OK;
  }
  const size_t count = held(idx);
  if (count >= KG_INDEX_MAX_KEYS ||
      (count + 1) * LOAD_FACTOR_DEN >
          idx->nbuckets * KG_INDEX_BUCKET_SLOTS * LOAD_FACTOR_NUM + 1 ||
      !insert_undoable(idx, r)) {
    return KG_E_TOO_MANY_KEYS;
  }
  set_held(idx, count + 1);
  return KG_OK;
}

kg_status kg_index_put(kg_index *idx, const kg_record *rec) {
  if (KG_NEVER(idx == NULL || rec == NULL) || idx->nbuckets == 0) {
    return KG_E_ARGUMENT;
  }
  if (!record_fits(rec)) {
    return KG_E_RECORD_RANGE; /* the index unchanged */
  }
  change_begin(idx);
  const kg_status st = put(idx, rec);
  change_end(idx);
  return st;
}

int kg_index_remove(kg_index *idx, const uint8_t digest[KG_DIGEST_LEN]) {
  if (KG_NEVER(digest == NULL) || idx == NULL || idx->nbuckets == 0) {
    return 0;
  }
  slot *at = find_slot(idx, digest);
  if (at == NULL) {
    return 0;
  }
  change_begin(idx);
  OPENSSL_cleanse(at, sizeof *at); /* occupied = 0: the slot is free */
  set_held(idx, held(idx) - 1);
  change_end(idx);
  return 1;
}

int kg_index_contains(const kg_index *idx,
                      const uint8_t digest[KG_DIGEST_LEN]) {
  if (KG_NEVER(digest == NULL) || idx == NULL || idx->nbuckets == 0) {
    return 0;
  }
  return contains(idx, digest);
}

/* ---- lookup (constant-time; see index.h) ------------------------------ */

/* The table size below which kg_index_prefetch asks for nothing. */
#define PREFETCH_MIN_BUCKETS (((size_t)1 << 20) / sizeof(bucket))

void kg_index_prefetch(const kg_index *idx,
                       const uint8_t digest[KG_DIGEST_LEN]) {
#if defined(__GNUC__) || defined(__clang__)
  /* A table of up to 1 MiB stays in the L2 cache of a core that looks
   * keys up (1 MiB a core on Zen 5, 1-2 MiB on current server cores; on
   * Zen 3, whose L2 is 512 KiB, in its L3): there the lookup's own loads,
   * both buckets' independent of each other, come as early, and the
   * prefetch measured 1.5-5 ns dearer than none at 1, 50 and 10,000 keys
   * (docs/benchmarks.md, issue 14's fifth pass); a prefetch for every
   * table measured no gain at 10,000 keys on Zen 3 either (0.99-1.02x, the
   * eighteenth session). At millions of keys both buckets' random accesses
   * are started here. */
  if (idx == NULL || idx->nbuckets <= PREFETCH_MIN_BUCKETS) {
    return;
  }
  const bucket *b1 = &idx->buckets[bucket1(idx, digest)];
  const bucket *b2 = &idx->buckets[bucket2(idx, digest)];
  /* A bucket is one cache line. */
  __builtin_prefetch(b1, 0, 3);
  __builtin_prefetch(b2, 0, 3);
#else
  (void)idx;
  (void)digest;
#endif
}

int kg_index_huge_pages(const kg_index *idx) {
  return idx != NULL && idx->huge;
}

/*
 * The lookup's compare and select, three ways with the same answer: the
 * scalar twin (KEYGATE_NO_SIMD: a tag in two 8-byte words), SSE2 (every
 * x86-64) and AVX2 (chosen at run time, cpu.h). Each reads every slot of
 * both buckets whole; a slot's hit bit is 1 when its 14-byte tag equals the
 * presented digest's first 14 bytes and its occupied bit is set, and the
 * slot is ANDed with the hit's mask and ORed into the accumulator. The
 * vector paths: the slot's first 16 bytes compared bytewise (pcmpeqb) with
 * the digest's, the mask's 14 tag bits + 1 carry into bit 14 only when
 * every tag byte matched, the hit made a vector mask and the slot selected
 * with pand/por. Then unpack, in shifts and masks. No branch and no address
 * depends on a stored byte or on which slot matched; the taint check
 * (tests/ct/taint.c) runs each path (ct.taint.*, and *_baseline with
 * KEYGATE_CPU=baseline).
 */
#define TAG_BITS ((1u << TAG_LEN) - 1u) /* a 16-byte compare's tag bytes */

static inline uint32_t occupied_of(const uint8_t *sl) {
  return (uint32_t)(kg_ct_load_u64(sl + offsetof(slot, w1)) >> 63);
}

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#define KG_INDEX_SSE2 1

/* The vector mask of a 0/1 hit, opaque to the optimiser. */
static inline __m128i hit_mask128(uint32_t hit) {
  return _mm_set1_epi64x((long long)kg_ct_mask_u64(hit));
}

/* The 16 bytes at p, 16-aligned (buckets are 64-aligned, index.h). */
static inline __m128i load_a16(const uint8_t *p) {
  return _mm_load_si128((const __m128i *)(const void *)p);
}

/* The accumulated slot out: head = its bytes 0..15 (lo is bytes 14-15),
 * words = bytes 16..31 (w0, w1). unpack's shifts and masks done in vector
 * registers, the record written in four 16-byte stores as the 64-byte
 * slots' lookup wrote it: key_id (a caller's next step may wait on it)
 * goes from the slot to memory with no trip through a general register. */
static inline int lookup_out(__m128i head, __m128i words, const uint8_t *digest,
                             uint32_t found, kg_record *out) {
  const __m128i keep = hit_mask128(found);
  _mm_storeu_si128(
      (__m128i *)(void *)out->digest,
      _mm_and_si128(keep,
                    _mm_loadu_si128((const __m128i *)(const void *)digest)));
  _mm_storeu_si128(
      (__m128i *)(void *)(out->digest + 16),
      _mm_and_si128(
          keep, _mm_loadu_si128((const __m128i *)(const void *)(digest + 16))));
  const __m128i w1 = _mm_unpackhi_epi64(words, words); /* w1 in the low half */
  /* account_id = lo | (w1 & LOW20) << 16; lo: bytes 14-15 shifted down */
  const __m128i account = _mm_or_si128(
      _mm_srli_si128(head, 14),
      _mm_slli_epi64(_mm_and_si128(w1, _mm_set1_epi64x((long long)LOW20)), 16));
  const __m128i expires =
      _mm_and_si128(_mm_srli_epi64(w1, 20), _mm_set1_epi64x((long long)LOW41));
  /* status = w1 >> 61 & 3, and reserved (the upper 4 bytes) 0 */
  const __m128i status =
      _mm_and_si128(_mm_srli_epi64(w1, 61), _mm_set1_epi64x(3));
  /* 16 bytes each, two fields a store: through the record's bytes */
  uint8_t *const fields = (uint8_t *)out + offsetof(kg_record, key_id);
  _mm_storeu_si128((__m128i *)(void *)fields,
                   _mm_unpacklo_epi64(words, account));
  _mm_storeu_si128((__m128i *)(void *)(fields + 16),
                   _mm_unpacklo_epi64(expires, status));
  return (int)found;
}

/* One slot, SSE2: its hit bit; its bytes ORed into head and words. */
#define KG_SLOT_SSE2(sl)                                                       \
  do {                                                                         \
    const uint8_t *kg_s = (sl);                                                \
    const __m128i kg_h = load_a16(kg_s);                                       \
    uint32_t kg_m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(t, kg_h));      \
    uint32_t kg_hit =                                                          \
        (((kg_m & TAG_BITS) + 1u) >> TAG_LEN) & occupied_of(kg_s);             \
    const __m128i kg_k = hit_mask128(kg_hit);                                  \
    head = _mm_or_si128(head, _mm_and_si128(kg_k, kg_h));                      \
    words = _mm_or_si128(words, _mm_and_si128(kg_k, load_a16(kg_s + 16)));     \
    found |= kg_hit;                                                           \
  } while (0)

static inline int lookup_sse2(const uint8_t *b1, const uint8_t *b2,
                              const uint8_t *digest, kg_record *out) {
  const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)digest);
  __m128i head = _mm_setzero_si128();
  __m128i words = _mm_setzero_si128();
  uint32_t found = 0;
  for (size_t s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    KG_SLOT_SSE2(b1 + sizeof(slot) * s);
    KG_SLOT_SSE2(b2 + sizeof(slot) * s);
  }
  return lookup_out(head, words, digest, found, out);
}
#undef KG_SLOT_SSE2
#endif

#if defined(KG_INDEX_SSE2) && defined(KG_CPU_X86_DISPATCH)
#define KG_INDEX_AVX2 1

/* One slot, AVX2: the slot in one 32-byte load, compared in its low lane
 * (the tag's bits of the mask decide) and selected whole. */
#define KG_SLOT_AVX2(sl)                                                       \
  do {                                                                         \
    const uint8_t *kg_s = (sl);                                                \
    const __m256i kg_v =                                                       \
        _mm256_load_si256((const __m256i *)(const void *)kg_s);                \
    uint32_t kg_m =                                                            \
        (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(t, kg_v));            \
    uint32_t kg_hit =                                                          \
        (((kg_m & TAG_BITS) + 1u) >> TAG_LEN) & occupied_of(kg_s);             \
    acc = _mm256_or_si256(                                                     \
        acc,                                                                   \
        _mm256_and_si256(                                                      \
            _mm256_set1_epi64x((long long)kg_ct_mask_u64(kg_hit)), kg_v));     \
    found |= kg_hit;                                                           \
  } while (0)

static KG_AVX2_TARGET int lookup_avx2(const uint8_t *b1, const uint8_t *b2,
                                      const uint8_t *digest, kg_record *out) {
  const __m256i t = _mm256_castsi128_si256(
      _mm_loadu_si128((const __m128i *)(const void *)digest));
  __m256i acc = _mm256_setzero_si256();
  uint32_t found = 0;
  for (size_t s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    KG_SLOT_AVX2(b1 + sizeof(slot) * s);
    KG_SLOT_AVX2(b2 + sizeof(slot) * s);
  }
  return lookup_out(_mm256_castsi256_si128(acc),
                    _mm256_extracti128_si256(acc, 1), digest, found, out);
}
#undef KG_SLOT_AVX2
#endif

#if !defined(KG_INDEX_SSE2)
/* The record's fields of a slot's lo, w0, w1 (zeroes: the zero record's):
 * shifts and masks, no branch. The digest is the caller's to write. (The SSE2
 * lookup does the same in vector registers: lookup_out.) */
static void unpack(uint64_t lo, uint64_t w0, uint64_t w1, kg_record *out) {
  out->key_id = w0;
  out->account_id = (lo & 0xFFFFu) | (w1 & LOW20) << 16;
  out->expires_at = (int64_t)((w1 >> 20) & LOW41);
  out->status = (uint32_t)((w1 >> 61) & 3u);
  out->reserved = 0;
}

static int lookup_scalar(const uint8_t *b1, const uint8_t *b2,
                         const uint8_t *digest, kg_record *out) {
  const uint8_t *b[2] = {b1, b2};
  /* the tag's 14 bytes as the first word and the second's low 6 bytes */
  const uint64_t t0 = kg_ct_load_u64(digest);
  const uint64_t t1 = kg_ct_load_u64(digest + TAG_LEN - 8);
  uint32_t found = 0;
  uint64_t lo = 0;
  uint64_t w0 = 0;
  uint64_t w1 = 0;
  for (int k = 0; k < 2; k++) {
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      const uint8_t *sl = b[k] + sizeof(slot) * (size_t)s;
      const uint64_t diff =
          (kg_ct_load_u64(sl) ^ t0) | (kg_ct_load_u64(sl + TAG_LEN - 8) ^ t1);
      const uint32_t hit = (1u ^ kg_ct_nonzero_u64(diff)) & occupied_of(sl);
      const uint64_t m = kg_ct_mask_u64(hit);
      uint16_t l;
      memcpy(&l, sl + offsetof(slot, lo), sizeof l);
      lo |= (uint64_t)l & m;
      w0 |= kg_ct_load_u64(sl + offsetof(slot, w0)) & m;
      w1 |= kg_ct_load_u64(sl + offsetof(slot, w1)) & m;
      found |= hit;
    }
  }
  const uint64_t keep = kg_ct_mask_u64(found);
  for (size_t i = 0; i < KG_DIGEST_LEN; i += 8) {
    const uint64_t d = kg_ct_load_u64(digest + i) & keep;
    memcpy(out->digest + i, &d, 8);
  }
  unpack(lo, w0, w1, out);
  return (int)found;
}
#endif

int kg_index_lookup(const kg_index *idx, const uint8_t digest[KG_DIGEST_LEN],
                    kg_record *out) {
  if (KG_NEVER(digest == NULL || out == NULL)) {
    return 0;
  }
  /* An empty index (none, or no buckets) misses at once (security.md). */
  if (idx == NULL || idx->nbuckets == 0) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  const uint8_t *b1 = (const uint8_t *)&idx->buckets[bucket1(idx, digest)];
  const uint8_t *b2 = (const uint8_t *)&idx->buckets[bucket2(idx, digest)];
  /* The match bit is final on return: from there branching is allowed. */
#if defined(KG_INDEX_AVX2)
  if ((kg_cpu() & KG_CPU_AVX2) != 0) {
    return lookup_avx2(b1, b2, digest, out);
  }
#endif
#if defined(KG_INDEX_SSE2)
  return lookup_sse2(b1, b2, digest, out);
#else
  return lookup_scalar(b1, b2, digest, out);
#endif
}

/* ---- key ids ---------------------------------------------------------- */

size_t kg_key_id_format(uint64_t key_id, char out[KG_KEY_ID_STR_LEN]) {
  if (KG_NEVER(out == NULL)) {
    return 0;
  }
  memcpy(out, "key_", 4);
  for (size_t i = 15; i > 4; i--) {
    out[i - 1] = kg_base62_digits[key_id % 62];
    key_id /= 62;
  }
  out[15] = '\0';
  return 15;
}

kg_status kg_key_id_parse(const char *s, size_t len, uint64_t *key_id) {
  /* (NULL, 0) is no key id, as any string not 15 bytes long. */
  if (KG_NEVER(key_id == NULL || (s == NULL && len > 0)) || len != 15 ||
      memcmp(s, "key_", 4) != 0) {
    return KG_E_ARGUMENT;
  }
  uint64_t v = 0;
  for (size_t i = 4; i < 15; i++) {
    int d = kg_base62_value((unsigned char)s[i]);
    if (d < 0 || v > (UINT64_MAX - (unsigned)d) / 62u) {
      return KG_E_ARGUMENT; /* not a digit, or past 2^64 - 1 */
    }
    v = v * 62u + (unsigned)d;
  }
  *key_id = v;
  return KG_OK;
}
