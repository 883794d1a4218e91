/*
 * ct.c — the out-of-line constant-time helper (see ct.h for the rules).
 */
#include "ct.h"

#include <openssl/crypto.h>

uint32_t kg_ct_eq(const void *a, const void *b, size_t len) {
  /* CRYPTO_memcmp returns 0 when equal, non-zero otherwise, in time that
   * depends on len only. Fold it to 0/1 without a branch. */
  int r = CRYPTO_memcmp(a, b, len);
  return kg_ct_nonzero_u64((uint64_t)(unsigned)r) ^ 1u;
}
