/*
 * index.c — the constant-time key index of index.h.
 *
 * A bucketed cuckoo hash table (Pagh and Rodler; buckets of several slots
 * as in Fan et al.'s cuckoo filters). Slot = kg_record (64 bytes, one cache
 * line), bucket = KG_INDEX_BUCKET_SLOTS slots, aligned. Every digest may
 * live in one of two buckets, b1 and b2, taken from the first and second 8
 * bytes of the digest by multiply-shift range reduction (Lemire), so the
 * table can be any size. The digest is SHA-256 output: uniform, no further
 * hashing.
 *
 * Lookup reads b1 and b2 whole and compares every slot's digest with the
 * presented one (32-byte vector compares: SSE2, or AVX2 where the CPU has
 * it; a scalar twin). Each slot's fields after the digest are ANDed with its
 * match mask and ORed into an accumulator, so only the matching slot (at
 * most one: digests are unique) lands there, and no address depends on
 * which slot matched; the valgrind taint check (tests/ct/taint.c) holds it
 * to that. The
 * addresses read depend on the presented digest only; the work is the same
 * for a hit and a miss. Empty slots carry occupied = 0 in `reserved` and are
 * compared like the others.
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

#define SLOT_OCCUPIED 1u
#define MAX_KICKS 1000
#define LOAD_FACTOR_NUM 85 /* at most 85 % of slots used */
#define LOAD_FACTOR_DEN 100
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct bucket {
  kg_record slot[KG_INDEX_BUCKET_SLOTS];
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
  uint32_t layout; /* sizeof(kg_record) << 8 | KG_INDEX_BUCKET_SLOTS */
  uint32_t zero;
  uint64_t nbuckets;
  uint64_t count;
  uint64_t gen;
  uint64_t unused[3];
} region_header;

#define REGION_MAGIC 0x3178646967796b6bu /* "kkygidx1" little-endian */
#define REGION_LAYOUT                                                          \
  ((uint32_t)(sizeof(kg_record) << 8 | KG_INDEX_BUCKET_SLOTS))

struct kg_index {
  bucket *buckets; /* aligned to 64, or to HUGE_PAGE when that big */
  size_t nbuckets;
  size_t bytes;          /* allocated for buckets (0 for a region's view) */
  size_t count;          /* a region's count is in its header */
  int huge;              /* 1 when madvise(MADV_HUGEPAGE) accepted the table */
  region_header *region; /* NULL: the table is the index's own */
};

_Static_assert(sizeof(region_header) == 64, "the header is one cache line");

_Static_assert(sizeof(kg_record) == 64, "a slot is one cache line");
/* The lookup selects the 32 bytes after the digest as four words. */
_Static_assert(offsetof(kg_record, key_id) == KG_DIGEST_LEN &&
                   sizeof(kg_record) == KG_DIGEST_LEN + 4 * 8,
               "a record is its digest and four words");

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

/* The high 64 bits of the 128-bit product a * b. Where the compiler has
 * no 128-bit integer (32-bit targets, MSVC), the schoolbook product of
 * 32-bit halves: the same value, no branch. */
static uint64_t mul_hi64(uint64_t a, uint64_t b) {
#if defined(__SIZEOF_INT128__) && !defined(KEYGATE_NO_INT128)
  return (uint64_t)(((unsigned __int128)a * b) >> 64);
#else
  uint64_t a_lo = (uint32_t)a;
  uint64_t a_hi = a >> 32;
  uint64_t b_lo = (uint32_t)b;
  uint64_t b_hi = b >> 32;
  uint64_t lo_lo = a_lo * b_lo;
  uint64_t hi_lo = a_hi * b_lo;
  uint64_t lo_hi = a_lo * b_hi;
  uint64_t hi_hi = a_hi * b_hi;
  uint64_t mid = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
  return hi_hi + (hi_lo >> 32) + (mid >> 32);
#endif
}

/* Bucket for 8 digest bytes: (h * nbuckets) >> 64, uniform over [0, n). */
static size_t reduce(uint64_t h, size_t nbuckets) {
  return (size_t)mul_hi64(h, (uint64_t)nbuckets);
}

static size_t bucket1(const kg_index *idx, const uint8_t *digest) {
  return reduce(kg_ct_load_u64(digest), idx->nbuckets);
}

static size_t bucket2(const kg_index *idx, const uint8_t *digest) {
  return reduce(kg_ct_load_u64(digest + 8), idx->nbuckets);
}

/* ---- building (not constant-time: runs at load, not per request) ---- */

static int slot_used(const kg_record *r) {
  return (r->reserved & SLOT_OCCUPIED) != 0;
}

/* Place r in a free slot of bucket b; 1 when done. */
static int place(bucket *b, const kg_record *r) {
  for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    if (!slot_used(&b->slot[s])) {
      b->slot[s] = *r;
      return 1;
    }
  }
  return 0;
}

/* The slot holding digest, or NULL. */
static kg_record *find_slot(const kg_index *idx, const uint8_t *digest) {
  size_t bs[2] = {bucket1(idx, digest), bucket2(idx, digest)};
  for (int k = 0; k < 2; k++) {
    bucket *b = &idx->buckets[bs[k]];
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      if (slot_used(&b->slot[s]) &&
          memcmp(b->slot[s].digest, digest, KG_DIGEST_LEN) == 0) {
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

/* Insert r; 1 when placed, 0 when the walk gave up (table too full). */
static int insert(kg_index *idx, kg_record r, uint64_t *rng) {
  size_t b = bucket1(idx, r.digest);
  if (place(&idx->buckets[b], &r) ||
      place(&idx->buckets[bucket2(idx, r.digest)], &r)) {
    return 1;
  }
  for (int kick = 0; kick < MAX_KICKS; kick++) {
    int s = (int)(next_rand(rng) % KG_INDEX_BUCKET_SLOTS);
    kg_record victim = idx->buckets[b].slot[s];
    idx->buckets[b].slot[s] = r;
    r = victim;
    size_t b1 = bucket1(idx, r.digest);
    b = (b1 == b) ? bucket2(idx, r.digest) : b1;
    if (place(&idx->buckets[b], &r)) {
      return 1;
    }
  }
  /* r is the record left homeless; put it back by failing the build. */
  return 0;
}

/* Insert recs[0..n) into idx's empty table (buckets and nbuckets set). */
static kg_status fill(const kg_record *recs, size_t n, kg_index *idx) {
  idx->count = 0;
  uint64_t rng = 0x9E3779B97F4A7C15u ^ (uint64_t)idx->nbuckets;
  for (size_t i = 0; i < n; i++) {
    if (contains(idx, recs[i].digest)) {
      return KG_E_DUPLICATE_DIGEST;
    }
    kg_record r = recs[i];
    r.reserved = SLOT_OCCUPIED;
    if (!insert(idx, r, &rng)) {
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
      h->layout != REGION_LAYOUT || nb == 0 ||
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
static int insert_undoable(kg_index *idx, kg_record r) {
  size_t b = bucket1(idx, r.digest);
  if (place(&idx->buckets[b], &r) ||
      place(&idx->buckets[bucket2(idx, r.digest)], &r)) {
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
    kg_record victim = idx->buckets[b].slot[s];
    idx->buckets[b].slot[s] = r;
    r = victim;
    size_t b1 = bucket1(idx, r.digest);
    b = (b1 == b) ? bucket2(idx, r.digest) : b1;
    if (place(&idx->buckets[b], &r)) {
      return 1;
    }
  }
  /* r is homeless: put every record back where it was. */
  while (kick-- > 0) {
    kg_record *slot = &idx->buckets[path_b[kick]].slot[path_s[kick]];
    kg_record moved = *slot;
    *slot = r;
    r = moved;
  }
  return 0;
}

/* kg_index_put's change; on a region, inside the seqlock. */
static kg_status put(kg_index *idx, const kg_record *rec) {
  kg_record r = *rec;
  r.reserved = SLOT_OCCUPIED;
  kg_record *slot = find_slot(idx, r.digest);
  if (slot != NULL) {
    *slot = r;
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
  change_begin(idx);
  const kg_status st = put(idx, rec);
  change_end(idx);
  return st;
}

int kg_index_remove(kg_index *idx, const uint8_t digest[KG_DIGEST_LEN]) {
  if (KG_NEVER(digest == NULL) || idx == NULL || idx->nbuckets == 0) {
    return 0;
  }
  kg_record *slot = find_slot(idx, digest);
  if (slot == NULL) {
    return 0;
  }
  change_begin(idx);
  OPENSSL_cleanse(slot, sizeof *slot); /* reserved = 0: the slot is free */
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
   * keys up (1 MiB a core here, Zen 4; 1-2 MiB on current server cores):
   * there the lookup's own loads, both buckets' independent of each other,
   * come as early, and the prefetch measured 1.5-5 ns dearer than none at
   * 1, 50 and 10,000 keys (docs/benchmarks.md, issue 14's fifth pass). At
   * millions of keys both buckets' random accesses are started here. */
  if (idx == NULL || idx->nbuckets <= PREFETCH_MIN_BUCKETS) {
    return;
  }
  const bucket *b1 = &idx->buckets[bucket1(idx, digest)];
  const bucket *b2 = &idx->buckets[bucket2(idx, digest)];
  /* A bucket is KG_INDEX_BUCKET_SLOTS cache lines: ask for each. */
  for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    __builtin_prefetch(&b1->slot[s], 0, 3);
    __builtin_prefetch(&b2->slot[s], 0, 3);
  }
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
 * scalar twin (KEYGATE_NO_SIMD: four 8-byte words a slot), SSE2 (every
 * x86-64) and AVX2 (chosen at run time, cpu.h). Each reads every slot of
 * both buckets whole; a slot's hit bit is 1 when its 32-byte digest equals
 * the presented one and its `reserved` has the occupied bit, and the 32
 * bytes after its digest are ANDed with the hit's mask and ORed into the
 * accumulator. The vector paths: the digest compared bytewise (pcmpeqb),
 * the byte mask's movemask + 1 carries into bit 16 (or 32) only when every
 * byte matched, the hit made a 16- (32-)byte mask and the tail selected
 * with pand/por, no scalar word per slot. No branch and no address depends
 * on a stored byte or on which slot matched; the taint check
 * (tests/ct/taint.c) runs each path (ct.taint.*, and *_baseline with
 * KEYGATE_CPU=baseline).
 *
 * lookup_out — the record out of the accumulated tail (hi's last 4 bytes
 * are `reserved`, cleared) and the presented digest masked by found.
 */
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

static inline uint32_t reserved_of(const uint8_t *rec) {
  uint32_t v;
  memcpy(&v, rec + offsetof(kg_record, reserved), sizeof v);
  return v;
}

static inline int lookup_out(__m128i p0, __m128i p1, __m128i lo, __m128i hi,
                             uint32_t found, kg_record *out) {
  const __m128i keep = hit_mask128(found);
  /* every byte of hi but the last 4 (reserved) */
  const __m128i no_reserved = _mm_set_epi32(0, -1, -1, -1);
  uint8_t *o = (uint8_t *)out;
  _mm_storeu_si128((__m128i *)(void *)o, _mm_and_si128(p0, keep));
  _mm_storeu_si128((__m128i *)(void *)(o + 16), _mm_and_si128(p1, keep));
  _mm_storeu_si128((__m128i *)(void *)(o + 32), lo);
  _mm_storeu_si128((__m128i *)(void *)(o + 48), _mm_and_si128(hi, no_reserved));
  return (int)found;
}

/* One slot, SSE2: its hit bit; its tail ORed into lo and hi. */
#define KG_SLOT_SSE2(rec)                                                      \
  do {                                                                         \
    const uint8_t *kg_r = (rec);                                               \
    __m128i kg_e = _mm_and_si128(_mm_cmpeq_epi8(p0, load_a16(kg_r)),           \
                                 _mm_cmpeq_epi8(p1, load_a16(kg_r + 16)));     \
    uint32_t kg_m = (uint32_t)_mm_movemask_epi8(kg_e); /* 0xFFFF: equal */     \
    uint32_t kg_hit = ((kg_m + 1u) >> 16) & reserved_of(kg_r);                 \
    __m128i kg_k = hit_mask128(kg_hit);                                        \
    lo = _mm_or_si128(lo, _mm_and_si128(kg_k, load_a16(kg_r + 32)));           \
    hi = _mm_or_si128(hi, _mm_and_si128(kg_k, load_a16(kg_r + 48)));           \
    found |= kg_hit;                                                           \
  } while (0)

static inline int lookup_sse2(const uint8_t *b1, const uint8_t *b2,
                              const uint8_t *digest, kg_record *out) {
  const __m128i p0 = _mm_loadu_si128((const __m128i *)(const void *)digest);
  const __m128i p1 =
      _mm_loadu_si128((const __m128i *)(const void *)(digest + 16));
  __m128i lo = _mm_setzero_si128();
  __m128i hi = _mm_setzero_si128();
  uint32_t found = 0;
  for (size_t s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    KG_SLOT_SSE2(b1 + sizeof(kg_record) * s);
    KG_SLOT_SSE2(b2 + sizeof(kg_record) * s);
  }
  return lookup_out(p0, p1, lo, hi, found, out);
}
#undef KG_SLOT_SSE2
#endif

#if defined(KG_INDEX_SSE2) && defined(KG_CPU_X86_DISPATCH)
#define KG_INDEX_AVX2 1

/* One slot, AVX2: the digest in one compare, the tail in one AND. */
#define KG_SLOT_AVX2(rec)                                                      \
  do {                                                                         \
    const uint8_t *kg_r = (rec);                                               \
    __m256i kg_e = _mm256_cmpeq_epi8(                                          \
        p, _mm256_load_si256((const __m256i *)(const void *)kg_r));            \
    /* all 32 bits set: + 1 carries into bit 32 */                             \
    uint64_t kg_m = (uint64_t)(uint32_t)_mm256_movemask_epi8(kg_e);            \
    uint32_t kg_hit = (uint32_t)((kg_m + 1u) >> 32) & reserved_of(kg_r);       \
    __m256i kg_k = _mm256_set1_epi64x((long long)kg_ct_mask_u64(kg_hit));      \
    acc = _mm256_or_si256(                                                     \
        acc, _mm256_and_si256(                                                 \
                 kg_k, _mm256_load_si256(                                      \
                           (const __m256i *)(const void *)(kg_r + 32))));      \
    found |= kg_hit;                                                           \
  } while (0)

static KG_AVX2_TARGET int lookup_avx2(const uint8_t *b1, const uint8_t *b2,
                                      const uint8_t *digest, kg_record *out) {
  /* two 16-byte loads, as the digest was stored (digest.c): one 32-byte
   * load of two stores would wait for them to reach the cache (no store
   * forwarding) */
  const __m256i p = _mm256_inserti128_si256(
      _mm256_castsi128_si256(
          _mm_loadu_si128((const __m128i *)(const void *)digest)),
      _mm_loadu_si128((const __m128i *)(const void *)(digest + 16)), 1);
  __m256i acc = _mm256_setzero_si256();
  uint32_t found = 0;
  for (size_t s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
    KG_SLOT_AVX2(b1 + sizeof(kg_record) * s);
    KG_SLOT_AVX2(b2 + sizeof(kg_record) * s);
  }
  /* lookup_out's stores, 32 bytes wide: the digest masked by found, the
   * tail with `reserved` cleared */
  const __m256i keep = _mm256_set1_epi64x((long long)kg_ct_mask_u64(found));
  const __m256i no_reserved = _mm256_set_epi32(0, -1, -1, -1, -1, -1, -1, -1);
  uint8_t *o = (uint8_t *)out;
  _mm256_storeu_si256((__m256i *)(void *)o, _mm256_and_si256(p, keep));
  _mm256_storeu_si256((__m256i *)(void *)(o + 32),
                      _mm256_and_si256(acc, no_reserved));
  return (int)found;
}
#undef KG_SLOT_AVX2
#endif

#if !defined(KG_INDEX_SSE2)
static int lookup_scalar(const uint8_t *b1, const uint8_t *b2,
                         const uint8_t *digest, kg_record *out) {
  const uint8_t *b[2] = {b1, b2};
  uint32_t found = 0;
  uint64_t tail[4] = {0, 0, 0, 0};
  for (int k = 0; k < 2; k++) {
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      const kg_record *r =
          (const kg_record *)(const void *)(b[k] +
                                            sizeof(kg_record) * (size_t)s);
      uint32_t hit = kg_ct_eq32(r->digest, digest) & (r->reserved & 1u);
      uint64_t m = kg_ct_mask_u64(hit);
      const uint8_t *w = (const uint8_t *)r + KG_DIGEST_LEN;
      for (size_t i = 0; i < 4; i++) {
        tail[i] |= kg_ct_load_u64(w + 8 * i) & m;
      }
      found |= hit;
    }
  }
  /* On a hit the stored digest equals the presented one. */
  uint64_t keep = kg_ct_mask_u64(found);
  for (size_t i = 0; i < 4; i++) {
    uint64_t d = kg_ct_load_u64(digest + 8 * i) & keep;
    memcpy(out->digest + 8 * i, &d, 8);
  }
  memcpy((uint8_t *)out + KG_DIGEST_LEN, tail, sizeof tail);
  out->reserved = 0;
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
