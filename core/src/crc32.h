/*
 * crc32.h — CRC-32 as zlib computes it (internal).
 */
#ifndef KEYGATE_CRC32_H
#define KEYGATE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * kg_crc32 — update crc with buf[0..len) and return it; start with 0. The
 * same function as zlib's crc32(crc, buf, len). Timing depends on len only
 * (table lookups indexed by data: not for secrets; keys' checksums are not
 * secret).
 */
uint32_t kg_crc32(uint32_t crc, const void *buf, size_t len);

/* kg_crc32_tables — the eight slicing-by-8 tables, 256 entries each, for
 * the test that regenerates them from the polynomial (unit.crc32). */
const uint32_t (*kg_crc32_tables(void))[256];

#endif /* KEYGATE_CRC32_H */
