/*
 * taint.c — the valgrind taint check of keygate's constant-time lookup (the
 * "ctgrind" method of Adam Langley, 2010, as BearSSL and libsodium reviews
 * use it).
 *
 * The secrets are marked undefined with VALGRIND_MAKE_MEM_UNDEFINED. Memcheck
 * then treats every value computed from them as uninitialised and reports
 * each conditional jump, memory address or system-call argument that depends
 * on one. A lookup that is constant-time with respect to stored data runs
 * without a report. Its result is declassified (VALGRIND_MAKE_MEM_DEFINED)
 * where kg_index_lookup returns: from there the match bit is final and may
 * steer what follows (SPEC §1.3).
 *
 * Every call of kg_index_lookup, the test's own and kg_decide_key's, goes
 * through __wrap_kg_index_lookup (linked with -Wl,--wrap=kg_index_lookup):
 * it counts the errors valgrind reports inside the real lookup, checks that
 * the taint really reached the result (so the check is not vacuous), and
 * declassifies the result.
 *
 * Modes (argv[1]):
 *   index         the index is built from tainted records with reporting
 *                 off (building may branch on digests), then hits, misses
 *                 and near misses are looked up with reporting on.
 *   decide        kg_decide_key on valid, unknown, deactivated, expired,
 *                 deleted and malformed keys, with the stored records
 *                 tainted: strict keys (one-block digest path) and 100-byte
 *                 prefix-policy keys (general path), each with plain SHA-256
 *                 and with HMAC under a tainted pepper. Making the digester
 *                 (load time, self-test) runs with reporting off. Then the
 *                 same keys through kg_decide in three requests (an SDK's
 *                 short target, scanned while the digest runs; a browser's
 *                 long one, scanned first; a key in the query beside the
 *                 header's key), so the request path's own order is checked
 *                 too.
 *   leak-branch   a deliberately leaky lookup (early-exit comparison over
 *                 the tainted digests): valgrind must report a conditional
 *                 jump.
 *   leak-address  a deliberately leaky lookup that follows a link taken from
 *                 a stored digest: valgrind must report an address.
 * The verdict is valgrind's exit code (see taint.sh). The program exits 1
 * when a lookup or decision is wrong or the taint did not reach what it
 * should, 2 on a usage error, a KG_CT_EXPECT_CPU that names no feature, or
 * when not run under valgrind, and 77 (after a SKIP line) when
 * KG_CT_EXPECT_CPU names a CPU path this process does not take
 * (expect_cpu.h).
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "expect_cpu.h"
#include "keygate/decision.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "keygate/status.h"

#define NRECS 2000          /* records in the index of the index mode */
#define NKEYS 64u           /* keys of the decide mode */
#define PREFIX_KEY_LEN 100u /* prefix-policy keys: more than one block */

/* ---- the wrapped lookup -------------------------------------------------- */

int __real_kg_index_lookup(const kg_index *idx,
                           const uint8_t digest[KG_DIGEST_LEN], kg_record *out);
int __wrap_kg_index_lookup(const kg_index *idx,
                           const uint8_t digest[KG_DIGEST_LEN], kg_record *out);

static struct {
  int declassify_presented; /* the presented digest is HMAC under a pepper */
  unsigned calls;
  unsigned errors_inside; /* valgrind errors reported inside the lookup */
  unsigned tainted_found; /* lookups whose found bit carried taint */
} g_lookup;

/* Mark len bytes at p defined: declassify a value that may now be public. */
static void declassify(const void *p, size_t len) {
  (void)VALGRIND_MAKE_MEM_DEFINED((uintptr_t)p, len);
}

/* 1 when any bit of p[0..len) is undefined (tainted), else 0. Reports no
 * error itself. len is at most 64. */
static int tainted(const void *p, size_t len) {
  unsigned char vbits[64] = {0};
  if (len > sizeof vbits || VALGRIND_GET_VBITS((uintptr_t)p, vbits, len) != 1) {
    return 0;
  }
  unsigned char any = 0;
  for (size_t i = 0; i < len; i++) {
    any |= vbits[i];
  }
  return any != 0;
}

/*
 * __wrap_kg_index_lookup — kg_index_lookup with its result declassified
 * where it returns. With a pepper, the presented digest is secret-derived and
 * chooses the buckets read by design (index.h); it is declassified on the
 * way in.
 */
int __wrap_kg_index_lookup(const kg_index *idx,
                           const uint8_t digest[KG_DIGEST_LEN],
                           kg_record *out) {
  if (g_lookup.declassify_presented) {
    declassify(digest, KG_DIGEST_LEN);
  }
  unsigned before = VALGRIND_COUNT_ERRORS;
  int found = __real_kg_index_lookup(idx, digest, out);
  g_lookup.errors_inside += VALGRIND_COUNT_ERRORS - before;
  g_lookup.calls++;
  g_lookup.tainted_found += (unsigned)tainted(&found, sizeof found);
  declassify(&found, sizeof found);
  declassify(out, sizeof *out);
  return found;
}

/* ---- test data ----------------------------------------------------------- */

/* splitmix64: a deterministic stream for digests and record fields. */
static uint64_t next_u64(uint64_t *st) {
  uint64_t z = (*st += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static void random_bytes(uint64_t *st, uint8_t *out, size_t len) {
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = next_u64(st);
    memcpy(out + i, &v, len - i < 8 ? len - i : 8);
  }
}

/* Fill recs[0..n) with random digests and distinct ids. */
static void make_records(kg_record *recs, size_t n, uint64_t *st) {
  memset(recs, 0, n * sizeof *recs);
  for (size_t i = 0; i < n; i++) {
    random_bytes(st, recs[i].digest, KG_DIGEST_LEN);
    recs[i].key_id = 1000 + i;
    recs[i].account_id = 1 + i % 7;
    recs[i].expires_at = (int64_t)(i % 3) * 1700000000;
    recs[i].status = (uint32_t)(i % 4);
  }
}

static int fail(const char *what) {
  fprintf(stderr, "taint: %s\n", what);
  return 1;
}

/* Build an index from recs[0..n) with the records tainted and error
 * reporting off: building branches on digests, and runs at load time. */
static kg_index *build_tainted(kg_record *recs, size_t n) {
  (void)VALGRIND_MAKE_MEM_UNDEFINED(recs, n * sizeof *recs);
  kg_index *idx = NULL;
  VALGRIND_DISABLE_ERROR_REPORTING;
  kg_status s = kg_index_build(recs, n, &idx);
  VALGRIND_ENABLE_ERROR_REPORTING;
  return s == KG_OK ? idx : NULL;
}

/* ---- mode index ---------------------------------------------------------- */

/* One lookup of `digest`; 0 when the result is what `want` (NULL for a miss)
 * says. */
static int check_lookup(const kg_index *idx, const uint8_t *digest,
                        const kg_record *want) {
  kg_record out;
  int found = kg_index_lookup(idx, digest, &out);
  if (want == NULL) {
    kg_record zero;
    memset(&zero, 0, sizeof zero);
    return found == 0 && memcmp(&out, &zero, sizeof out) == 0 ? 0 : 1;
  }
  return found == 1 && memcmp(out.digest, want->digest, KG_DIGEST_LEN) == 0 &&
                 out.key_id == want->key_id &&
                 out.account_id == want->account_id &&
                 out.expires_at == want->expires_at &&
                 out.status == want->status
             ? 0
             : 1;
}

static int mode_index(void) {
  static kg_record plain[NRECS]; /* defined copies: what clients present */
  static kg_record stored[NRECS];
  uint64_t st = 42;
  make_records(plain, NRECS, &st);
  memcpy(stored, plain, sizeof stored);
  kg_index *idx = build_tainted(stored, NRECS);
  if (idx == NULL) {
    return fail("kg_index_build failed");
  }
  int bad = 0;
  unsigned hits = 0;
  for (size_t i = 0; i < NRECS; i++) {
    bad |= check_lookup(idx, plain[i].digest, &plain[i]);
    hits++;
  }
  unsigned tainted_hits = g_lookup.tainted_found;
  for (size_t i = 0; i < NRECS; i++) {
    uint8_t miss[KG_DIGEST_LEN];
    random_bytes(&st, miss, sizeof miss);
    bad |= check_lookup(idx, miss, NULL);
    /* Near miss: same buckets, byte 13 differs (the last the index keeps;
     * bytes 14-31 are not compared, index.h). */
    memcpy(miss, plain[i].digest, sizeof miss);
    miss[KG_INDEX_DIGEST_KEPT - 1] ^= 0x01;
    bad |= check_lookup(idx, miss, NULL);
  }
  kg_index_free(idx);

  /* An empty index and a one-record index, the smallest tables. */
  kg_index *empty = build_tainted(stored, 0);
  kg_record one = plain[0];
  kg_index *single = build_tainted(&one, 1);
  if (empty == NULL || single == NULL) {
    return fail("kg_index_build of a tiny index failed");
  }
  bad |= check_lookup(empty, plain[0].digest, NULL);
  bad |= check_lookup(single, plain[0].digest, &plain[0]);
  bad |= check_lookup(single, plain[1].digest, NULL);
  kg_index_free(empty);
  kg_index_free(single);

  printf("taint index: %u lookups (%u hits), %u valgrind errors inside "
         "kg_index_lookup, %u/%u hits returned a tainted match bit\n",
         g_lookup.calls, hits, g_lookup.errors_inside, tainted_hits, hits);
  if (bad) {
    return fail("a lookup returned the wrong result");
  }
  if (tainted_hits != hits) {
    return fail("the taint did not reach every hit's match bit: the check "
                "would be vacuous");
  }
  return 0;
}

/* ---- mode decide --------------------------------------------------------- */

typedef struct key_case {
  size_t len;
  kg_status want;
  char key[KG_KEY_MAX_LEN + 1];
} key_case;

/* What kg_decide_key must answer for a key whose record is r, at now. */
static kg_status expected(const kg_record *r, int64_t now) {
  switch (r->status) {
  case KG_REC_ACTIVE:
    return r->expires_at != 0 && now >= r->expires_at ? KG_EXPIRED_API_KEY
                                                      : KG_VALID;
  case KG_REC_DEACTIVATED:
  case KG_REC_EXPIRED:
    return KG_EXPIRED_API_KEY;
  default:
    return KG_INVALID_API_KEY;
  }
}

/* A fresh key under pol: an issued strict key (46 bytes with sk_live_, the
 * one-block digest path), or for the prefix policy PREFIX_KEY_LEN bytes
 * (over one SHA-256 block: the general digest path). */
static kg_status make_key(const kg_key_policy *pol, key_case *c) {
  if (pol->kind == KG_KEY_STRICT) {
    return kg_key_generate(pol, c->key, sizeof c->key, &c->len);
  }
  memcpy(c->key, pol->prefix, pol->prefix_len);
  c->len = PREFIX_KEY_LEN;
  c->key[c->len] = '\0';
  return kg_random_base62(c->key + pol->prefix_len,
                          PREFIX_KEY_LEN - pol->prefix_len);
}

/* A field from two C strings. */
static kg_field field(const char *name, const char *value, size_t value_len) {
  kg_field f = {{name, strlen(name)}, {value, value_len}};
  return f;
}

/*
 * kg_decide of c's key in three requests: got[0] an SDK's (X-API-Key, a
 * 31-byte target), got[1] a browser's (Authorization: Bearer, a target of
 * over 64 bytes), got[2] the SDK's with `api_key=` in its query as well.
 * Returns 1 when a call fails outright.
 */
static int decide_request(const kg_checker *chk, const key_case *c, int64_t now,
                          kg_status got[3]) {
  static const char sdk_target[] = "/api/v1/iocs?type=ipv4&limit=10";
  static const char browser_target[] =
      "/api/v1/iocs?type=domain&limit=100&sort=-first_seen&fields=value%2C"
      "type%2Cfirst_seen&cursor=eyJvZmZzZXQiOjEwMH0%3D&q=example.org";
  static const char query_target[] = "/api/v1/iocs?type=ipv4&api_key=x";
  char bearer[8 + KG_KEY_MAX_LEN];
  memcpy(bearer, "Bearer ", 7);
  memcpy(bearer + 7, c->key, c->len);
  kg_field sdk[5] = {
      field("Host", "api.example.com", 15),
      field("User-Agent", "keygate-sdk/1.0", 15),
      field("Accept", "application/json", 16),
      field("Accept-Encoding", "gzip", 4),
      field("X-API-Key", c->key, c->len),
  };
  kg_field browser[5] = {
      field("Host", "api.example.com", 15),
      field("Origin", "https://app.example.com", 23),
      field("Cookie", "session=0123456789abcdef; theme=dark", 36),
      field("Authorization", bearer, 7 + c->len),
      field("Accept", "*/*", 3),
  };
  const struct {
    const kg_field *fields;
    const char *target;
    size_t target_len;
  } req[3] = {
      {sdk, sdk_target, sizeof sdk_target - 1},
      {browser, browser_target, sizeof browser_target - 1},
      {sdk, query_target, sizeof query_target - 1},
  };
  for (size_t r = 0; r < 3; r++) {
    kg_decision d;
    kg_span target = {req[r].target, req[r].target_len};
    got[r] = kg_decide(chk, req[r].fields, 5, target, now, &d);
    if (got[r] != d.decision) {
      OPENSSL_cleanse(bearer, sizeof bearer);
      return 1;
    }
  }
  OPENSSL_cleanse(bearer, sizeof bearer);
  return 0;
}

/*
 * Decide NKEYS stored keys (every record status, expired and not), NKEYS
 * well-formed unknown keys and two malformed ones with one digester; the
 * pepper, when given, is tainted before the digester is made.
 */
static int decide_with(const kg_key_policy *pol, const uint8_t *pepper,
                       size_t pepper_len) {
  static key_case cases[2 * NKEYS + 2];
  static kg_record stored[NKEYS];
  const int64_t now = 1750000000;
  uint8_t secret_pepper[KG_PEPPER_MAX];
  kg_digester *dg = NULL;
  if (pepper_len > 0) {
    memcpy(secret_pepper, pepper, pepper_len);
    (void)VALGRIND_MAKE_MEM_UNDEFINED(secret_pepper, pepper_len);
    g_lookup.declassify_presented = 1;
  }
  /* Making the digester runs once at load time, like the index build, and
   * branches on its self-test verdict, which depends on the pepper: its
   * reports are off. The states it derives from the pepper stay tainted,
   * so every kg_digest below is checked. */
  VALGRIND_DISABLE_ERROR_REPORTING;
  kg_status made =
      kg_digester_new(pepper_len > 0 ? secret_pepper : NULL, pepper_len, &dg);
  VALGRIND_ENABLE_ERROR_REPORTING;
  if (made != KG_OK) {
    return fail("kg_digester_new failed");
  }
  memset(stored, 0, sizeof stored);
  size_t ncases = 0;
  for (size_t i = 0; i < (size_t)2 * NKEYS; i++) {
    key_case *c = &cases[ncases++];
    if (make_key(pol, c) != KG_OK) {
      return fail("making a key failed");
    }
    c->want = KG_INVALID_API_KEY; /* well formed, never stored */
    if (i < NKEYS) {
      kg_record *r = &stored[i];
      if (kg_digest(dg, c->key, c->len, r->digest) != KG_OK) {
        return fail("kg_digest failed");
      }
      r->key_id = 1 + i;
      r->account_id = 7;
      r->status = (uint32_t)(i % 4);
      r->expires_at = (i % 8 == 0) ? now - 1 : (i % 8 == 4) ? now + 3600 : 0;
      c->want = expected(r, now);
    }
  }
  /* A changed last character and a truncated key: malformed under the
   * strict policy (refused before any lookup), unknown under the prefix
   * policy. */
  key_case *bad_sum = &cases[ncases++];
  *bad_sum = cases[0];
  char *last = &bad_sum->key[bad_sum->len - 1];
  *last = *last == 'A' ? 'B' : 'A';
  bad_sum->want = KG_INVALID_API_KEY;
  key_case *truncated = &cases[ncases++];
  *truncated = cases[1];
  truncated->len -= 1;
  truncated->want = KG_INVALID_API_KEY;

  kg_index *idx = build_tainted(stored, NKEYS);
  if (idx == NULL) {
    return fail("kg_index_build failed");
  }
  kg_checker chk = {.policy = *pol, .digester = dg, .index = idx};
  unsigned errors_before = VALGRIND_COUNT_ERRORS;
  unsigned inside_before = g_lookup.errors_inside;
  unsigned tainted_before = g_lookup.tainted_found;
  int bad = 0;
  for (size_t i = 0; i < ncases; i++) {
    kg_decision d;
    kg_status got = kg_decide_key(&chk, cases[i].key, cases[i].len, now, &d);
    bad |= got != cases[i].want;
  }
  unsigned tainted_bits = g_lookup.tainted_found - tainted_before;
  /* The same keys through kg_decide, in the request shapes whose order
   * differs (decision.c): a short target scanned while the digest runs, a
   * long one scanned first, and a key in the URL beside a well-formed
   * header key (refused after the digest, before the CRC and the lookup,
   * for a key the extraction checked whole). */
  unsigned via_fields = 0;
  for (size_t i = 0; i < ncases; i++) {
    kg_status got[3];
    bad |= decide_request(&chk, &cases[i], now, got);
    bad |= got[0] != cases[i].want || got[1] != cases[i].want ||
           got[2] != KG_API_KEY_IN_QUERY;
    via_fields += 3;
  }
  unsigned tainted_fields =
      g_lookup.tainted_found - tainted_before - tainted_bits;
  unsigned errors = VALGRIND_COUNT_ERRORS - errors_before;
  unsigned inside = g_lookup.errors_inside - inside_before;
  printf("taint decide (%s keys of %zu bytes, %s): %zu kg_decide_key and %u "
         "kg_decide decisions, %u valgrind errors (%u inside "
         "kg_index_lookup, %u elsewhere), %u + %u tainted match bits\n",
         pol->kind == KG_KEY_STRICT ? "strict" : "prefix", cases[0].len,
         pepper_len > 0 ? "HMAC-SHA-256, pepper tainted" : "SHA-256", ncases,
         via_fields, errors, inside, errors - inside, tainted_bits,
         tainted_fields);
  OPENSSL_cleanse(cases, sizeof cases);
  OPENSSL_cleanse(secret_pepper, sizeof secret_pepper);
  kg_index_free(idx);
  kg_digester_free(dg);
  g_lookup.declassify_presented = 0;
  if (bad) {
    return fail("a decision was wrong");
  }
  /* Every stored key's lookup compares against a tainted slot: once by
   * kg_decide_key, twice by kg_decide (the two shapes that look it up). */
  if (tainted_bits < NKEYS || tainted_fields < 2 * NKEYS) {
    return fail("the taint did not reach the match bits: the check would "
                "be vacuous");
  }
  return 0;
}

static int mode_decide(void) {
  kg_key_policy strict;
  kg_key_policy prefix;
  if (kg_key_policy_init(&strict, KG_KEY_STRICT, "sk_live_", 8) != KG_OK ||
      kg_key_policy_init(&prefix, KG_KEY_PREFIX, "pk_", 3) != KG_OK) {
    return fail("kg_key_policy_init failed");
  }
  uint8_t pepper[32];
  uint64_t st = 7;
  random_bytes(&st, pepper, sizeof pepper);
  const kg_key_policy *pols[2] = {&strict, &prefix};
  for (size_t i = 0; i < 2; i++) {
    if (decide_with(pols[i], NULL, 0) != 0 ||
        decide_with(pols[i], pepper, sizeof pepper) != 0) {
      return 1;
    }
  }
  return 0;
}

/* ---- the detector's own test: leaky lookups ------------------------------ */

/* An early-exit comparison, the classic timing leak. */
__attribute__((noinline)) static int leaky_equal(const uint8_t *a,
                                                 const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (a[i] != b[i]) {
      return 0;
    }
  }
  return 1;
}

/* A linear scan that stops at the first match: branches on stored digests. */
__attribute__((noinline)) static int
leaky_scan_lookup(const kg_record *recs, size_t n, const uint8_t *digest) {
  for (size_t i = 0; i < n; i++) {
    if (leaky_equal(recs[i].digest, digest, KG_DIGEST_LEN)) {
      return 1;
    }
  }
  return 0;
}

/* A chained lookup that compares without branching but takes the next slot
 * from a stored byte, as a chained hash table follows stored links: the
 * addresses read depend on stored data. n must be 256. */
__attribute__((noinline)) static uint32_t
leaky_chain_lookup(const kg_record *recs, const uint8_t *digest) {
  uint64_t found = 0;
  size_t i = digest[0];
  for (int step = 0; step < 4; step++) {
    uint64_t d = 0;
    for (size_t k = 0; k < KG_DIGEST_LEN; k++) {
      d |= (uint64_t)(recs[i].digest[k] ^ digest[k]);
    }
    found |= (d - 1) >> 63; /* 1 when d == 0 */
    i = recs[i].digest[KG_DIGEST_LEN - 1];
  }
  return (uint32_t)found;
}

static int mode_leak(int address) {
  static kg_record plain[256];
  static kg_record stored[256];
  uint64_t st = 99;
  make_records(plain, 256, &st);
  memcpy(stored, plain, sizeof stored);
  (void)VALGRIND_MAKE_MEM_UNDEFINED(stored, sizeof stored);
  unsigned found = 0;
  for (size_t i = 0; i < 256; i += 8) {
    int f = address ? (int)leaky_chain_lookup(stored, plain[i].digest)
                    : leaky_scan_lookup(stored, 256, plain[i].digest);
    declassify(&f, sizeof f);
    found += (unsigned)f;
  }
  printf("taint %s: %u of 32 leaky lookups hit (valgrind must have "
         "reported errors above)\n",
         address ? "leak-address" : "leak-branch", found);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: ct_taint index|decide|leak-branch|leak-address "
                    "(under valgrind; see taint.sh)\n");
    return 2;
  }
  if (!RUNNING_ON_VALGRIND) {
    fprintf(stderr, "ct_taint: not running under valgrind: run it through "
                    "tests/ct/taint.sh\n");
    return 2;
  }
  /* The mode first: a mistyped one is a usage error, never a skip. */
  static const char *const modes[] = {"index", "decide", "leak-branch",
                                      "leak-address"};
  const int nmodes = (int)(sizeof modes / sizeof modes[0]);
  const char *mode = argv[1];
  int m = 0;
  while (m < nmodes && strcmp(mode, modes[m]) != 0) {
    m++;
  }
  if (m == nmodes) {
    fprintf(stderr,
            "ct_taint: unknown mode '%s': use index, decide, "
            "leak-branch or leak-address\n",
            mode);
    return 2;
  }
  int cpu_rc = ct_expect_cpu("ct_taint");
  if (cpu_rc != 0) {
    return cpu_rc;
  }
  switch (m) {
  case 0:
    return mode_index();
  case 1:
    return mode_decide();
  default:
    return mode_leak(m == 3);
  }
}
