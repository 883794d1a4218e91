/*
 * hotpath.h — internal pieces of the request path that decision.c
 * schedules itself (not installed; the public API is unchanged).
 *
 * A valid decision's only unavoidable cost is the digest (SPEC §4); the
 * rest is ordered so that each byte is looked at once and the memory
 * accesses start early:
 *
 *   0. kg_credential_fields: the key from the fields; on its token the
 *      strict format (prefix, length, base62 body and checksum digits,
 *      kg_key_strict_quick), which implies token68, so the token is
 *      scanned once; what is left for the key check is *pending;
 *   1. kg_credential_url: the target and Host scans (a key in the URL
 *      outranks the key's own outcome, and costs no digest);
 *   2. kg_key_check_deferred, when 0 did not check the key (a non-strict
 *      policy, or kg_decide_key);
 *   3. kg_digest; where kg_decide leaves the URL's scan (1) to run in the
 *      digest's shadow, kg_digest_scan: the scan's steps among the SHA
 *      rounds (urlscan.h), the work at any stop they find after them
 *      (kg_url_job_finish);
 *   4. kg_index_prefetch: both buckets' cache lines requested as soon as
 *      the digest is known, so at millions of keys the two random memory
 *      accesses are in flight together while step 5 runs (tables over
 *      1 MiB only);
 *   5. kg_key_crc_ok: the CRC-32 over the key body, independent of 3 and 4
 *      (out-of-order execution runs it beside them);
 *   6. kg_index_lookup: the constant-time compare.
 *
 * kg_key_check is exactly 2 then 5 (key.c), so both orders give the same
 * answer for every key; only a key with a wrong checksum costs a digest
 * more than before (docs/benchmarks.md).
 */
#ifndef KEYGATE_HOTPATH_H
#define KEYGATE_HOTPATH_H

#include <stddef.h>
#include <stdint.h>

#include "crc32.h"
#include "keygate/credential.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "urlscan.h"

/* What kg_key_crc_ok still has to verify after kg_key_check_deferred. */
typedef struct kg_key_pending {
  int checked;   /* 1: kg_key_check_deferred's part is done, KG_OK */
  int crc;       /* 1: the CRC-32 of the body must equal `want` */
  uint64_t want; /* the checksum digits' value */
} kg_key_pending;

/* kg_key_strict_quick — 1 when (key, len) is a strict key as far as
 * kg_key_check_deferred goes (policy strict, prefix, length, base62 body
 * and checksum digits), with *pending set as it would set it (checked = 1);
 * 0 otherwise, *pending untouched. A key it accepts is token68. */
int kg_key_strict_quick(const kg_key_policy *p, const char *key, size_t len,
                        kg_key_pending *pending);

/* kg_url_scan_prepare — the URL scan's view of a policy's prefix
 * (credential.c), into kg_key_policy's url_scan: kg_key_policy_init calls
 * it once, so no request computes it. prefix_len >= 1. */
void kg_url_scan_prepare(const char *prefix, size_t prefix_len,
                         unsigned char out[KG_KEY_URL_SCAN_BYTES]);

/* kg_url_scan_wide — 1 when kg_url_scan_prepare found p's prefix fit for
 * the nibble tables (two characters at least, the first's low nibble
 * neither 'y''s nor 'n''s: the tables' classes): the AVX2 scan of a
 * target over 64 bytes where the CPU has AVX2, and kg_url_job; 0: the
 * 16-byte chunks, with the same answers. */
static inline int kg_url_scan_wide(const kg_key_policy *p) {
  return p->url_scan[KG_URL_K_WIDE] != 0;
}

/* The Host fields kg_credential_url scans besides the target: the first
 * one's index ((size_t)-1 for none), and whether more follow. */
typedef struct kg_url_hosts {
  size_t first;
  int more;
} kg_url_hosts;

/* kg_credential_fields — kg_credential_extract without the URL: what the
 * fields say (key, missing, malformed, ambiguous), as if neither the target
 * nor a Host held a key; notes the Host fields for kg_credential_url.
 * Returns out->key, in registers: the decision's next step (the digest)
 * reads it from them, not back from *out (a store-forwarding wait on the
 * key's own latency chain). */
kg_span kg_credential_fields(const kg_key_policy *p, const kg_field *fields,
                             size_t n, kg_credential *out, kg_url_hosts *hosts,
                             kg_key_pending *pending);

/* kg_credential_url — KG_OK, or why the URL holds a key (KG_URL_KEY_*):
 * the target, then each Host field in order. kg_credential_extract is
 * kg_credential_fields then this, a URL key taking precedence (SPEC §1.3);
 * kg_decide runs the two itself (hotpath.h's order). */
kg_status kg_credential_url(const kg_key_policy *p, kg_span target,
                            const kg_field *fields, size_t n,
                            const kg_url_hosts *hosts);

/*
 * kg_url_job_init — 1 when kg_credential_url's scan of this request can be
 * a kg_url_job (urlscan.h) for the digest's rounds to run, set in *j: a
 * CPU with the SHA extensions (KG_CPU_SHA: only their rounds run a job),
 * a policy whose prefix the nibble tables hold (kg_url_scan_wide), a target
 * of at most KG_URL_JOB_TARGET_MAX bytes and a first Host (if any) of at
 * most KG_URL_JOB_HOST_MAX; 0 otherwise, *j not to be used. Inline, as is
 * kg_url_job_finish's common case: both run on the decision's chain.
 */
static inline int kg_url_job_init(const kg_key_policy *p, kg_span target,
                                  const kg_field *fields, size_t n,
                                  const kg_url_hosts *hosts, kg_url_job *j) {
  if ((kg_cpu() & KG_CPU_SHA) == 0 || !kg_url_scan_wide(p) ||
      target.len > KG_URL_JOB_TARGET_MAX) {
    return 0;
  }
  j->host.ptr = NULL;
  j->host.len = 0;
  if (hosts->first < n) {
    j->host = fields[hosts->first].value;
    if (j->host.len > KG_URL_JOB_HOST_MAX) {
      return 0;
    }
  }
  j->target = target;
  j->tables = p->url_scan;
  j->p0 = p->url_scan[KG_URL_K_BYTES];
  j->p1 = p->url_scan[KG_URL_K_BYTES + 2];
  return 1;
}

/* kg_url_job_stops — kg_url_job_finish's work when a stop is left or
 * more Host fields follow (credential.c). */
kg_status kg_url_job_stops(const kg_key_policy *p, const kg_url_job *j,
                           const kg_field *fields, size_t n,
                           const kg_url_hosts *hosts);

/* kg_url_job_finish — what kg_credential_url answers for the same request,
 * from the stops kg_digest_scan found: the work at each in position order,
 * the target's then the first Host's, then the Host fields after it. */
static inline kg_status kg_url_job_finish(const kg_key_policy *p,
                                          const kg_url_job *j,
                                          const kg_field *fields, size_t n,
                                          const kg_url_hosts *hosts) {
  uint64_t any = j->host_stops;
  for (size_t w = 0; w < KG_URL_JOB_TARGET_MAX / 64; w++) {
    any |= j->target_stops[w];
  }
  if (any == 0 && !hosts->more) {
    return KG_OK; /* most requests: no stop left to work at */
  }
  return kg_url_job_stops(p, j, fields, n, hosts);
}

/* kg_key_check without the CRC-32 comparison: KG_OK means "well formed if
 * kg_key_crc_ok agrees". Same arguments and statuses as kg_key_check. */
kg_status kg_key_check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending);

/* KG_OK, or KG_KEY_BAD_CHECKSUM; key is what kg_key_check_deferred saw.
 * Inline: the CRC-32 of the body continued from the prefix's (the prefix
 * was compared already), against the checksum digits' value. */
static inline kg_status kg_key_crc_ok(const kg_key_policy *p, const char *key,
                                      const kg_key_pending *pending) {
  if (!pending->crc) {
    return KG_OK;
  }
#if KG_KEY_RANDOM_CHARS == 32
  uint32_t crc = kg_crc32_32(p->prefix_crc, key + p->prefix_len);
#else
  uint32_t crc =
      kg_crc32(p->prefix_crc, key + p->prefix_len, KG_KEY_RANDOM_CHARS);
#endif
  return pending->want == crc ? KG_OK : KG_KEY_BAD_CHECKSUM;
}

/*
 * kg_digest_scan — 1 when kg_digest's digest of (key, len) was computed
 * into out with the URL scan's steps of *job run among its rounds
 * (urlscan.h), job's stop bits written: plain SHA-256 by the SHA
 * extensions (KG_CPU_SHA) of a key of 32 to 47 bytes (an sk_live_ key's
 * 46), the case kg_digest computes in one block held in registers; 0 for
 * any other, with nothing done (the caller then calls kg_digest and
 * kg_credential_url). No branch and no address depends on the key's bytes;
 * the steps' depend on the URL's. Nothing of the key or the state is left
 * in memory but the digest.
 */
int kg_digest_scan(const kg_digester *d, const char *key, size_t len,
                   kg_url_job *job, uint8_t out[KG_DIGEST_LEN]);

/* kg_index_prefetch — request the cache lines kg_index_lookup will read
 * for this digest (both buckets, whole). Addresses depend on the presented
 * digest only, exactly the ones the lookup reads. No-op without a
 * prefetch builtin, and for a table of up to 1 MiB (a core's L2 cache,
 * where it cost more than it saved). */
void kg_index_prefetch(const kg_index *idx,
                       const uint8_t digest[KG_DIGEST_LEN]);

/* kg_index_huge_pages — 1 when the table was advised MADV_HUGEPAGE and the
 * kernel accepted the advice; 0 for a table too small to ask, or where the
 * system does not offer it. */
int kg_index_huge_pages(const kg_index *idx);

#endif /* KEYGATE_HOTPATH_H */
