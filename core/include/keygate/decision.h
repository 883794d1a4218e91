/*
 * keygate/decision.h — one request in, one decision out (SPEC §1.3).
 *
 * Order of work: extract the credential; refuse a key anywhere in the
 * request-target (api_key_in_query), then ambiguity (ambiguous_api_key); a
 * missing key is missing_api_key; a malformed token or a key failing the format
 * check is invalid_api_key without any lookup; otherwise digest, look up in
 * constant time, and only then branch on the record: unknown or deleted ->
 * invalid_api_key, deactivated or past expiry -> expired_api_key, else valid.
 *
 * Timing: the index lookup is constant-time with respect to stored data (see
 * index.h); everything before it depends only on the request; what follows
 * depends on the record found, after the match bit.
 *
 * Allocates nothing (with the default digest; see digest.h). Thread-safety:
 * a checker only reads its digester and index, so both may be shared by
 * any number of threads deciding at once.
 */
#ifndef KEYGATE_DECISION_H
#define KEYGATE_DECISION_H

#include "keygate/api.h"
#include <stddef.h>
#include <stdint.h>

#include "keygate/credential.h"
#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "keygate/span.h"
#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kg_checker {
  kg_key_policy policy;
  const kg_digester *digester; /* not owned; may be shared */
  const kg_index *index;       /* not owned; NULL behaves as an empty index */
} kg_checker;

typedef struct kg_decision {
  kg_status decision; /* KG_VALID or one of the error decisions */
  kg_status detail;   /* why: KG_OK, KG_KEY_*, ... */
  int found;          /* 1 when a record matched */
  kg_record record;   /* the matching record when found, else zeroes */
  kg_span key;        /* the presented key (caller's buffer); never log it */
  unsigned sources;   /* KG_SOURCE_* bits */
} kg_decision;

/*
 * kg_decide — decide one request: fields[0..n) and its request-target as
 * sent (path and query, undecoded; see kg_credential_extract), at Unix time
 * `now` (seconds). Fills *out and returns out->decision. fields may be NULL
 * when n is 0, target.ptr when target.len is 0; c and out never (api.h's
 * NULL policy: KG_E_ARGUMENT, *out untouched).
 */
KG_API KG_NODISCARD kg_status kg_decide(const kg_checker *c,
                                        const kg_field *fields, size_t n,
                                        kg_span target, int64_t now,
                                        kg_decision *out);

/*
 * kg_decide_key — the key's own outcome, for a key already extracted:
 * format check, digest, lookup, record. Returns KG_VALID,
 * KG_INVALID_API_KEY or KG_EXPIRED_API_KEY and fills *out. key may be NULL
 * when len is 0 (invalid_api_key); c and out never.
 */
KG_API KG_NODISCARD kg_status kg_decide_key(const kg_checker *c,
                                            const char *key, size_t len,
                                            int64_t now, kg_decision *out);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_DECISION_H */
