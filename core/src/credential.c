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

/* ---- the query string ---------------------------------------------- */

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

/* Decode one byte of a percent-encoded string at *i, advancing *i. An
 * invalid escape stands for itself. */
static unsigned char decode_at(const char *s, size_t len, size_t *i) {
  unsigned char c = (unsigned char)s[*i];
  if (c == '%' && *i + 2 < len) {
    int hi = hex_value((unsigned char)s[*i + 1]);
    int lo = hex_value((unsigned char)s[*i + 2]);
    if (hi >= 0 && lo >= 0) {
      *i += 3;
      return (unsigned char)(hi * 16 + lo);
    }
  }
  *i += 1;
  return c;
}

/* 1 when the percent-decoded (s, len) starts with prefix. */
static int decoded_starts_with(const char *s, size_t len, const char *prefix,
                               size_t plen) {
  size_t i = 0;
  for (size_t k = 0; k < plen; k++) {
    if (i >= len || decode_at(s, len, &i) != (unsigned char)prefix[k]) {
      return 0;
    }
  }
  return 1;
}

/* 1 when the percent-decoded name is one of the parameter names that by
 * convention carry a key: api_key, apikey, key, access_token, token. Their
 * lengths differ, so the decoded length picks the one name to compare. */
static int is_key_param_name(const char *s, size_t len) {
  if (len < 3) {
    return 0;
  }
  char buf[13];
  size_t n = 0;
  size_t i = 0;
  while (i < len) {
    if (n == sizeof buf) {
      return 0; /* longer than any of the names */
    }
    buf[n++] = (char)kg_lower(decode_at(s, len, &i));
  }
  switch (n) {
  case 3:
    return memcmp(buf, "key", 3) == 0;
  case 5:
    return memcmp(buf, "token", 5) == 0;
  case 6:
    return memcmp(buf, "apikey", 6) == 0;
  case 7:
    return memcmp(buf, "api_key", 7) == 0;
  case 12:
    return memcmp(buf, "access_token", 12) == 0;
  default:
    return 0;
  }
}

int kg_query_has_key(const kg_key_policy *p, kg_span query) {
  size_t i = 0;
  while (i < query.len) {
    const char *param = query.ptr + i;
    const char *amp = memchr(param, '&', query.len - i);
    size_t plen = amp != NULL ? (size_t)(amp - param) : query.len - i;
    i += plen + 1;
    if (plen == 0) {
      continue;
    }
    const char *eq = memchr(param, '=', plen);
    const char *value = param;
    size_t vlen = plen;
    if (eq != NULL) {
      size_t nlen = (size_t)(eq - param);
      value = eq + 1;
      vlen = plen - nlen - 1;
      if (vlen > 0 && is_key_param_name(param, nlen)) {
        return 1;
      }
      /* A key used as a parameter name (?sk_live_...=) is in the URL all
       * the same. */
      if (p->prefix_len > 0 &&
          decoded_starts_with(param, nlen, p->prefix, p->prefix_len)) {
        return 1;
      }
    }
    if (p->prefix_len > 0 &&
        decoded_starts_with(value, vlen, p->prefix, p->prefix_len)) {
      return 1;
    }
  }
  return 0;
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

static void set(kg_credential *out, kg_status outcome, kg_status detail,
                kg_span key) {
  out->outcome = outcome;
  out->detail = detail;
  out->key = key;
}

kg_status kg_credential_extract(const kg_key_policy *p, const kg_field *fields,
                                size_t n, kg_span query, kg_credential *out) {
  static const kg_span none = {NULL, 0};
  const kg_field *auth = NULL;
  const kg_field *xkey = NULL;
  unsigned nauth = 0;
  unsigned nxkey = 0;

  out->sources = 0;
  for (size_t i = 0; i < n; i++) {
    const kg_span *name = &fields[i].name;
    if (is_authorization(name)) {
      auth = &fields[i];
      nauth++;
    } else if (is_x_api_key(name)) {
      xkey = &fields[i];
      nxkey++;
    }
  }

  /* SPEC §1.3 precedence: a key in the URL first, then ambiguity. */
  if (kg_query_has_key(p, query)) {
    set(out, KG_API_KEY_IN_QUERY, KG_OK, none);
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
