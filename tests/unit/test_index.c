/*
 * tests/unit/test_index.c — the key index (keygate/index.h) at 0, 1, 3, 50
 * and 100,000 keys: hits return the whole record, misses (including digests
 * one bit away) return nothing, duplicates are refused; and the decision on
 * top of it (kg_decide_key) for active, deactivated, expired, deleted and
 * time-expired records, expiry exactly at `now` included. Presented digests
 * sit against a PROT_NONE page.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "guard.h"
#include "keygate/decision.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/key.h"

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

static void a_digest_one_bit_away_misses(void **state) {
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
        if (lookup(idx, d, &out) != 0) {
          fail_msg("%zu keys: record %zu with bit %zu flipped was found", n, r,
                   bit);
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

static void missing_arguments_are_refused(void **state) {
  (void)state;
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(NULL, 3, &idx), KG_E_ARGUMENT);
  assert_null(idx);
  kg_record *recs = make_records(1);
  assert_int_equal(kg_index_build(recs, 1, NULL), KG_E_ARGUMENT);
  free(recs);
  kg_index_free(NULL);
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
    {KG_REC_ACTIVE, INT64_MAX, KG_VALID, KG_OK},
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

static void a_record_status_unknown_to_this_build_is_invalid(void **state) {
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
  rec.status = 9;
  kg_index *idx = NULL;
  assert_int_equal(kg_index_build(guarded(&rec, 1), 1, &idx), KG_OK);
  kg_checker c = {pol, dg, idx};
  kg_decision d;
  assert_int_equal(kg_decide_key(&c, k, len, NOW, &d), KG_INVALID_API_KEY);
  kg_index_free(idx);
  kg_digester_free(dg);
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
  assert_int_equal(kg_index_put(NULL, &pool[0]), KG_E_ARGUMENT);
  assert_int_equal(kg_index_remove(NULL, pool[0].digest), 0);
  kg_index_free(idx);
  free(pool);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(an_empty_index_misses_everything),
      T(every_record_is_found_whole_at_every_size),
      T(digests_not_stored_miss_at_every_size),
      T(a_digest_one_bit_away_misses),
      T(the_index_keeps_its_own_copy_of_the_records),
      T(records_are_read_only_within_the_given_array),
      T(a_duplicate_digest_is_refused),
      T(more_keys_than_the_maximum_are_refused),
      T(missing_arguments_are_refused),
      T(decisions_follow_record_state_at_every_size),
      T(expiry_is_exactly_at_now),
      T(a_record_status_unknown_to_this_build_is_invalid),
      T(key_ids_format_as_key_and_11_base62_digits),
      T(key_ids_round_trip),
      T(malformed_key_ids_are_refused),
      T(puts_and_removes_match_a_model_on_random_streams),
      T(an_index_built_empty_takes_puts_up_to_its_spare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
