/*
 * test_crc32.c — the core's CRC-32 (crc32.c): its 2,048 table entries are
 * the reflected IEEE polynomial's, regenerated here, and kg_crc32 is
 * zlib's crc32 on every byte value in every lane, every length and
 * alignment up to 300 bytes, and chained. Both of its paths (cpu.h): the
 * table path always, and the carry-less fold where this build and CPU have
 * it (x86-64 with PCLMULQDQ), each against zlib on random inputs of every
 * length to 300 with the data against an unreadable page, and the fold's
 * constants recomputed from the polynomial.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "cpu.h"
#include "crc32.h"
#include "guard.h"

/* The slicing-by-8 tables from the polynomial (Kounavis and Berry). */
static void generate(uint32_t t[8][256]) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) {
      c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    t[0][i] = c;
  }
  for (int lane = 1; lane < 8; lane++) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t prev = t[lane - 1][i];
      t[lane][i] = (prev >> 8) ^ t[0][prev & 0xffu];
    }
  }
}

static void tables_are_the_polynomials(void **state) {
  (void)state;
  static uint32_t want[8][256];
  generate(want);
  const uint32_t(*got)[256] = kg_crc32_tables();
  for (int lane = 0; lane < 8; lane++) {
    for (int i = 0; i < 256; i++) {
      if (got[lane][i] != want[lane][i]) {
        fail_msg("table %d entry %d: %08x, the polynomial gives %08x", lane, i,
                 got[lane][i], want[lane][i]);
      }
    }
  }
}

static uint32_t zlib_crc(uint32_t crc, const unsigned char *p, size_t n) {
  return (uint32_t)crc32(crc, p, (uInt)n);
}

static void every_byte_in_every_lane_is_zlibs(void **state) {
  (void)state;
  /* 256 blocks of 8 equal bytes: every value passes every lane. */
  static unsigned char buf[256 * 8 + 7];
  for (size_t v = 0; v < 256; v++) {
    memset(buf + v * 8, (int)v, 8);
  }
  for (size_t shift = 0; shift < 8; shift++) {
    assert_int_equal(kg_crc32(0, buf + shift, 256 * 8 - shift),
                     zlib_crc(0, buf + shift, 256 * 8 - shift));
  }
}

static void every_length_and_alignment_is_zlibs(void **state) {
  (void)state;
  static unsigned char buf[320];
  uint32_t x = 0x12345678u;
  for (size_t i = 0; i < sizeof buf; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (unsigned char)(x >> 16);
  }
  for (size_t off = 0; off < 8; off++) {
    for (size_t len = 0; len + off <= 300; len++) {
      uint32_t got = kg_crc32(0, buf + off, len);
      uint32_t want = zlib_crc(0, buf + off, len);
      if (got != want) {
        fail_msg("offset %zu length %zu: %08x, zlib %08x", off, len, got, want);
      }
      /* chained: the CRC of a then b is the update of a's with b */
      size_t half = len / 2;
      assert_int_equal(
          kg_crc32(kg_crc32(0, buf + off, half), buf + off + half, len - half),
          want);
    }
  }
}

/* ---- the fold's constants, from the polynomial -------------------------- */

/* GF(2) polynomials in uint64_t, bit d the coefficient of x^d; P has
 * degree 32 (x^32 + 0x04C11DB7, the normal form of 0xEDB88320). */
#define POLY 0x104C11DB7ull

static uint64_t xpow_mod_p(unsigned e) {
  uint64_t r = 1;
  for (unsigned i = 0; i < e; i++) {
    r <<= 1;
    if (r >> 32) {
      r ^= POLY;
    }
  }
  return r;
}

static uint64_t reflect(uint64_t v, unsigned bits) {
  uint64_t r = 0;
  for (unsigned i = 0; i < bits; i++) {
    r |= ((v >> i) & 1u) << (bits - 1 - i);
  }
  return r;
}

/* floor(x^64 / P) by long division (degree 32): the first step takes
 * x^64 away, leaving x^64 - x^32 * P in 64 bits. */
static uint64_t mu(void) {
  uint64_t rem = (POLY & 0xFFFFFFFFull) << 32;
  uint64_t q = 1ull << 32;
  for (int i = 31; i >= 0; i--) {
    if ((rem >> (32 + i)) & 1u) {
      q |= 1ull << i;
      rem ^= POLY << i;
    }
  }
  return q;
}

static void fold_constants_are_the_polynomials(void **state) {
  (void)state;
  const uint64_t *k = kg_crc32_fold_constants();
  if (k == NULL) {
    print_message("fold not compiled in this build (KEYGATE_NO_SIMD or "
                  "not x86-64)\n");
    return;
  }
  const uint64_t want[6] = {
      reflect(xpow_mod_p(160), 32) << 1,
      reflect(xpow_mod_p(96), 32) << 1,
      reflect(xpow_mod_p(64), 32) << 1,
      0,
      reflect(POLY, 33),
      reflect(mu(), 33),
  };
  for (int i = 0; i < 6; i++) {
    if (k[i] != want[i]) {
      fail_msg("fold constant %d: %llx, the polynomial gives %llx", i,
               (unsigned long long)k[i], (unsigned long long)want[i]);
    }
  }
  /* mu by its definition: deg(x^64 - mu * P) < 32, checked by multiplying
   * back (the product's bits 32..64 must be x^64's). */
  uint64_t m = mu();
  uint64_t lo = 0;
  uint64_t hi = 0; /* the product's bit 64 and up */
  for (int i = 0; i <= 32; i++) {
    if ((m >> i) & 1u) {
      lo ^= POLY << i;
      hi ^= i == 0 ? 0 : POLY >> (64 - i);
    }
  }
  assert_int_equal(hi, 1);
  assert_int_equal(lo >> 32, 0);
}

/* ---- both paths against zlib ------------------------------------------- */

static void both_paths_are_zlibs_on_every_length(void **state) {
  (void)state;
  static unsigned char src[300 + 16];
  uint64_t x = 0x9E3779B97F4A7C15ull;
  size_t folds = 0;
  const int fold_allowed = (kg_cpu() & KG_CPU_PCLMUL) != 0;
  for (int round = 0; round < 20; round++) {
    for (size_t i = 0; i < sizeof src; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      src[i] = (unsigned char)x;
    }
    for (size_t len = 0; len <= 300; len++) {
      uint32_t crc = round == 0 ? 0 : (uint32_t)(x >> 32) ^ (uint32_t)len;
      size_t off = (size_t)(len + (size_t)round) % 16;
      /* ends at an unreadable page: a fold that loads past it faults */
      const unsigned char *p =
          (const unsigned char *)guard_copy(src + off, len);
      uint32_t want = zlib_crc(crc, p, len);
      uint32_t table = kg_crc32_table(crc, p, len);
      if (table != want) {
        fail_msg("table: length %zu crc %08x: %08x, zlib %08x", len, crc, table,
                 want);
      }
      uint32_t fold = 0;
      int ran = kg_crc32_fold(crc, p, len, &fold);
      assert_int_equal(ran, fold_allowed && len >= 16);
      if (ran) {
        folds++;
        if (fold != want) {
          fail_msg("fold: length %zu crc %08x: %08x, zlib %08x", len, crc, fold,
                   want);
        }
      }
      assert_int_equal(kg_crc32(crc, p, len), want);
      if (len == 32) {
        /* the key body's length, by its own entry */
        assert_int_equal(kg_crc32_32(crc, p), want);
      }
    }
  }
  print_message("fold compared on %zu inputs (PCLMULQDQ %s)\n", folds,
                fold_allowed ? "in use" : "not in use");
}

/* kg_crc32_32, the key body's entry, on many 32-byte inputs and starting
 * values (the prefix's CRC in use), against zlib. */
static void the_32_byte_entry_is_zlibs(void **state) {
  (void)state;
  unsigned char src[32];
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (int round = 0; round < 20000; round++) {
    for (size_t i = 0; i < sizeof src; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      src[i] = (unsigned char)x;
    }
    uint32_t crc = round % 3 == 0 ? 0 : (uint32_t)(x >> 29);
    const unsigned char *p = (const unsigned char *)guard_copy(src, 32);
    uint32_t want = zlib_crc(crc, p, 32);
    uint32_t got = kg_crc32_32(crc, p);
    if (got != want) {
      fail_msg("round %d crc %08x: %08x, zlib %08x", round, crc, got, want);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(tables_are_the_polynomials, guard_teardown),
      cmocka_unit_test_teardown(every_byte_in_every_lane_is_zlibs,
                                guard_teardown),
      cmocka_unit_test_teardown(every_length_and_alignment_is_zlibs,
                                guard_teardown),
      cmocka_unit_test_teardown(fold_constants_are_the_polynomials,
                                guard_teardown),
      cmocka_unit_test_teardown(both_paths_are_zlibs_on_every_length,
                                guard_teardown),
      cmocka_unit_test_teardown(the_32_byte_entry_is_zlibs, guard_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
