/*
 * credential.c — SPEC §1.1: which key, if any, a request presents.
 *
 * Everything here reads only the request; it allocates nothing and returns
 * spans into the caller's buffers. The rules and their RFC sections are in
 * credential.h; the decisions where the RFCs leave room are in
 * docs/contract.md.
 */
#include "keygate/credential.h"

#include <string.h>

#include "chars.h"
#include "cpu.h"
#include "ct.h"
#include "defensive.h"
#include "hotpath.h"
#include "urlscan.h"

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#define KG_HAVE_SSE2 1
#endif
#ifdef KG_CPU_X86_DISPATCH
#include <immintrin.h>
#define KG_HAVE_AVX2 1
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KG_NOINLINE __attribute__((noinline))
#define KG_INLINE static inline __attribute__((always_inline))
#else
#define KG_NOINLINE
#define KG_INLINE static inline
#endif

static int is_ows(unsigned char c) {
  /* SP or HTAB: a byte above SP (every token's) fails the first test. */
  return c <= ' ' && ((((uint64_t)1 << ' ') | ((uint64_t)1 << '\t')) >> c) & 1u;
}

/* Trim leading and trailing OWS (RFC 9110 §5.5). */
static kg_span trim_ows(kg_span v) {
  while (v.len > 0 && is_ows((unsigned char)v.ptr[0])) {
    v.ptr++;
    v.len--;
  }
  while (v.len > 0 && is_ows((unsigned char)v.ptr[v.len - 1])) {
    v.len--;
  }
  return v;
}

/* 1 when v holds a control character other than HTAB. */
static int has_ctl(kg_span v) {
  for (size_t i = 0; i < v.len; i++) {
    unsigned char c = (unsigned char)v.ptr[i];
    if (kg_is(c, KG_C_CTL) && c != '\t') {
      return 1;
    }
  }
  return 0;
}

/* kg_is_token68 without the NULL policy's test: the parsers below call it
 * on spans they made. Out of line, as kg_is_token68 was: inlined into the
 * parsers it changes kg_decide's code (a few more instructions a request,
 * scripts/bench-instructions). */
static KG_NOINLINE int is_token68(const char *s, size_t len) {
  /* token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
  size_t i = kg_span_token68(s, len);
  if (i == 0) {
    return 0;
  }
  while (i < len && s[i] == '=') {
    i++;
  }
  return i == len;
}

int kg_is_token68(const char *s, size_t len) {
  if (KG_NEVER(s == NULL && len > 0)) {
    return 0;
  }
  return is_token68(s, len);
}

/*
 * The two value parsers, with the token68 check left to the caller when
 * check68 is not NULL (*check68 = 1: the token still has to pass it). The
 * decision's path first tries the strict key format on the token, which
 * implies token68 (kg_key_strict_quick), and scans it once instead of
 * twice. Always inline: in kg_credential_fields the token's span then
 * stays in registers, no call.
 */
KG_INLINE kg_status auth_token(kg_span value, kg_span *token, int *check68);
KG_INLINE kg_status xkey_token(kg_span value, kg_span *token, int *check68);

/* The two parsers whole, without the NULL policy's test, for
 * kg_credential_fields (spans of the caller's fields); out of line, as the
 * public functions they were. */
static KG_NOINLINE kg_status parse_auth(kg_span value, kg_span *token) {
  return auth_token(value, token, NULL);
}

static KG_NOINLINE kg_status parse_xkey(kg_span value, kg_span *token) {
  return xkey_token(value, token, NULL);
}

kg_status kg_parse_authorization(kg_span value, kg_span *token) {
  if (KG_NEVER(token == NULL || (value.ptr == NULL && value.len > 0))) {
    return KG_E_ARGUMENT;
  }
  return parse_auth(value, token);
}

kg_status kg_parse_x_api_key(kg_span value, kg_span *token) {
  if (KG_NEVER(token == NULL || (value.ptr == NULL && value.len > 0))) {
    return KG_E_ARGUMENT;
  }
  return parse_xkey(value, token);
}

KG_INLINE kg_status auth_token(kg_span value, kg_span *token, int *check68) {
  kg_span v = trim_ows(value);
  token->ptr = v.ptr;
  token->len = 0;
  if (v.len == 0) {
    return KG_MISSING_API_KEY;
  }
  /* credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
   * (RFC 9110 §11.4); the scheme is a token, compared case-insensitively
   * (§11.1). */
  size_t n = 0;
  int bearer;
  if (v.len >= 8 &&
      kg_word_ieq(v.ptr, kg_word("bearer \0"), kg_word_first_bytes(7))) {
    n = 6; /* the common case: "Bearer " then the token */
    bearer = 1;
  } else {
    while (n < v.len && kg_is((unsigned char)v.ptr[n], KG_C_TCHAR)) {
      n++;
    }
    bearer = kg_ieq(v.ptr, n, "bearer", 6);
  }
  if (!bearer) {
    /* Another scheme carries no API key, unless the value holds a control
     * character: then it is malformed whatever the scheme. (In a Bearer
     * value a control character fails the token68 check below.) */
    if (has_ctl(v)) {
      token->len = v.len;
      return KG_KEY_MALFORMED;
    }
    return KG_MISSING_API_KEY;
  }
  if (n == v.len) {
    return KG_MISSING_API_KEY; /* "Bearer" with an empty token */
  }
  if (v.ptr[n] != ' ') {
    /* Only SP may separate scheme and token: "Bearer\tkey" or "Bearer,k"
     * is a malformed credential, not a different scheme. */
    token->ptr = v.ptr + n;
    token->len = v.len - n;
    return KG_KEY_MALFORMED;
  }
  while (n < v.len && v.ptr[n] == ' ') {
    n++;
  }
  token->ptr = v.ptr + n;
  token->len = v.len - n; /* not empty: trailing OWS was trimmed */
  if (check68 != NULL) {
    *check68 = 1;
    return KG_OK;
  }
  return is_token68(token->ptr, token->len) ? KG_OK : KG_KEY_MALFORMED;
}

KG_INLINE kg_status xkey_token(kg_span value, kg_span *token, int *check68) {
  kg_span v = trim_ows(value);
  *token = v;
  if (v.len == 0) {
    return KG_MISSING_API_KEY;
  }
  if (check68 != NULL) {
    *check68 = 1;
    return KG_OK;
  }
  if (!is_token68(v.ptr, v.len)) { /* token68 holds no control char */
    return KG_KEY_MALFORMED;
  }
  return KG_OK;
}

/* The token68 check a token still owes (check68), unless the strict key
 * format holds, which implies it: then *pending says what the key check
 * still has to verify (its CRC). */
static kg_status settle_token(const kg_key_policy *p, kg_span t, kg_status st,
                              int check68, kg_key_pending *pending) {
  if (st != KG_OK || !check68) {
    return st;
  }
  if (kg_key_strict_quick(p, t.ptr, t.len, pending)) {
    return KG_OK;
  }
  return is_token68(t.ptr, t.len) ? KG_OK : KG_KEY_MALFORMED;
}

/* ---- keys in the request-target ------------------------------------ */

/*
 * SPEC §1.1: a key anywhere in the URL is refused, because the URL lands in
 * logs. Two rules, over the whole request-target as sent (path, ';'
 * parameters, query, even a '#' fragment), in one pass:
 *
 *  - the prefix: the policy's prefix at any position, ASCII case ignored,
 *    each of its characters written as itself, as a percent-escape (%73),
 *    or as an escape hidden behind %25 (%2573, %25%37%33): the target raw,
 *    decoded once, and decoded twice, as a server and then an application
 *    behind it may decode it;
 *  - the names: a parameter (the target is cut at '?', '&', ';' and '#')
 *    whose name, written the same ways, is api_key, apikey, key,
 *    access_token or token, with a non-empty value.
 *
 * The decisions (case, separators, why twice and not three times) are in
 * docs/contract.md. Timing depends on the target's bytes only.
 */

/* Decode one byte of a percent-encoded string at i into *out; returns the
 * bytes it took (3 for a valid escape, else 1: an invalid escape stands for
 * itself). The caller guarantees i < len. */
static size_t decode_once(const char *s, size_t len, size_t i,
                          unsigned char *out) {
  unsigned char c = (unsigned char)s[i];
  if (c == '%' && i + 2 < len) {
    int hi = kg_hex_value((unsigned char)s[i + 1]);
    int lo = kg_hex_value((unsigned char)s[i + 2]);
    if (hi >= 0 && lo >= 0) {
      *out = (unsigned char)(hi * 16 + lo);
      return 3;
    }
  }
  *out = c;
  return 1;
}

/*
 * The bytes at s[i..) that spell the character want (lowercase; never '%'),
 * ASCII case ignored: 1 for the character itself, 3 for %HH, 7 to 9 for an
 * escape whose '%' and hex digits are themselves written once-encoded
 * ("%2573", "%25%37%33", or a '%' that starts no escape followed by
 * "73"); 0 when none of these is there. Each form excludes the others for
 * a want other than '%', so the first that fits is the only one.
 */
static size_t spelled(const char *s, size_t len, size_t i, unsigned char want) {
  unsigned char c = (unsigned char)s[i];
  if (c != '%') {
    return kg_lower(c) == want ? 1 : 0;
  }
  unsigned char d;
  size_t n = decode_once(s, len, i, &d);
  if (n == 3 && d != '%') {
    return kg_lower(d) == want ? 3 : 0;
  }
  /* Decoded once, this is a '%': the start of an escape decoded twice. */
  unsigned char h1;
  unsigned char h2;
  if (i + n >= len) {
    return 0;
  }
  size_t n1 = decode_once(s, len, i + n, &h1);
  if (kg_hex_value(h1) < 0 || i + n + n1 >= len) {
    return 0;
  }
  size_t n2 = decode_once(s, len, i + n + n1, &h2);
  if (kg_hex_value(h2) < 0) {
    return 0;
  }
  d = (unsigned char)(kg_hex_value(h1) * 16 + kg_hex_value(h2));
  return kg_lower(d) == want ? n + n1 + n2 : 0;
}

/* The bytes at s[i..) that spell the word w (wlen bytes of
 * [A-Za-z0-9_-]), each character in any of the forms of spelled() and in
 * any case; 0 when they do not. */
static size_t spells(const char *s, size_t len, size_t i, const char *w,
                     size_t wlen) {
  size_t at = i;
  for (size_t k = 0; k < wlen; k++) {
    if (at >= len) {
      return 0;
    }
    unsigned char c = (unsigned char)s[at];
    if (c != '%') { /* the common case, without the escapes' work */
      if (kg_lower(c) != kg_lower((unsigned char)w[k])) {
        return 0;
      }
      at++;
      continue;
    }
    size_t n = spelled(s, len, at, kg_lower((unsigned char)w[k]));
    if (n == 0) {
      return 0;
    }
    at += n;
  }
  return at - i;
}

/* 1 when c ends a parameter's name and value. */
static int is_url_end(unsigned char c) {
  return c == '?' || c == '&' || c == ';' || c == '#';
}

/* 1 when the whole name (s, len) spells one of the parameter names that by
 * convention carry a key. The first byte picks the candidates: a name
 * starts with its letter, in either case, or with an escape. */
static int is_key_param_name(const char *s, size_t len) {
  if (len < 3) {
    return 0;
  }
  unsigned char c = kg_lower((unsigned char)s[0]);
  int esc = c == '%';
  if (esc || c == 'k') {
    if (spells(s, len, 0, "key", 3) == len) {
      return 1;
    }
  }
  if (esc || c == 't') {
    if (spells(s, len, 0, "token", 5) == len) {
      return 1;
    }
  }
  if (esc || c == 'a') {
    if (spells(s, len, 0, "api_key", 7) == len ||
        spells(s, len, 0, "apikey", 6) == len ||
        spells(s, len, 0, "access_token", 12) == len) {
      return 1;
    }
  }
  return 0;
}

/* The longest spelling of a name: access_token's 12 characters, each an
 * escape encoded twice, of at most 9 bytes. */
#define NAME_SPELLING_MAX ((size_t)12 * 9)
#define NO_PARAM ((size_t)-1)

/*
 * key_param_eq — 1 when the '=' at s[e] is its parameter's first and ends a
 * name that spells a key-carrying name, with a non-empty value after it.
 * The parameter begins after the last '?', '&', ';' or '#' before e (or at
 * the start); a name longer than any spelling is none of them.
 */
static int key_param_eq(const char *s, size_t len, size_t e) {
  if (e + 1 >= len || is_url_end((unsigned char)s[e + 1])) {
    return 0; /* empty value */
  }
  size_t st = e;
  while (st > 0 && e - st < NAME_SPELLING_MAX + 1) {
    unsigned char c = (unsigned char)s[st - 1];
    if (c == '=') {
      return 0; /* not the parameter's first '=' */
    }
    if (is_url_end(c)) {
      break;
    }
    st--;
  }
  if (st > 0 && !is_url_end((unsigned char)s[st - 1])) {
    return 0; /* longer than any spelling of a name */
  }
  return is_key_param_name(s + st, e - st);
}

/*
 * The scan's stops. Checking every byte that could begin a spelling of the
 * prefix or end a parameter's name costs a few nanoseconds each, so the
 * scan first picks, sixteen bytes at a time, the positions where one can,
 * and does the work there only:
 *
 *   - the prefix: s[i] is '%', or s[i] is its first character raw (case
 *     ignored) and s[i+1] its second raw. Every spelling of the prefix
 *     starts at such an i or one byte before a '%': its first character
 *     is raw or an escape, which begins with '%', and so is its second,
 *     right after a raw first (the work at a '%' looks one byte back). (A
 *     one-character prefix: its character raw, or '%'.)
 *   - a name: a raw y or n (case ignored) before an '=': the last letter of
 *     key, api_key, apikey, token and access_token; the stop is the letter,
 *     the work is at the '=' after it. A name written with an escape has a
 *     '%', a stop already, from which the scan finds the '=' that ends it.
 *
 * Each lane needs its own byte and the next one only (two loads a chunk),
 * and the letters are folded with 0x20 whatever the prefix's first
 * character: for one that is no letter a few other bytes stop too (a
 * control byte 0x20 below it), which the work at the stop passes over.
 *
 * At a '%' the work starts with its escape: a valid one of a byte that
 * neither is the prefix's first or second character nor can stand in a
 * name or a second encoding ('%', a letter, '_': url_stop_idle) is passed
 * over in a few instructions. Those are the escapes real queries hold
 * (%2C, %2F, %20, %3A, a UTF-8 byte); every '%' of a name that spells a
 * key-carrying one is in one of the other kinds, as is the first '%' of
 * any spelling and the '%' of an escaped second character.
 *
 * The answer (prefix or parameter) is the one at the lower position, the
 * parameter's being its '=', as a byte-by-byte scan gives
 * (tests/unit/test_credential.c holds it to one).
 */
#ifdef KG_HAVE_SSE2
typedef struct url_consts {
  __m128i p0, f1, p1; /* p0 | 0x20 (letters folded), f1, p1 */
} url_consts;
#endif

/* The policy's part of a scan is set once (url_scan_init) for the target
 * and every Host field; s and len are the span being scanned. */
typedef struct url_scan {
  const char *s;
  size_t len;
  unsigned char p0, f0; /* the prefix's first character, lowercase; its fold */
  unsigned char p1, f1; /* its second; one = 1 when it has none */
  int one;
#ifdef KG_HAVE_SSE2
  url_consts c; /* the four above in every lane */
#endif
} url_scan;

#ifndef KG_HAVE_SSE2
/* The stop bit of position i (the scalar twin of the SSE2 classes). */
static unsigned url_stop_at(const url_scan *u, size_t i) {
  unsigned char c = (unsigned char)u->s[i];
  unsigned char next = i + 1 < u->len ? (unsigned char)u->s[i + 1] : 0;
  unsigned char lc = (unsigned char)(c | 0x20);
  int pair = (unsigned char)(c | u->f0) == u->p0 &&
             (u->one || (unsigned char)(next | u->f1) == u->p1);
  int pct = c == '%';
  int eq = next == '=' && (lc == 'y' || lc == 'n');
  return (unsigned)(pair | pct | eq);
}
#endif

#ifdef KG_HAVE_SSE2
/*
 * url_chunk — the stop bits of the sixteen bytes v = s[q..q+16), given
 * the same bytes one position forward (vn = s[q+1..q+17), 0 past the
 * span): each lane is decided by its own byte and the next one's in the
 * same lane, so the classes are joined in the vector and read out with
 * one movemask.
 */
KG_INLINE unsigned url_chunk(const url_scan *u, __m128i v, __m128i vn) {
  const url_consts *c = &u->c;
  __m128i lv = _mm_or_si128(v, _mm_set1_epi8(0x20));
  __m128i a = _mm_cmpeq_epi8(lv, c->p0);
  __m128i b = _mm_cmpeq_epi8(_mm_or_si128(vn, c->f1), c->p1);
  __m128i yn = _mm_or_si128(_mm_cmpeq_epi8(lv, _mm_set1_epi8('y')),
                            _mm_cmpeq_epi8(lv, _mm_set1_epi8('n')));
  __m128i eq = _mm_and_si128(_mm_cmpeq_epi8(vn, _mm_set1_epi8('=')), yn);
  __m128i pc = _mm_cmpeq_epi8(v, _mm_set1_epi8('%'));
  return (unsigned)_mm_movemask_epi8(
      _mm_or_si128(_mm_or_si128(_mm_and_si128(a, b), pc), eq));
}

/* The stop bits of the sixteen bytes at s + q (q + 16 <= len): the next
 * bytes from a load one byte on where they are inside the span, else the
 * run shifted by a byte (a zero coming in). */
KG_INLINE unsigned url_chunk_at(const url_scan *u, size_t q) {
  const char *s = u->s;
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + q));
  __m128i vn = q + 16 < u->len
                   ? _mm_loadu_si128((const __m128i *)(const void *)(s + q + 1))
                   : _mm_srli_si128(v, 1);
  return url_chunk(u, v, vn);
}

/* url_chunk_at for a chunk whose next byte is inside the span (q + 16 <
 * len): two loads, no shift. */
KG_INLINE unsigned url_chunk_in(const url_scan *u, size_t q) {
  const char *s = u->s + q;
  return url_chunk(u, _mm_loadu_si128((const __m128i *)(const void *)s),
                   _mm_loadu_si128((const __m128i *)(const void *)(s + 1)));
}

/*
 * url_stops — the stop bits of the n bytes at s + at (1 <= n <= 64, all
 * inside the span), bit k for position at + k. Sixteen-byte steps, the
 * last one overlapping the one before it (a byte's stop bit does not
 * depend on where it was loaded); a whole span under sixteen bytes (the
 * only short run the scan asks for: at = 0, n = len) zero-padded, which
 * is also what lies before and after it.
 */
KG_INLINE uint64_t url_stops(const url_scan *u, size_t at, size_t n) {
  if (n < 16) {
    __m128i v = kg_url_load_short(u->s + at, n);
    return url_chunk(u, v, _mm_srli_si128(v, 1));
  }
  uint64_t bits = 0;
  size_t k = 0;
  for (; k + 16 <= n; k += 16) {
    size_t q = at + k;
    bits |=
        (uint64_t)(q + 16 < u->len ? url_chunk_in(u, q) : url_chunk_at(u, q))
        << k;
  }
  if (k < n) {
    bits |= (uint64_t)url_chunk_at(u, at + n - 16) << (n - 16);
  }
  return bits;
}
#else
/* The stop bits of the n bytes at s + at (the scalar twin). */
KG_INLINE uint64_t url_stops(const url_scan *u, size_t at, size_t n) {
  uint64_t bits = 0;
  for (size_t k = 0; k < n; k++) {
    bits |= (uint64_t)url_stop_at(u, at + k) << k;
  }
  return bits;
}
#endif

/* 1 when the stop at s[i] needs no work (urlscan.h). */
KG_INLINE int url_stop_idle(const url_scan *u, size_t i) {
  return kg_url_idle_escape(u->s, u->len, i, u->p0, u->p1);
}

/* The work at one stop: the prefix spelled from it (or, at a '%', from
 * the raw first character before it), or a key-carrying parameter's '='
 * after it (next to a y or n; from a '%' that may be in a name, further).
 * *param is the '=' of a key-carrying parameter whose name holds an
 * escape, found at an earlier stop and reported once the scan passes it,
 * or NO_PARAM. Out of line: most spans have no stop that needs it. */
static KG_NOINLINE kg_status url_stop(const kg_key_policy *p, const url_scan *u,
                                      size_t i, size_t *param) {
  const char *s = u->s;
  size_t len = u->len;
  unsigned char c = (unsigned char)s[i];
  /* The first character raw, the second an escape: no stop of its own. */
  if (c == '%' && !u->one && i > 0 &&
      (unsigned char)((unsigned char)s[i - 1] | u->f0) == u->p0 &&
      spells(s, len, i - 1, p->prefix, p->prefix_len)) {
    return KG_URL_KEY_PREFIX;
  }
  /* A spelling of the prefix starts with '%' or its first character. */
  if ((c == '%' || (unsigned char)(c | u->f0) == u->p0) &&
      spells(s, len, i, p->prefix, p->prefix_len)) {
    return KG_URL_KEY_PREFIX;
  }
  unsigned char lc = (unsigned char)(c | 0x20);
  if (c != '%') {
    if ((lc == 'y' || lc == 'n') && i + 1 < len && s[i + 1] == '=' &&
        key_param_eq(s, len, i + 1)) {
      return KG_URL_KEY_PARAM;
    }
  } else if (*param == NO_PARAM) {
    /* An escape, maybe in a name: the '=' that would end it. */
    size_t e = i + 1;
    while (e < len && e - i <= NAME_SPELLING_MAX && s[e] != '=' &&
           !is_url_end((unsigned char)s[e])) {
      e++;
    }
    if (e < len && s[e] == '=' && key_param_eq(s, len, e)) {
      *param = e;
    }
  }
  return KG_OK;
}

/* The work at one block's stops, in position order (bit k: position
 * block + k). Inline: a stop that needs no work costs no call. */
KG_INLINE kg_status url_block_stops(const kg_key_policy *p, const url_scan *u,
                                    size_t block, uint64_t bits,
                                    size_t *param) {
  for (; bits != 0; bits &= bits - 1) {
    size_t i = block + (size_t)__builtin_ctzll(bits);
    if (i > *param) {
      return KG_URL_KEY_PARAM; /* no prefix before that parameter's '=' */
    }
    if ((unsigned char)u->s[i] != '%' || !url_stop_idle(u, i)) {
      kg_status r = url_stop(p, u, i, param);
      if (r != KG_OK) {
        return r;
      }
    }
  }
  return KG_OK;
}

/* Where kg_url_scan_prepare puts each part in kg_key_policy's url_scan:
 * three runs of 16 lanes, the five bytes of url_scan's scalars, a flag,
 * then the nibble tables of the AVX2 scan and of urlscan.h's step. */
enum {
  URL_K_P0 = 0,           /* p0 | 0x20 in every lane */
  URL_K_F1 = KG_URL_K_F1, /* f1 in every lane (0xff: a one-character prefix) */
  URL_K_P1 = 32,          /* p1 in every lane (0xff: a one-character prefix) */
  URL_K_BYTES = KG_URL_K_BYTES, /* p0, f0, p1, f1, one */
  URL_K_TABLE = KG_URL_K_WIDE,  /* 1: the nibble tables hold the classes */
  URL_K_TID = KG_URL_K_TID,     /* p0 | 0x20 at its low nibble, 'y', 'n' */
  URL_K_TEXP = KG_URL_K_TEXP    /* p1 at p0's low nibble, '=' at y's and n's */
};
_Static_assert(URL_K_F1 == 16 && URL_K_TID >= URL_K_TABLE + 1 &&
                   URL_K_TEXP == URL_K_TID + 16 &&
                   URL_K_TEXP + 16 <= KG_KEY_URL_SCAN_BYTES,
               "kg_key_policy's url_scan holds the scan's view");

void kg_url_scan_prepare(const char *prefix, size_t prefix_len,
                         unsigned char out[KG_KEY_URL_SCAN_BYTES]) {
  /* For a letter, c | 0x20 == lower matches both cases and nothing else;
   * other characters match themselves only. */
  unsigned char p0 = kg_lower((unsigned char)prefix[0]);
  unsigned char f0 = (unsigned)(p0 - 'a') < 26u ? 0x20 : 0;
  unsigned char one = prefix_len < 2;
  unsigned char p1 = one ? 0 : kg_lower((unsigned char)prefix[1]);
  unsigned char f1 = (unsigned)(p1 - 'a') < 26u ? 0x20 : 0;
  memset(out, 0, KG_KEY_URL_SCAN_BYTES);
  /* A one-character prefix has no second character to match: f1 = p1 =
   * 0xff in the lanes matches every byte. */
  memset(out + URL_K_P0, p0 | 0x20, 16);
  memset(out + URL_K_F1, one ? 0xff : f1, 16);
  memset(out + URL_K_P1, one ? 0xff : p1, 16);
  out[URL_K_BYTES] = p0;
  out[URL_K_BYTES + 1] = f0;
  out[URL_K_BYTES + 2] = p1;
  out[URL_K_BYTES + 3] = f1;
  out[URL_K_BYTES + 4] = one;
  /* The AVX2 scan looks a folded byte's class up by its low nibble: p0's
   * must be neither 'y''s (9) nor 'n''s (14), and a second character must
   * be there to want. Other prefixes take the 16-byte chunks. */
  unsigned char nib = (unsigned char)(p0 & 0x0f);
  out[URL_K_TABLE] = !one && nib != 9 && nib != 14;
  out[URL_K_TID + 9] = 'y';
  out[URL_K_TID + 14] = 'n';
  out[URL_K_TEXP + 9] = '=';
  out[URL_K_TEXP + 14] = '=';
  if (out[URL_K_TABLE]) {
    out[URL_K_TID + nib] = (unsigned char)(p0 | 0x20);
    out[URL_K_TEXP + nib] = p1;
  }
}

/* The policy's part of a scan, as kg_key_policy_init prepared it: loads,
 * no per-request work. */
KG_INLINE void url_scan_init(url_scan *u, const kg_key_policy *p) {
  const unsigned char *k = p->url_scan;
  u->p0 = k[URL_K_BYTES];
  u->f0 = k[URL_K_BYTES + 1];
  u->p1 = k[URL_K_BYTES + 2];
  u->f1 = k[URL_K_BYTES + 3];
  u->one = k[URL_K_BYTES + 4];
#ifdef KG_HAVE_SSE2
  u->c.p0 = _mm_loadu_si128((const __m128i *)(const void *)(k + URL_K_P0));
  u->c.f1 = _mm_loadu_si128((const __m128i *)(const void *)(k + URL_K_F1));
  u->c.p1 = _mm_loadu_si128((const __m128i *)(const void *)(k + URL_K_P1));
#endif
}

/* The stops of a span of up to 64 bytes, worked through (kept out of line
 * with what follows: most spans have none). */
static KG_NOINLINE kg_status url_scan_stops(const kg_key_policy *p,
                                            const url_scan *u, uint64_t bits) {
  size_t param = NO_PARAM;
  kg_status r = url_block_stops(p, u, 0, bits, &param);
  return r != KG_OK ? r : param != NO_PARAM ? KG_URL_KEY_PARAM : KG_OK;
}

#ifdef KG_HAVE_SSE2
/* A span longer than 64 bytes, sixteen bytes at a time: the first chunk,
 * then every chunk with both neighbours inside the span by three loads and
 * one movemask, a call only where a chunk has a stop; the rest as the 16
 * bytes that end the span, without the positions already seen. */
static KG_NOINLINE kg_status url_scan_long(const kg_key_policy *p,
                                           const url_scan *u) {
  size_t len = u->len;
  size_t param = NO_PARAM;
  kg_status r;
  uint64_t bits = url_chunk_at(u, 0);
  if (bits != 0 && (r = url_block_stops(p, u, 0, bits, &param)) != KG_OK) {
    return r;
  }
  size_t q = 16;
  for (; q + 16 < len; q += 16) {
    bits = url_chunk_in(u, q);
    if (bits != 0 && (r = url_block_stops(p, u, q, bits, &param)) != KG_OK) {
      return r;
    }
  }
  /* 1 <= len - q <= 16 here: that many of the last 16 bytes are new */
  bits = url_chunk_at(u, len - 16) >> (16 - (len - q));
  if (bits != 0 && (r = url_block_stops(p, u, q, bits, &param)) != KG_OK) {
    return r;
  }
  return param != NO_PARAM ? KG_URL_KEY_PARAM : KG_OK;
}

#ifdef KG_HAVE_AVX2
/*
 * url_scan_long's AVX2 twin (KG_CPU_AVX2), for a policy whose
 * kg_url_scan_prepare set URL_K_TABLE: the same stops, thirty-two bytes a
 * step, by nine vector operations and one movemask where url_chunk takes
 * twelve. A lane's byte folded (lv = v | 0x20) picks, by its low nibble
 * (vpshufb), the one folded byte of its class, p0 | 0x20, 'y' or 'n', and
 * the next byte that class wants: p1 (folded with f1), or '='. Where
 * those two are what the lane and the next one hold, the lane stops (the
 * pair, or a name's last letter before '='); a '%' stops by its own
 * compare. Nibbles that hold none of the three hold 0, which no folded
 * byte equals, and a byte from 0x80 up looks up 0 (vpshufb's high bit).
 * The next byte is folded with f1 for the 'y'/'n' lanes too: '=' has the
 * 0x20 bit, so a y or n before 0x1d stops as well (an extra stop, which
 * url_stop passes over). Steps while the next byte's load stays inside
 * the span; then the 32 bytes that end it, their next bytes by a one-byte
 * shift of the same vector (a zero after the last), without the positions
 * already seen.
 */

KG_AVX2_TARGET KG_INLINE unsigned
url_step_avx2(__m256i v, __m256i vn, __m256i tid, __m256i texp, __m256i f1) {
  __m256i lv = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
  __m256i id = _mm256_cmpeq_epi8(_mm256_shuffle_epi8(tid, lv), lv);
  __m256i nx =
      _mm256_cmpeq_epi8(_mm256_shuffle_epi8(texp, lv), _mm256_or_si256(vn, f1));
  __m256i pc = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('%'));
  return (unsigned)_mm256_movemask_epi8(
      _mm256_or_si256(_mm256_and_si256(id, nx), pc));
}

KG_AVX2_TARGET KG_INLINE kg_status
url_scan_long_avx2_steps(const kg_key_policy *p, const url_scan *u) {
  const char *s = u->s;
  size_t len = u->len;
  size_t param = NO_PARAM;
  kg_status r;
  /* The nibble tables kg_url_scan_prepare made. */
  const __m256i tid = _mm256_broadcastsi128_si256(_mm_loadu_si128(
      (const __m128i *)(const void *)(p->url_scan + URL_K_TID)));
  const __m256i texp = _mm256_broadcastsi128_si256(_mm_loadu_si128(
      (const __m128i *)(const void *)(p->url_scan + URL_K_TEXP)));
  const __m256i f1 = _mm256_broadcastsi128_si256(u->c.f1);
  size_t q = 0;
  for (; q + 32 < len; q += 32) {
    uint64_t bits = url_step_avx2(
        _mm256_loadu_si256((const __m256i *)(const void *)(s + q)),
        _mm256_loadu_si256((const __m256i *)(const void *)(s + q + 1)), tid,
        texp, f1);
    if (bits != 0 && (r = url_block_stops(p, u, q, bits, &param)) != KG_OK) {
      return r;
    }
  }
  /* 1 <= len - q <= 32 here: that many of the last 32 bytes are new */
  __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(s + len - 32));
  __m256i vn = _mm256_alignr_epi8(_mm256_permute2x128_si256(v, v, 0x81), v, 1);
  uint64_t bits = url_step_avx2(v, vn, tid, texp, f1) >> (32 - (len - q));
  if (bits != 0 && (r = url_block_stops(p, u, q, bits, &param)) != KG_OK) {
    return r;
  }
  return param != NO_PARAM ? KG_URL_KEY_PARAM : KG_OK;
}

/* url_scan_long_avx2_steps with one exit, which clears the YMM registers'
 * upper halves: gcc's own VZEROUPPER skipped the returns right after a
 * call to url_stop (its YMM values live across the call), and a SHA
 * instruction run with them dirty costs ~100 ns here (urlscan.h; review
 * 90: a decision after a refused one read 392 ticks against 245). */
static KG_AVX2_TARGET KG_NOINLINE kg_status
url_scan_long_avx2(const kg_key_policy *p, const url_scan *u) {
  kg_status r = url_scan_long_avx2_steps(p, u);
  _mm256_zeroupper();
  return r;
}
#endif
#else
/* A span longer than 64 bytes: sixty-four bytes at a time; the rest as the
 * 64 that end it, without the positions already seen. */
static KG_NOINLINE kg_status url_scan_long(const kg_key_policy *p,
                                           const url_scan *u) {
  size_t len = u->len;
  size_t param = NO_PARAM;
  for (size_t block = 0; block < len; block += 64) {
    size_t n = len - block < 64 ? len - block : 64;
    uint64_t bits;
    if (n < 64) {
      /* 1 <= n < 64 here: drop the 64 - n positions seen already */
      bits = url_stops(u, len - 64, 64) >> ((64 - n) & 63u);
    } else {
      bits = url_stops(u, block, n);
    }
    if (bits != 0) {
      kg_status r = url_block_stops(p, u, block, bits, &param);
      if (r != KG_OK) {
        return r;
      }
    }
  }
  return param != NO_PARAM ? KG_URL_KEY_PARAM : KG_OK;
}
#endif

/* kg_target_scan on one span, the policy's part of u set. Inlined: the
 * common span (a target or Host of up to 64 bytes without a stop) is one
 * url_stops and no call. */
KG_INLINE kg_status url_scan_span(const kg_key_policy *p, url_scan *u,
                                  kg_span target) {
  size_t len = target.len;
  u->s = target.ptr;
  u->len = len;
  if (len > 64) {
#ifdef KG_HAVE_AVX2
    if ((kg_cpu() & KG_CPU_AVX2) != 0 && kg_url_scan_wide(p)) {
      return url_scan_long_avx2(p, u);
    }
#endif
    return url_scan_long(p, u);
  }
  uint64_t bits = len > 0 ? url_stops(u, 0, len) : 0;
  return bits != 0 ? url_scan_stops(p, u, bits) : KG_OK;
}

kg_status kg_target_scan(const kg_key_policy *p, kg_span target) {
  /* The NULL policy's failure is not KG_OK: kg_target_has_key then says
   * the target holds a key (closed). */
  if (KG_NEVER(p == NULL || (target.ptr == NULL && target.len > 0))) {
    return KG_E_ARGUMENT;
  }
  if (target.len == 0 || p->prefix_len == 0) {
    return KG_OK; /* a policy always has a prefix (kg_key_policy_init) */
  }
  url_scan u;
  url_scan_init(&u, p);
  return url_scan_span(p, &u, target);
}

int kg_target_has_key(const kg_key_policy *p, kg_span target) {
  return kg_target_scan(p, target) != KG_OK;
}

int kg_query_has_key(const kg_key_policy *p, kg_span query) {
  return kg_target_scan(p, query) != KG_OK;
}

/* Decode every valid escape of src[0..n) into dst (which may be src: the
 * output is never longer, and decode_once reads ahead of what is written);
 * returns the output's length, n when nothing was decoded. */
static size_t decode_level(const char *src, size_t n, char *dst) {
  size_t m = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c;
    i += decode_once(src, n, i, &c);
    dst[m++] = (char)c;
  }
  return m;
}

/* 1 when s[0..n) holds p's prefix as it is, ASCII case ignored. */
static int holds_prefix(const kg_key_policy *p, const char *s, size_t n) {
  const size_t plen = p->prefix_len;
  for (size_t i = 0; plen > 0 && i + plen <= n; i++) {
    size_t k = 0;
    while (k < plen && kg_lower((unsigned char)s[i + k]) ==
                           kg_lower((unsigned char)p->prefix[k])) {
      k++;
    }
    if (k == plen) {
      return 1;
    }
  }
  return 0;
}

kg_status kg_target_deep(const kg_key_policy *p, kg_span target, char *scratch,
                         size_t cap, kg_span *level) {
  if (p == NULL || level == NULL) {
    return KG_E_ARGUMENT;
  }
  *level = target;
  if (target.len < 3 || target.ptr == NULL ||
      memchr(target.ptr, '%', target.len) == NULL) {
    return KG_OK;
  }
  if (scratch == NULL || cap < target.len) {
    return KG_E_BUFFER_TOO_SMALL;
  }
  /* levels 1 and 2 are kg_target_scan's; a key deeper needs an escape
   * left after them */
  size_t n = decode_level(target.ptr, target.len, scratch);
  if (n == target.len) {
    return KG_OK;
  }
  size_t m = decode_level(scratch, n, scratch);
  if (m == n) {
    return KG_OK;
  }
  for (int l = 0; l < KG_TARGET_DEEP_LEVELS; l++) {
    n = m;
    m = decode_level(scratch, n, scratch);
    if (m == n) {
      return KG_OK; /* nothing left to decode */
    }
    if (holds_prefix(p, scratch, m)) {
      level->ptr = scratch;
      level->len = m;
      return KG_URL_KEY_PREFIX;
    }
  }
  return KG_E_BAD_TARGET;
}

/* ---- extraction ----------------------------------------------------- */

/* Field names, case-insensitively (RFC 9110 §5.1), two overlapping 8-byte
 * words each: one length test and two word compares per field line. */
static int is_authorization(const kg_span *n) {
  static const uint64_t all = ~(uint64_t)0;
  return n->len == 13 && kg_word_ieq(n->ptr, kg_word("authoriz"), all) &&
         kg_word_ieq(n->ptr + 5, kg_word("rization"), all);
}

static int is_x_api_key(const kg_span *n) {
  static const uint64_t all = ~(uint64_t)0;
  return n->len == 9 && kg_word_ieq(n->ptr, kg_word("x-api-ke"), all) &&
         kg_word_ieq(n->ptr + 1, kg_word("-api-key"), all);
}

static int is_host(const kg_span *n) {
  uint32_t w;
  if (n->len != 4) {
    return 0;
  }
  memcpy(&w, n->ptr, 4);
  uint32_t want;
  memcpy(&want, "host", 4);
  return (w | 0x20202020u) == want; /* no byte of "host" folds otherwise */
}

static void set(kg_credential *out, kg_status outcome, kg_status detail,
                kg_span key) {
  out->outcome = outcome;
  out->detail = detail;
  out->key = key;
}

/* Every Host field after the first, in order, until one holds a key:
 * Host is the URL's authority (RFC 9112 §3.2), so a key there is a key in
 * the URL, and nginx writes it into error-log lines. */
static kg_status later_hosts_scan(const kg_key_policy *p, url_scan *u,
                                  const kg_field *fields, size_t n,
                                  const kg_url_hosts *hosts) {
  kg_status r = KG_OK;
  for (size_t i = hosts->first + 1; hosts->more && i < n && r == KG_OK; i++) {
    if (is_host(&fields[i].name)) {
      r = url_scan_span(p, u, fields[i].value);
    }
  }
  return r;
}

kg_status kg_credential_url(const kg_key_policy *p, kg_span target,
                            const kg_field *fields, size_t n,
                            const kg_url_hosts *hosts) {
  if (p->prefix_len == 0) {
    return KG_OK; /* a policy always has a prefix (kg_key_policy_init) */
  }
  url_scan u; /* the policy's part once, for the target and every Host */
  url_scan_init(&u, p);
  kg_status in_url = url_scan_span(p, &u, target);
  if (in_url == KG_OK && hosts->first < n) {
    in_url = url_scan_span(p, &u, fields[hosts->first].value);
    if (in_url == KG_OK) {
      in_url = later_hosts_scan(p, &u, fields, n, hosts);
    }
  }
  return in_url;
}

kg_status kg_url_job_stops(const kg_key_policy *p, const kg_url_job *j,
                           const kg_field *fields, size_t n,
                           const kg_url_hosts *hosts) {
  url_scan u;
  url_scan_init(&u, p);
  u.s = j->target.ptr;
  u.len = j->target.len;
  size_t param = NO_PARAM;
  kg_status r = KG_OK;
  for (size_t w = 0; w < KG_URL_JOB_TARGET_MAX / 64 && r == KG_OK; w++) {
    if (j->target_stops[w] != 0) {
      r = url_block_stops(p, &u, 64 * w, j->target_stops[w], &param);
    }
  }
  if (r == KG_OK && param != NO_PARAM) {
    r = KG_URL_KEY_PARAM;
  }
  if (r == KG_OK && j->host_stops != 0) {
    u.s = j->host.ptr;
    u.len = j->host.len;
    param = NO_PARAM;
    r = url_block_stops(p, &u, 0, j->host_stops, &param);
    if (r == KG_OK && param != NO_PARAM) {
      r = KG_URL_KEY_PARAM;
    }
  }
  if (r == KG_OK) {
    r = later_hosts_scan(p, &u, fields, n, hosts);
  }
  return r;
}

kg_status kg_credential_extract(const kg_key_policy *p, const kg_field *fields,
                                size_t n, kg_span target, kg_credential *out) {
  if (KG_NEVER(p == NULL || out == NULL || (fields == NULL && n > 0) ||
               (target.ptr == NULL && target.len > 0))) {
    return KG_E_ARGUMENT;
  }
  kg_url_hosts hosts;
  kg_credential_fields(p, fields, n, out, &hosts, NULL);
  /* SPEC §1.3 precedence: a key in the URL first. */
  kg_status in_url = kg_credential_url(p, target, fields, n, &hosts);
  if (in_url != KG_OK) {
    static const kg_span none = {NULL, 0};
    out->sources = 0;
    set(out, KG_API_KEY_IN_QUERY, in_url, none);
  }
  return out->outcome;
}

kg_span kg_credential_fields(const kg_key_policy *p, const kg_field *fields,
                             size_t n, kg_credential *out, kg_url_hosts *hosts,
                             kg_key_pending *pending) {
  static const kg_span none = {NULL, 0};
  const kg_field *auth = NULL;
  const kg_field *xkey = NULL;
  unsigned nauth = 0;
  unsigned nxkey = 0;

  hosts->first = (size_t)-1;
  hosts->more = 0;
  out->sources = 0;
  /* The lengths of the three names (13, 9, 4) as bits: one test passes
   * over most fields. The length is taken mod 64 (one bit test); a longer
   * name that lands on one of them fails its name's own length test. */
  const uint64_t lens = (uint64_t)1 << 13 | (uint64_t)1 << 9 | (uint64_t)1 << 4;
  const kg_field *end = n > 0 ? fields + n : fields;
  for (const kg_field *f = fields; f != end; f++) {
    const kg_span *name = &f->name;
    if (((lens >> (name->len & 63u)) & 1u) == 0) {
      continue;
    }
    if (is_authorization(name)) {
      auth = f;
      nauth++;
    } else if (is_x_api_key(name)) {
      xkey = f;
      nxkey++;
    } else if (is_host(name)) {
      if (hosts->first == (size_t)-1) {
        hosts->first = (size_t)(f - fields);
      } else {
        hosts->more = 1;
      }
    }
  }

  /* SPEC §1.3 precedence: (a key in the URL: kg_credential_url) then
   * ambiguity. */
  if (nauth > 1 || nxkey > 1) {
    set(out, KG_AMBIGUOUS_API_KEY, KG_KEY_DUPLICATE_FIELD, none);
    return none;
  }

  kg_span ta = none;
  kg_span tx = none;
  kg_status sa;
  kg_status sx;
  if (pending == NULL) {
    sa = auth ? parse_auth(auth->value, &ta) : KG_MISSING_API_KEY;
    sx = xkey ? parse_xkey(xkey->value, &tx) : KG_MISSING_API_KEY;
  } else {
    int c68a = 0;
    int c68x = 0;
    kg_key_pending px;
    pending->checked = 0;
    px.checked = 0;
    sa = auth ? auth_token(auth->value, &ta, &c68a) : KG_MISSING_API_KEY;
    sx = xkey ? xkey_token(xkey->value, &tx, &c68x) : KG_MISSING_API_KEY;
    sa = settle_token(p, ta, sa, c68a, pending);
    sx = settle_token(p, tx, sx, c68x, auth != NULL ? &px : pending);
    if (auth != NULL && px.checked && !pending->checked) {
      *pending = px; /* the key is X-API-Key's (or the same in both) */
    }
  }
  if (sa != KG_MISSING_API_KEY) {
    out->sources |= KG_SOURCE_AUTHORIZATION;
  }
  if (sx != KG_MISSING_API_KEY) {
    out->sources |= KG_SOURCE_X_API_KEY;
  }

  kg_status s;
  kg_span key;
  if (out->sources == (KG_SOURCE_AUTHORIZATION | KG_SOURCE_X_API_KEY)) {
    /* Both headers hold something: fine only when it is the same key. The
     * tokens are the client's own, but compare them without an early exit
     * all the same. */
    if (ta.len != tx.len || !kg_ct_eq(ta.ptr, tx.ptr, ta.len)) {
      set(out, KG_AMBIGUOUS_API_KEY, KG_KEY_CONFLICT, none);
      return none;
    }
    s = (sa == KG_OK && sx == KG_OK) ? KG_OK : KG_KEY_MALFORMED;
    key = ta;
  } else if (out->sources == KG_SOURCE_AUTHORIZATION) {
    s = sa;
    key = ta;
  } else if (out->sources == KG_SOURCE_X_API_KEY) {
    s = sx;
    key = tx;
  } else {
    set(out, KG_MISSING_API_KEY, KG_OK, none);
    return none;
  }
  if (s == KG_OK) {
    set(out, KG_OK, KG_OK, key);
  } else {
    set(out, KG_INVALID_API_KEY, KG_KEY_MALFORMED, key);
  }
  return key;
}
