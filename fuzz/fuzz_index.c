/*
 * fuzz/fuzz_index.c — build a key index from fuzzer-chosen records, look up
 * fuzzer-chosen digests, and compare every answer with a linear scan.
 *
 * Input, read as a stream (missing bytes read as zero):
 *   byte b0: bit 0x40 picks how digests are
 *            made: set = as the store makes them, the SHA-256 (kg_digest) of
 *            fuzzer-chosen key bytes, b0 % 64 records; clear = raw
 *            fuzzer-chosen bytes, b0 % 12 records.
 *   byte: number of lookups (0..63)
 *   per record: a control byte c, then
 *     SHA-256 mode: a length byte (% 48) and that many key bytes;
 *     raw mode, c & 1 and a record exists: a near twin of an earlier
 *           record's digest (record (c >> 1) % i, one byte XOR-ed at a
 *           chosen position); else 32 digest bytes;
 *     then status (byte % 4), expires_at (2 bytes: bits 33-40 and 0-7),
 *     key_id (2 bytes, spread), account_id (a byte: bits 28-35), and a
 *     byte x, spread into expires_at's bits 8-32 and account_id's 6-27;
 *     x & 0xF0 == 0xF0 also puts one field just out of its packed range
 *     (x & 3: status, expires_at + 1, expires_at -1, account_id)
 *   per lookup: a control byte c, then
 *     c % 3 == 0: a stored digest (hit), c % 3 == 1: a stored digest with
 *     one byte changed, else 32 raw bytes.
 * Build must refuse a set with a field out of range (KG_E_RECORD_RANGE),
 * and otherwise exactly the record sets that hold a duplicate digest
 * (two that agree in the KG_INDEX_DIGEST_KEPT bytes the index keeps).
 * With SHA-256 digests it must never fail otherwise. With raw digests it may
 * give up with KG_E_TOO_MANY_KEYS: chosen digests can crowd any two-choice
 * table (both buckets come from the first 8 bytes), and the index promises
 * expected O(n) only for uniform digests. Whenever it builds, every lookup
 * must agree with the linear scan over those bytes, record and all (its
 * digest the presented one), and a miss must leave a zeroed record. Also:
 * kg_key_id_format and kg_key_id_parse round-trip each key id.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "keygate/digest.h"
#include "keygate/index.h"

#define MAX_RECORDS 64
#define MAX_RAW_RECORDS 12
#define MAX_KEY_BYTES 48

static kg_digester *digester;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  FUZZ_CHECK(kg_digester_new(NULL, 0, &digester) == KG_OK);
  return 0;
}

typedef struct reader {
  const uint8_t *p;
  size_t n, at;
} reader;

static uint8_t next_byte(reader *r) {
  return r->at < r->n ? r->p[r->at++] : 0;
}

static void next_bytes(reader *r, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    out[i] = next_byte(r);
  }
}

static void twin(reader *r, const uint8_t *from, uint8_t *out) {
  memcpy(out, from, KG_DIGEST_LEN);
  uint8_t pos = next_byte(r);
  out[pos % KG_DIGEST_LEN] ^= (uint8_t)(next_byte(r) | 1);
}

static void check_key_id(uint64_t id) {
  char s[KG_KEY_ID_STR_LEN];
  size_t len = kg_key_id_format(id, s);
  FUZZ_CHECK(len == KG_KEY_ID_STR_LEN - 1 && s[len] == '\0');
  FUZZ_CHECK(memcmp(s, "key_", 4) == 0);
  uint64_t back = 0;
  FUZZ_CHECK(kg_key_id_parse(s, len, &back) == KG_OK && back == id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = (uint8_t *)fuzz_copy(data, size);
  reader r = {copy, size, 0};
  uint8_t b0 = next_byte(&r);
  int sha_mode = (b0 & 0x40) != 0;
  /* Raw digests are few: a crowded raw set makes the build walk
   * MAX_KICKS per retry before it gives up, which only costs speed. */
  size_t n = sha_mode ? b0 % MAX_RECORDS : b0 % MAX_RAW_RECORDS;
  size_t m = next_byte(&r) % MAX_RECORDS;

  kg_record recs[MAX_RECORDS];
  memset(recs, 0, sizeof recs);
  int out_of_range = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = next_byte(&r);
    if (sha_mode) {
      char key[MAX_KEY_BYTES];
      size_t len = next_byte(&r) % MAX_KEY_BYTES;
      next_bytes(&r, (uint8_t *)key, len);
      FUZZ_CHECK(kg_digest(digester, key, len, recs[i].digest) == KG_OK);
    } else if ((c & 1) && i > 0) {
      twin(&r, recs[(c >> 1) % i].digest, recs[i].digest);
    } else {
      next_bytes(&r, recs[i].digest, KG_DIGEST_LEN);
    }
    recs[i].status = next_byte(&r) % 4;
    /* the packed fields' top and bottom bits (index.h); one read per
     * statement: C leaves the order of two calls in one expression open */
    const uint8_t e_hi = next_byte(&r);
    const uint8_t e_lo = next_byte(&r);
    recs[i].expires_at = (int64_t)e_hi << 33 | e_lo;
    const uint8_t k_hi = next_byte(&r);
    const uint8_t k_lo = next_byte(&r);
    recs[i].key_id = (uint64_t)k_hi << 8 | k_lo;
    recs[i].key_id *= 0x9E3779B97F4A7C15u; /* spread over 64 bits */
    recs[i].account_id = (uint64_t)next_byte(&r) << 28 | i;
    const uint8_t x = next_byte(&r);
    /* x also fills the bits between (expires_at 8-32, account_id 6-27,
     * above the record's number), spread, so the packing's middle bits
     * are drawn too (x = 0: none) */
    const uint64_t mid = (uint64_t)x * 0x9E3779B97F4A7C15u;
    recs[i].expires_at |= (int64_t)(mid >> 8 & 0x1FFFFFF00u);
    recs[i].account_id |= mid >> 31 & 0xFFFFFC0u;
    if ((x & 0xF0) == 0xF0) { /* one field just out of its range */
      out_of_range = 1;
      switch (x & 3) {
      case 0:
        recs[i].status = 4u + (x >> 2 & 3u);
        break;
      case 1:
        recs[i].expires_at = KG_RECORD_EXPIRES_MAX + 1;
        break;
      case 2:
        recs[i].expires_at = -1;
        break;
      default:
        recs[i].account_id = KG_RECORD_ACCOUNT_ID_MAX + 1;
        break;
      }
    }
    check_key_id(recs[i].key_id);
  }

  int dup = 0;
  for (size_t i = 0; i < n && !dup; i++) {
    for (size_t j = i + 1; j < n; j++) {
      if (memcmp(recs[i].digest, recs[j].digest, KG_INDEX_DIGEST_KEPT) == 0) {
        dup = 1;
        break;
      }
    }
  }

  kg_index *idx = NULL;
  kg_status st = kg_index_build(recs, n, &idx);
  if (out_of_range) {
    /* refused whole, whatever else the set holds (checked first) */
    FUZZ_CHECK(st == KG_E_RECORD_RANGE && idx == NULL);
    free(copy);
    return 0;
  }
  if (st == KG_E_TOO_MANY_KEYS && !sha_mode) {
    FUZZ_CHECK(idx == NULL); /* crowded raw digests: see the top */
    free(copy);
    return 0;
  }
  if (dup) {
    FUZZ_CHECK(st == KG_E_DUPLICATE_DIGEST && idx == NULL);
    free(copy);
    return 0;
  }
  FUZZ_CHECK(st == KG_OK && idx != NULL);
  FUZZ_CHECK(kg_index_count(idx) == n);

  for (size_t q = 0; q < m; q++) {
    uint8_t c = next_byte(&r);
    uint8_t digest[KG_DIGEST_LEN];
    if (n > 0 && c % 3 == 0) {
      memcpy(digest, recs[next_byte(&r) % n].digest, KG_DIGEST_LEN);
    } else if (n > 0 && c % 3 == 1) {
      twin(&r, recs[next_byte(&r) % n].digest, digest);
    } else {
      next_bytes(&r, digest, KG_DIGEST_LEN);
    }
    const kg_record *want = NULL;
    for (size_t i = 0; i < n; i++) {
      if (memcmp(recs[i].digest, digest, KG_INDEX_DIGEST_KEPT) == 0) {
        want = &recs[i];
      }
    }
    kg_record got;
    memset(&got, 0xA5, sizeof got);
    int hit = kg_index_lookup(idx, digest, &got);
    FUZZ_CHECK(hit == (want != NULL));
    if (hit) {
      kg_record w = *want;
      memcpy(w.digest, digest, KG_DIGEST_LEN);
      FUZZ_CHECK(memcmp(&got, &w, sizeof got) == 0);
    } else {
      static const kg_record zero;
      FUZZ_CHECK(memcmp(&got, &zero, sizeof got) == 0);
    }
  }
  kg_index_free(idx);
  free(copy);
  return 0;
}
