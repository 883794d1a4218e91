/*
 * keygate/digest.h — the digest that stands for a key in the store and the
 * index: SHA-256 of the key, or HMAC-SHA-256 with a server pepper.
 *
 * The algorithm is fetched once (EVP_MD_fetch) and the contexts are made
 * once, in kg_digester_new; kg_digest allocates nothing and fetches nothing.
 * A digester holds mutable contexts: use one per thread.
 *
 * Timing: kg_digest's time depends on the key's length only.
 */
#ifndef KEYGATE_DIGEST_H
#define KEYGATE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_DIGEST_LEN 32
#define KG_PEPPER_MAX 64

typedef struct kg_digester kg_digester;

/*
 * kg_digester_new — make a digester. With pepper NULL or pepper_len 0 it
 * computes SHA-256(key); otherwise HMAC-SHA-256(pepper, key). The pepper is
 * copied into the HMAC state, never kept in clear beyond the call. Sets *out;
 * returns KG_OK, KG_E_ARGUMENT (pepper over KG_PEPPER_MAX), KG_E_NOMEM or
 * KG_E_CRYPTO. Free with kg_digester_free.
 */
kg_status kg_digester_new(const unsigned char *pepper, size_t pepper_len,
                          kg_digester **out);

/* kg_digester_free — free d and wipe its state. NULL is fine. */
void kg_digester_free(kg_digester *d);

/* kg_digester_is_keyed — 1 when d computes HMAC with a pepper. */
int kg_digester_is_keyed(const kg_digester *d);

/*
 * kg_digest — out = digest of (key, len). Returns KG_OK or KG_E_CRYPTO.
 * Allocates nothing. Not thread-safe for one d.
 */
kg_status kg_digest(kg_digester *d, const char *key, size_t len,
                    uint8_t out[KG_DIGEST_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_DIGEST_H */
