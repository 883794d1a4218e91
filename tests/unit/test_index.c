/*
 * tests/unit/test_index.c — the key index (keygate/index.h) at 0, 1, 3, 50
 * and 100,000 keys: hits return the whole record, misses (including digests
 * one bit away) return nothing, duplicates are refused; and the decision on
 * top of it (kg_decide_key) for active, deactivated, expired, deleted and
 * time-expired records, expiry exactly at `now` included. Presented digests
 * sit against a PROT_NONE page. The NULL policy of keygate/api.h: each NULL
 * the header allows none for is a caller's bug (tested in a child,
 * null_policy.h), and each it allows (the empty index, NULL) is none.
 */
#define _DEFAULT_SOURCE 1 /* mkstemp, ftruncate, mmap */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "guard.h"
#include "keygate/decision.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "null_policy.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static const size_t SIZES[] = {1, 3, 50, 100000};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

/* fake_digest — SHA-256 of "<tag>-<i>": distinct, spread digests. */
static void fake_digest(const char *tag, size_t i, uint8_t out[KG_DIGEST_LEN]) {
  char msg[64];
  int n = snprintf(msg, sizeof msg, "%s-%zu", tag, i);
  assert_true(n > 0);
  unsigned int len = 0;
  assert_int_equal(EVP_Digest(msg, (size_t)n, out, &len, EVP_sha256(), NULL),
                   1);
}

static kg_record *make_records(size_t n) {
  kg_record *recs = calloc(n ? n : 1, sizeof *recs);
  assert_non_null(recs);
  for (size_t i = 0; i < n; i++) {
    fake_digest("rec", i, recs[i].digest);
    recs[i].key_id = i + 1;
    recs[i].account_id = 1000 + i % 7;
    recs[i].expires_at = (i % 3 == 0) ? 0 : NOW + (int64_t)i;
    recs[i].status = (uint32_t)(i % 4);
  }
  return recs;
}

/* The presented digest is copied into one guarded slot: the 32 bytes just
 * before a PROT_NONE page. Each test maps its slot first (new_slot). */
static char *slot;

static void new_slot(void) {
  static const uint8_t zero[KG_DIGEST_LEN];
  slot = guard_copy(zero, KG_DIGEST_LEN);
}

/* lookup — kg_index_lookup with the digest in the guarded slot. */
static int lookup(const kg_index *idx, const uint8_t digest[KG_DIGEST_LEN],
                  kg_record *out) {
  memcpy(slot, digest, KG_DIGEST_LEN);
  return kg_index_lookup(idx, (const uint8_t *)slot, out);
}

/* guarded — recs[0..n) copied to end at a PROT_NONE page. */
static const kg_record *guarded(const kg_record *recs, size_t n) {
  return (const kg_record *)guard_copy(recs, n * sizeof *recs);
}

static int is_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    if (b[i] != 0) {
      return 0;
    }
  }
  return 1;
}

/* ---- build and look up -------------------------------------------------- */

static void an_empty_index_misses_everything(void **state) {
  (void)state;
  new_slot();
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(NULL, 0, &idx), KG_OK);
  assert_non_null(idx);
  assert_int_equal(kg_index_count(idx), 0);
  for (size_t i = 0; i < 100; i++) {
    uint8_t d[KG_DIGEST_LEN];
    fake_digest("miss", i, d);
    kg_record out;
    memset(&out, 0xa5, sizeof out);
    assert_int_equal(lookup(idx, d, &out), 0);
    assert_true(is_zero(&out, sizeof out));
  }
  uint8_t zero[KG_DIGEST_LEN] = {0};
  kg_record out;
  assert_int_equal(lookup(idx, zero, &out), 0);
  kg_index_free(idx);
}

static void every_record_is_found_whole_at_every_size(void **state) {
  (void)state;
  new_slot();
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = SIZES[s];
    kg_record *recs = make_records(n);
    kg_index *idx = NULL;
    assert_int_equal(kg_index_build(guarded(recs, n), n, &idx), KG_OK);
    assert_int_equal(kg_index_count(idx), n);
    assert_true(kg_index_memory(idx) >= n * KG_DIGEST_LEN);
    for (size_t i = 0; i < n; i++) {
      kg_record out;
      memset(&out, 0xa5, sizeof out);
      if (lookup(idx, recs[i].digest, &out) != 1) {
        fail_msg("%zu keys: record %zu not found", n, i);
      }
      if (memcmp(&out, &recs[i], sizeof out) != 0) {
        fail_msg("%zu keys: record %zu came back different", n, i);
      }
    }
    kg_index_free(idx);
    free(recs);
  }
}

static void digests_not_stored_miss_at_every_size(void **state) {
  (void)state;
  new_slot();
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = SIZES[s];
    kg_record *recs = make_records(n);
    kg_index *idx = NULL;
    assert_int_equal(kg_index_build(guarded(recs, n), n, &idx), KG_OK);
    for (size_t i = 0; i < 5000; i++) {
      uint8_t d[KG_DIGEST_LEN];
      fake_digest("miss", i, d);
      kg_record out;
      memset(&out, 0xa5, sizeof out);
      if (lookup(idx, d, &out) != 0) {
        fail_msg("%zu keys: absent digest %zu found", n, i);
      }
      assert_true(is_zero(&out, sizeof out));
    }
    kg_index_free(idx);
    free(recs);
  }
}

/* The index keeps a digest's first 14 bytes (index.h): a digest one bit
 * away there misses; one bit away in the last 18 finds the record, and the
 * answer carries the presented digest. */
static void a_digest_one_bit_away_in_its_first_14_bytes_misses(void **state) {
  (void)state;
  new_slot();
  for (size_t s = 0; s < NSIZES; s++) {
    size_t n = SIZES[s];
    kg_record *recs = make_records(n);
    kg_index *idx = NULL;
    assert_int_equal(kg_index_build(guarded(recs, n), n, &idx), KG_OK);
    size_t probe = n < 4 ? n : 4;
    for (size_t i = 0; i < probe; i++) {
      size_t r = (i * 7919) % n;
      for (size_t bit = 0; bit < 8 * KG_DIGEST_LEN; bit++) {
        uint8_t d[KG_DIGEST_LEN];
        memcpy(d, recs[r].digest, KG_DIGEST_LEN);
        d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        kg_record out;
        const int found = lookup(idx, d, &out);
        if (bit < 8 * KG_INDEX_DIGEST_KEPT && found != 0) {
          fail_msg("%zu keys: record %zu with bit %zu flipped was found", n, r,
                   bit);
        }
        if (bit >= 8 * KG_INDEX_DIGEST_KEPT) {
          kg_record want = recs[r];
          memcpy(want.digest, d, KG_DIGEST_LEN);
          if (found != 1 || memcmp(&out, &want, sizeof out) != 0) {
            fail_msg("%zu keys: record %zu with bit %zu flipped: not the "
                     "record with the presented digest",
                     n, r, bit);
          }
        }
      }
    }
    kg_index_free(idx);
    free(recs);
  }
}

static void the_index_keeps_its_own_copy_of_the_records(void **state) {
  (void)state;
  new_slot();
  kg_record *recs = make_records(50);
  kg_record *orig = make_records(50);
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(guarded(recs, 50), 50, &idx), KG_OK);
  memset(recs, 0x5a, 50 * sizeof *recs);
  free(recs);
  for (size_t i = 0; i < 50; i++) {
    kg_record out;
    assert_int_equal(lookup(idx, orig[i].digest, &out), 1);
    assert_memory_equal(&out, &orig[i], sizeof out);
  }
  kg_index_free(idx);
  free(orig);
}

static void records_are_read_only_within_the_given_array(void **state) {
  (void)state;
  /* The array sits against the guard page: reading recs[n] faults. */
  kg_record *recs = make_records(3);
  const kg_record *g = (const kg_record *)guard_copy(recs, 3 * sizeof *recs);
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(g, 3, &idx), KG_OK);
  assert_int_equal(kg_index_count(idx), 3);
  kg_index_free(idx);
  free(recs);
}

/* ---- refusals ----------------------------------------------------------- */

static void a_duplicate_digest_is_refused(void **state) {
  (void)state;
  static const struct {
    size_t n, a, b;
  } cases[] = {{2, 0, 1},    {3, 0, 2},          {50, 0, 49},
               {50, 17, 18}, {100000, 3, 99999}, {100000, 54321, 12345}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kg_record *recs = make_records(cases[i].n);
    memcpy(recs[cases[i].b].digest, recs[cases[i].a].digest, KG_DIGEST_LEN);
    /* different ids and statuses: the digest alone makes the duplicate */
    recs[cases[i].b].key_id = 999999999;
    recs[cases[i].b].status = KG_REC_DELETED;
    kg_index *idx = NULL;
    kg_status rc = kg_index_build(guarded(recs, cases[i].n), cases[i].n, &idx);
    if (rc != KG_E_DUPLICATE_DIGEST) {
      fail_msg("%zu keys, records %zu and %zu share a digest: %s", cases[i].n,
               cases[i].a, cases[i].b, kg_status_str(rc));
    }
    assert_null(idx);
    free(recs);
  }
}

static void more_keys_than_the_maximum_are_refused(void **state) {
  (void)state;
  kg_record *recs = make_records(1);
  const kg_record *g = (const kg_record *)guard_copy(recs, sizeof *recs);
  free(recs);
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(g, (size_t)KG_INDEX_MAX_KEYS + 1, &idx),
                   KG_E_TOO_MANY_KEYS);
  assert_null(idx);
}

/* ---- decisions over the index ------------------------------------------- */

typedef struct state_case {
  uint32_t status;
  int64_t expires_at;
  kg_status decision;
  kg_status detail;
} state_case;

static const state_case STATES[] = {
    {KG_REC_ACTIVE, 0, KG_VALID, KG_OK},
    {KG_REC_DEACTIVATED, 0, KG_EXPIRED_API_KEY, KG_KEY_DEACTIVATED},
    {KG_REC_EXPIRED, 0, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED},
    {KG_REC_DELETED, 0, KG_INVALID_API_KEY, KG_KEY_DELETED},
    {KG_REC_ACTIVE, NOW, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED},
    {KG_REC_ACTIVE, NOW + 1, KG_VALID, KG_OK},
    {KG_REC_ACTIVE, NOW - 1, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED},
    {KG_REC_ACTIVE, KG_RECORD_EXPIRES_MAX, KG_VALID, KG_OK},
    {KG_REC_DEACTIVATED, NOW + 3600, KG_EXPIRED_API_KEY, KG_KEY_DEACTIVATED},
    {KG_REC_DELETED, NOW - 1, KG_INVALID_API_KEY, KG_KEY_DELETED},
};
#define NSTATES (sizeof STATES / sizeof STATES[0])

#define KLEN 46

/* decide_at_size — n generated keys, record i in state (i + shift); every
 * key decided, plus unknown keys. */
static void decide_at_size(size_t n, size_t shift, kg_digester *dg,
                           const kg_key_policy *pol) {
  char *keys = malloc(n * KLEN);
  kg_record *recs = calloc(n, sizeof *recs);
  assert_non_null(keys);
  assert_non_null(recs);
  for (size_t i = 0; i < n; i++) {
    char k[KLEN + 1];
    size_t len = 0;
    assert_int_equal(kg_key_generate(pol, k, sizeof k, &len), KG_OK);
    memcpy(keys + i * KLEN, k, KLEN);
    assert_int_equal(kg_digest(dg, k, KLEN, recs[i].digest), KG_OK);
    const state_case *st = &STATES[(i + shift) % NSTATES];
    recs[i].key_id = 10 * i + 1;
    recs[i].account_id = 77;
    recs[i].status = st->status;
    recs[i].expires_at = st->expires_at;
  }
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(guarded(recs, n), n, &idx), KG_OK);
  char *kslot = guard_copy(keys, KLEN);
  kg_checker c;
  c.policy = *pol;
  c.digester = dg;
  c.index = idx;
  for (size_t i = 0; i < n; i++) {
    const state_case *st = &STATES[(i + shift) % NSTATES];
    kg_decision d;
    memset(&d, 0xa5, sizeof d);
    memcpy(kslot, keys + i * KLEN, KLEN);
    kg_status rc = kg_decide_key(&c, kslot, KLEN, NOW, &d);
    if (rc != st->decision || d.decision != st->decision ||
        d.detail != st->detail) {
      fail_msg("%zu keys, state %zu: %s/%s, want %s/%s", n,
               (i + shift) % NSTATES, kg_status_str(d.decision),
               kg_status_str(d.detail), kg_status_str(st->decision),
               kg_status_str(st->detail));
    }
    if (d.found != 1 || d.record.key_id != 10 * i + 1 ||
        d.record.account_id != 77) {
      fail_msg("%zu keys: key %zu matched record id %llu (found %d)", n, i,
               (unsigned long long)d.record.key_id, d.found);
    }
  }
  for (size_t i = 0; i < 20; i++) {
    char k[KLEN + 1];
    size_t len = 0;
    assert_int_equal(kg_key_generate(pol, k, sizeof k, &len), KG_OK);
    kg_decision d;
    memset(&d, 0xa5, sizeof d);
    memcpy(kslot, k, KLEN);
    assert_int_equal(kg_decide_key(&c, kslot, KLEN, NOW, &d),
                     KG_INVALID_API_KEY);
    assert_int_equal(d.detail, KG_KEY_UNKNOWN);
    assert_int_equal(d.found, 0);
    assert_true(is_zero(&d.record, sizeof d.record));
  }
  guard_free_all();
  kg_index_free(idx);
  free(recs);
  free(keys);
}

static void decisions_follow_record_state_at_every_size(void **state) {
  (void)state;
  kg_digester *dg = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &dg), KG_OK);
  kg_key_policy pol;
  assert_int_equal(
      kg_key_policy_init(&pol, KG_KEY_STRICT, guard_copy("sk_live_", 8), 8),
      KG_OK);
  for (size_t s = 0; s < NSIZES; s++) {
    /* Small indexes are built once per state so each holds every state. */
    size_t shifts = SIZES[s] < NSTATES ? NSTATES : 1;
    for (size_t shift = 0; shift < shifts; shift++) {
      decide_at_size(SIZES[s], shift, dg, &pol);
    }
  }
  kg_digester_free(dg);
}

static void expiry_is_exactly_at_now(void **state) {
  (void)state;
  kg_digester *dg = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &dg), KG_OK);
  kg_key_policy pol;
  assert_int_equal(
      kg_key_policy_init(&pol, KG_KEY_STRICT, guard_copy("sk_live_", 8), 8),
      KG_OK);
  char k[KLEN + 1];
  size_t len = 0;
  assert_int_equal(kg_key_generate(&pol, k, sizeof k, &len), KG_OK);
  kg_record rec;
  memset(&rec, 0, sizeof rec);
  assert_int_equal(kg_digest(dg, k, len, rec.digest), KG_OK);
  rec.key_id = 5;
  rec.expires_at = NOW;
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(guarded(&rec, 1), 1, &idx), KG_OK);
  kg_checker c = {pol, dg, idx};
  static const struct {
    int64_t now;
    kg_status want;
  } times[] = {{NOW - 86400, KG_VALID},         {NOW - 1, KG_VALID},
               {NOW, KG_EXPIRED_API_KEY},       {NOW + 1, KG_EXPIRED_API_KEY},
               {INT64_MAX, KG_EXPIRED_API_KEY}, {0, KG_VALID}};
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    kg_decision d;
    assert_int_equal(kg_decide_key(&c, k, len, times[i].now, &d),
                     times[i].want);
  }
  kg_index_free(idx);
  kg_digester_free(dg);
}

/* A status this build does not know cannot be stored: the index keeps two
 * bits of it, and refuses the record rather than answer from a status it
 * would misread. */
static void a_record_status_unknown_to_this_build_is_refused(void **state) {
  (void)state;
  kg_record rec;
  memset(&rec, 0, sizeof rec);
  fake_digest("status", 9, rec.digest);
  for (uint32_t st = 4; st < 40; st += 5) {
    rec.status = st;
    kg_index *idx = (kg_index *)&rec; /* set to NULL by the refusal */
    assert_int_equal(kg_index_build(guarded(&rec, 1), 1, &idx),
                     KG_E_RECORD_RANGE);
    assert_null(idx);
  }
}

/* Each field at its limit is kept exactly; one past it (or a negative
 * expiry) is refused whole by kg_index_build, kg_index_build_into and
 * kg_index_put, which leaves the index as it was. */
static void a_field_out_of_its_range_is_refused_whole(void **state) {
  (void)state;
  new_slot();
  kg_record at_limit[3];
  memset(at_limit, 0, sizeof at_limit);
  for (size_t i = 0; i < 3; i++) {
    fake_digest("limit", i, at_limit[i].digest);
  }
  at_limit[0].key_id = UINT64_MAX;
  at_limit[0].account_id = KG_RECORD_ACCOUNT_ID_MAX;
  at_limit[0].expires_at = KG_RECORD_EXPIRES_MAX;
  at_limit[0].status = KG_REC_DELETED;
  at_limit[1].key_id = 0x8000A5A5A5A5A5A5u;
  at_limit[1].account_id = 0x0000000F0F0F0F0Fu;
  at_limit[1].expires_at = 0x000001C3C3C3C3C3;
  at_limit[1].status = KG_REC_EXPIRED;
  at_limit[2].key_id = 1; /* the rest 0 */
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build_spare(guarded(at_limit, 3), 3, 8, &idx),
                   KG_OK);
  for (size_t i = 0; i < 3; i++) {
    kg_record out;
    assert_int_equal(lookup(idx, at_limit[i].digest, &out), 1);
    assert_memory_equal(&out, &at_limit[i], sizeof out);
  }
  kg_record bad[4];
  for (size_t b = 0; b < 4; b++) {
    bad[b] = at_limit[2];
    fake_digest("bad", b, bad[b].digest);
  }
  bad[0].account_id = KG_RECORD_ACCOUNT_ID_MAX + 1;
  bad[1].expires_at = KG_RECORD_EXPIRES_MAX + 1;
  bad[2].expires_at = -1;
  bad[3].status = 4;
  size_t cap = kg_index_region_size(8);
  void *mem = aligned_alloc(64, cap);
  assert_non_null(mem);
  for (size_t b = 0; b < 4; b++) {
    kg_record two[2] = {at_limit[0], bad[b]};
    kg_index *other = NULL;
    assert_int_equal(kg_index_build(guarded(two, 2), 2, &other),
                     KG_E_RECORD_RANGE);
    assert_null(other);
    assert_int_equal(kg_index_build_into(two, 2, mem, cap), KG_E_RECORD_RANGE);
    assert_int_equal(kg_index_put(idx, &bad[b]), KG_E_RECORD_RANGE);
    assert_int_equal(kg_index_count(idx), 3 + b); /* the earlier rounds' */
    kg_record out;
    assert_int_equal(lookup(idx, bad[b].digest, &out), 0);
    /* the same digest, in range: taken */
    bad[b] = at_limit[2];
    fake_digest("bad", b, bad[b].digest);
    assert_int_equal(kg_index_put(idx, &bad[b]), KG_OK);
    assert_int_equal(lookup(idx, bad[b].digest, &out), 1);
    assert_memory_equal(&out, &bad[b], sizeof out);
  }
  /* checked before duplicates: a set with both is out of range */
  kg_record mixed[3] = {at_limit[0], at_limit[0], at_limit[1]};
  mixed[2].status = 7;
  kg_index *other = NULL;
  assert_int_equal(kg_index_build(guarded(mixed, 3), 3, &other),
                   KG_E_RECORD_RANGE);
  /* a whole region, then a refused build over it: it no longer attaches */
  assert_int_equal(kg_index_build_into(at_limit, 3, mem, cap), KG_OK);
  assert_int_equal(kg_index_attach(mem, cap, &other), KG_OK);
  kg_index_free(other);
  other = NULL;
  assert_int_equal(kg_index_build_into(mixed, 3, mem, cap), KG_E_RECORD_RANGE);
  assert_int_equal(kg_index_attach(mem, cap, &other), KG_E_ARGUMENT);
  assert_null(other);
  free(mem);
  kg_index_free(idx);
}

/* ---- key ids ------------------------------------------------------------ */

static void key_ids_format_as_key_and_11_base62_digits(void **state) {
  (void)state;
  static const struct {
    uint64_t id;
    const char *s;
  } cases[] = {
      {0, "key_00000000000"},          {1, "key_00000000001"},
      {62, "key_00000000010"},         {4242, "key_0000000016Q"},
      {1767225600, "key_000001vb66i"}, {UINT64_MAX, "key_LygHa16AHYF"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[KG_KEY_ID_STR_LEN];
    assert_int_equal(kg_key_id_format(cases[i].id, out), 15);
    assert_string_equal(out, cases[i].s);
    uint64_t back = 0;
    assert_int_equal(kg_key_id_parse(guard_str(cases[i].s).ptr, 15, &back),
                     KG_OK);
    assert_true(back == cases[i].id);
  }
}

static void key_ids_round_trip(void **state) {
  (void)state;
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < 10000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t id = x >> (i % 64);
    char out[KG_KEY_ID_STR_LEN];
    assert_int_equal(kg_key_id_format(id, out), 15);
    uint64_t back = 0;
    assert_int_equal(kg_key_id_parse(out, 15, &back), KG_OK);
    assert_true(back == id);
  }
}

static void malformed_key_ids_are_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "key_",
      "key_0000000001",   /* 10 digits */
      "key_000000000001", /* 12 digits */
      "KEY_00000000001",
      "kex_00000000001",
      "key-00000000001",
      "key_0000000000!",
      "key_0000000000_",
      "key_LygHa16AHYG", /* 2^64 */
      "key_zzzzzzzzzzz",
      "00000000001",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kg_span s = guard_str(bad[i]);
    uint64_t id = 0;
    if (kg_key_id_parse(s.ptr, s.len, &id) != KG_E_ARGUMENT) {
      fail_msg("\"%s\" parsed as a key id", bad[i]);
    }
  }
}

/* ---- changes in place (kg_index_put, kg_index_remove) ------------------ */

/* A random stream of inserts, updates and removals over a pool of digests,
 * checked after every step against a plain array model: every digest of
 * the pool answers as the model says, and the count agrees. A put that
 * finds no room must leave the index exactly as it was. */
static void puts_and_removes_match_a_model_on_random_streams(void **state) {
  (void)state;
  new_slot();
  enum { POOL = 600, STEPS = 4000 };
  kg_record *pool = make_records(POOL);
  kg_record model[POOL];
  int held[POOL];
  memset(held, 0, sizeof held);
  size_t nheld = 0;
  kg_index *idx = NULL;
  /* Start with the first 100 and room for 300 more: full puts happen. */
  assert_int_equal(kg_index_build_spare(pool, 100, 300, &idx), KG_OK);
  for (size_t i = 0; i < 100; i++) {
    model[i] = pool[i];
    held[i] = 1;
  }
  nheld = 100;
  uint64_t x = 88172645463325252u;
  size_t full = 0;
  for (int step = 0; step < STEPS; step++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const size_t i = (size_t)(x % POOL);
    if ((x >> 20) % 3 == 0) {
      assert_int_equal(kg_index_remove(idx, pool[i].digest), held[i]);
      nheld -= (size_t)held[i];
      held[i] = 0;
    } else {
      kg_record r = pool[i];
      r.status = (uint32_t)((x >> 30) % 3);
      r.expires_at = (int64_t)(x >> 40);
      const kg_status st = kg_index_put(idx, &r);
      if (st == KG_OK) {
        nheld += (size_t)!held[i];
        held[i] = 1;
        model[i] = r;
      } else {
        assert_int_equal(st, KG_E_TOO_MANY_KEYS);
        assert_false(held[i]); /* an update always has room */
        full++;
      }
    }
    assert_int_equal(kg_index_count(idx), nheld);
    if (step % 50 == 0 || step == STEPS - 1) {
      for (size_t k = 0; k < POOL; k++) {
        kg_record got;
        assert_int_equal(lookup(idx, pool[k].digest, &got), held[k]);
        assert_int_equal(kg_index_contains(idx, pool[k].digest), held[k]);
        if (held[k]) {
          kg_record want = model[k];
          want.reserved = 0;
          assert_memory_equal(&got, &want, sizeof got);
        }
      }
    }
  }
  assert_true(full > 0); /* the stream did fill the table */
  kg_index_free(idx);
  free(pool);
}

static void an_index_built_empty_takes_puts_up_to_its_spare(void **state) {
  (void)state;
  new_slot();
  kg_record *pool = make_records(20);
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build_spare(NULL, 0, 10, &idx), KG_OK);
  size_t placed = 0;
  for (size_t i = 0; i < 20; i++) {
    if (kg_index_put(idx, &pool[i]) == KG_OK) {
      placed++;
    }
  }
  assert_true(placed >= 10);
  assert_int_equal(kg_index_count(idx), placed);
  assert_int_equal(kg_index_remove(NULL, pool[0].digest), 0);
  kg_index_free(idx);
  free(pool);
}

/* ---- regions: the index in the caller's memory -------------------------- */

/* 64-byte aligned, zero-filled memory for a region of `keys` records. */
static void *region_mem(size_t keys, size_t *cap) {
  *cap = kg_index_region_size(keys);
  assert_true(*cap > 0 && *cap % 64 == 0);
  void *mem = aligned_alloc(64, *cap);
  assert_non_null(mem);
  memset(mem, 0xA5, *cap); /* build_into writes every byte it uses */
  return mem;
}

/* Build recs[0..n) into a region, growing it until the records fit
 * (a cuckoo walk may give up where the heap build grows its table). */
static void *build_region(const kg_record *recs, size_t n, size_t spare,
                          size_t *cap) {
  size_t keys = n + spare;
  for (int attempt = 0; attempt < 8; attempt++) {
    void *mem = region_mem(keys, cap);
    kg_status st = kg_index_build_into(recs, n, mem, *cap);
    if (st == KG_OK) {
      return mem;
    }
    assert_int_equal(st, KG_E_TOO_MANY_KEYS);
    free(mem);
    keys = keys + keys / 4 + 1;
  }
  fail_msg("no region held %zu records", n);
  return NULL;
}

/* xorshift64 */
static uint64_t next64(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

/* The same answers, byte for byte, from a heap index and a region view of
 * the same random records: every stored digest, and as many random ones
 * (and each stored digest with one bit flipped). */
static void a_region_answers_as_the_heap_index_on_random_sets(void **state) {
  (void)state;
  new_slot();
  static const size_t sizes[] = {0, 1, 2, 37, 1000, 50000};
  uint64_t x = 0x2545F4914F6CDD1Du;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    const size_t n = sizes[si];
    kg_record *recs = calloc(n ? n : 1, sizeof *recs);
    assert_non_null(recs);
    for (size_t i = 0; i < n; i++) {
      for (size_t b = 0; b < KG_DIGEST_LEN; b += 8) {
        uint64_t v = next64(&x);
        memcpy(recs[i].digest + b, &v, 8);
      }
      recs[i].key_id = next64(&x);
      recs[i].account_id = next64(&x) % 1000;
      recs[i].expires_at = (int64_t)(next64(&x) % 4000000000u);
      recs[i].status = (uint32_t)(next64(&x) % 4);
    }
    kg_index *heap = NULL;
    assert_int_equal(kg_index_build(recs, n, &heap), KG_OK);
    size_t cap = 0;
    void *mem = build_region(recs, n, 0, &cap);
    kg_index *view = NULL;
    assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
    assert_int_equal(kg_index_count(view), n);
    assert_int_equal(kg_index_generation(view), 0);
    for (size_t i = 0; i < 3 * (n + 10); i++) {
      uint8_t d[KG_DIGEST_LEN];
      if (i < n) {
        memcpy(d, recs[i].digest, KG_DIGEST_LEN);
      } else if (i < 2 * n) {
        memcpy(d, recs[i - n].digest, KG_DIGEST_LEN);
        /* in the 14 bytes the index keeps: a miss */
        d[next64(&x) % KG_INDEX_DIGEST_KEPT] ^=
            (uint8_t)(1u << (next64(&x) % 8));
      } else {
        for (size_t b = 0; b < KG_DIGEST_LEN; b += 8) {
          uint64_t v = next64(&x);
          memcpy(d + b, &v, 8);
        }
      }
      kg_record a;
      kg_record b;
      kg_record c;
      const int ha = lookup(heap, d, &a);
      const int hb = lookup(view, d, &b);
      memcpy(slot, d, KG_DIGEST_LEN);
      const int hc = kg_index_lookup_stable(view, (const uint8_t *)slot, &c, 4);
      assert_int_equal(ha, i < n);
      assert_int_equal(hb, ha);
      assert_int_equal(hc, ha);
      assert_memory_equal(&a, &b, sizeof a);
      assert_memory_equal(&a, &c, sizeof a);
    }
    kg_index_free(view);
    free(mem); /* the view never owned it */
    kg_index_free(heap);
    free(recs);
  }
}

/* A random stream of puts and removes through a region view (the writer)
 * and on a heap index: after every step a second view of the same memory
 * (a reader) answers as the heap index for every digest of the pool, and
 * the generation went up by 2 per change and is even. */
static void changes_through_a_region_match_the_heap_index(void **state) {
  (void)state;
  new_slot();
  enum { POOL = 500, STEPS = 3000 };
  kg_record *pool = make_records(POOL);
  kg_index *heap = NULL;
  assert_int_equal(kg_index_build_spare(pool, 100, 250, &heap), KG_OK);
  size_t cap = 0;
  void *mem = build_region(pool, 100, 250, &cap);
  kg_index *writer = NULL;
  kg_index *reader = NULL;
  assert_int_equal(kg_index_attach(mem, cap, &writer), KG_OK);
  assert_int_equal(kg_index_attach(mem, cap, &reader), KG_OK);
  uint64_t x = 88172645463325252u;
  uint64_t gen = 0;
  for (int step = 0; step < STEPS; step++) {
    const size_t i = (size_t)(next64(&x) % POOL);
    if ((x >> 20) % 3 == 0) {
      const int removed = kg_index_remove(heap, pool[i].digest);
      assert_int_equal(kg_index_remove(writer, pool[i].digest), removed);
      gen += removed ? 2 : 0;
    } else {
      kg_record r = pool[i];
      r.status = (uint32_t)((x >> 30) % 3);
      r.expires_at = (int64_t)(x >> 40);
      const kg_status sh = kg_index_put(heap, &r);
      const kg_status sw = kg_index_put(writer, &r);
      /* tables of other sizes could fill at other times: make both
       * hold the same records again */
      if (sh != sw) {
        if (sh == KG_OK) {
          (void)kg_index_remove(heap, r.digest);
        } else {
          assert_int_equal(sw, KG_OK);
          assert_int_equal(kg_index_remove(writer, r.digest), 1);
          gen += 2;
        }
      }
      gen += 2;
    }
    assert_int_equal(kg_index_generation(reader), gen);
    assert_int_equal(kg_index_count(reader), kg_index_count(heap));
    if (step % 100 == 0 || step == STEPS - 1) {
      for (size_t k = 0; k < POOL; k++) {
        kg_record a;
        kg_record b;
        const int ha = lookup(heap, pool[k].digest, &a);
        memcpy(slot, pool[k].digest, KG_DIGEST_LEN);
        assert_int_equal(
            kg_index_lookup_stable(reader, (const uint8_t *)slot, &b, 1), ha);
        assert_memory_equal(&a, &b, sizeof a);
      }
    }
  }
  kg_index_free(reader);
  kg_index_free(writer);
  free(mem);
  kg_index_free(heap);
  free(pool);
}

/* One writer and one reader at once, each through its own MAP_SHARED
 * mapping of one file (as two nginx workers would map it). The writer
 * updates the STABLE records again and again (each version writes the
 * same number into account_id and expires_at) and inserts and removes
 * CHURN others, whose cuckoo walks move stable records between buckets.
 * The reader looks the stable records up the whole time: every answer it
 * gets is a hit with the two fields equal — never a miss of a record that
 * is always there, never half of an update; -1 (no quiet moment in its
 * tries) is allowed and counted, it fails closed. */
enum { STABLE = 200, CHURN = 1800, ROUNDS = 100 };

typedef struct {
  kg_index *view;
  const kg_record *pool;
  int done;     /* __atomic */
  size_t tried; /* __atomic: lookups begun, so the writer can wait */
  size_t answers, misses, torn, busy;
} race_t;

static void *race_reader(void *arg) {
  race_t *r = arg;
  uint64_t x = 0x9E3779B97F4A7C15u;
  while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
    const size_t i = (size_t)(next64(&x) % STABLE);
    __atomic_add_fetch(&r->tried, 1, __ATOMIC_RELEASE);
    kg_record out;
    const int got =
        kg_index_lookup_stable(r->view, r->pool[i].digest, &out, 1000);
    if (got < 0) {
      r->busy++;
      continue;
    }
    r->answers++;
    if (got != 1) {
      r->misses++;
    } else if ((int64_t)out.account_id != out.expires_at ||
               out.key_id != r->pool[i].key_id) {
      r->torn++;
    }
  }
  return NULL;
}

static void a_reader_never_sees_half_a_change(void **state) {
  (void)state;
  kg_record *pool = make_records(STABLE + CHURN);
  for (size_t i = 0; i < STABLE; i++) {
    pool[i].account_id = 0;
    pool[i].expires_at = 0;
  }
  char path[] = "/tmp/keygate-region-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  /* room for half the churn: the table runs full, inserts walk (and move
   * stable records) and some find no room */
  size_t cap = kg_index_region_size(STABLE + CHURN / 2);
  assert_int_equal(ftruncate(fd, (off_t)cap), 0);
  void *wmem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void *rmem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  assert_true(wmem != MAP_FAILED && rmem != MAP_FAILED && wmem != rmem);
  close(fd);
  assert_int_equal(kg_index_build_into(pool, STABLE, wmem, cap), KG_OK);
  race_t race = {0};
  kg_index *writer = NULL;
  assert_int_equal(kg_index_attach(wmem, cap, &writer), KG_OK);
  assert_int_equal(kg_index_attach(rmem, cap, &race.view), KG_OK);
  race.pool = pool;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, race_reader, &race), 0);
  uint64_t x = 0xD1B54A32D192ED03u;
  size_t changes = 0;
  for (int round = 1; round <= ROUNDS; round++) {
    for (size_t i = 0; i < STABLE; i++) {
      kg_record rec = pool[i];
      rec.account_id = (uint64_t)round;
      rec.expires_at = round;
      assert_int_equal(kg_index_put(writer, &rec), KG_OK);
      const size_t c = STABLE + (size_t)(next64(&x) % CHURN);
      if (kg_index_contains(writer, pool[c].digest)) {
        assert_int_equal(kg_index_remove(writer, pool[c].digest), 1);
      } else {
        (void)kg_index_put(writer, &pool[c]);
      }
      changes += 2;
      /* let the reader begin a lookup between these changes and the next
       * ones (bounded: it may be descheduled) */
      const size_t seen = __atomic_load_n(&race.tried, __ATOMIC_ACQUIRE);
      for (int spin = 0; spin < 100000 &&
                         __atomic_load_n(&race.tried, __ATOMIC_ACQUIRE) == seen;
           spin++) {
      }
    }
  }
  __atomic_store_n(&race.done, 1, __ATOMIC_RELEASE);
  assert_int_equal(pthread_join(th, NULL), 0);
  print_message("%zu changes; the reader: %zu answers, %zu misses, %zu torn, "
                "%zu without a quiet moment\n",
                changes, race.answers, race.misses, race.torn, race.busy);
  assert_true(race.answers > 0);
  assert_int_equal(race.misses, 0);
  assert_int_equal(race.torn, 0);
  assert_true(kg_index_generation(race.view) >= 2 * (uint64_t)ROUNDS * STABLE);
  kg_index_free(race.view);
  kg_index_free(writer);
  munmap(wmem, cap);
  munmap(rmem, cap);
  free(pool);
}

/* A copy of a heap index's table into a region answers as the heap index
 * for every digest, and goes on doing so through the same changes (the
 * same table: the same room, the same cuckoo walks). */
static void a_copied_region_answers_as_its_source(void **state) {
  (void)state;
  new_slot();
  enum { POOL = 3000 };
  kg_record *pool = make_records(POOL);
  kg_index *heap = NULL;
  assert_int_equal(kg_index_build_spare(pool, 1000, 500, &heap), KG_OK);
  const size_t cap = kg_index_region_bytes(heap);
  assert_true(cap > 64 && cap % 64 == 0);
  void *mem = aligned_alloc(64, cap);
  assert_non_null(mem);
  memset(mem, 0x5A, cap);
  assert_int_equal(kg_index_copy_into(heap, mem, cap - 64), KG_E_ARGUMENT);
  assert_int_equal(kg_index_copy_into(heap, mem, cap), KG_OK);
  kg_index *view = NULL;
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
  assert_int_equal(kg_index_count(view), 1000);
  assert_int_equal(kg_index_region_bytes(view), cap);
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (int round = 0; round < 4; round++) {
    for (size_t k = 0; k < POOL; k++) {
      kg_record a;
      kg_record b;
      const int ha = lookup(heap, pool[k].digest, &a);
      assert_int_equal(lookup(view, pool[k].digest, &b), ha);
      assert_memory_equal(&a, &b, sizeof a);
    }
    for (int step = 0; step < 400; step++) {
      const size_t i = (size_t)(next64(&x) % POOL);
      if (x % 3 == 0) {
        assert_int_equal(kg_index_remove(view, pool[i].digest),
                         kg_index_remove(heap, pool[i].digest));
      } else {
        kg_record r = pool[i];
        r.status = (uint32_t)(x >> 40) % 3;
        assert_int_equal(kg_index_put(view, &r), kg_index_put(heap, &r));
      }
    }
    assert_int_equal(kg_index_count(view), kg_index_count(heap));
  }
  kg_index_free(view);
  free(mem);
  kg_index_free(heap);
  free(pool);
}

/* The lookup's paths: AVX2 where the CPU has it (cpu.h), SSE2, the scalar
 * twin in unit.scalar.index. kg_cpu_word is the constructor's; the test
 * takes AVX2 away and puts it back itself (one thread). */
static const unsigned LOOKUP_PATHS = 2;

static unsigned lookup_path(unsigned k, unsigned all) {
  return k == 0 ? all : (all & ~KG_CPU_AVX2);
}

/* The 32-byte slot holding digest d in a region (header, then the
 * buckets): its first 14 bytes are the digest's (index.c). */
static uint8_t *region_slot(void *mem, size_t cap, const uint8_t *d) {
  uint8_t *m = mem;
  for (size_t off = 64; off + 32 <= cap; off += 32) {
    if (memcmp(m + off, d, KG_INDEX_DIGEST_KEPT) == 0) {
      return m + off;
    }
  }
  fail_msg("digest not in the region");
  return NULL;
}

/* A slot is matched by its tag only when its occupied bit (the top bit of
 * its last word, byte 31) is set, whatever else its words hold: an
 * unoccupied slot whose tag equals the presented digest's misses, and
 * leaves nothing of its bytes in the answer. The same answers on every
 * path of the lookup, and on each path the same as the records' model. */
static void a_slot_matches_by_its_occupied_bit_on_every_path(void **state) {
  (void)state;
  new_slot();
  const unsigned all = kg_cpu_word;
  if ((all & KG_CPU_AVX2) == 0) {
    print_message("no AVX2 in this process (CPU or KEYGATE_CPU): both "
                  "passes below take the SSE2 lookup\n");
  }
  const size_t n = 50;
  kg_record *recs = make_records(n);
  size_t cap = 0;
  void *mem = build_region(recs, n, 0, &cap);
  kg_index *view = NULL;
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
  /* v = 0: as built; 1: occupied bit cleared; 2: cleared, words garbage;
   * 3: words garbage, occupied bit set (a hit, whose words are those) */
  for (size_t i = 0; i < n; i += 7) {
    uint8_t *sl = region_slot(mem, cap, recs[i].digest);
    uint8_t saved[32];
    memcpy(saved, sl, sizeof saved);
    for (int v = 0; v < 4; v++) {
      memcpy(sl, saved, sizeof saved);
      if (v >= 2) {
        memset(sl + 14, 0x5A, 18);
      }
      if (v == 3) {
        sl[31] |= 0x80u;
      } else if (v != 0) {
        sl[31] &= 0x7Fu;
      }
      kg_record first;
      for (unsigned k = 0; k < LOOKUP_PATHS; k++) {
        kg_cpu_word = lookup_path(k, all);
        kg_record out;
        memset(&out, 0xC3, sizeof out);
        const int found = lookup(view, recs[i].digest, &out);
        kg_cpu_word = all;
        if (v == 0) {
          kg_record want = recs[i];
          want.reserved = 0;
          assert_int_equal(found, 1);
          assert_memory_equal(&out, &want, sizeof out);
        } else if (v == 3) {
          /* bytes 14-31 0x5A, the last 0xDA: the words' fields */
          assert_int_equal(found, 1);
          assert_true(out.key_id == 0x5A5A5A5A5A5A5A5Au);
          assert_true(out.account_id == 0xA5A5A5A5Au);
          assert_true(out.expires_at == (int64_t)((0xDA5A5A5A5A5A5A5Au >> 20) &
                                                  KG_RECORD_EXPIRES_MAX));
          assert_int_equal(out.status, 2);
          assert_memory_equal(out.digest, recs[i].digest, KG_DIGEST_LEN);
          assert_int_equal(out.reserved, 0);
        } else {
          assert_int_equal(found, 0);
          assert_true(is_zero(&out, sizeof out));
        }
        if (k == 0) {
          first = out;
        } else {
          assert_memory_equal(&out, &first, sizeof out);
        }
      }
    }
    memcpy(sl, saved, sizeof saved);
  }
  /* Every record, and every digest one bit away from each, alike on
   * every path: the same bit and the same 64 bytes. A bit of bytes 0-13
   * is a miss (those bytes choose the buckets and are the tag); one of
   * bytes 14-31 is not kept, so finds the record. */
  for (size_t i = 0; i < n; i++) {
    for (size_t bit = 0; bit <= 8 * KG_DIGEST_LEN; bit++) {
      uint8_t d[KG_DIGEST_LEN];
      memcpy(d, recs[i].digest, KG_DIGEST_LEN);
      if (bit < 8 * KG_DIGEST_LEN) {
        d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      }
      kg_record first;
      int first_found = -1;
      for (unsigned k = 0; k < LOOKUP_PATHS; k++) {
        kg_cpu_word = lookup_path(k, all);
        kg_record out;
        memset(&out, 0xC3, sizeof out);
        const int found = lookup(view, d, &out);
        kg_cpu_word = all;
        assert_int_equal(found, bit >= 8 * KG_INDEX_DIGEST_KEPT);
        if (k == 0) {
          first = out;
          first_found = found;
        } else {
          assert_int_equal(found, first_found);
          assert_memory_equal(&out, &first, sizeof out);
        }
      }
    }
  }
  kg_index_free(view);
  free(mem);
  free(recs);
}
/* A region the writer left mid-change (it died: the generation stays odd)
 * gives no answer at all, never a guess. */
static void a_region_left_mid_change_answers_nothing(void **state) {
  (void)state;
  new_slot();
  kg_record *recs = make_records(10);
  size_t cap = 0;
  void *mem = build_region(recs, 10, 0, &cap);
  kg_index *view = NULL;
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
  uint64_t *gen = (uint64_t *)mem + 4; /* the header's gen */
  assert_int_equal(kg_index_generation(view), *gen);
  *gen = 7;
  kg_record out;
  memset(&out, 0xFF, sizeof out);
  memcpy(slot, recs[3].digest, KG_DIGEST_LEN);
  assert_int_equal(
      kg_index_lookup_stable(view, (const uint8_t *)slot, &out, 50), -1);
  assert_true(is_zero(&out, sizeof out));
  *gen = 8;
  assert_int_equal(kg_index_lookup_stable(view, (const uint8_t *)slot, &out, 1),
                   1);
  assert_true(out.key_id == recs[3].key_id);
  kg_index_free(view);
  free(mem);
  free(recs);
}

/* What is not a whole region of this layout does not attach; a build that
 * does not fit says so and leaves nothing attachable. */
static void only_whole_regions_attach(void **state) {
  (void)state;
  kg_record *recs = make_records(100);
  size_t cap = 0;
  void *mem = build_region(recs, 100, 0, &cap);
  kg_index *view = NULL;
  assert_int_equal(kg_index_attach((char *)mem + 8, cap - 64, &view),
                   KG_E_ARGUMENT); /* misaligned */
  assert_int_equal(kg_index_attach(mem, cap - 128, &view),
                   KG_E_ARGUMENT); /* the table runs past cap */
  assert_int_equal(kg_index_attach(mem, 32, &view), KG_E_ARGUMENT);
  uint64_t *h = mem;
  h[3] = h[2] * KG_INDEX_BUCKET_SLOTS + 1; /* count over the table */
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_E_ARGUMENT);
  h[3] = 100;
  h[0] ^= 1; /* not the magic */
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_E_ARGUMENT);
  h[0] ^= 1;
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
  assert_null(NULL);
  kg_index_free(view);
  /* too small for 100 records: refused, and the memory is no region */
  size_t small = kg_index_region_size(50);
  assert_int_equal(kg_index_build_into(recs, 100, mem, small),
                   KG_E_TOO_MANY_KEYS);
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_E_ARGUMENT);
  assert_int_equal(kg_index_build_into(recs, 1, (char *)mem + 8, cap - 64),
                   KG_E_ARGUMENT);
  assert_int_equal(kg_index_build_into(recs, 1, mem, 64), KG_E_ARGUMENT);
  recs[7] = recs[3];
  assert_int_equal(kg_index_build_into(recs, 100, mem, cap),
                   KG_E_DUPLICATE_DIGEST);
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_E_ARGUMENT);
  assert_int_equal(kg_index_region_size((size_t)KG_INDEX_MAX_KEYS + 1), 0);
  free(mem);
  free(recs);
}

/* ---- the NULL policy (keygate/api.h) ---------------------------------- */

/* The calls below run in a child, each with its own records (spread
 * digests, from splitmix64 of i), index and region; a setup that fails
 * exits 3, which is neither an assert nor a documented failure. */
static kg_record child_rec(size_t i) {
  kg_record r;
  memset(&r, 0, sizeof r);
  uint64_t x = 0x9E3779B97F4A7C15u * (i + 1);
  for (size_t w = 0; w < KG_DIGEST_LEN / 8; w++) {
    uint64_t z = (x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    memcpy(r.digest + 8 * w, &z, 8);
  }
  r.key_id = i + 1;
  return r;
}

static kg_index *child_index(void) {
  kg_record recs[3] = {child_rec(0), child_rec(1), child_rec(2)};
  kg_index *idx = NULL;
  if (kg_index_build_spare(recs, 3, 4, &idx) != KG_OK) {
    _exit(3);
  }
  return idx;
}

static void *child_region(size_t *cap) {
  *cap = kg_index_region_size(8);
  void *mem = aligned_alloc(64, *cap);
  if (mem == NULL) {
    _exit(3);
  }
  return mem;
}

static int build_null_records_of_count_3(void) {
  kg_index *idx = NULL;
  return (int)kg_index_build(NULL, 3, &idx);
}

static int build_into_null(void) {
  kg_record r = child_rec(0);
  return (int)kg_index_build(&r, 1, NULL);
}

static int build_spare_null_records_of_count_2(void) {
  kg_index *idx = NULL;
  return (int)kg_index_build_spare(NULL, 2, 5, &idx);
}

static int build_region_into_null(void) {
  kg_record r = child_rec(0);
  return (int)kg_index_build_into(&r, 1, NULL, kg_index_region_size(8));
}

static int build_region_null_records_of_count_1(void) {
  size_t cap = 0;
  void *mem = child_region(&cap);
  return (int)kg_index_build_into(NULL, 1, mem, cap);
}

static int region_bytes_of_no_index(void) {
  return (int)kg_index_region_bytes(NULL);
}

static int copy_no_index(void) {
  size_t cap = 0;
  void *mem = child_region(&cap);
  return (int)kg_index_copy_into(NULL, mem, cap);
}

static int copy_into_null(void) {
  kg_index *idx = child_index();
  return (int)kg_index_copy_into(idx, NULL, kg_index_region_bytes(idx));
}

static int attach_null_memory(void) {
  kg_index *view = NULL;
  return (int)kg_index_attach(NULL, kg_index_region_size(8), &view);
}

static int attach_into_null(void) {
  size_t cap = 0;
  void *mem = child_region(&cap);
  kg_record r = child_rec(0);
  if (kg_index_build_into(&r, 1, mem, cap) != KG_OK) {
    _exit(3);
  }
  return (int)kg_index_attach(mem, cap, NULL);
}

static int lookup_null_digest(void) {
  kg_record out;
  return kg_index_lookup(child_index(), NULL, &out);
}

static int lookup_into_null(void) {
  kg_record r = child_rec(1);
  return kg_index_lookup(child_index(), r.digest, NULL);
}

/* The empty index is allowed, a NULL digest with it is not. */
static int lookup_in_no_index_null_digest(void) {
  kg_record out;
  return kg_index_lookup(NULL, NULL, &out);
}

static int lookup_stable_null_digest(void) {
  kg_record out;
  return kg_index_lookup_stable(child_index(), NULL, &out, 4);
}

static int lookup_stable_into_null(void) {
  kg_record r = child_rec(1);
  return kg_index_lookup_stable(child_index(), r.digest, NULL, 4);
}

static int put_into_no_index(void) {
  kg_record r = child_rec(0);
  return (int)kg_index_put(NULL, &r);
}

static int put_null_record(void) {
  return (int)kg_index_put(child_index(), NULL);
}

static int remove_null_digest(void) {
  return kg_index_remove(child_index(), NULL);
}

static int contains_null_digest(void) {
  return kg_index_contains(child_index(), NULL);
}

static int key_id_format_into_null(void) {
  return (int)kg_key_id_format(42, NULL);
}

static int key_id_parse_into_null(void) {
  char s[KG_KEY_ID_STR_LEN];
  size_t n = kg_key_id_format(42, s);
  return (int)kg_key_id_parse(s, n, NULL);
}

static int key_id_parse_null_of_length_15(void) {
  uint64_t id = 0;
  return (int)kg_key_id_parse(NULL, 15, &id);
}

static void a_null_where_none_is_allowed_is_a_caller_bug(void **state) {
  (void)state;
  expect_caller_bug(build_null_records_of_count_3, KG_E_ARGUMENT,
                    "kg_index_build(recs NULL, 3)");
  expect_caller_bug(build_into_null, KG_E_ARGUMENT, "kg_index_build(out NULL)");
  expect_caller_bug(build_spare_null_records_of_count_2, KG_E_ARGUMENT,
                    "kg_index_build_spare(recs NULL, 2)");
  expect_caller_bug(build_region_into_null, KG_E_ARGUMENT,
                    "kg_index_build_into(mem NULL)");
  expect_caller_bug(build_region_null_records_of_count_1, KG_E_ARGUMENT,
                    "kg_index_build_into(recs NULL, 1)");
  expect_caller_bug(region_bytes_of_no_index, 0, "kg_index_region_bytes(NULL)");
  expect_caller_bug(copy_no_index, KG_E_ARGUMENT,
                    "kg_index_copy_into(src NULL)");
  expect_caller_bug(copy_into_null, KG_E_ARGUMENT,
                    "kg_index_copy_into(mem NULL)");
  expect_caller_bug(attach_null_memory, KG_E_ARGUMENT,
                    "kg_index_attach(mem NULL)");
  expect_caller_bug(attach_into_null, KG_E_ARGUMENT,
                    "kg_index_attach(out NULL)");
  expect_caller_bug(lookup_null_digest, 0, "kg_index_lookup(digest NULL)");
  expect_caller_bug(lookup_into_null, 0, "kg_index_lookup(out NULL)");
  expect_caller_bug(lookup_in_no_index_null_digest, 0,
                    "kg_index_lookup(NULL, digest NULL)");
  expect_caller_bug(lookup_stable_null_digest, -1,
                    "kg_index_lookup_stable(digest NULL)");
  expect_caller_bug(lookup_stable_into_null, -1,
                    "kg_index_lookup_stable(out NULL)");
  expect_caller_bug(put_into_no_index, KG_E_ARGUMENT, "kg_index_put(NULL)");
  expect_caller_bug(put_null_record, KG_E_ARGUMENT, "kg_index_put(rec NULL)");
  expect_caller_bug(remove_null_digest, 0, "kg_index_remove(digest NULL)");
  expect_caller_bug(contains_null_digest, 0, "kg_index_contains(digest NULL)");
  expect_caller_bug(key_id_format_into_null, 0, "kg_key_id_format(NULL)");
  expect_caller_bug(key_id_parse_into_null, KG_E_ARGUMENT,
                    "kg_key_id_parse(key_id NULL)");
  expect_caller_bug(key_id_parse_null_of_length_15, KG_E_ARGUMENT,
                    "kg_key_id_parse(NULL, 15)");
}

/* Where the header allows NULL, it is no bug: NULL is the empty index for
 * every question an empty index answers (docs/security.md §4), records
 * may be NULL when there are none, and (NULL, 0) is no key id. */
static void the_empty_index_may_be_null(void **state) {
  (void)state;
  new_slot();
  uint8_t d[KG_DIGEST_LEN];
  fake_digest("rec", 0, d);
  kg_record out;
  memset(&out, 0xa5, sizeof out);
  assert_int_equal(lookup(NULL, d, &out), 0);
  assert_true(is_zero(&out, sizeof out));
  memset(&out, 0xa5, sizeof out);
  memcpy(slot, d, KG_DIGEST_LEN);
  assert_int_equal(kg_index_lookup_stable(NULL, (const uint8_t *)slot, &out, 1),
                   0);
  assert_true(is_zero(&out, sizeof out));
  assert_int_equal(kg_index_contains(NULL, (const uint8_t *)slot), 0);
  assert_int_equal(kg_index_remove(NULL, (const uint8_t *)slot), 0);
  assert_int_equal(kg_index_count(NULL), 0);
  assert_int_equal(kg_index_memory(NULL), 0);
  assert_int_equal(kg_index_generation(NULL), 0);
  kg_index_free(NULL);

  /* No records: NULL with a count of 0, on the heap and in a region. */
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build_spare(NULL, 0, 2, &idx), KG_OK);
  assert_int_equal(kg_index_count(idx), 0);
  kg_index_free(idx);
  size_t cap = 0;
  void *mem = region_mem(4, &cap);
  assert_int_equal(kg_index_build_into(NULL, 0, mem, cap), KG_OK);
  kg_index *view = NULL;
  assert_int_equal(kg_index_attach(mem, cap, &view), KG_OK);
  assert_int_equal(kg_index_count(view), 0);
  assert_int_equal(lookup(view, d, &out), 0);
  kg_index_free(view);
  free(mem);

  uint64_t id = 7;
  assert_int_equal(kg_key_id_parse(NULL, 0, &id), KG_E_ARGUMENT);
  assert_int_equal(id, 7);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(an_empty_index_misses_everything),
      T(every_record_is_found_whole_at_every_size),
      T(digests_not_stored_miss_at_every_size),
      T(a_digest_one_bit_away_in_its_first_14_bytes_misses),
      T(a_field_out_of_its_range_is_refused_whole),
      T(the_index_keeps_its_own_copy_of_the_records),
      T(records_are_read_only_within_the_given_array),
      T(a_duplicate_digest_is_refused),
      T(more_keys_than_the_maximum_are_refused),
      T(decisions_follow_record_state_at_every_size),
      T(expiry_is_exactly_at_now),
      T(a_record_status_unknown_to_this_build_is_refused),
      T(key_ids_format_as_key_and_11_base62_digits),
      T(key_ids_round_trip),
      T(malformed_key_ids_are_refused),
      T(puts_and_removes_match_a_model_on_random_streams),
      T(an_index_built_empty_takes_puts_up_to_its_spare),
      T(a_region_answers_as_the_heap_index_on_random_sets),
      T(changes_through_a_region_match_the_heap_index),
      T(a_reader_never_sees_half_a_change),
      T(a_copied_region_answers_as_its_source),
      T(a_slot_matches_by_its_occupied_bit_on_every_path),
      T(a_region_left_mid_change_answers_nothing),
      T(only_whole_regions_attach),
      T(a_null_where_none_is_allowed_is_a_caller_bug),
      T(the_empty_index_may_be_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
