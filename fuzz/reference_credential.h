/*
 * fuzz/reference_credential.h — a plain, slow, obviously-correct model of
 * SPEC §1.1 (credential extraction), written for clarity and nothing else.
 * fuzz_differential, fuzz_authorization, fuzz_x_api_key and fuzz_query
 * compare libkeygate's fast parsers against it. It shares no code with
 * core/src/credential.c; see docs/fuzzing.md for the contract decisions it
 * encodes.
 */
#ifndef KEYGATE_FUZZ_REFERENCE_CREDENTIAL_H
#define KEYGATE_FUZZ_REFERENCE_CREDENTIAL_H

#include <stddef.h>

#include "keygate/credential.h"

/* ref_parse_authorization — model of kg_parse_authorization: KG_OK with
 * *token, KG_MISSING_API_KEY or KG_KEY_MALFORMED. */
kg_status ref_parse_authorization(kg_span value, kg_span *token);

/* ref_parse_x_api_key — model of kg_parse_x_api_key. */
kg_status ref_parse_x_api_key(kg_span value, kg_span *token);

/* ref_query_has_key — model of kg_query_has_key (and kg_target_has_key)
 * for the given prefix: query is a request-target or any part of it.
 * Returns 1, 0, or -1 for a span longer than the model's scratch. */
int ref_query_has_key(const char *prefix, size_t prefix_len, kg_span query);

/* ref_target_deep — model of kg_target_deep: decodes the target again and
 * again (an invalid escape stands for itself) and returns the first level
 * from 3 to 10 (docs/contract.md's limit, written out: not credential.h's)
 * whose copy holds the prefix (ASCII case ignored), with that copy in out
 * (capacity 4096) and its length in *out_len; 0 when a decoding changes
 * nothing before such a level, -1 when the last level still changed, -2
 * for a span longer than the scratch. */
int ref_target_deep(const char *prefix, size_t prefix_len, kg_span target,
                    char *out, size_t *out_len);

/* ref_credential_extract — model of kg_credential_extract: returns the
 * outcome (KG_OK, KG_MISSING_API_KEY, KG_INVALID_API_KEY,
 * KG_AMBIGUOUS_API_KEY, KG_API_KEY_IN_QUERY) and sets *key to the presented
 * token for KG_OK and KG_INVALID_API_KEY, else to an empty span. */
kg_status ref_credential_extract(const char *prefix, size_t prefix_len,
                                 const kg_field *fields, size_t n,
                                 kg_span query, kg_span *key);

#endif /* KEYGATE_FUZZ_REFERENCE_CREDENTIAL_H */
