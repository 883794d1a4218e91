/*
 * decision.c — SPEC §1.3: from a request's fields to one decision.
 */
#include "keygate/decision.h"

#include <string.h>

#include "ct.h"
#include "defensive.h"
#include "hotpath.h"

static kg_status finish(kg_decision *out, kg_status decision,
                        kg_status detail) {
  out->decision = decision;
  out->detail = detail;
  return decision;
}

/* A key in the URL outranks the key's own outcome (SPEC §1.3): the
 * decision then names no key and no source, as kg_credential_extract's. */
static kg_status in_url(kg_decision *out, kg_status why) {
  out->found = 0;
  out->key.ptr = NULL;
  out->key.len = 0;
  out->sources = 0;
  memset(&out->record, 0, sizeof out->record);
  return finish(out, KG_API_KEY_IN_QUERY, why);
}

/* The key refused before the lookup. */
static kg_status refused(kg_decision *out, kg_status why) {
  memset(&out->record, 0, sizeof out->record);
  return finish(out, KG_INVALID_API_KEY, why);
}

/*
 * The longest target kg_decide scans in the digest's shadow. 64 until
 * issue 14's sixth pass: with OpenSSL's digest and the 16-byte chunks, a
 * browser's 213-byte target deferred cost 1-7 ns (the fourth pass); with
 * the SHA extensions' rounds and the AVX2 scan it saves 10-12 ns
 * (docs/benchmarks.md). 256 bytes is eight AVX2 steps, well inside the
 * digest's 32 rounds; a longer target is scanned first.
 */
#define DEFER_TARGET_MAX 256

/* The URL's scan when kg_decide leaves it to decide_key (below). */
typedef struct url_later {
  kg_span target;
  const kg_field *fields;
  size_t n;
  const kg_url_hosts *hosts;
} url_later;

/*
 * decide_key — kg_decide_key, given what the extraction checked of the key
 * already (*pending; checked = 0 for nothing): the order of hotpath.h.
 * Inline in both callers: kg_decide then runs in one frame. url, when not
 * NULL, is the URL's scan still to do (a key there outranks every outcome
 * of the key's own): right after the digest starts, so that it runs while
 * the digest's rounds do; only with a key the extraction checked whole
 * (pending->checked), so nothing is refused before it. *pending is the
 * caller's, used in place: a copy would load its 16 bytes in one, before
 * the extraction's separate stores of them have drained (no store
 * forwarding).
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((always_inline))
#endif
static inline kg_status
decide_key(const kg_checker *c, const char *key, size_t len, int64_t now,
           kg_key_pending *pending, const url_later *url, kg_decision *out) {
  out->found = 0;
  /* A mistyped or truncated key is refused before any lookup: its prefix,
   * length and characters here (unless the extraction checked them
   * already), its checksum below, before the lookup. */
  if (!pending->checked) {
    kg_status fmt = kg_key_check_deferred(&c->policy, key, len, pending);
    if (fmt != KG_OK) {
      return refused(out, fmt);
    }
  }
  uint8_t digest[KG_DIGEST_LEN];
  /* With the URL's scan to do, the digest in two halves around it
   * (kg_digest_begin): the scan's instructions then enter the core while
   * the first half's rounds wait on each other, and the second half's
   * follow. Whole, the digest's instructions come first and the scan's
   * enter only as the rounds retire. Otherwise, or where there are no
   * halves, kg_digest. */
  kg_digest_half half;
  const int split =
      url != NULL && kg_digest_begin(c->digester, key, len, &half);
  kg_status dg = KG_OK;
  if (!split) {
    dg = kg_digest(c->digester, key, len, digest);
    if (dg == KG_OK) {
      kg_index_prefetch(c->index, digest);
    }
  }
  if (url != NULL) {
    kg_status u = kg_credential_url(&c->policy, url->target, url->fields,
                                    url->n, url->hosts);
    if (u != KG_OK) {
      if (split) {
        kg_ct_wipe(&half, sizeof half);
      } else {
        kg_ct_wipe(digest, sizeof digest);
      }
      return in_url(out, u);
    }
  }
  if (split) {
    dg = kg_digest_finish(c->digester, &half, digest);
    if (dg == KG_OK) {
      kg_index_prefetch(c->index, digest);
    }
  }
  if (dg != KG_OK) {
    return refused(out, KG_E_CRYPTO);
  }
  kg_status fmt = kg_key_crc_ok(&c->policy, key, pending);
  if (fmt != KG_OK) {
    kg_ct_wipe(digest, sizeof digest);
    return refused(out, fmt);
  }
  /* kg_index_lookup writes the whole record, zeroes on a miss. */
  int found = kg_index_lookup(c->index, digest, &out->record);
  kg_ct_wipe(digest, sizeof digest);
  /* The match bit is final; the record may steer what follows. */
  if (!found) {
    return finish(out, KG_INVALID_API_KEY, KG_KEY_UNKNOWN);
  }
  out->found = 1;
  /* An active key first: the one case a valid decision takes. */
  if (out->record.status != KG_REC_ACTIVE) {
    switch (out->record.status) {
    case KG_REC_DEACTIVATED:
      return finish(out, KG_EXPIRED_API_KEY, KG_KEY_DEACTIVATED);
    case KG_REC_EXPIRED:
      return finish(out, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED);
    default: /* KG_REC_DELETED, or a status this build does not know */
      return finish(out, KG_INVALID_API_KEY, KG_KEY_DELETED);
    }
  }
  if (out->record.expires_at != 0 && now >= out->record.expires_at) {
    return finish(out, KG_EXPIRED_API_KEY, KG_KEY_EXPIRED);
  }
  return finish(out, KG_VALID, KG_OK);
}

kg_status kg_decide_key(const kg_checker *c, const char *key, size_t len,
                        int64_t now, kg_decision *out) {
  if (KG_NEVER(c == NULL || out == NULL || (key == NULL && len > 0))) {
    return KG_E_ARGUMENT;
  }
  kg_key_pending none = {0, 0, 0};
  return decide_key(c, key, len, now, &none, NULL, out);
}

kg_status kg_decide(const kg_checker *c, const kg_field *fields, size_t n,
                    kg_span target, int64_t now, kg_decision *out) {
  if (KG_NEVER(c == NULL || out == NULL || (fields == NULL && n > 0) ||
               (target.ptr == NULL && target.len > 0))) {
    return KG_E_ARGUMENT;
  }
  kg_credential cred;
  kg_url_hosts hosts;
  kg_key_pending pending = {0, 0, 0};
  const kg_span key =
      kg_credential_fields(&c->policy, fields, n, &cred, &hosts, &pending);
  /* SPEC §1.3 precedence: a key in the URL first. A well-formed key's
   * request with a target of up to DEFER_TARGET_MAX bytes has it scanned
   * while the digest runs (decide_key): the one-block digest by the SHA
   * extensions waits on SHA256RNDS2's latency, and the scan's vector
   * operations (a few hundred instructions, 32 bytes a step by AVX2) fill
   * its idle slots. A longer target first, as every other request, which
   * then costs no digest when refused for it. */
  int defer = cred.outcome == KG_OK && pending.checked &&
              target.len <= DEFER_TARGET_MAX;
  if (!defer) {
    kg_status u = kg_credential_url(&c->policy, target, fields, n, &hosts);
    if (u != KG_OK) {
      return in_url(out, u);
    }
  }
  /* The key's span as kg_credential_fields returned it (registers), not
   * read back from cred. */
  const char *key_ptr = key.ptr;
  size_t key_len = key.len;
  out->key.ptr = key_ptr;
  out->key.len = key_len;
  out->sources = cred.sources;
  if (cred.outcome == KG_OK) {
    const url_later later = {target, fields, n, &hosts};
    return decide_key(c, key_ptr, key_len, now, &pending, defer ? &later : NULL,
                      out);
  }
  out->found = 0;
  memset(&out->record, 0, sizeof out->record);
  return finish(out, cred.outcome, cred.detail);
}
