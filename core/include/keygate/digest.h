/*
 * keygate/digest.h — the digest that stands for a key in the store and the
 * index: SHA-256 of the key, or HMAC-SHA-256 with a server pepper.
 *
 * Two implementations, the same digests (tests/unit/test_digest.c runs its
 * vectors under each: unit.digest and unit.digest.evp):
 *  - KG_DIGEST_BUILTIN, the default and the fast path: OpenSSL's SHA-256
 *    compression function (SHA256_Transform, deprecated in OpenSSL 3) from
 *    a state saved at kg_digester_new, with the padding and the HMAC pads
 *    written here. Allocates nothing, cannot fail. It bypasses OpenSSL's
 *    providers: a FIPS-configured deployment is not using the FIPS module
 *    on this path. Checked against the provider at kg_digester_new.
 *  - KG_DIGEST_EVP, the provider path: EVP_MD SHA-256 fetched once, and
 *    HMAC through EVP_MAC keyed once, at kg_digester_new; per call each
 *    thread re-initialises contexts of its own (made on its first call).
 *    OpenSSL 3.1 and later keep the provider's context across calls;
 *    OpenSSL 3.0 frees and re-makes it, one allocation per call. Its cost
 *    is measured in docs/benchmarks.md (2.6x the fast path on 3.0).
 * KEYGATE_DIGEST=evp (or =builtin) in the environment chooses for
 * kg_digester_new at run time; the CMake option KEYGATE_DIGEST_EVP makes
 * the provider path the default at build time.
 *
 * A digester is read-only after kg_digester_new: one digester may be
 * shared by any number of threads calling kg_digest at once.
 *
 * Timing: kg_digest's time depends on the key's length only.
 */
#ifndef KEYGATE_DIGEST_H
#define KEYGATE_DIGEST_H

#include "keygate/api.h"
#include <stddef.h>
#include <stdint.h>

#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_DIGEST_LEN 32
#define KG_PEPPER_MAX 64

typedef struct kg_digester kg_digester;

/* Which implementation computes a digester's digests (see above). */
typedef enum kg_digest_impl {
  KG_DIGEST_AUTO = 0,    /* KEYGATE_DIGEST, else the build's default */
  KG_DIGEST_BUILTIN = 1, /* the fast path */
  KG_DIGEST_EVP = 2      /* OpenSSL's providers (EVP_MD, EVP_MAC) */
} kg_digest_impl;

/*
 * kg_digester_new — make a digester. With pepper NULL or pepper_len 0 it
 * computes SHA-256(key); otherwise HMAC-SHA-256(pepper, key). The pepper is
 * copied into the HMAC state, never kept in clear beyond the call. Sets *out;
 * returns KG_OK, KG_E_ARGUMENT (pepper over KG_PEPPER_MAX, or KEYGATE_DIGEST
 * set to something other than "builtin" or "evp"), KG_E_NOMEM or
 * KG_E_CRYPTO (the provider lacks SHA-256 or HMAC, or disagrees with the
 * fast path). The implementation is KG_DIGEST_AUTO's. Free with
 * kg_digester_free.
 */
KG_API KG_NODISCARD kg_status kg_digester_new(const unsigned char *pepper,
                                              size_t pepper_len,
                                              kg_digester **out);

/* kg_digester_new_ex — kg_digester_new with the implementation chosen by
 * the caller (KG_DIGEST_AUTO: as kg_digester_new). */
KG_API KG_NODISCARD kg_status kg_digester_new_ex(const unsigned char *pepper,
                                                 size_t pepper_len,
                                                 kg_digest_impl impl,
                                                 kg_digester **out);

/* kg_digester_impl — the implementation d uses (KG_DIGEST_BUILTIN or
 * KG_DIGEST_EVP); KG_DIGEST_AUTO for NULL (no digester, no implementation). */
KG_API kg_digest_impl kg_digester_impl(const kg_digester *d);

/* kg_digester_free — free d and wipe its state. NULL is fine. */
KG_API void kg_digester_free(kg_digester *d);

/* kg_digester_is_keyed — 1 when d computes HMAC with a pepper; 0 for
 * NULL. */
KG_API int kg_digester_is_keyed(const kg_digester *d);

/*
 * kg_digest — out = digest of (key, len). d is only read: any number of
 * threads may share it. The fast path cannot fail: it returns KG_OK. The
 * provider path returns KG_OK, or KG_E_CRYPTO when OpenSSL fails (an
 * allocation: on OpenSSL 3.0 each call allocates). NULL d or out is a
 * caller's bug (keygate/api.h). The fast path allocates nothing.
 */
KG_API kg_status kg_digest(const kg_digester *d, const char *key, size_t len,
                           uint8_t out[KG_DIGEST_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_DIGEST_H */
