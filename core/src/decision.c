/*
 * decision.c — SPEC §1.3: from a request's fields to one decision.
 */
#include "keygate/decision.h"

#include <string.h>

#include "ct.h"

static kg_status finish(kg_decision *out, kg_status decision,
                        kg_status detail) {
  out->decision = decision;
  out->detail = detail;
  return decision;
}

kg_status kg_decide_key(const kg_checker *c, const char *key, size_t len,
                        int64_t now, kg_decision *out) {
  out->found = 0;
  /* A mistyped or truncated key is refused before any lookup. */
  kg_status fmt = kg_key_check(&c->policy, key, len);
  if (fmt != KG_OK) {
    memset(&out->record, 0, sizeof out->record);
    return finish(out, KG_INVALID_API_KEY, fmt);
  }
  uint8_t digest[KG_DIGEST_LEN];
  if (kg_digest(c->digester, key, len, digest) != KG_OK) {
    memset(&out->record, 0, sizeof out->record);
    return finish(out, KG_INVALID_API_KEY, KG_E_CRYPTO);
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
  out->key = cred.key;
  out->sources = cred.sources;
  if (cred.outcome != KG_OK) {
    out->found = 0;
    memset(&out->record, 0, sizeof out->record);
    return finish(out, cred.outcome, cred.detail);
  }
  return kg_decide_key(c, cred.key.ptr, cred.key.len, now, out);
}
