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
 * The longest target kg_decide scans in the digest's shadow: what one
 * kg_url_job holds, sixteen steps of sixteen bytes, one a round group
 * (urlscan.h). Until issue 14's sixth pass 64; the browser's 213-byte
 * target deferred saved 10-12 ns with the SHA extensions and the AVX2 scan
 * between two halves of the rounds, and 12-15 % of the decision more among
 * them (the nineteenth session; docs/benchmarks.md). A longer target is
 * scanned first, as every other request's, which then costs no digest
 * when refused for it.
 */
#define DEFER_TARGET_MAX KG_URL_JOB_TARGET_MAX

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
 * of the key's own): among the digest's rounds where it can
 * (kg_digest_scan), else right after the digest; only with a key the
 * extraction checked whole
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
  /* With the URL's scan to do, its steps among the digest's rounds where
   * the CPU has the SHA extensions (kg_digest_scan): the steps run beside
   * the rounds, which wait on each other; the work at any stop they found
   * after. Otherwise the digest, then the scan. */
  kg_url_job job;
  const int scanned = url != NULL &&
                      kg_url_job_init(&c->policy, url->target, url->fields,
                                      url->n, url->hosts, &job) &&
                      kg_digest_scan(c->digester, key, len, &job, digest);
  const kg_status dg =
      scanned ? KG_OK : kg_digest(c->digester, key, len, digest);
  if (dg == KG_OK) {
    kg_index_prefetch(c->index, digest);
  }
  if (url != NULL) {
    kg_status u = scanned ? kg_url_job_finish(&c->policy, &job, url->fields,
                                              url->n, url->hosts)
                          : kg_credential_url(&c->policy, url->target,
                                              url->fields, url->n, url->hosts);
    if (u != KG_OK) {
      kg_ct_wipe(digest, sizeof digest);
      return in_url(out, u);
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
   * with the digest (decide_key): the one-block digest by the SHA
   * extensions waits on SHA256RNDS2's latency, and the scan's steps, one a
   * round group, fill its idle slots. A longer target first, as every
   * other request, which then costs no digest when refused for it. */
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
