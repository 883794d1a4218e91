/*
 * decision.c — SPEC §1.3: from a request's fields to one decision.
 */
#include "keygate/decision.h"

#include <string.h>

#include "ct.h"
#include "hotpath.h"

static kg_status finish(kg_decision *out, kg_status decision,
                        kg_status detail) {
  out->decision = decision;
  out->detail = detail;
  return decision;
}

kg_status kg_decide_key(const kg_checker *c, const char *key, size_t len,
                        int64_t now, kg_decision *out) {
  out->found = 0;
  /* A mistyped or truncated key is refused before any lookup: its prefix,
   * length and characters here, its checksum below, before the lookup. The
   * order is hotpath.h's: the CRC and the buckets' memory accesses run
   * while the CPU is still busy with the digest. */
  kg_key_pending pending;
  kg_status fmt = kg_key_check_deferred(&c->policy, key, len, &pending);
  if (fmt != KG_OK) {
    memset(&out->record, 0, sizeof out->record);
    return finish(out, KG_INVALID_API_KEY, fmt);
  }
  uint8_t digest[KG_DIGEST_LEN];
  if (kg_digest(c->digester, key, len, digest) != KG_OK) {
    memset(&out->record, 0, sizeof out->record);
    return finish(out, KG_INVALID_API_KEY, KG_E_CRYPTO);
  }
  kg_index_prefetch(c->index, digest);
  fmt = kg_key_crc_ok(&c->policy, key, &pending);
  if (fmt != KG_OK) {
    kg_ct_wipe(digest, sizeof digest);
    memset(&out->record, 0, sizeof out->record);
    return finish(out, KG_INVALID_API_KEY, fmt);
  }
  /* kg_index_lookup writes the whole record, zeroes on a miss. */
  int found = kg_index_lookup(c->index, digest, &out->record);
  kg_ct_wipe(digest, sizeof digest);
  /* The match bit is final; the record may steer what follows. */
  if (!found) {
    return finish(out, KG_INVALID_API_KEY, KG_KEY_UNKNOWN);
  }
  out->found = 1;
  switch (out->record.status) {
  case KG_REC_ACTIVE:
    break;
  case KG_REC_DEACTIVATED:
    return finish(out, KG_EXPIRED_API_KEY, KG_KEY_DEACTIVATED);
  case KG_REC_EXPIRED:
    return finish(out, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED);
  default: /* KG_REC_DELETED, or a status this build does not know */
    return finish(out, KG_INVALID_API_KEY, KG_KEY_DELETED);
  }
  if (out->record.expires_at != 0 && now >= out->record.expires_at) {
    return finish(out, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED);
  }
  return finish(out, KG_VALID, KG_OK);
}

kg_status kg_decide(const kg_checker *c, const kg_field *fields, size_t n,
                    kg_span target, int64_t now, kg_decision *out) {
  kg_credential cred;
  kg_credential_extract(&c->policy, fields, n, target, &cred);
  /* Copied as two words: extract stored them as two words, and one 16-byte
   * load of both would wait for the stores to drain (no store
   * forwarding). */
  const char *key_ptr = cred.key.ptr;
  size_t key_len = cred.key.len;
#if defined(__GNUC__) || defined(__clang__)
  __asm__("" : "+r"(key_ptr), "+r"(key_len));
#endif
  out->key.ptr = key_ptr;
  out->key.len = key_len;
  out->sources = cred.sources;
  if (cred.outcome != KG_OK) {
    out->found = 0;
    memset(&out->record, 0, sizeof out->record);
    return finish(out, cred.outcome, cred.detail);
  }
  return kg_decide_key(c, key_ptr, key_len, now, out);
}
