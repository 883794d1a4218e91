/*
 * crc32.h — CRC-32 as zlib computes it (internal).
 */
#ifndef KEYGATE_CRC32_H
#define KEYGATE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * kg_crc32 — update crc with buf[0..len) and return it; start with 0. The
 * same function as zlib's crc32(crc, buf, len). Timing: on x86-64 with
 * PCLMULQDQ (cpu.h) and len >= 16, the carry-less fold, whose time and
 * addresses depend on len only; the first len % 16 bytes, and everything
 * on the table path (no PCLMULQDQ, KEYGATE_CPU=baseline, KEYGATE_NO_SIMD,
 * another architecture), go through table lookups indexed by the data.
 */
uint32_t kg_crc32(uint32_t crc, const void *buf, size_t len);

/* The two paths one at a time, for the tests: kg_crc32_table always runs
 * the tables; kg_crc32_fold runs the fold and returns 1 with *out set when
 * kg_crc32 would (x86-64, PCLMULQDQ allowed, len >= 16), else returns 0. */
uint32_t kg_crc32_table(uint32_t crc, const void *buf, size_t len);
int kg_crc32_fold(uint32_t crc, const void *buf, size_t len, uint32_t *out);

/* kg_crc32_32 — kg_crc32(crc, buf, 32): the key body's 32 random
 * characters, the fold without its length's tests. */
uint32_t kg_crc32_32(uint32_t crc, const void *buf);

/* kg_crc32_tables — the eight slicing-by-8 tables, 256 entries each, for
 * the test that regenerates them from the polynomial (unit.crc32). */
const uint32_t (*kg_crc32_tables(void))[256];

/* kg_crc32_fold_constants — the fold's six 64-bit constants (x^160, x^96,
 * x^64 mod P, 0, P, floor(x^64 / P), each bit-reflected in 33 bits as
 * crc32.c says), for unit.crc32 to recompute; NULL where the fold is not
 * compiled. */
const uint64_t *kg_crc32_fold_constants(void);

#endif /* KEYGATE_CRC32_H */
