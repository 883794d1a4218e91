/*
 * load/probe.h — `keygate probe`: one request per case, each checked
 * against the authentication contract (SPEC §1, docs/contract.md), to find
 * where a deployed API departs from it (docs/probe.md).
 *
 * The case table is data: each case names the request it sends (field
 * lines and an addition to the target, as templates over the probe's keys)
 * and the answer the contract expects. A request goes out byte for byte
 * over a raw socket (plain TCP, or TLS through OpenSSL with ALPN
 * http/1.1), one per connection, `Connection: close`; the answer is parsed
 * by the load generator's strict HTTP/1.1 parser and checked with its
 * verifier (load/verify.h), plus what the verifier does not read:
 * `Cache-Control: no-store`, no `WWW-Authenticate` on a 400, §1.4's
 * challenge to the letter (quoted realm and error, error_description on
 * an expired key), and no piece of a presented key anywhere in the answer
 * (kgl_probe_echo).
 *
 * Keys: the valid key (and the expired one) go only into request headers.
 * Every key the probe puts into a URL, and every wrong key it sends, is
 * made from a fresh well-formed key that was never issued (`unknown`), so
 * a probe never writes a working key into an access log.
 *
 * Nothing here prints a key: every text a report holds went through
 * kgl_probe_show (the probe's own texts) or kgl_probe_show_answer (texts
 * the server sent): kgl_redact, then withheld whole if kgl_probe_echo
 * still finds an 8-character piece of a key's secret part in it.
 *
 * Thread safety: the table is static and read-only; the other functions
 * touch only what they are given.
 */
#ifndef KEYGATE_LOAD_PROBE_H
#define KEYGATE_LOAD_PROBE_H

#include <stddef.h>
#include <stdio.h>

#include "keygate/key.h"
#include "load/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the case table ------------------------------------------------------ */

/* Where a case's `extra` template goes in the request-target. */
typedef enum kgl_probe_target {
  KGL_PROBE_TARGET_URL = 0,   /* the URL's own target; extra unused */
  KGL_PROBE_TARGET_QUERY = 1, /* target + ('?' or '&') + extra */
  KGL_PROBE_TARGET_PATH = 2   /* path + extra, then the URL's ?query */
} kgl_probe_target;

typedef enum kgl_probe_kind {
  KGL_PROBE_REQUEST = 0, /* one request, one answer */
  KGL_PROBE_SUMMARY = 1  /* a check over every answer of the run */
} kgl_probe_kind;

/* What a case needs that a run may lack (then it is skipped). */
#define KGL_PROBE_NEEDS_EXPIRED 0x01u /* --expired-key */

/*
 * One case. Templates (`fields`, `extra`) are text with placeholders:
 *   {V} the valid key          {E} the expired key
 *   {U} a well-formed key never issued (fresh per run)
 *   {C} {U} with its checksum broken (last character changed)
 *   {T} {U} truncated (its last 6 characters cut)
 *   {M} {U} with an '@' in the middle (not token68)
 *   {W} {U} under a wrong prefix (sk_test_ for sk_live_)
 *   {U%} {U} with its prefix percent-encoded (sk%5Flive%5F...)
 *   {U%%} {U} with its first byte double-encoded (%2573k_live_...)
 * `fields` is the case's field lines, each ending in CRLF, sent after Host
 * and before the probe's own User-Agent and Connection lines.
 */
typedef struct kgl_probe_case {
  const char *name;  /* unique, [a-z0-9_] */
  const char *group; /* header, whitespace, empty, key, ambiguity, url, ... */
  kgl_probe_kind kind;
  kgl_probe_target target;
  const char *extra;     /* template added to the target, or NULL */
  const char *fields;    /* template of the field lines ("" for none) */
  const char *code;      /* the expected error.code; NULL for 2xx */
  const char *alt_code;  /* the other answer's code (NULL: any, or none) */
  const char *rfc;       /* "RFC 9110 §5.1", or NULL */
  const char *rationale; /* one sentence: why the contract says so */
  int status;            /* the expected status; 0 = any 2xx */
  int alt_status;        /* another conforming answer's status (0: none) */
  unsigned needs;        /* KGL_PROBE_NEEDS_* */
} kgl_probe_case;

/* kgl_probe_cases — the table (static) and its size in *n, at most
 * KGL_PROBE_CASES_MAX. */
#define KGL_PROBE_CASES_MAX 128
const kgl_probe_case *kgl_probe_cases(size_t *n);

/* kgl_probe_find — the case named (s, len), or NULL. */
const kgl_probe_case *kgl_probe_find(const char *s, size_t len);

/* kgl_probe_expected — "2xx", "401 missing_api_key", "400 api_key_in_query
 * | 401 missing_api_key", or a summary case's check, into out (capacity
 * cap, NUL-terminated). Returns out. */
const char *kgl_probe_expected(const kgl_probe_case *c, char *out, size_t cap);

/* ---- keys ---------------------------------------------------------------- */

#define KGL_PROBE_KEY_MAX 300 /* a key and its encodings */

/* The base64 forms of one key sent, made once by kgl_probe_keys_init for
 * kgl_probe_echo: the key from byte a on (a = 0, 1, 2: the three places a
 * key can sit in the 3-byte groups of a longer encoded text), in the
 * standard and the URL-safe alphabet, without padding. */
#define KGL_PROBE_B64_MAX ((KG_KEY_MAX_LEN / 3 + 1) * 4 + 1)
typedef struct kgl_probe_b64 {
  char s[2][3][KGL_PROBE_B64_MAX]; /* [alphabet][a] */
  size_t len[3];                   /* [a] */
} kgl_probe_b64;

typedef struct kgl_probe_keys {
  kg_key_policy policy; /* strict, under the prefix */
  char valid[KG_KEY_MAX_LEN + 1];
  size_t valid_len;
  char expired[KG_KEY_MAX_LEN + 1];
  size_t expired_len; /* 0: not given */
  char unknown[KGL_PROBE_KEY_MAX];
  size_t unknown_len;
  char bad_checksum[KGL_PROBE_KEY_MAX];
  char truncated[KGL_PROBE_KEY_MAX];
  char malformed[KGL_PROBE_KEY_MAX];
  char wrong_prefix[KGL_PROBE_KEY_MAX];
  char encoded[KGL_PROBE_KEY_MAX];
  char double_encoded[KGL_PROBE_KEY_MAX];
  kgl_probe_b64 b64[3]; /* of valid, expired, unknown */
} kgl_probe_keys;

/*
 * kgl_probe_keys_init — check the keys given and make the others. prefix:
 * 1..KG_KEY_PREFIX_MAX bytes of [A-Za-z0-9_-]; valid (and expired, when
 * elen > 0): KG_KEY_PREFIX_MIN_LEN..KG_KEY_MAX_LEN token68 bytes starting
 * with the prefix. The unknown key is fresh (RAND_bytes) on every call.
 * Returns 0, or -1 with one line in why that names the fault, never the
 * key. The caller should wipe k (OPENSSL_cleanse) when done.
 */
int kgl_probe_keys_init(kgl_probe_keys *k, const char *prefix,
                        const char *valid, size_t vlen, const char *expired,
                        size_t elen, char *why, size_t whycap);

/*
 * kgl_probe_key_check — is the key given (what: "valid" or "expired")
 * well formed under the key policy `kind` with k's prefix (kg_key_check;
 * after kgl_probe_keys_init)? Under KG_KEY_STRICT that is SPEC §1.2's
 * length, base62 and checksum, all checkable offline: a mistyped or cut
 * key found here, before any request, is not blamed on the server. 0, or
 * -1 with one line in why naming the key by its hint (sk_live_****Ab3x),
 * the rule it fails and the fix.
 */
int kgl_probe_key_check(const kgl_probe_keys *k, kg_key_kind kind,
                        const char *what, char *why, size_t whycap);

/*
 * kgl_probe_echo — 1 when (s, n) holds any 8 consecutive characters of the
 * part after the prefix of a key sent (valid, expired, or the unknown key
 * every wrong key is made from), in any of these forms:
 *   - as they are;
 *   - percent-encoded, any bytes of them, once or twice (%XX decoded, up
 *     to three rounds, then searched);
 *   - JSON-escaped (\uXXXX of an ASCII byte and \/ decoded, then searched;
 *     the base64 forms below are searched in the decoded text too);
 *   - base64, standard or URL-safe: every 8 characters of a key hold two
 *     whole 3-byte groups whatever their place in the encoded text, so the
 *     8 base64 characters of every two consecutive groups of the secret
 *     part (at each of the 3 alignments) are searched for.
 * The work is a few passes over (s, n) per form: bounded by n and the
 * keys' lengths. Not found: hex, double base64, other encodings. On an
 * allocation failure it answers 1 (a text is withheld rather than shown).
 */
int kgl_probe_echo(const kgl_probe_keys *k, const char *s, size_t n);

/*
 * kgl_probe_show — one of the probe's own texts (the target, a request)
 * fit for a report: (in, n) through kgl_redact with the keys' prefix, then
 * refused whole ("(hidden: ...)") if kgl_probe_echo finds a piece of the
 * valid or expired key in it in any form (the unknown key may show: it
 * was never issued, and the URL cases' requests hold it). Returns out.
 */
const char *kgl_probe_show(const kgl_probe_keys *k, const char *in, size_t n,
                           char *out, size_t cap);

/*
 * kgl_probe_show_answer — a text the server sent (a code, a header value,
 * a request id) fit for a report: as kgl_probe_show, but withheld when it
 * holds a piece of any key sent, the unknown key included (the rule of
 * kgl_safe_text: any 8 consecutive characters of a key sent). Returns out.
 */
const char *kgl_probe_show_answer(const kgl_probe_keys *k, const char *in,
                                  size_t n, char *out, size_t cap);

/* ---- one request --------------------------------------------------------- */

#define KGL_PROBE_REQUEST_MAX 8192

/*
 * kgl_probe_request — the exact bytes of case c's request (c must be a
 * KGL_PROBE_REQUEST case whose needs k meets): "GET <target> HTTP/1.1",
 * Host: authority, the case's field lines, User-Agent, Accept,
 * Connection: close, the empty line. target is the URL's origin-form
 * target (never empty). Returns the length written into out (not
 * NUL-terminated), or 0 when it does not fit in cap or a template is bad.
 */
size_t kgl_probe_request(const kgl_probe_case *c, const kgl_probe_keys *k,
                         const char *authority, const char *target, char *out,
                         size_t cap);

typedef enum kgl_probe_verdict {
  KGL_PROBE_PASS = 0,
  KGL_PROBE_DEVIATION = 1,
  KGL_PROBE_SKIPPED = 2
} kgl_probe_verdict;

/* "pass", "deviation", "skipped". */
const char *kgl_probe_verdict_name(kgl_probe_verdict v);

#define KGL_PROBE_NOTE_MAX 512

/* What one case found. Texts are masked (kgl_probe_show). */
typedef struct kgl_probe_outcome {
  kgl_probe_verdict verdict;
  int status;    /* 0 when no answer */
  char got[128]; /* "401 invalid_api_key", "200", "no answer: ..." */
  char notes[KGL_PROBE_NOTE_MAX]; /* deviations, "; "-separated */
  char request_id[64]; /* X-Request-Id when well shaped and showable */
  int echo;            /* 1: a piece of a presented key came back */
} kgl_probe_outcome;

/*
 * kgl_probe_judge — check one answer against case c. raw/rawlen are the
 * bytes received (heads and body, for Cache-Control and the echo check);
 * r is the answer as kgl_h1 parsed it. The echo check reads raw, the body
 * kgl_h1 kept (de-chunked) and raw's body de-chunked here (a key split by
 * chunk framing is whole again). Fills *o (verdict pass or deviation);
 * every text in it from the server went through kgl_probe_show_answer.
 */
void kgl_probe_judge(const kgl_probe_case *c, const kgl_probe_keys *k,
                     const char *raw, size_t rawlen, const kgl_response *r,
                     kgl_probe_outcome *o);

/* kgl_probe_note_echo — o's answer holds a piece of a key sent (found
 * where kgl_probe_judge did not read: a 2xx body beyond raw, searched as
 * it streamed): o->echo set, the note added, the verdict a deviation.
 * Once only: a second call changes nothing. */
void kgl_probe_note_echo(kgl_probe_outcome *o);

/* kgl_probe_note_extra — the server sent n (> 0) bytes beyond o's answer's
 * framing (its Content-Length, or its last chunk and trailer): a second
 * answer, or garbage, which no client may take as anything (RFC 9112
 * §6.3); `keygate load` counts it a protocol error. The note added (it
 * names the count, never the bytes), the verdict a deviation. */
void kgl_probe_note_extra(kgl_probe_outcome *o, size_t n);

/*
 * kgl_probe_name_list — lead and the n names joined by ", " into out
 * (capacity cap, NUL-terminated): as many names as fit whole, in order,
 * then " and N more" for the rest, so a list is complete or says how much
 * it left out, and never ends in a name cut short ("echoed by: no_key,
 * bearer_tab and 31 more"; a cap below lead + 20 may leave that tail
 * out). The summary cases' notes (no_key_echo's list is the security
 * finding). Returns the length written.
 */
size_t kgl_probe_name_list(char *out, size_t cap, const char *lead,
                           const char *const *names, size_t n);

/* ---- a run --------------------------------------------------------------- */

typedef struct kgl_probe_options {
  const char *url;
  const kgl_probe_keys *keys;
  double interval_s; /* between two cases */
  double timeout_s;  /* a case's deadline: connect, send, whole answer */
  int insecure;
  const char *cacert;
  const unsigned char *selected; /* per case: 1 run it (NULL: all) */
} kgl_probe_options;

typedef struct kgl_probe_report {
  size_t n;                /* cases in the table */
  kgl_probe_outcome *out;  /* n of them; verdict of an unselected case: */
  unsigned char *selected; /* 0 here, and it is not reported */
  int h2_only;             /* the target refused HTTP/1.1 */
  char unreachable[448];   /* "" or "cannot reach HOST:PORT (case c): ..." */
  size_t pass, deviation, skipped;
} kgl_probe_report;

/*
 * kgl_probe_run — run the selected cases one at a time, interval apart.
 * Returns 0 when the run happened (whatever it found; rep->deviation says),
 * 1 when the target speaks only HTTP/2 (every case skipped with that
 * reason, rep->h2_only set), 2 when the target became unreachable after
 * at least one case was judged (those cases kept, the summaries made over
 * them, the case lost and every one after it skipped "not run: ...",
 * rep->unreachable and why saying where), -1 when it could not happen
 * (bad URL, no TLS context, the target unreachable before any case was
 * judged), with one line in why. rep is allocated here:
 * kgl_probe_report_free after any return.
 */
int kgl_probe_run(const kgl_probe_options *o, kgl_probe_report *rep, char *why,
                  size_t whycap);
void kgl_probe_report_free(kgl_probe_report *rep);

/* kgl_probe_print — the table (case, expected, got, verdict; notes under a
 * deviation) and a summary line. */
void kgl_probe_print(const kgl_probe_report *rep, FILE *f);

/* kgl_probe_list — every case (selected ones, when selected is non-NULL)
 * with its group, expectation, rationale and RFC section. */
void kgl_probe_list(const unsigned char *selected, FILE *f);

/*
 * kgl_probe_write_json — the report as JSON (schema "keygate-probe v1",
 * docs/probe.md) into path ("-": stdout), written whole through kgl_out
 * (load/outfile.h). 0, or -1 + why.
 */
int kgl_probe_write_json(const kgl_probe_report *rep,
                         const kgl_probe_options *o, const char *path,
                         char *why, size_t whycap);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_PROBE_H */
