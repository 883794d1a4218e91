/*
 * test_crc32.c — the core's CRC-32 (crc32.c): its 2,048 table entries are
 * the reflected IEEE polynomial's, regenerated here, and kg_crc32 is
 * zlib's crc32 on every byte value in every lane, every length and
 * alignment up to 300 bytes, and chained.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(tables_are_the_polynomials, guard_teardown),
      cmocka_unit_test_teardown(every_byte_in_every_lane_is_zlibs,
                                guard_teardown),
      cmocka_unit_test_teardown(every_length_and_alignment_is_zlibs,
                                guard_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
