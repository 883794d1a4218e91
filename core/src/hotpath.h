/*
 * hotpath.h — internal pieces of the request path that decision.c
 * schedules itself (not installed; the public API is unchanged).
 *
 * A valid decision's only unavoidable cost is the digest (SPEC §4), so the
 * work around it is ordered to overlap with it:
 *
 *   1. kg_key_check_deferred: prefix, length and characters, and the
 *      checksum digits decoded (cheap, no table walk over the key);
 *   2. kg_digest (a chain of dependent SHA-256 rounds: the CPU has idle
 *      units to spare while it runs);
 *   3. kg_index_prefetch: both buckets' cache lines requested as soon as
 *      the digest is known, so at millions of keys the two random memory
 *      accesses are in flight together while step 4 runs;
 *   4. kg_key_crc_ok: the CRC-32 over the key body, independent of 2 and 3;
 *   5. kg_index_lookup: the constant-time compare.
 *
 * kg_key_check is exactly 1 then 4 (key.c), so both orders give the same
 * answer for every key; only a key with a wrong checksum costs a digest
 * more than before (docs/benchmarks.md).
 */
#ifndef KEYGATE_HOTPATH_H
#define KEYGATE_HOTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/index.h"
#include "keygate/key.h"

/* What kg_key_crc_ok still has to verify after kg_key_check_deferred. */
typedef struct kg_key_pending {
  int crc;       /* 1: the CRC-32 of the body must equal `want` */
  uint64_t want; /* the checksum digits' value */
} kg_key_pending;

/* kg_key_check without the CRC-32 comparison: KG_OK means "well formed if
 * kg_key_crc_ok agrees". Same arguments and statuses as kg_key_check. */
kg_status kg_key_check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending);

/* KG_OK, or KG_KEY_BAD_CHECKSUM; key is what kg_key_check_deferred saw. */
kg_status kg_key_crc_ok(const kg_key_policy *p, const char *key,
                        const kg_key_pending *pending);

/* kg_index_prefetch — request the cache lines kg_index_lookup will read
 * for this digest (both buckets, whole). Addresses depend on the presented
 * digest only, exactly the ones the lookup reads. No-op without a
 * prefetch builtin. */
void kg_index_prefetch(const kg_index *idx,
                       const uint8_t digest[KG_DIGEST_LEN]);

/* kg_index_huge_pages — 1 when the table was advised MADV_HUGEPAGE and the
 * kernel accepted the advice; 0 for a table too small to ask, or where the
 * system does not offer it. */
int kg_index_huge_pages(const kg_index *idx);

#endif /* KEYGATE_HOTPATH_H */
