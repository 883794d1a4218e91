/*
 * tests/unit/test_digest.c — the key digest (keygate/digest.h): SHA-256
 * against FIPS 180-2 vectors, HMAC-SHA-256 against RFC 4231, the pepper
 * limit, and reuse of one digester across many keys. Every input sits
 * against a PROT_NONE page.
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

#include "cpu.h"
#include "guard.h"
#include "hotpath.h"
#include "keygate/digest.h"

#define K "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"

/* hex — 64 lowercase hex digits of a digest into out[65]. */
static void hex(const uint8_t d[KG_DIGEST_LEN], char out[65]) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
    out[2 * i] = digits[d[i] >> 4];
    out[2 * i + 1] = digits[d[i] & 15];
  }
  out[64] = '\0';
}

/* digest_hex — digest (msg, len) placed against a guard page. */
static void digest_hex(kg_digester *d, const void *msg, size_t len,
                       char out[65]) {
  uint8_t md[KG_DIGEST_LEN];
  memset(md, 0, sizeof md);
  assert_int_equal(kg_digest(d, guard_copy(msg, len), len, md), KG_OK);
  hex(md, out);
}

static void sha256_matches_the_fips_180_vectors(void **state) {
  (void)state;
  static const struct {
    const char *msg;
    const char *want;
  } cases[] = {
      {"abc",
       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmno"
       "pjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {K, "f9bf92ccd45bf5b3511dd419d60e770e1c86ff2a0783f9e3309384c78f4cff6d"},
  };
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &d), KG_OK);
  assert_int_equal(kg_digester_is_keyed(d), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char got[65];
    digest_hex(d, cases[i].msg, strlen(cases[i].msg), got);
    assert_string_equal(got, cases[i].want);
  }
  kg_digester_free(d);
}

static void sha256_of_a_million_a_matches_fips_180(void **state) {
  (void)state;
  size_t n = 1000000;
  char *a = malloc(n);
  assert_non_null(a);
  memset(a, 'a', n);
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &d), KG_OK);
  char got[65];
  digest_hex(d, a, n, got);
  free(a);
  assert_string_equal(
      got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  kg_digester_free(d);
}

typedef struct hmac_case {
  const char *name;
  uint8_t key[64];
  size_t key_len;
  const char *data;
  size_t data_len;
  const char *want; /* hex; RFC 4231 case 5 gives only 128 bits */
} hmac_case;

static void hmac_sha256_matches_rfc_4231(void **state) {
  (void)state;
  static hmac_case cases[5];
  static uint8_t dd[50], cd[50];
  memset(dd, 0xdd, sizeof dd);
  memset(cd, 0xcd, sizeof cd);
  memset(cases, 0, sizeof cases);
  cases[0].name = "4.2 test case 1";
  memset(cases[0].key, 0x0b, 20);
  cases[0].key_len = 20;
  cases[0].data = "Hi There";
  cases[0].data_len = 8;
  cases[0].want =
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  cases[1].name = "4.3 test case 2";
  memcpy(cases[1].key, "Jefe", 4);
  cases[1].key_len = 4;
  cases[1].data = "what do ya want for nothing?";
  cases[1].data_len = 28;
  cases[1].want =
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  cases[2].name = "4.4 test case 3";
  memset(cases[2].key, 0xaa, 20);
  cases[2].key_len = 20;
  cases[2].data = (const char *)dd;
  cases[2].data_len = 50;
  cases[2].want =
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe";
  cases[3].name = "4.5 test case 4";
  for (size_t i = 0; i < 25; i++) {
    cases[3].key[i] = (uint8_t)(i + 1);
  }
  cases[3].key_len = 25;
  cases[3].data = (const char *)cd;
  cases[3].data_len = 50;
  cases[3].want =
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b";
  cases[4].name = "4.6 test case 5 (truncated to 128 bits)";
  memset(cases[4].key, 0x0c, 20);
  cases[4].key_len = 20;
  cases[4].data = "Test With Truncation";
  cases[4].data_len = 20;
  cases[4].want = "a3b6167473100ee06e0c796c2955552b";

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kg_digester *d = NULL;
    const unsigned char *pepper =
        (const unsigned char *)guard_copy(cases[i].key, cases[i].key_len);
    assert_int_equal(kg_digester_new(pepper, cases[i].key_len, &d), KG_OK);
    assert_int_equal(kg_digester_is_keyed(d), 1);
    char got[65];
    digest_hex(d, cases[i].data, cases[i].data_len, got);
    size_t wl = strlen(cases[i].want);
    if (strncmp(got, cases[i].want, wl) != 0) {
      fail_msg("RFC 4231 %s: %s", cases[i].name, got);
    }
    /* Twice: the HMAC state is reset between calls. */
    digest_hex(d, cases[i].data, cases[i].data_len, got);
    assert_int_equal(strncmp(got, cases[i].want, wl), 0);
    kg_digester_free(d);
  }
}

static void peppers_over_64_bytes_are_refused(void **state) {
  (void)state;
  /* RFC 4231 cases 6 and 7 use a 131-byte key: beyond KG_PEPPER_MAX. */
  uint8_t big[131];
  memset(big, 0xaa, sizeof big);
  static const size_t lens[] = {KG_PEPPER_MAX + 1, 100, 131};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    kg_digester *d = NULL;
    assert_int_equal(
        kg_digester_new((const unsigned char *)guard_copy(big, lens[i]),
                        lens[i], &d),
        KG_E_ARGUMENT);
    assert_null(d);
  }
}

static void a_64_byte_pepper_is_accepted(void **state) {
  (void)state;
  uint8_t pepper[64];
  for (size_t i = 0; i < 64; i++) {
    pepper[i] = (uint8_t)i;
  }
  kg_digester *d = NULL;
  assert_int_equal(
      kg_digester_new((const unsigned char *)guard_copy(pepper, 64), 64, &d),
      KG_OK);
  char got[65];
  digest_hex(d, K, strlen(K), got);
  /* Python: hmac.new(bytes(range(64)), K, sha256) */
  assert_string_equal(
      got, "6ac350342560fa135a382dab97739f409050fbb37dbbfe513fb7fbe816ffa02d");
  kg_digester_free(d);
}

static void an_empty_pepper_means_plain_sha256(void **state) {
  (void)state;
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new((const unsigned char *)"pepper", 0, &d),
                   KG_OK);
  assert_int_equal(kg_digester_is_keyed(d), 0);
  char got[65];
  digest_hex(d, K, strlen(K), got);
  assert_string_equal(
      got, "f9bf92ccd45bf5b3511dd419d60e770e1c86ff2a0783f9e3309384c78f4cff6d");
  kg_digester_free(d);
}

static void the_pepper_is_copied_at_creation(void **state) {
  (void)state;
  unsigned char pepper[] = "pepper";
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new(pepper, 6, &d), KG_OK);
  memset(pepper, 'X', 6);
  char got[65];
  digest_hex(d, K, strlen(K), got);
  /* Python: hmac.new(b"pepper", K, sha256) */
  assert_string_equal(
      got, "117b3c3cf876483a8b7438f07d72b934d73c18797addab6738d9bc754b5e5f2e");
  kg_digester_free(d);
}

static void one_digester_serves_many_keys_of_every_length(void **state) {
  (void)state;
  /* Against OpenSSL's one-shot EVP_Digest, interleaving lengths 0..300 so
   * leftover state from one call would show in the next. */
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &d), KG_OK);
  char buf[301];
  for (size_t i = 0; i < sizeof buf; i++) {
    buf[i] = (char)('!' + (i * 7) % 90);
  }
  for (size_t round = 0; round < 2; round++) {
    for (size_t n = 0; n <= 300; n++) {
      size_t len = round ? 300 - n : n;
      uint8_t got[KG_DIGEST_LEN];
      uint8_t want[KG_DIGEST_LEN];
      unsigned int wl = 0;
      assert_int_equal(kg_digest(d, guard_copy(buf, len), len, got), KG_OK);
      assert_int_equal(EVP_Digest(buf, len, want, &wl, EVP_sha256(), NULL), 1);
      assert_int_equal(wl, KG_DIGEST_LEN);
      assert_memory_equal(got, want, KG_DIGEST_LEN);
    }
    guard_free_all();
  }
  kg_digester_free(d);
}

static void digesters_are_independent(void **state) {
  (void)state;
  kg_digester *plain = NULL;
  kg_digester *keyed = NULL;
  assert_int_equal(kg_digester_new(NULL, 0, &plain), KG_OK);
  assert_int_equal(kg_digester_new((const unsigned char *)"pepper", 6, &keyed),
                   KG_OK);
  for (int i = 0; i < 3; i++) {
    char a[65], b[65];
    digest_hex(plain, K, strlen(K), a);
    digest_hex(keyed, K, strlen(K), b);
    assert_string_equal(
        a, "f9bf92ccd45bf5b3511dd419d60e770e1c86ff2a0783f9e3309384c78f4cff6d");
    assert_string_equal(
        b, "117b3c3cf876483a8b7438f07d72b934d73c18797addab6738d9bc754b5e5f2e");
  }
  kg_digester_free(plain);
  kg_digester_free(keyed);
}

static void freeing_null_is_harmless(void **state) {
  (void)state;
  kg_digester_free(NULL);
}

/* The implementation KEYGATE_DIGEST names is the one kg_digester_new uses
 * (unit.digest runs without it, unit.digest.evp with KEYGATE_DIGEST=evp). */
static void keygate_digest_chooses_the_implementation(void **state) {
  (void)state;
  const char *env = getenv("KEYGATE_DIGEST");
  kg_digest_impl want = env != NULL && strcmp(env, "evp") == 0
                            ? KG_DIGEST_EVP
                            : KG_DIGEST_BUILTIN;
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new((const unsigned char *)"p", 1, &d), KG_OK);
  assert_int_equal(kg_digester_impl(d), want);
  kg_digester_free(d);
}

/* Both implementations give the same digest, keyed or not, for every
 * length on both sides of the one-block limit (55 bytes) and the HMAC
 * block (64), interleaved so a context left dirty would show. */
static void both_implementations_agree(void **state) {
  (void)state;
  static const unsigned char pepper[] = "a pepper of thirty-two bytes....";
  char buf[200];
  for (size_t i = 0; i < sizeof buf; i++) {
    buf[i] = (char)('0' + (i * 13) % 75);
  }
  for (int keyed = 0; keyed < 2; keyed++) {
    kg_digester *a = NULL;
    kg_digester *b = NULL;
    size_t plen = keyed ? sizeof pepper - 1 : 0;
    assert_int_equal(
        kg_digester_new_ex(keyed ? pepper : NULL, plen, KG_DIGEST_BUILTIN, &a),
        KG_OK);
    assert_int_equal(
        kg_digester_new_ex(keyed ? pepper : NULL, plen, KG_DIGEST_EVP, &b),
        KG_OK);
    assert_int_equal(kg_digester_impl(b), KG_DIGEST_EVP);
    assert_int_equal(kg_digester_is_keyed(b), keyed);
    for (size_t len = 0; len < sizeof buf; len++) {
      uint8_t x[KG_DIGEST_LEN];
      uint8_t y[KG_DIGEST_LEN];
      const char *m = guard_copy(buf, len);
      assert_int_equal(kg_digest(a, m, len, x), KG_OK);
      assert_int_equal(kg_digest(b, m, len, y), KG_OK);
      assert_memory_equal(x, y, KG_DIGEST_LEN);
    }
    guard_free_all();
    kg_digester_free(a);
    kg_digester_free(b);
  }
}

/* A second keyed digester on the same thread gets its own key, not the
 * per-thread context the first one left behind. */
static void provider_digesters_keep_their_own_pepper(void **state) {
  (void)state;
  kg_digester *one = NULL;
  kg_digester *two = NULL;
  assert_int_equal(kg_digester_new_ex((const unsigned char *)"pepper", 6,
                                      KG_DIGEST_EVP, &one),
                   KG_OK);
  assert_int_equal(kg_digester_new_ex((const unsigned char *)"other", 5,
                                      KG_DIGEST_EVP, &two),
                   KG_OK);
  for (int i = 0; i < 2; i++) {
    char a[65];
    char b[65];
    digest_hex(one, K, strlen(K), a);
    digest_hex(two, K, strlen(K), b);
    /* Python: hmac.new(b"pepper", K, sha256) */
    assert_string_equal(
        a, "117b3c3cf876483a8b7438f07d72b934d73c18797addab6738d9bc754b5e5f2e");
    assert_string_not_equal(a, b);
  }
  kg_digester_free(one);
  kg_digester_free(two);
}

/* 1 when every byte of p[0..len) is b. */
static int all_bytes(const void *p, size_t len, unsigned char b) {
  const unsigned char *q = p;
  for (size_t i = 0; i < len; i++) {
    if (q[i] != b) {
      return 0;
    }
  }
  return 1;
}

/*
 * kg_digest_scan (hotpath.h), the digest with kg_decide's URL scan among
 * its rounds: for every length up to two blocks, each under plain
 * SHA-256, HMAC and the provider path, either it gives kg_digest's bytes
 * and the job's stop bits, or it declines with the digest untouched. It
 * takes exactly what kg_digest's SHA extensions' one-block path takes: a
 * plain builtin digester, 32 to 47 bytes, the SHA extensions there
 * (unit.baseline.digest runs this with them taken away: none taken). The
 * stops' own answers are test_credential.c's (job_scan).
 */
static void digest_scan_gives_kg_digests_bytes(void **state) {
  (void)state;
  const int sha = (kg_cpu() & KG_CPU_SHA) != 0;
  unsigned char buf[129];
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (size_t i = 0; i < sizeof buf; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buf[i] = (unsigned char)x;
  }
  kg_key_policy pol;
  assert_int_equal(kg_key_policy_init(&pol, KG_KEY_STRICT, "sk_live_", 8),
                   KG_OK);
  /* '%' at 0 and 21 (not idle: a second encoding, a bad escape), a name's
   * last letter before '=' at 9; the Host's '%' at 2 */
  static const char target[] = "%25/v1?key=1&q=abcdef%zz";
  static const char host_v[] = "a.%6B";
  const kg_field host = {{"Host", 4}, {host_v, sizeof host_v - 1}};
  const kg_url_hosts hosts = {0, 0};
  for (int kind = 0; kind < 3; kind++) {
    kg_digester *d = NULL;
    assert_int_equal(
        kg_digester_new_ex(kind == 1 ? (const unsigned char *)"pepper" : NULL,
                           kind == 1 ? 6 : 0,
                           kind == 2 ? KG_DIGEST_EVP : KG_DIGEST_BUILTIN, &d),
        KG_OK);
    unsigned took = 0;
    for (size_t len = 0; len < sizeof buf; len++) {
      const char *m = guard_copy(buf, len);
      uint8_t whole[KG_DIGEST_LEN];
      assert_int_equal(kg_digest(d, m, len, whole), KG_OK);
      kg_url_job job;
      assert_int_equal(kg_url_job_init(&pol,
                                       guard_span(target, sizeof target - 1),
                                       &host, 1, &hosts, &job),
                       sha);
      if (!sha) {
        /* no job without the SHA extensions' rounds, and no digest by a
         * job made by hand */
        memset(&job, 0, sizeof job);
        job.tables = pol.url_scan;
        uint8_t none[KG_DIGEST_LEN];
        memset(none, 0xa5, sizeof none);
        assert_int_equal(kg_digest_scan(d, m, len, &job, none), 0);
        assert_true(all_bytes(none, sizeof none, 0xa5));
        continue;
      }
      memset(job.target_stops, 0xa5, sizeof job.target_stops);
      uint8_t out[KG_DIGEST_LEN];
      memset(out, 0xa5, sizeof out);
      if (!kg_digest_scan(d, m, len, &job, out)) {
        assert_true(all_bytes(out, sizeof out, 0xa5));
        assert_false(kind == 0 && sha && len >= 32 && len < 48);
        continue;
      }
      took++;
      assert_true(kind == 0 && sha && len >= 32 && len < 48);
      assert_memory_equal(out, whole, KG_DIGEST_LEN);
      assert_true(job.target_stops[0] ==
                  ((uint64_t)1 << 0 | (uint64_t)1 << 9 | (uint64_t)1 << 21));
      assert_true(job.target_stops[1] == 0 && job.target_stops[2] == 0 &&
                  job.target_stops[3] == 0);
      assert_true(job.host_stops == (uint64_t)1 << 2);
    }
    assert_int_equal(took, kind == 0 && sha ? 16u : 0u);
    guard_free_all();
    kg_digester_free(d);
  }
  /* the sk_live_ key's 46 bytes, against SHA-256 as Python's
   * hashlib.sha256 gives it */
  kg_digester *d = NULL;
  assert_int_equal(kg_digester_new_ex(NULL, 0, KG_DIGEST_BUILTIN, &d), KG_OK);
  kg_url_job job;
  assert_int_equal(
      kg_url_job_init(&pol, guard_span("/", 1), &host, 0, &hosts, &job), sha);
  uint8_t out[KG_DIGEST_LEN];
  if (sha) {
    assert_int_equal(
        kg_digest_scan(d, guard_copy(K, strlen(K)), strlen(K), &job, out), 1);
    char got[65];
    hex(out, got);
    assert_string_equal(
        got,
        "f9bf92ccd45bf5b3511dd419d60e770e1c86ff2a0783f9e3309384c78f4cff6d");
  }
  kg_digester_free(d);
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(sha256_matches_the_fips_180_vectors),
      T(sha256_of_a_million_a_matches_fips_180),
      T(hmac_sha256_matches_rfc_4231),
      T(peppers_over_64_bytes_are_refused),
      T(a_64_byte_pepper_is_accepted),
      T(an_empty_pepper_means_plain_sha256),
      T(the_pepper_is_copied_at_creation),
      T(one_digester_serves_many_keys_of_every_length),
      T(digesters_are_independent),
      T(freeing_null_is_harmless),
      T(keygate_digest_chooses_the_implementation),
      T(both_implementations_agree),
      T(provider_digesters_keep_their_own_pepper),
      T(digest_scan_gives_kg_digests_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
