/*
 * fixtures.h — deterministic inputs shared by the benchmarks and the
 * instruction-count driver: keys, request heads, indexes.
 *
 * Everything is derived from fixed seeds, so two runs (and two machines)
 * measure the same bytes: the instruction-count gate depends on it. Index
 * fixtures are built once per size and kept until exit; the benchmarks of
 * one size reuse them.
 */
#ifndef KEYGATE_BENCH_FIXTURES_H
#define KEYGATE_BENCH_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "ct.h"
#include "keygate/keygate.h"

/* Length of a strict sk_live_ key. Key arrays hold "Bearer " + key + NUL
 * every FX_KEY_STRIDE bytes, so a benchmark can point an Authorization
 * value at one without copying. */
#define FX_KEY_LEN 46
#define FX_BEARER_LEN 7 /* "Bearer " */
#define FX_KEY_STRIDE 56
/* Most real keys (with a known plaintext) an index fixture holds; the rest
 * of a big index is random digests. A lookup reads two bucket lines, so the
 * keys a loop cycles through touch 2 x 64 bytes each: 2^21 keys 256 MiB of
 * lines, eight times a 32 MiB last-level cache, so at 10,000,000 keys a
 * lookup is a random memory access as SPEC §4 means. (Until the fourteenth
 * session 2^18: 32 MiB of lines, which the cache partly held, docs/
 * benchmarks.md.) */
#define FX_REAL_KEYS_MAX (1u << 21)

/*
 * fx_hide — x, unknown to the compiler: it cannot fold an expression of
 * it, so fx_hide(0) joins two values (a & fx_hide(0)) without the
 * compiler removing the join. The core's own barrier (ct.h).
 */
static inline size_t fx_hide(size_t x) {
  return (size_t)kg_ct_barrier_u64((uint64_t)x);
}

/*
 * fx_next — the next fixture index in a latency loop: j + step, or 0 once
 * that reaches n, without a branch. A latency loop makes each iteration's
 * input depend on the last one's answer (step comes from it); with
 * `if (j >= n) j = 0` the reset is a predicted branch whose j is the
 * constant 0, so at n = 1 every iteration (and at small n every n-th)
 * starts without waiting for the last: the row measured overlapping
 * iterations, not a latency (6-11 ns less for a decision at one key,
 * docs/benchmarks.md, the eleventh session). The AND below reads j + step
 * whatever the mask. gcc 12 and clang 14 compile every loop that uses it to
 * cmp/sbb/and (x86) or cmp/csetm/and (arm64), read with objdump when it was
 * written and by review 65; bench.fixtures tests its values, not its code.
 */
static inline size_t fx_next(size_t j, size_t step, size_t n) {
  const size_t k = j + step;
  return k & fx_hide((size_t)0 - (size_t)(k < n));
}

/* fx_rand — splitmix64: the next value from *state. */
uint64_t fx_rand(uint64_t *state);

/* fx_policy — the strict sk_live_ policy. */
const kg_key_policy *fx_policy(void);

/*
 * fx_key — write the strict key number i (deterministic: 32 base62
 * characters from splitmix64 seeded with i, then its CRC32 in base62) into
 * out[0..FX_KEY_LEN) and a NUL.
 */
void fx_key(uint64_t i, char out[FX_KEY_LEN + 1]);

/* fx_digester — a shared SHA-256 digester (no pepper); fx_hmac_digester
 * one with a fixed 32-byte pepper. Made on first use; abort on failure. */
kg_digester *fx_digester(void);
kg_digester *fx_hmac_digester(void);

/* The request heads the parser and decision benchmarks read, each with the
 * key fx_key(0) in an Authorization field (Bearer) or an X-API-Key field.
 * The realistic ones (issue 14) are the decision benchmarks' main
 * fixtures:
 *   api_*      the reference API's request as an SDK sends it: GET
 *              /api/v1/iocs?type=ipv4&limit=10, Host, User-Agent, Accept,
 *              Accept-Encoding and the key (5 fields, ~200 B)
 *   browser_*  a browser's fetch: 12 fields with cookies, client hints,
 *              Origin and Referer, and a 200-byte query (~1 KB)
 */
typedef enum fx_head_kind {
  FX_HEAD_SHORT = 0,   /* request line, Host, Authorization */
  FX_HEAD_TYPICAL = 1, /* what a browser or SDK sends: ~12 fields, ~700 B */
  FX_HEAD_HOSTILE = 2, /* 99 fields with long values, just under 16 KiB */
  FX_HEAD_API_BEARER = 3,
  FX_HEAD_API_XKEY = 4,
  FX_HEAD_BROWSER_BEARER = 5,
  FX_HEAD_BROWSER_XKEY = 6
} fx_head_kind;
#define FX_HEAD_KINDS 7
/* The realistic heads, in fx_head_kind order. */
#define FX_HEAD_REALISTIC_FIRST FX_HEAD_API_BEARER
#define FX_HEAD_REALISTIC 4

/* 1 when the head of kind k carries its key in X-API-Key, 0 when in
 * Authorization: Bearer. */
int fx_head_xkey(fx_head_kind kind);
/* The length of the query of the browser heads (after '?'). */
#define FX_BROWSER_QUERY_LEN 200

/* fx_head — the bytes of a head (owned by the fixtures) and its name. */
const char *fx_head(fx_head_kind kind, size_t *len);
const char *fx_head_name(fx_head_kind kind);

/*
 * An index fixture of n records: `real` of them are digests of the keys
 * fx_key(0..real), active; the rest are random digests. bearer holds
 * "Bearer " + each real key (see FX_KEY_STRIDE; fx_key_at and fx_bearer_at
 * find them) and digests their digests; misses holds `real` random digests
 * that are not in the index.
 */
typedef struct fx_index {
  size_t n;
  size_t real;
  kg_index *index;
  char *bearer;
  uint8_t (*digests)[KG_DIGEST_LEN];
  uint8_t (*misses)[KG_DIGEST_LEN];
  char *unknown; /* fx_unknown_get: "Bearer " + real well-formed keys that
                    are not stored, FX_KEY_STRIDE apart; NULL until asked */
} fx_index;

/* fx_unknown_get — the fixture's unknown keys (fx_key(FX_UNKNOWN_FIRST +
 * i), i < real: well formed, right checksum, never stored), built on first
 * use; key i is at i * FX_KEY_STRIDE + FX_BEARER_LEN, as in `bearer`. */
#define FX_UNKNOWN_FIRST ((uint64_t)1 << 40)
const char *fx_unknown_get(const fx_index *fx);

/* Key i of a fixture, and its "Bearer <key>" value (FX_BEARER_LEN +
 * FX_KEY_LEN bytes). */
#define fx_key_at(fx, i)                                                       \
  ((fx)->bearer + (size_t)(i)*FX_KEY_STRIDE + FX_BEARER_LEN)
#define fx_bearer_at(fx, i) ((fx)->bearer + (size_t)(i)*FX_KEY_STRIDE)

/* fx_index_get — the fixture of n records, built on first use (min(n,
 * FX_REAL_KEYS_MAX) real keys). Aborts when building fails. */
const fx_index *fx_index_get(size_t n);

/*
 * The outcome fixture: an index of FX_OUTCOME_KEYS records, for the
 * decision benchmarks and the driver. Each array holds "Bearer " + a key
 * and a NUL. The first FX_OUTCOME_KEYS - 3 records are the active keys
 * fx_key(0..); then the three keys below with their statuses.
 */
#define FX_OUTCOME_KEYS 10000
#define FX_BEARER_KEY_SIZE (FX_BEARER_LEN + FX_KEY_LEN + 1)
typedef struct fx_outcomes {
  kg_index *index;
  char valid[FX_BEARER_KEY_SIZE];        /* fx_key(0), active */
  char expired[FX_BEARER_KEY_SIZE];      /* active, expires_at in the past */
  char deactivated[FX_BEARER_KEY_SIZE];  /* status deactivated */
  char deleted[FX_BEARER_KEY_SIZE];      /* status deleted */
  char unknown[FX_BEARER_KEY_SIZE];      /* well formed, not stored */
  char bad_checksum[FX_BEARER_KEY_SIZE]; /* last character changed */
} fx_outcomes;

/* fx_outcomes_get — built on first use. */
const fx_outcomes *fx_outcomes_get(void);

/*
 * The parsed fields of a typical API request: Host, User-Agent, Accept,
 * Accept-Encoding and, at FX_AUTH_FIELD, an Authorization field whose value
 * (empty here) the benchmark points at a fixture's "Bearer <key>".
 */
#define FX_REQUEST_FIELDS 5
#define FX_AUTH_FIELD 4
void fx_request_fields(kg_field out[FX_REQUEST_FIELDS]);

/*
 * The requests of the decision benchmarks, one per outcome of SPEC §1.3,
 * at the outcome fixture's index: each a typical request's fields (and
 * request-target) and the decision it must get.
 */
typedef enum fx_case_kind {
  FX_CASE_VALID,
  FX_CASE_MISSING,      /* no Authorization field */
  FX_CASE_MALFORMED,    /* Bearer token that is not token68 */
  FX_CASE_BAD_CHECKSUM, /* checksum wrong: refused before the digest */
  FX_CASE_UNKNOWN,      /* well formed, not in the index */
  FX_CASE_DELETED,      /* found, status deleted */
  FX_CASE_EXPIRED,      /* found, past its expiry */
  FX_CASE_DEACTIVATED,  /* found, status deactivated */
  FX_CASE_AMBIGUOUS,    /* Authorization and X-API-Key disagree */
  FX_CASE_IN_QUERY,     /* api_key= in the query, valid key in header */
  FX_CASES
} fx_case_kind;

typedef struct fx_case {
  const char *name; /* "valid", "invalid_checksum", ... */
  kg_status expect;
  kg_field fields[FX_REQUEST_FIELDS + 1];
  size_t n;
  kg_span query; /* the request-target, path and query */
} fx_case;

/* fx_case_get — the request of one outcome, built on first use. */
const fx_case *fx_case_get(fx_case_kind kind);
/* fx_case_name — its name, without building anything. */
const char *fx_case_name(fx_case_kind kind);
/* fx_now — the Unix time the cases are decided at. */
#define FX_NOW 1700000000

/* fx_checker — a checker over idx with the strict policy and the SHA-256
 * digester. */
kg_checker fx_checker(const kg_index *idx);

/* fx_die — print "bench: <what>" and exit 1. */
_Noreturn void fx_die(const char *what);

#endif /* KEYGATE_BENCH_FIXTURES_H */
