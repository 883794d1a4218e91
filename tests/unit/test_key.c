/*
 * tests/unit/test_key.c — the key format of SPEC §1.2 (keygate/key.h):
 * strict keys (prefix + 32 base62 + 6 base62 of the CRC32), the prefix
 * policy, generation, base62 and hints.
 *
 * The checksum is recomputed here independently (zlib crc32 + a base62
 * written for this test) and checked against vectors computed with Python's
 * zlib.crc32. Every key handed to libkeygate sits against a PROT_NONE page.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "cpu.h"
#include "guard.h"
#include "hotpath.h"
#include "keygate/key.h"
#include "null_policy.h"

static const char B62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Valid sk_live_ keys (Python: prefix + body + base62(zlib.crc32, 6)). */
static const char *const LIVE_VECTORS[] = {
    "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk",
    "sk_live_7Iq6S0qvhVhKDPGMxMpOlWe4kL5ZYIIT4ZTBN4",
    "sk_live_9ufjjaJ1sjNNTR5PvbZVt7RWpmtcuVPw0e127O",
    "sk_live_XGsQaxUWXp1aEn8q3zjXug6jdRU9UuEs2hYQTe",
    "sk_live_u7eiThUjxzYGZPgJZpfWiUpuPRCIrH024ENBg0",
    "sk_live_9fuczTpXxVNwCGiVTWnqVpRZgw2rIKTw3flXp4",
    "sk_live_p6SijozWGSxzBzRrkUy4fHvVN6ClsQ9S4YpUa2",
    /* all-zero random part */
    "sk_live_000000000000000000000000000000002UYg5A",
    /* all-'z' random part */
    "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S",
    /* CRC32 0x00199f7f: checksum left-padded with two '0' */
    "sk_live_pad00003TAAAAAAAAAAAAAAAAAAAAAAA0072qN",
};
#define NLIVE (sizeof LIVE_VECTORS / sizeof LIVE_VECTORS[0])
#define TEST_VECTOR "sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz"
#define KLEN 46

static kg_key_policy policy(kg_key_kind kind, const char *prefix) {
  kg_key_policy p;
  memset(&p, 0, sizeof p);
  size_t n = strlen(prefix);
  assert_int_equal(kg_key_policy_init(&p, kind, guard_copy(prefix, n), n),
                   KG_OK);
  return p;
}

/* check — kg_key_check on a guarded copy of (key, len), both sides. */
static kg_status check(const kg_key_policy *p, const char *key, size_t len) {
  kg_status a = kg_key_check(p, guard_copy(key, len), len);
  kg_status b = kg_key_check(p, guard_copy_side(key, len, GUARD_BEFORE), len);
  if (a != b) {
    fail_msg("kg_key_check differs with the guard before/after: %s / %s",
             kg_status_str(a), kg_status_str(b));
  }
  return a;
}

/* ---- an independent reference ------------------------------------------ */

static int is_b62(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

static void ref_base62(unsigned long v, char *out, size_t width) {
  for (size_t i = width; i > 0; i--) {
    out[i - 1] = B62[v % 62];
    v /= 62;
  }
}

/* ref_seal — write the checksum of key[0..n-6) into its last 6 chars. */
static void ref_seal(char *key, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, (const Bytef *)key, (uInt)(n - 6));
  ref_base62(crc, key + n - 6, 6);
}

static void reference_checksum_reproduces_the_python_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < NLIVE; i++) {
    char k[KLEN + 1];
    memcpy(k, LIVE_VECTORS[i], KLEN + 1);
    memset(k + 40, '?', 6);
    ref_seal(k, KLEN);
    assert_string_equal(k, LIVE_VECTORS[i]);
  }
}

/* ---- policy ------------------------------------------------------------- */

static void
policy_accepts_prefixes_of_letters_digits_underscore_dash(void **state) {
  (void)state;
  static const char *const good[] = {"sk_live_", "sk_test_", "a", "X-9_",
                                     "abcdefghijklmnop"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    kg_key_policy p;
    size_t n = strlen(good[i]);
    assert_int_equal(
        kg_key_policy_init(&p, KG_KEY_STRICT, guard_copy(good[i], n), n),
        KG_OK);
    assert_int_equal(p.prefix_len, n);
    assert_int_equal(p.kind, KG_KEY_STRICT);
    assert_memory_equal(p.prefix, good[i], n + 1); /* NUL-terminated copy */
  }
  kg_key_policy p;
  assert_int_equal(kg_key_policy_init(&p, KG_KEY_PREFIX, "pk_", 3), KG_OK);
  assert_int_equal(p.kind, KG_KEY_PREFIX);
}

static void policy_refuses_empty_long_and_odd_prefixes(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t len;
  } bad[] = {
      {"", 0},           {"abcdefghijklmnopq", 17},
      {"sk live", 7},    {"sk.live", 7},
      {"sk/live", 7},    {"sk_live_\0", 9},
      {"sk\xc3\xa9", 4}, {"sk=", 3},
      {"\t", 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    kg_key_policy p;
    if (kg_key_policy_init(&p, KG_KEY_STRICT, guard_copy(bad[i].s, bad[i].len),
                           bad[i].len) != KG_E_ARGUMENT) {
      fail_msg("prefix %zu accepted", i);
    }
  }
}

static void strict_length_is_prefix_plus_38(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  kg_key_policy one = policy(KG_KEY_STRICT, "a");
  kg_key_policy longest = policy(KG_KEY_STRICT, "abcdefghijklmnop");
  assert_int_equal(kg_key_strict_len(&live), 46);
  assert_int_equal(kg_key_strict_len(&one), 39);
  assert_int_equal(kg_key_strict_len(&longest), 54);
}

/* ---- strict keys -------------------------------------------------------- */

static void known_strict_keys_are_valid(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t i = 0; i < NLIVE; i++) {
    if (check(&live, LIVE_VECTORS[i], KLEN) != KG_OK) {
      fail_msg("%s refused", LIVE_VECTORS[i]);
    }
  }
  kg_key_policy test = policy(KG_KEY_STRICT, "sk_test_");
  assert_int_equal(check(&test, TEST_VECTOR, KLEN), KG_OK);
}

static void keys_of_every_base62_class_are_valid(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  /* A random part of one class at a time, and all 62 digits in one key. */
  static const char *const bodies[] = {
      "01234567890123456789012345678901", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF",
      "abcdefghijklmnopqrstuvwxyzabcdef", "0aA9zZ0aA9zZ0aA9zZ0aA9zZ0aA9zZ0a"};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    char k[KLEN];
    memcpy(k, "sk_live_", 8);
    memcpy(k + 8, bodies[i], 32);
    ref_seal(k, KLEN);
    assert_int_equal(check(&live, k, KLEN), KG_OK);
  }
  for (size_t off = 0; off < 62; off += 32) {
    char k[KLEN];
    memcpy(k, "sk_live_", 8);
    for (size_t j = 0; j < 32; j++) {
      k[8 + j] = B62[(off + j) % 62];
    }
    ref_seal(k, KLEN);
    assert_int_equal(check(&live, k, KLEN), KG_OK);
  }
}

static void every_non_base62_byte_is_a_bad_character(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  /* In the random part (checksum resealed, so the byte is the only fault)
   * and in the checksum itself; 27 is read only by the middle one of
   * key.c's three 16-byte loads. */
  static const size_t positions[] = {8, 20, 27, 39, 40, 45};
  for (int b = 0; b < 256; b++) {
    if (is_b62((unsigned char)b)) {
      continue;
    }
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
      char k[KLEN];
      memcpy(k, LIVE_VECTORS[0], KLEN);
      k[positions[i]] = (char)b;
      if (positions[i] < 40) {
        ref_seal(k, KLEN);
      }
      kg_status rc = check(&live, k, KLEN);
      if (rc != KG_KEY_BAD_CHARACTER) {
        fail_msg("byte 0x%02x at %zu: %s, want key_bad_character", b,
                 positions[i], kg_status_str(rc));
      }
    }
    guard_free_all();
  }
}

/*
 * kg_key_strict_quick — the decision's check of the strict format before
 * the digest (hotpath.h) — on each of its paths: AVX2 where the CPU has it
 * (cpu.h) and SSE2 (kg_cpu_word taken away and put back here, one
 * thread), the scalar twin in unit.scalar.key. For prefixes of 1, 3, 8 and
 * 16 bytes, every byte value at every position of the 38 after the prefix
 * (the checksum not resealed: the quick check leaves the CRC to later),
 * a length one short or long, the prefix's bytes changed, a prefix policy:
 * 1 exactly when the prefix is the policy's and the 38 bytes are base62,
 * and then the checksum digits' value in pending. Each key ends at an
 * unreadable page.
 */
static void strict_quick_holds_the_format_on_every_path(void **state) {
  (void)state;
  static const char *const prefixes[] = {"k", "pk_", "sk_live_",
                                         "abcdefghijklmnop"};
  const unsigned all = kg_cpu_word;
  if ((all & KG_CPU_AVX2) == 0) {
    print_message("no AVX2 in this process (CPU or KEYGATE_CPU): both "
                  "passes below take the SSE2 check\n");
  }
  char *end = guard_end(4096);
  size_t accepted = 0;
  for (unsigned path = 0; path < 2; path++) {
    kg_cpu_word = path == 0 ? all : (all & ~KG_CPU_AVX2);
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
      size_t pl = strlen(prefixes[k]);
      size_t len = pl + 38;
      kg_key_policy strict = policy(KG_KEY_STRICT, prefixes[k]);
      kg_key_policy loose = policy(KG_KEY_PREFIX, prefixes[k]);
      char good[KG_KEY_PREFIX_MAX + 38];
      memcpy(good, prefixes[k], pl);
      for (size_t j = 0; j < 38; j++) {
        good[pl + j] = B62[(k * 7 + j * 11) % 62];
      }
      for (size_t pos = 0; pos < len; pos++) {
        for (int b = 0; b < 256; b++) {
          char *key = end - len;
          memcpy(key, good, len);
          key[pos] = (char)b;
          int want = pos < pl ? b == (unsigned char)prefixes[k][pos]
                              : is_b62((unsigned char)b);
          uint64_t value = 0;
          for (size_t j = pl + 32; j < len; j++) {
            value = value * 62u + (uint64_t)(strchr(B62, key[j]) - B62);
          }
          kg_key_pending pending = {0, 0, 0};
          int got = kg_key_strict_quick(&strict, key, len, &pending);
          if (got != want || (got && (!pending.checked || !pending.crc ||
                                      pending.want != value))) {
            kg_cpu_word = all;
            fail_msg("path %u, prefix %s, byte 0x%02x at %zu: %d, want %d",
                     path, prefixes[k], b, pos, got, want);
          }
          accepted += (size_t)got;
          kg_key_pending unused = {0, 0, 0};
          assert_int_equal(kg_key_strict_quick(&loose, key, len, &unused), 0);
        }
      }
      kg_key_pending pending = {0, 0, 0};
      memcpy(end - len + 1, good, len - 1);
      assert_int_equal(
          kg_key_strict_quick(&strict, end - len + 1, len - 1, &pending), 0);
      memcpy(end - len - 1, good, len);
      *(end - 1) = 'a';
      assert_int_equal(
          kg_key_strict_quick(&strict, end - len - 1, len + 1, &pending), 0);
      assert_int_equal(kg_key_strict_quick(&strict, NULL, len, &pending), 0);
      assert_int_equal(pending.checked, 0);
    }
  }
  kg_cpu_word = all;
  /* 62 of the 256 bytes at each of the 38 positions, one at each prefix
   * position, on both paths. */
  assert_int_equal(accepted, (size_t)2 * (62 * 38 * 4 + (1 + 3 + 8 + 16)));
}

static void every_truncation_is_refused(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t v = 0; v < NLIVE; v++) {
    for (size_t len = 0; len < KLEN; len++) {
      kg_status rc = check(&live, LIVE_VECTORS[v], len);
      /* Shorter than the prefix: either answer names a real fault. */
      int ok = len < 8 ? (rc == KG_KEY_BAD_PREFIX || rc == KG_KEY_BAD_LENGTH)
                       : rc == KG_KEY_BAD_LENGTH;
      if (!ok) {
        fail_msg("%.*s (%zu bytes): %s", (int)len, LIVE_VECTORS[v], len,
                 kg_status_str(rc));
      }
    }
    guard_free_all();
  }
}

static void every_extension_is_refused_by_length(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  static const size_t extra[] = {1, 2, 10, 210, 4000};
  char *buf = malloc(KLEN + 4000);
  assert_non_null(buf);
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
    memcpy(buf, LIVE_VECTORS[0], KLEN);
    memset(buf + KLEN, 'A', extra[i]);
    assert_int_equal(check(&live, buf, KLEN + extra[i]), KG_KEY_BAD_LENGTH);
  }
  free(buf);
}

static void a_changed_character_at_every_position_is_caught(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t v = 0; v < NLIVE; v++) {
    for (size_t pos = 0; pos < KLEN; pos++) {
      for (size_t d = 0; d < 62; d++) {
        char k[KLEN];
        memcpy(k, LIVE_VECTORS[v], KLEN);
        if (k[pos] == B62[d]) {
          continue;
        }
        k[pos] = B62[d];
        kg_status want = pos < 8 ? KG_KEY_BAD_PREFIX : KG_KEY_BAD_CHECKSUM;
        kg_status rc = kg_key_check(&live, k, KLEN);
        if (rc != want) {
          fail_msg("%s with '%c' at %zu: %s, want %s", LIVE_VECTORS[v], B62[d],
                   pos, kg_status_str(rc), kg_status_str(want));
        }
      }
      /* one guarded run per position */
      char k[KLEN];
      memcpy(k, LIVE_VECTORS[v], KLEN);
      k[pos] = k[pos] == 'x' ? 'y' : 'x';
      assert_int_not_equal(check(&live, k, KLEN), KG_OK);
    }
    guard_free_all();
  }
}

static void swapped_neighbours_are_caught(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t v = 0; v < NLIVE; v++) {
    for (size_t pos = 8; pos + 1 < KLEN; pos++) {
      char k[KLEN];
      memcpy(k, LIVE_VECTORS[v], KLEN);
      if (k[pos] == k[pos + 1]) {
        continue;
      }
      char t = k[pos];
      k[pos] = k[pos + 1];
      k[pos + 1] = t;
      assert_int_equal(kg_key_check(&live, k, KLEN), KG_KEY_BAD_CHECKSUM);
    }
  }
}

static void checksum_digits_above_32_bits_are_a_bad_checksum(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  char k[KLEN];
  memcpy(k, LIVE_VECTORS[0], KLEN);
  memcpy(k + 40, "zzzzzz", 6); /* 62^6-1 > 2^32-1 */
  assert_int_equal(check(&live, k, KLEN), KG_KEY_BAD_CHECKSUM);
  memcpy(k + 40, "4gfFC4", 6); /* 2^32: one past the largest CRC32 */
  assert_int_equal(check(&live, k, KLEN), KG_KEY_BAD_CHECKSUM);
}

static void a_wrong_prefix_is_refused(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  kg_key_policy test = policy(KG_KEY_STRICT, "sk_test_");
  assert_int_equal(check(&live, TEST_VECTOR, KLEN), KG_KEY_BAD_PREFIX);
  assert_int_equal(check(&test, LIVE_VECTORS[0], KLEN), KG_KEY_BAD_PREFIX);
  static const char *const prefixes[] = {"SK_LIVE_", "sk_livE_", "pk_live_",
                                         "sk-live-", "sk_live:"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    char k[KLEN];
    memcpy(k, LIVE_VECTORS[0], KLEN);
    memcpy(k, prefixes[i], 8);
    ref_seal(k, KLEN); /* a valid checksum: the prefix is the only fault */
    assert_int_equal(check(&live, k, KLEN), KG_KEY_BAD_PREFIX);
  }
}

static void a_key_checksummed_under_another_prefix_is_refused(void **state) {
  (void)state;
  /* The CRC covers the prefix: sk_test_'s body under sk_live_ fails. */
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  char k[KLEN];
  memcpy(k, TEST_VECTOR, KLEN);
  memcpy(k, "sk_live_", 8);
  assert_int_equal(check(&live, k, KLEN), KG_KEY_BAD_CHECKSUM);
}

static void other_prefix_lengths_shift_the_format(void **state) {
  (void)state;
  kg_key_policy one = policy(KG_KEY_STRICT, "a");
  char k[39];
  k[0] = 'a';
  memcpy(k + 1, "0123456789ABCDEFGHIJKLMNOPQRSTUV", 32);
  ref_seal(k, 39);
  assert_int_equal(check(&one, k, 39), KG_OK);
  k[5] = 'x';
  assert_int_equal(check(&one, k, 39), KG_KEY_BAD_CHECKSUM);
  assert_int_equal(check(&one, k, 38), KG_KEY_BAD_LENGTH);
}

/* ---- generation --------------------------------------------------------- */

static int cmp_keys(const void *a, const void *b) {
  return memcmp(a, b, KLEN);
}

#define NGEN 20000

static void generated_keys_are_always_valid_and_distinct(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  char *all = malloc((size_t)NGEN * KLEN);
  assert_non_null(all);
  for (size_t i = 0; i < NGEN; i++) {
    char out[KLEN + 1];
    size_t len = 0;
    assert_int_equal(kg_key_generate(&live, out, sizeof out, &len), KG_OK);
    assert_int_equal(len, KLEN);
    assert_int_equal(out[KLEN], '\0');
    assert_memory_equal(out, "sk_live_", 8);
    for (size_t j = 8; j < KLEN; j++) {
      assert_true(is_b62((unsigned char)out[j]));
    }
    char ref[KLEN];
    memcpy(ref, out, KLEN);
    ref_seal(ref, KLEN);
    assert_memory_equal(ref, out, KLEN);
    assert_int_equal(kg_key_check(&live, out, len), KG_OK);
    memcpy(all + i * KLEN, out, KLEN);
  }
  qsort(all, NGEN, KLEN, cmp_keys);
  for (size_t i = 1; i < NGEN; i++) {
    assert_true(memcmp(all + (i - 1) * KLEN, all + i * KLEN, KLEN) != 0);
  }
  free(all);
}

/* kg_key_compose: the key of a given random part, sealed as the test's
 * own reference (zlib's crc32, base62 written here) seals it; generated
 * keys are composed from their own random part. */
static void composed_keys_are_the_given_body_sealed(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  static const char body[] = "0123456789ABCDEFGHIJKLMNOPQRSTuv";
  char out[KLEN + 1];
  size_t len = 0;
  assert_int_equal(kg_key_compose(&live, body, out, sizeof out, &len), KG_OK);
  assert_int_equal(len, KLEN);
  assert_memory_equal(out, "sk_live_", 8);
  assert_memory_equal(out + 8, body, 32);
  char ref[KLEN];
  memcpy(ref, out, KLEN);
  ref_seal(ref, KLEN);
  assert_memory_equal(ref, out, KLEN);
  assert_int_equal(kg_key_check(&live, out, len), KG_OK);
  for (int n = 0; n < 100; n++) {
    char gen[KLEN + 1];
    char again[KLEN + 1];
    size_t glen = 0;
    assert_int_equal(kg_key_generate(&live, gen, sizeof gen, &glen), KG_OK);
    assert_int_equal(kg_key_compose(&live, gen + 8, again, sizeof again, &glen),
                     KG_OK);
    assert_string_equal(again, gen);
  }
  /* a body byte that is not base62, a buffer without room: refused */
  char bad[32];
  memcpy(bad, body, 32);
  for (int c = 0; c < 256; c++) {
    bad[17] = (char)c;
    int b62 = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z');
    assert_int_equal(kg_key_compose(&live, bad, out, sizeof out, &len),
                     b62 ? KG_OK : KG_E_ARGUMENT);
  }
  assert_int_equal(kg_key_compose(&live, body, out, KLEN, &len),
                   KG_E_BUFFER_TOO_SMALL);
}

static void generated_keys_follow_the_policy_prefix(void **state) {
  (void)state;
  static const char *const prefixes[] = {"sk_test_", "a", "abcdefghijklmnop"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    kg_key_policy p = policy(KG_KEY_STRICT, prefixes[i]);
    size_t plen = strlen(prefixes[i]);
    for (int n = 0; n < 200; n++) {
      char out[KG_KEY_MAX_LEN + 1];
      size_t len = 0;
      assert_int_equal(kg_key_generate(&p, out, sizeof out, &len), KG_OK);
      assert_int_equal(len, plen + 38);
      assert_memory_equal(out, prefixes[i], plen);
      assert_int_equal(check(&p, out, len), KG_OK);
    }
    guard_free_all();
  }
}

static void generate_refuses_a_buffer_without_room_for_the_nul(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t cap = 0; cap <= KLEN; cap++) {
    /* The buffer ends at the guard page: no write past cap. */
    char zero[KLEN + 1] = {0};
    char *out = guard_copy(zero, cap);
    size_t len = 99;
    assert_int_equal(kg_key_generate(&live, out, cap, &len),
                     KG_E_BUFFER_TOO_SMALL);
  }
  char zero[KLEN + 1] = {0};
  char *out = guard_copy(zero, KLEN + 1);
  size_t len = 0;
  assert_int_equal(kg_key_generate(&live, out, KLEN + 1, &len), KG_OK);
  assert_int_equal(len, KLEN);
  assert_int_equal(out[KLEN], '\0');
}

static void random_base62_is_uniform_without_modulo_bias(void **state) {
  (void)state;
  /* 620,000 characters: 10,000 expected per digit, sd 100. Modulo bias
   * (byte % 62) would give '0'..'7' about 25% more; a fair source stays
   * within 8% (8 sd) of the mean. */
  enum { PER = 10000, N = 62 * PER };
  char *buf = malloc(N);
  assert_non_null(buf);
  assert_int_equal(kg_random_base62(buf, N), KG_OK);
  size_t counts[256] = {0};
  for (size_t i = 0; i < N; i++) {
    counts[(unsigned char)buf[i]]++;
  }
  free(buf);
  for (int c = 0; c < 256; c++) {
    if (!is_b62((unsigned char)c)) {
      assert_int_equal(counts[c], 0);
      continue;
    }
    if (counts[c] < PER * 92 / 100 || counts[c] > PER * 108 / 100) {
      fail_msg("digit '%c' drawn %zu times of %d expected", c, counts[c], PER);
    }
  }
  char none[1] = {'#'};
  assert_int_equal(kg_random_base62(none, 0), KG_OK);
  assert_int_equal(none[0], '#');
}

/* ---- base62 ------------------------------------------------------------- */

static void base62_writes_fixed_width_most_significant_first(void **state) {
  (void)state;
  static const struct {
    unsigned long v;
    size_t width;
    const char *want; /* NULL: does not fit */
  } cases[] = {
      {0, 6, "000000"},
      {1, 6, "000001"},
      {61, 6, "00000z"},
      {62, 6, "000010"},
      {3843, 2, "zz"},
      {3844, 2, NULL},
      {3844, 3, "100"},
      {0xffffffffUL, 6, "4gfFC3"},
      {0x199f7fUL, 6, "0072qN"},
      {0, 1, "0"},
      {62, 1, NULL},
      {0xffffffffUL, 5, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    /* Exactly width bytes before the guard page: no NUL is written. */
    char fill[8] = "@@@@@@@";
    char *out = guard_copy(fill, cases[i].width);
    int rc = kg_base62_encode_u32(cases[i].v, out, cases[i].width);
    if (cases[i].want == NULL) {
      assert_int_equal(rc, 0);
    } else {
      assert_int_not_equal(rc, 0);
      assert_memory_equal(out, cases[i].want, cases[i].width);
    }
  }
}

/* ---- the prefix policy -------------------------------------------------- */

static void
prefix_policy_accepts_token68_keys_of_16_to_256_bytes(void **state) {
  (void)state;
  kg_key_policy p = policy(KG_KEY_PREFIX, "sk_live_");
  char buf[300];
  memcpy(buf, "sk_live_", 8);
  memset(buf + 8, 'a', sizeof buf - 8);
  for (size_t len = 0; len <= 300; len++) {
    kg_status rc = check(&p, buf, len);
    kg_status want = (len >= 16 && len <= 256) ? KG_OK : KG_KEY_BAD_LENGTH;
    if (len < 8) {
      if (rc != KG_KEY_BAD_PREFIX && rc != KG_KEY_BAD_LENGTH) {
        fail_msg("%zu bytes: %s", len, kg_status_str(rc));
      }
    } else if (rc != want) {
      fail_msg("%zu bytes: %s, want %s", len, kg_status_str(rc),
               kg_status_str(want));
    }
  }
}

static void prefix_policy_checks_characters_and_prefix(void **state) {
  (void)state;
  kg_key_policy p = policy(KG_KEY_PREFIX, "sk_live_");
  static const struct {
    const char *key;
    kg_status want;
  } cases[] = {
      {"sk_live_abcdefgh", KG_OK},
      {"sk_live_a-._~+/Z09", KG_OK},
      {"sk_live_abcdefgh==", KG_OK},
      {"sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk", KG_OK},
      {"sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGX", KG_OK},
      {"sk_live_abcd efgh", KG_KEY_BAD_CHARACTER},
      {"sk_live_abcd!efgh", KG_KEY_BAD_CHARACTER},
      {"sk_live_abcd=efgh", KG_KEY_BAD_CHARACTER},
      {"sk_live_abcdefg\x7f", KG_KEY_BAD_CHARACTER},
      {"sk_live_abcdefg\xc3\xa9", KG_KEY_BAD_CHARACTER},
      {"sk_test_abcdefgh", KG_KEY_BAD_PREFIX},
      {"xsk_live_abcdefgh", KG_KEY_BAD_PREFIX},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kg_status rc = check(&p, cases[i].key, strlen(cases[i].key));
    if (rc != cases[i].want) {
      fail_msg("\"%s\": %s, want %s", cases[i].key, kg_status_str(rc),
               kg_status_str(cases[i].want));
    }
  }
  char nul[] = "sk_live_abcd\0efgh";
  assert_int_equal(check(&p, nul, sizeof nul - 1), KG_KEY_BAD_CHARACTER);
}

/* ---- hints -------------------------------------------------------------- */

typedef struct hint_case {
  const char *key;
  size_t len;
  const char *want;
} hint_case;

#define HK(k) k, sizeof(k) - 1

static const hint_case HINTS[] = {
    {HK("sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"), "sk_live_****cUGk"},
    {HK("sk_live_abcdefghijkl"), "sk_live_****ijkl"},
    {HK("sk_live_abcdefghijk"), "sk_live_****"},
    {HK("sk_live_abcd"), "sk_live_****"},
    {HK("sk_live_"), "sk_live_****"},
    {HK(""), "****"},
    {HK("sk_live"), "****"},
    {HK("abcdefghijkl"), "****ijkl"},
    {HK("abcdefghijk"), "****"},
    {HK("sk_test_w050SbYxr5doCF7d2mYzHgmeM90Kgban3LiVSz"), "****iVSz"},
    {HK("SK_LIVE_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"), "****cUGk"},
    {HK("sk_live_abcdefgh\x01\x7f\x80z"), "sk_live_****???z"},
    {HK("sk_live_abcdefghij\n\0"), "sk_live_****ij??"},
    {HK("sk_live_\0\0\0\0\0\0\0\0\0\0\0\0"), "sk_live_****????"},
    {HK("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), "****????"},
};

static void hints_show_prefix_stars_and_last_four(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (size_t i = 0; i < sizeof HINTS / sizeof HINTS[0]; i++) {
    char out[KG_KEY_HINT_MAX];
    memset(out, '#', sizeof out);
    const char *k = guard_copy(HINTS[i].key, HINTS[i].len);
    size_t n = kg_key_hint(&live, k, HINTS[i].len, out, sizeof out);
    if (n != strlen(HINTS[i].want) || strcmp(out, HINTS[i].want) != 0) {
      fail_msg("hint %zu: \"%.*s\" (%zu), want \"%s\"", i, (int)sizeof out, out,
               n, HINTS[i].want);
    }
  }
}

static void hints_of_generated_keys_hide_the_middle(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  for (int i = 0; i < 500; i++) {
    char key[KLEN + 1];
    size_t len;
    assert_int_equal(kg_key_generate(&live, key, sizeof key, &len), KG_OK);
    char out[KG_KEY_HINT_MAX];
    assert_int_equal(
        kg_key_hint(&live, guard_copy(key, len), len, out, sizeof out), 16);
    assert_memory_equal(out, "sk_live_****", 12);
    assert_memory_equal(out + 12, key + KLEN - 4, 4);
    assert_int_equal(out[16], '\0');
  }
}

static void hint_of_a_very_long_key_still_fits(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_PREFIX, "sk_live_");
  size_t n = 8 + 10000;
  char *k = malloc(n);
  assert_non_null(k);
  memcpy(k, "sk_live_", 8);
  memset(k + 8, 'q', n - 8);
  memcpy(k + n - 4, "WXYZ", 4);
  const char *g = guard_copy(k, n);
  free(k);
  char out[KG_KEY_HINT_MAX];
  assert_int_equal(kg_key_hint(&live, g, n, out, sizeof out), 16);
  assert_string_equal(out, "sk_live_****WXYZ");
}

static void hint_with_the_longest_prefix_fits_hint_max(void **state) {
  (void)state;
  kg_key_policy p = policy(KG_KEY_STRICT, "abcdefghijklmnop");
  char key[KG_KEY_MAX_LEN + 1];
  size_t len;
  assert_int_equal(kg_key_generate(&p, key, sizeof key, &len), KG_OK);
  char zero[KG_KEY_HINT_MAX] = {0};
  char *out = guard_copy(zero, KG_KEY_HINT_MAX);
  assert_int_equal(
      kg_key_hint(&p, guard_copy(key, len), len, out, KG_KEY_HINT_MAX),
      KG_KEY_HINT_MAX - 1);
  assert_memory_equal(out, "abcdefghijklmnop****", 20);
  assert_memory_equal(out + 20, key + len - 4, 4);
}

static void hint_needs_room_for_the_nul(void **state) {
  (void)state;
  kg_key_policy live = policy(KG_KEY_STRICT, "sk_live_");
  const char *key = guard_copy(LIVE_VECTORS[0], KLEN);
  for (size_t cap = 0; cap <= 16; cap++) {
    char zero[17] = {0};
    char *out = guard_copy(zero, cap); /* ends at the guard page */
    assert_int_equal(kg_key_hint(&live, key, KLEN, out, cap), 0);
  }
  char zero[17] = {0};
  char *out = guard_copy(zero, 17);
  assert_int_equal(kg_key_hint(&live, key, KLEN, out, 17), 16);
  assert_string_equal(out, "sk_live_****cUGk");
}

/* ---- key kinds (keygate_key_format, keygate check --policy) ------------- */

static void key_kinds_are_strict_and_prefix_exactly(void **state) {
  (void)state;
  kg_key_kind k = (kg_key_kind)99;
  assert_int_equal(kg_key_kind_parse(guard_copy("strict", 6), 6, &k), KG_OK);
  assert_int_equal(k, KG_KEY_STRICT);
  assert_int_equal(kg_key_kind_parse(guard_copy("prefix", 6), 6, &k), KG_OK);
  assert_int_equal(k, KG_KEY_PREFIX);
  /* the names are its inverse */
  assert_string_equal(kg_key_kind_str(KG_KEY_STRICT), "strict");
  assert_string_equal(kg_key_kind_str(KG_KEY_PREFIX), "prefix");
  assert_string_equal(kg_key_kind_str((kg_key_kind)7), "");
  static const struct {
    const char *s;
    size_t len;
  } bad[] = {
      {"", 0},        {"Strict", 6},  {"STRICT", 6},   {"stric", 5},
      {"strict ", 7}, {" strict", 7}, {"strict\0", 7}, {"prefixes", 8},
      {"loose", 5},   {"s", 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    k = (kg_key_kind)99;
    if (kg_key_kind_parse(guard_copy(bad[i].s, bad[i].len), bad[i].len, &k) !=
        KG_E_ARGUMENT) {
      fail_msg("kind %zu (\"%.*s\") accepted", i, (int)bad[i].len, bad[i].s);
    }
    assert_int_equal(k, 99); /* untouched */
  }
  /* A prefix of the input names no kind: the length is the whole name. */
  assert_int_equal(kg_key_kind_parse(guard_copy("strict", 6), 3, &k),
                   KG_E_ARGUMENT);
  assert_int_equal(kg_key_kind_parse(NULL, 0, &k), KG_E_ARGUMENT);
}

/* ---- the NULL policy (api.h) -------------------------------------------- */

static int kind_into_null(void) {
  return (int)kg_key_kind_parse("strict", 6, NULL);
}

static int policy_into_null(void) {
  return (int)kg_key_policy_init(NULL, KG_KEY_STRICT, "sk_", 3);
}

static int check_without_policy(void) {
  return (int)kg_key_check(NULL, "sk_live_x", 9);
}

static int check_null_key_of_length_9(void) {
  kg_key_policy p;
  if (kg_key_policy_init(&p, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    return -1;
  }
  return (int)kg_key_check(&p, NULL, 9);
}

static int generate_without_len(void) {
  kg_key_policy p;
  char out[64];
  if (kg_key_policy_init(&p, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    return -1;
  }
  return (int)kg_key_generate(&p, out, sizeof out, NULL);
}

static int generate_without_policy(void) {
  char out[64];
  size_t len = 0;
  return (int)kg_key_generate(NULL, out, sizeof out, &len);
}

static int hint_into_null(void) {
  return (int)kg_key_hint(NULL, "sk_live_abcdefghijkl", 20, NULL, 32);
}

static void a_null_where_none_is_allowed_is_a_caller_bug(void **state) {
  (void)state;
  expect_caller_bug(kind_into_null, KG_E_ARGUMENT, "kg_key_kind_parse(NULL)");
  expect_caller_bug(policy_into_null, KG_E_ARGUMENT,
                    "kg_key_policy_init(NULL)");
  expect_caller_bug(check_without_policy, KG_E_ARGUMENT, "kg_key_check(NULL)");
  expect_caller_bug(check_null_key_of_length_9, KG_E_ARGUMENT,
                    "kg_key_check(key NULL, 9)");
  expect_caller_bug(generate_without_policy, KG_E_ARGUMENT,
                    "kg_key_generate(NULL policy)");
  expect_caller_bug(generate_without_len, KG_E_ARGUMENT,
                    "kg_key_generate(out_len NULL)");
  expect_caller_bug(hint_into_null, 0, "kg_key_hint(out NULL)");
}

/* Where the header allows NULL, it is no bug. */
static void a_hint_takes_a_null_policy_and_no_key(void **state) {
  (void)state;
  char out[KG_KEY_HINT_MAX];
  assert_int_equal(kg_key_hint(NULL, NULL, 0, out, sizeof out), 4);
  assert_string_equal(out, "****");
  assert_int_equal(kg_key_hint(NULL, guard_copy("sk_live_abcdefghijkl", 20), 20,
                               out, sizeof out),
                   8);
  assert_string_equal(out, "****ijkl");
}

#define T(f) cmocka_unit_test_teardown(f, guard_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(reference_checksum_reproduces_the_python_vectors),
      T(policy_accepts_prefixes_of_letters_digits_underscore_dash),
      T(policy_refuses_empty_long_and_odd_prefixes),
      T(strict_length_is_prefix_plus_38),
      T(known_strict_keys_are_valid),
      T(keys_of_every_base62_class_are_valid),
      T(every_non_base62_byte_is_a_bad_character),
      T(strict_quick_holds_the_format_on_every_path),
      T(every_truncation_is_refused),
      T(every_extension_is_refused_by_length),
      T(a_changed_character_at_every_position_is_caught),
      T(swapped_neighbours_are_caught),
      T(checksum_digits_above_32_bits_are_a_bad_checksum),
      T(a_wrong_prefix_is_refused),
      T(a_key_checksummed_under_another_prefix_is_refused),
      T(other_prefix_lengths_shift_the_format),
      T(generated_keys_are_always_valid_and_distinct),
      T(generated_keys_follow_the_policy_prefix),
      T(generate_refuses_a_buffer_without_room_for_the_nul),
      T(random_base62_is_uniform_without_modulo_bias),
      T(base62_writes_fixed_width_most_significant_first),
      T(prefix_policy_accepts_token68_keys_of_16_to_256_bytes),
      T(prefix_policy_checks_characters_and_prefix),
      T(hints_show_prefix_stars_and_last_four),
      T(hints_of_generated_keys_hide_the_middle),
      T(composed_keys_are_the_given_body_sealed),
      T(hint_of_a_very_long_key_still_fits),
      T(hint_with_the_longest_prefix_fits_hint_max),
      T(hint_needs_room_for_the_nul),
      T(key_kinds_are_strict_and_prefix_exactly),
      T(a_null_where_none_is_allowed_is_a_caller_bug),
      T(a_hint_takes_a_null_policy_and_no_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
