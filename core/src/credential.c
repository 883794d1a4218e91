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
#include "ct.h"

#if defined(__SSE2__) && !defined(KEYGATE_NO_SIMD)
#include <emmintrin.h>
#define KG_HAVE_SSE2 1
#endif

static int is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
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

int kg_is_token68(const char *s, size_t len) {
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

kg_status kg_parse_authorization(kg_span value, kg_span *token) {
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
  return kg_is_token68(token->ptr, token->len) ? KG_OK : KG_KEY_MALFORMED;
}

kg_status kg_parse_x_api_key(kg_span value, kg_span *token) {
  kg_span v = trim_ows(value);
  *token = v;
  if (v.len == 0) {
    return KG_MISSING_API_KEY;
  }
  if (!kg_is_token68(v.ptr, v.len)) { /* token68 holds no control char */
    return KG_KEY_MALFORMED;
  }
  return KG_OK;
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

static int hex_value(unsigned char c) {
  if ((unsigned)(c - '0') < 10u) {
    return c - '0';
  }
  c = kg_lower(c);
  if ((unsigned)(c - 'a') < 6u) {
    return c - 'a' + 10;
  }
  return -1;
}

/* Decode one byte of a percent-encoded string at i into *out; returns the
 * bytes it took (3 for a valid escape, else 1: an invalid escape stands for
 * itself). The caller guarantees i < len. */
static size_t decode_once(const char *s, size_t len, size_t i,
                          unsigned char *out) {
  unsigned char c = (unsigned char)s[i];
  if (c == '%' && i + 2 < len) {
    int hi = hex_value((unsigned char)s[i + 1]);
    int lo = hex_value((unsigned char)s[i + 2]);
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
  if (hex_value(h1) < 0 || i + n + n1 >= len) {
    return 0;
  }
  size_t n2 = decode_once(s, len, i + n + n1, &h2);
  if (hex_value(h2) < 0) {
    return 0;
  }
  d = (unsigned char)(hex_value(h1) * 16 + hex_value(h2));
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

/* What a byte of a target may start: a percent-escape (which may spell the
 * prefix's first character), the end of a parameter's name, the end of a
 * parameter ('?', '&', ';', '#'). */
enum { URL_PCT = 1, URL_EQ = 2, URL_END = 4 };
static const uint8_t url_class[256] = {
    ['%'] = URL_PCT, ['='] = URL_EQ,  ['?'] = URL_END,
    ['&'] = URL_END, [';'] = URL_END, ['#'] = URL_END,
};

/* 1 when c is a byte the scan stops at: a url_class byte, or the
 * prefix's first character (lo, or lo's other case when fold is 0x20). */
static inline int url_stop(unsigned char c, unsigned char lo,
                           unsigned char fold) {
  return url_class[c] != 0 || (unsigned char)(c | fold) == lo;
}

/*
 * url_stops — a bit per byte of s[0..n) (n <= 16) where url_stop holds.
 * With SSE2 a whole block of sixteen takes eight byte compares and one
 * mask; the scalar loop is its twin, and takes a target shorter than
 * sixteen bytes (it never reads past n).
 */
#ifdef KG_HAVE_SSE2
static unsigned url_stops16(__m128i v, unsigned char lo, unsigned char fold) {
  __m128i m = _mm_or_si128(
      _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)(lo & ~fold))),
                       _mm_cmpeq_epi8(v, _mm_set1_epi8((char)lo))),
          _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('%')),
                       _mm_cmpeq_epi8(v, _mm_set1_epi8('=')))),
      _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8('&'))),
                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(';')),
                                _mm_cmpeq_epi8(v, _mm_set1_epi8('#')))));
  return (unsigned)_mm_movemask_epi8(m);
}

static uint64_t load_u64(const char *s) {
  uint64_t v;
  memcpy(&v, s, 8);
  return v;
}

static uint32_t load_u32(const char *s) {
  uint32_t v;
  memcpy(&v, s, 4);
  return v;
}
#endif

static unsigned url_stops(const char *s, size_t n, unsigned char lo,
                          unsigned char fold) {
#ifdef KG_HAVE_SSE2
  if (n == 16) {
    return url_stops16(_mm_loadu_si128((const __m128i *)(const void *)s), lo,
                       fold);
  }
  /* A short target (a Host value, "/"): two overlapping loads that cover
   * s[0..n) exactly, the second half's bits moved to where its bytes are.
   * Zero lanes are never stops. */
  if (n >= 8) {
    unsigned m = url_stops16(
        _mm_set_epi64x((long long)load_u64(s + n - 8), (long long)load_u64(s)),
        lo, fold);
    return ((m & 0xFFu) | ((m >> 8) << (n - 8))) & ((1u << n) - 1u);
  }
  if (n >= 4) {
    unsigned m = url_stops16(
        _mm_set_epi32(0, 0, (int)load_u32(s + n - 4), (int)load_u32(s)), lo,
        fold);
    return ((m & 0xFu) | (((m >> 4) & 0xFu) << (n - 4))) & ((1u << n) - 1u);
  }
#endif
  unsigned bits = 0;
  for (size_t i = 0; i < n; i++) {
    bits |= (unsigned)url_stop((unsigned char)s[i], lo, fold) << i;
  }
  return bits;
}

#if defined(__GNUC__) || defined(__clang__)
#define KG_NOINLINE __attribute__((noinline))
#else
#define KG_NOINLINE
#endif

/* Where the scan stands: the current parameter's start, and whether it has
 * had its '=' yet. */
typedef struct url_state {
  size_t param;
  int named;
} url_state;

/* The work at the stops of one block (bits: positions from `block`). Kept
 * out of line: most blocks of most targets have no stop at all, and the
 * loop over them stays a few instructions without this one's frame. */
static KG_NOINLINE kg_status url_block_stops(const kg_key_policy *p,
                                             const char *s, size_t len,
                                             size_t block, unsigned bits,
                                             url_state *st) {
  for (; bits != 0; bits &= bits - 1) {
    size_t i = block + (size_t)__builtin_ctz(bits);
    unsigned cls = url_class[(unsigned char)s[i]];
    if ((cls == 0 || cls == URL_PCT) &&
        spells(s, len, i, p->prefix, p->prefix_len)) {
      return KG_URL_KEY_PREFIX;
    }
    if (cls == URL_EQ && !st->named) {
      st->named = 1;
      if (i + 1 < len && (url_class[(unsigned char)s[i + 1]] & URL_END) == 0 &&
          is_key_param_name(s + st->param, i - st->param)) {
        return KG_URL_KEY_PARAM;
      }
    } else if (cls == URL_END) {
      st->param = i + 1;
      st->named = 0;
    }
  }
  return KG_OK;
}

kg_status kg_target_scan(const kg_key_policy *p, kg_span target) {
  const char *s = target.ptr;
  size_t len = target.len;
  if (len == 0 || p->prefix_len == 0) {
    return KG_OK; /* a policy always has a prefix (kg_key_policy_init) */
  }
  /* The prefix starts at its first character, raw in either case, or at a
   * '%'. For a letter, c | 0x20 == lo matches both cases and nothing else;
   * other characters match themselves only. */
  unsigned char lo = kg_lower((unsigned char)p->prefix[0]);
  unsigned char fold = (unsigned)(lo - 'a') < 26u ? 0x20 : 0;
  url_state st = {0, 0};
  for (size_t block = 0; block < len; block += 16) {
    size_t n = len - block < 16 ? len - block : 16;
    unsigned bits;
    if (n < 16 && len >= 16) {
      /* The last, short block: the sixteen bytes that end the target,
       * without the ones the block before has seen. */
      bits = url_stops(s + len - 16, 16, lo, fold) >> (16 - n);
    } else {
      bits = url_stops(s + block, n, lo, fold);
    }
    if (bits != 0) {
      kg_status r = url_block_stops(p, s, len, block, bits, &st);
      if (r != KG_OK) {
        return r;
      }
    }
  }
  return KG_OK;
}

int kg_target_has_key(const kg_key_policy *p, kg_span target) {
  return kg_target_scan(p, target) != KG_OK;
}

int kg_query_has_key(const kg_key_policy *p, kg_span query) {
  return kg_target_scan(p, query) != KG_OK;
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
  return kg_ieq(n->ptr, n->len, "host", 4);
}

static void set(kg_credential *out, kg_status outcome, kg_status detail,
                kg_span key) {
  out->outcome = outcome;
  out->detail = detail;
  out->key = key;
}

kg_status kg_credential_extract(const kg_key_policy *p, const kg_field *fields,
                                size_t n, kg_span target, kg_credential *out) {
  static const kg_span none = {NULL, 0};
  const kg_field *auth = NULL;
  const kg_field *xkey = NULL;
  unsigned nauth = 0;
  unsigned nxkey = 0;
  kg_status in_host = KG_OK;

  out->sources = 0;
  for (size_t i = 0; i < n; i++) {
    const kg_span *name = &fields[i].name;
    if (is_authorization(name)) {
      auth = &fields[i];
      nauth++;
    } else if (is_x_api_key(name)) {
      xkey = &fields[i];
      nxkey++;
    } else if (is_host(name) && in_host == KG_OK) {
      /* Host is the URL's authority (RFC 9112 §3.2): a key there is a key
       * in the URL, and nginx writes it into error-log lines. */
      in_host = kg_target_scan(p, fields[i].value);
    }
  }

  /* SPEC §1.3 precedence: a key in the URL first, then ambiguity. */
  kg_status in_url = kg_target_scan(p, target);
  if (in_url == KG_OK) {
    in_url = in_host;
  }
  if (in_url != KG_OK) {
    set(out, KG_API_KEY_IN_QUERY, in_url, none);
    return out->outcome;
  }
  if (nauth > 1 || nxkey > 1) {
    set(out, KG_AMBIGUOUS_API_KEY, KG_KEY_DUPLICATE_FIELD, none);
    return out->outcome;
  }

  kg_span ta = none;
  kg_span tx = none;
  kg_status sa =
      auth ? kg_parse_authorization(auth->value, &ta) : KG_MISSING_API_KEY;
  kg_status sx =
      xkey ? kg_parse_x_api_key(xkey->value, &tx) : KG_MISSING_API_KEY;
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
      return out->outcome;
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
    return out->outcome;
  }
  if (s == KG_OK) {
    set(out, KG_OK, KG_OK, key);
  } else {
    set(out, KG_INVALID_API_KEY, KG_KEY_MALFORMED, key);
  }
  return out->outcome;
}
