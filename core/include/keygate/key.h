/*
 * keygate/key.h — the API-key format of SPEC §1.2: checking, generating and
 * masking keys.
 *
 * Strict policy (issued keys):
 *     prefix + 32 base62 random characters + 6 base62 characters holding the
 *     CRC32 (zlib, IEEE) of the 40 characters before them, most significant
 *     digit first, left-padded with '0'. With "sk_live_": 46 characters.
 * Prefix policy (keys of other issuers):
 *     prefix + token68 characters, KG_KEY_PREFIX_MIN_LEN..KG_KEY_PREFIX_MAX_LEN
 *     bytes in all.
 * Base62 digits are 0-9A-Za-z in that order.
 *
 * Arguments follow the NULL policy of api.h.
 *
 * Timing: the format check depends on the presented key's bytes. It runs
 * before any lookup, on the client's input, and reads no stored secret.
 */
#ifndef KEYGATE_KEY_H
#define KEYGATE_KEY_H

#include "keygate/api.h"
#include <stddef.h>
#include <stdint.h>

#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_KEY_PREFIX_MAX 16      /* longest configurable prefix */
#define KG_KEY_RANDOM_CHARS 32    /* base62 characters from the CSPRNG */
#define KG_KEY_CHECKSUM_CHARS 6   /* base62 digits of the CRC32 */
#define KG_KEY_PREFIX_MIN_LEN 16  /* prefix policy: shortest whole key */
#define KG_KEY_PREFIX_MAX_LEN 256 /* prefix policy: longest whole key */
#define KG_KEY_MAX_LEN 256        /* no accepted key is longer */
#define KG_KEY_URL_SCAN_BYTES 88  /* kg_key_policy's url_scan */
/* "sk_live_" + "****" + 4 characters + NUL */
#define KG_KEY_HINT_MAX (KG_KEY_PREFIX_MAX + 4 + 4 + 1)

typedef enum kg_key_kind {
  KG_KEY_STRICT = 0, /* prefix + 32 random + 6 checksum, base62 */
  KG_KEY_PREFIX = 1  /* prefix + token68, 16..256 bytes */
} kg_key_kind;

typedef struct kg_key_policy {
  kg_key_kind kind;
  char prefix[KG_KEY_PREFIX_MAX + 1]; /* NUL-terminated copy */
  size_t prefix_len;
  uint32_t prefix_crc; /* CRC-32 of the prefix, so a check starts after it */
  /* The URL scan's view of the prefix, set by kg_key_policy_init and read
   * by the library only (credential.c): its first two characters as the
   * scan matches them, in 16 lanes each, then as bytes, then whether the
   * vector scans' nibble tables can hold the first, and those tables. */
  unsigned char url_scan[KG_KEY_URL_SCAN_BYTES];
} kg_key_policy;

/*
 * kg_key_kind_parse — the kind named by (name, len): "strict" or "prefix",
 * exactly (the values of keygate_key_format and keygate check --policy).
 * Sets *kind and returns KG_OK, or returns KG_E_ARGUMENT for any other
 * name. kg_key_kind_str is its inverse ("strict", "prefix"; "" for a value
 * that is not a kind).
 */
KG_API KG_NODISCARD kg_status kg_key_kind_parse(const char *name, size_t len,
                                                kg_key_kind *kind);
KG_API const char *kg_key_kind_str(kg_key_kind kind);

/*
 * kg_key_policy_init — set *p to kind with the given prefix (1 to
 * KG_KEY_PREFIX_MAX bytes of [A-Za-z0-9_-]). Returns KG_OK or KG_E_ARGUMENT.
 * The policy is a plain value: copy it freely.
 */
KG_API KG_NODISCARD kg_status kg_key_policy_init(kg_key_policy *p,
                                                 kg_key_kind kind,
                                                 const char *prefix,
                                                 size_t prefix_len);

/* kg_key_strict_len — the exact length of a strict key under p (46 for
 * sk_live_). */
KG_API size_t kg_key_strict_len(const kg_key_policy *p);

/*
 * kg_key_check — is (key, len) well formed under p?
 * Returns KG_OK, or why not: KG_KEY_BAD_PREFIX, KG_KEY_BAD_LENGTH,
 * KG_KEY_BAD_CHARACTER, KG_KEY_BAD_CHECKSUM (strict only).
 */
KG_API KG_NODISCARD kg_status kg_key_check(const kg_key_policy *p,
                                           const char *key, size_t len);

/*
 * kg_key_generate — write a fresh strict key under p into out (capacity cap,
 * NUL-terminated) from OpenSSL RAND_bytes, base62 without modulo bias.
 * Sets *out_len to its length. Returns KG_OK, KG_E_BUFFER_TOO_SMALL, or
 * KG_E_CRYPTO when the CSPRNG fails. The caller owns out and should wipe it
 * (OPENSSL_cleanse) once the key has been shown.
 */
KG_API kg_status kg_key_generate(const kg_key_policy *p, char *out, size_t cap,
                                 size_t *out_len);

/*
 * kg_key_compose — the strict key under p whose random part is body
 * (KG_KEY_RANDOM_CHARS base62 characters): prefix, body, checksum, NUL, in
 * out (capacity cap); sets *out_len. kg_key_generate is this with a body
 * from the CSPRNG; a caller with its own source (a benchmark's fixed,
 * reproducible keys) uses it so that every key is made one way. Returns
 * KG_OK, KG_E_BUFFER_TOO_SMALL, or KG_E_ARGUMENT (a NULL argument, or a
 * body byte that is not base62).
 */
KG_API kg_status kg_key_compose(const kg_key_policy *p,
                                const char body[KG_KEY_RANDOM_CHARS], char *out,
                                size_t cap, size_t *out_len);

/*
 * kg_key_hint — the display form of a key, safe for logs: the policy's
 * prefix when the key starts with it, "****", and the key's last four
 * characters ("sk_live_****Ab3x"), shown only when at least 12 characters
 * follow the shown prefix, so at least 8 stay hidden ("sk_live_****" else).
 * Only printable ASCII is shown; other bytes become '?'. Writes at most
 * KG_KEY_HINT_MAX bytes including the NUL into out; returns the length written,
 * or 0 when cap is too small. p may be NULL (no prefix is shown) and key
 * may be NULL with len 0 (nothing was presented): "****".
 */
KG_API size_t kg_key_hint(const kg_key_policy *p, const char *key, size_t len,
                          char *out, size_t cap);

/*
 * kg_base62_encode_u32 — write v as exactly `width` base62 digits, most
 * significant first, left-padded with '0'. Returns 0 when v does not fit.
 */
KG_API int kg_base62_encode_u32(unsigned long v, char *out, size_t width);

/*
 * kg_random_base62 — fill out[0..n) with uniformly random base62 characters
 * from RAND_bytes (rejection sampling: no modulo bias). KG_OK or KG_E_CRYPTO.
 */
KG_API kg_status kg_random_base62(char *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_KEY_H */
