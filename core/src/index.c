/*
 * index.c — the constant-time key index of index.h.
 *
 * A bucketed cuckoo hash table (Pagh and Rodler; buckets of 2 as in
 * Fan et al.'s cuckoo filters). Slot = kg_record (64 bytes), bucket = 2
 * slots = two cache lines, aligned. Every digest may live in one of two
 * buckets, b1 and b2, taken from the first and second 8 bytes of the
 * digest by multiply-shift range reduction (Lemire), so the table can be
 * any size. The digest is SHA-256 output: uniform, no further hashing.
 *
 * Lookup reads b1 and b2 whole, compares all four slots' digests with
 * kg_ct_eq32 and selects the matching slot's number with masks; only then,
 * the match bit final, it copies that slot out (masked to zero on a miss). The
 * addresses read depend on the presented digest only; the work is the same
 * for a hit and a miss. Empty slots carry occupied = 0 in `reserved` and are
 * compared like the others.
 */
#include "keygate/index.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "chars.h"
#include "ct.h"

#define SLOT_OCCUPIED 1u
#define MAX_KICKS 1000
#define LOAD_FACTOR_NUM 85 /* at most 85 % of slots used */
#define LOAD_FACTOR_DEN 100

typedef struct bucket {
  kg_record slot[KG_INDEX_BUCKET_SLOTS];
} bucket;

struct kg_index {
  bucket *buckets; /* aligned to 64 */
  size_t nbuckets;
  size_t count;
};

_Static_assert(sizeof(kg_record) == 64, "a slot is one cache line");

/* Bucket for 8 digest bytes: (h * nbuckets) >> 64, uniform over [0, n). */
static size_t reduce(uint64_t h, size_t nbuckets) {
  return (size_t)(((unsigned __int128)h * nbuckets) >> 64);
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

static int contains(const kg_index *idx, const uint8_t *digest) {
  size_t bs[2] = {bucket1(idx, digest), bucket2(idx, digest)};
  for (int k = 0; k < 2; k++) {
    const bucket *b = &idx->buckets[bs[k]];
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      if (slot_used(&b->slot[s]) &&
          memcmp(b->slot[s].digest, digest, KG_DIGEST_LEN) == 0) {
        return 1;
      }
    }
  }
  return 0;
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

static kg_status try_build(const kg_record *recs, size_t n, size_t nbuckets,
                           kg_index *idx) {
  size_t bytes = nbuckets * sizeof(bucket);
  idx->buckets = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (idx->buckets == NULL) {
    return KG_E_NOMEM;
  }
  memset(idx->buckets, 0, bytes);
  idx->nbuckets = nbuckets;
  idx->count = 0;
  uint64_t rng = 0x9E3779B97F4A7C15u ^ (uint64_t)nbuckets;
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

kg_status kg_index_build(const kg_record *recs, size_t n, kg_index **out) {
  if (out == NULL || (recs == NULL && n > 0)) {
    return KG_E_ARGUMENT;
  }
  *out = NULL;
  if (n > KG_INDEX_MAX_KEYS) {
    return KG_E_TOO_MANY_KEYS;
  }
  kg_index *idx = calloc(1, sizeof *idx);
  if (idx == NULL) {
    return KG_E_NOMEM;
  }
  size_t slots = n * LOAD_FACTOR_DEN / LOAD_FACTOR_NUM + 1;
  size_t nbuckets = (slots + KG_INDEX_BUCKET_SLOTS - 1) / KG_INDEX_BUCKET_SLOTS;
  if (nbuckets < 1) {
    nbuckets = 1;
  }
  for (int attempt = 0; attempt < 8; attempt++) {
    kg_status s = try_build(recs, n, nbuckets, idx);
    if (s == KG_OK) {
      *out = idx;
      return KG_OK;
    }
    OPENSSL_cleanse(idx->buckets, idx->nbuckets * sizeof(bucket));
    free(idx->buckets);
    idx->buckets = NULL;
    if (s != KG_E_TOO_MANY_KEYS) {
      free(idx);
      return s;
    }
    nbuckets = nbuckets + nbuckets / 4 + 1; /* a cuckoo cycle: grow 25 % */
  }
  free(idx);
  return KG_E_TOO_MANY_KEYS;
}

void kg_index_free(kg_index *idx) {
  if (idx == NULL) {
    return;
  }
  if (idx->buckets != NULL) {
    OPENSSL_cleanse(idx->buckets, idx->nbuckets * sizeof(bucket));
    free(idx->buckets);
  }
  free(idx);
}

size_t kg_index_count(const kg_index *idx) {
  return idx != NULL ? idx->count : 0;
}

size_t kg_index_memory(const kg_index *idx) {
  return idx != NULL ? sizeof *idx + idx->nbuckets * sizeof(bucket) : 0;
}

/* ---- lookup (constant-time; see index.h) ------------------------------ */

int kg_index_lookup(const kg_index *idx, const uint8_t digest[KG_DIGEST_LEN],
                    kg_record *out) {
  if (idx == NULL || idx->nbuckets == 0) {
    memset(out, 0, sizeof *out);
    return 0;
  }
  const bucket *b[2] = {&idx->buckets[bucket1(idx, digest)],
                        &idx->buckets[bucket2(idx, digest)]};
  /* Compare all four slots; remember which one matched with masks. */
  uint32_t found = 0;
  uint64_t which = 0; /* k * SLOTS + s of the matching slot, else 0 */
  for (int k = 0; k < 2; k++) {
    for (int s = 0; s < KG_INDEX_BUCKET_SLOTS; s++) {
      const kg_record *r = &b[k]->slot[s];
      uint32_t hit = kg_ct_eq32(r->digest, digest) & (r->reserved & 1u);
      which =
          kg_ct_mux_u64(hit, (uint64_t)(k * KG_INDEX_BUCKET_SLOTS + s), which);
      found |= hit;
    }
  }
  /*
   * The match bit is final. Copy the chosen slot (its lines are already
   * cached: all four slots were just read) and clear it with a mask on a
   * miss, so a miss does exactly the work of a hit.
   */
  const kg_record *r =
      &b[which / KG_INDEX_BUCKET_SLOTS]->slot[which % KG_INDEX_BUCKET_SLOTS];
  uint64_t keep = kg_ct_mask_u64(found);
  uint64_t words[sizeof(kg_record) / 8];
  memcpy(words, r, sizeof words);
  for (size_t i = 0; i < sizeof words / 8; i++) {
    words[i] &= keep;
  }
  memcpy(out, words, sizeof words);
  out->reserved = 0;
  return (int)found;
}

/* ---- key ids ---------------------------------------------------------- */

size_t kg_key_id_format(uint64_t key_id, char out[KG_KEY_ID_STR_LEN]) {
  memcpy(out, "key_", 4);
  for (size_t i = 15; i > 4; i--) {
    out[i - 1] = kg_base62_digits[key_id % 62];
    key_id /= 62;
  }
  out[15] = '\0';
  return 15;
}

kg_status kg_key_id_parse(const char *s, size_t len, uint64_t *key_id) {
  if (s == NULL || key_id == NULL || len != 15 || memcmp(s, "key_", 4) != 0) {
    return KG_E_ARGUMENT;
  }
  unsigned __int128 v = 0;
  for (size_t i = 4; i < 15; i++) {
    int d = kg_base62_value((unsigned char)s[i]);
    if (d < 0) {
      return KG_E_ARGUMENT;
    }
    v = v * 62u + (unsigned)d;
  }
  if (v > UINT64_MAX) {
    return KG_E_ARGUMENT;
  }
  *key_id = (uint64_t)v;
  return KG_OK;
}
