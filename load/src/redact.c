/*
 * load/src/redact.c — the redaction of text (load/redact.h): keys masked
 * to their hint wherever they stand, raw or percent-encoded, by a named
 * prefix, by the shape of a prefix nobody named, as the value of a
 * parameter SPEC §1.1 names, or by the shape of a key's random part.
 *
 * The text is cut into pieces, a byte or a whole masked run, twice: once
 * to measure, once to write, so a cut falls between pieces and never
 * inside a mask.
 */
#include "load/redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "internal.h"
#include "keygate/index.h"
#include "keygate/response.h"
#include "load/verify.h"

#define NPOS ((size_t)-1) /* "no match" from the index-returning scanners */

/* Longest decoded prefix a piece found in the percent-decoded input shows
 * (a longer one shows as "****" alone). */
#define DEC_PREFIX_MAX 64

/* One piece of the output: a byte, or a whole masked run. Small: pieces
 * are made twice a byte (measure, then write). */
typedef struct redact_piece {
  size_t in_len;  /* input bytes it stands for */
  size_t out_len; /* bytes it renders to */
  /* 1: prefix + "****" [+ tail]; 2: found in the percent-decoded input,
   * rendered by decoded_next again when written (the decoded prefix,
   * "****" and perhaps the decoded last four) */
  int masked;
  size_t plen; /* masked: the prefix length */
  size_t tail; /* masked: index of the 4 visible bytes, or NPOS */
  int keyed;   /* masked, and long enough to be a key: its last four show */
  int guessed; /* masked == 2 by the shape of a prefix nobody named */
} redact_piece;

/* The delimiters of headers, URLs and JSON that end a key run. */
static const unsigned char KEY_DELIM[128] = {
    ['"'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, [','] = 1, [';'] = 1,
    ['&'] = 1, ['<'] = 1,  ['>'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1,
    ['}'] = 1, ['\\'] = 1, ['`'] = 1, ['='] = 1};

/* A byte that may continue a key in text: printable ASCII other than the
 * delimiters of headers, URLs and JSON (space, quotes, brackets, ',', ';',
 * '&', '<', '>', '\\', '`', '='). A table: it is asked of every byte of a
 * report, several times. */
static int in_key_run(unsigned char c) {
  return c > 0x20 && c < 0x7f && !KEY_DELIM[c];
}

/* esc_in_run — the length of a JSON escape at in[i] that stands for a byte
 * in_key_run takes ("\u005f", "\/"), or for a backslash that starts an
 * escape of one at the next level (json_nested: "\\u005f", not
 * "\\u0022"), else 0: a key a
 * server wrote into a JSON string with escapes is one run all the same. */
static size_t esc_in_run(const char *in, size_t n, size_t i) {
  size_t len = 0;
  const int v = json_escape(in, n, i, &len);
  const int w = v == '\\' ? json_nested(in, n, i, len) : -1;
  const int ok = (v >= 0 && in_key_run((unsigned char)v)) ||
                 (w >= 0 && in_key_run((unsigned char)w));
  return ok ? len : 0;
}

/* run_end — the end of the run of key bytes from in[i]: in_key_run bytes
 * and escapes of such bytes (esc_in_run); *esc is set to 1 when it holds
 * an escape. */
static size_t run_end(const char *in, size_t n, size_t i, int *esc) {
  while (i < n) {
    if (in_key_run((unsigned char)in[i])) {
      i++;
      continue;
    }
    const size_t len = esc_in_run(in, n, i);
    if (len == 0) {
      break;
    }
    *esc = 1;
    i += len;
  }
  return i;
}

static char printable(char c) {
  const unsigned char u = (unsigned char)c;
  if (u < 0x20 || u > 0x7e) {
    return '?';
  }
  return c;
}

/* The piece that starts at in[i] (i < n). */
static redact_piece redact_next(const char *in, size_t n, size_t i,
                                const char *prefix, size_t plen) {
  redact_piece p = {1, 1, 0, 0, NPOS, 0, 0};
  if (plen == 0 || n - i < plen) {
    return p;
  }
  for (size_t k = 0; k < plen; k++) {
    if (ascii_lower((unsigned char)in[i + k]) !=
        ascii_lower((unsigned char)prefix[k])) {
      return p;
    }
  }
  /* The run is not only token68: a key with a mistyped or hostile byte
   * ('!' in a made-up invalid key) must be masked whole, so it runs on
   * over every printable byte that cannot delimit it in a header, a URL or
   * JSON. Masking too much is safe; too little is not. */
  int esc = 0;
  size_t body = i + plen, e = run_end(in, n, body, &esc);
  /* bytes no key holds at the run's end (a ':' or '!' after a key in a
   * sentence) are the sentence's: written as they are after the mask, so
   * its last four are the key's ("file sk_live_****Ab3x: ...") */
  size_t t = e;
  while (t - body > 4 && !is_alpha((unsigned char)in[t - 1]) &&
         !is_digit((unsigned char)in[t - 1]) &&
         strchr("-._~+/=", in[t - 1]) == NULL) {
    t--;
  }
  e = t;
  if (e - body < 4) {
    return p; /* the prefix alone, or too short to be a key */
  }
  while (e < n && in[e] == '=') { /* token68 padding ends a key */
    e++;
  }
  /* an already masked key (prefix + "****" [+ 4]) stays as it is, so
   * masking twice changes nothing */
  if (e - body <= 8 && memcmp(in + body, "****", 4) == 0) {
    p.in_len = plen + (e - body);
    p.masked = 1;
    p.plen = plen;
    p.out_len = plen + 4;
    if (e - body == 8) {
      p.tail = body + 4;
      p.out_len += 4;
    }
    return p;
  }
  size_t run = e - body;
  p.in_len = plen + run;
  p.masked = 1;
  p.plen = plen;
  p.out_len = plen + 4;
  p.keyed = run >= 12;
  if (run >= 12 && !esc) { /* the last four, after at least eight hidden
                            * ones; a run with an escape shows none (its
                            * last four bytes may be an escape's) */
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* verbatim — the piece of the k bytes at in[i], written as they are. */
static redact_piece verbatim(size_t k) {
  redact_piece p = {k, k, 0, 0, NPOS, 0, 0};
  return p;
}

/* masked — the piece of a key run at in[i..e) whose prefix is plen long:
 * kept as it is when already masked (prefix + "****" [+ 4]); else prefix,
 * "****" and the last four when at least eight more stay hidden and the
 * run holds no escape (esc: its last four bytes may be an escape's). */
static redact_piece masked(const char *in, size_t i, size_t plen, size_t e,
                           int esc) {
  const size_t body = i + plen, run = e - body;
  if (run <= 8 && run >= 4 && memcmp(in + body, "****", 4) == 0) {
    return verbatim(e - i);
  }
  redact_piece p = {e - i, plen + 4, 1, plen, NPOS, run >= 12, 0};
  if (run >= 12 && !esc) {
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* letters — the end of the ASCII letters from in[i], at most `max` of them
 * (n: the end of the input). */
static size_t letters(const char *in, size_t n, size_t i, size_t max) {
  size_t j = i;
  while (j < n && j - i < max && is_alpha((unsigned char)in[j])) {
    j++;
  }
  return j;
}

/*
 * snake_words — (s, n), up to its first '/', '?' or '#', reads as lower-case
 * words, the way identifiers and URL path segments are written: two or
 * more joined by single '_' ("methods_list", "key_in_query"), or one of 4
 * or more letters that such a delimiter ends ("methods" of
 * "payment_methods/items"). Then the run is not taken for a key body, so
 * "payment_methods_list" stays readable (a review nit). Safe enough: no
 * base62 key holds '_', '/', '?' or '#'; base64 holds '/' or '_', never
 * both; and a random key whose first 4 or more bytes are only [a-z] and
 * then one of those is rarer than one in a thousand.
 */
static int snake_words(const char *s, size_t n) {
  size_t k = 0;
  int inner = 0;
  for (; k < n && s[k] != '/' && s[k] != '?' && s[k] != '#'; k++) {
    if (s[k] == '_') {
      if (k == 0 || k + 1 == n || s[k - 1] == '_' || s[k + 1] == '/' ||
          s[k + 1] == '?' || s[k + 1] == '#') {
        return 0;
      }
      inner = 1;
    } else if (s[k] < 'a' || s[k] > 'z') {
      return 0;
    }
  }
  return inner || (k < n && k >= 4);
}

static int not_guessed(const char *in, size_t i, size_t e);

/*
 * shape_next — the piece at in[i] under the rule for prefixes nobody named
 * (kgl_redact_keys): two or more letters and '_' (the first segment), then
 * optionally 1..6 letters and '_' (the second: "sk_live_", "github_pat_"),
 * followed by a run of key bytes (in_key_run). The run is masked when 8 or
 * more bytes follow the first segment; the prefix shown keeps the second
 * segment when 4 or more bytes follow it. Exempt: a request id, "req_" and
 * exactly 24 base62 (kgl_request_id_ok), which names a request, not a key.
 */
static redact_piece shape_next(const char *in, size_t n, size_t i) {
  /* Mid-word: the word's first letter was tried with the same letters,
   * '_' and run after it, and did not match, or its piece would have
   * taken this byte. Skipping keeps a long word linear, not quadratic. */
  if (i > 0 && is_alpha((unsigned char)in[i - 1])) {
    return verbatim(1);
  }
  const size_t j = letters(in, n, i, n);
  if (j - i < 2 || j >= n || in[j] != '_') {
    return verbatim(1);
  }
  const size_t p1 = j + 1;
  int esc = 0;
  const size_t e = run_end(in, n, p1, &esc);
  if (e - p1 < 8) {
    return verbatim(1);
  }
  /* one byte only: the named prefixes are still tried inside the run. A
   * run with an escape is read decoded for its words: "\/v1\/payment_
   * methods\/list" is the path it spells (review 116) */
  if (esc ? not_guessed(in, p1, e) : snake_words(in + p1, e - p1)) {
    return verbatim(1);
  }
  if (e - i == KG_REQUEST_ID_LEN && kgl_request_id_ok(in + i, e - i)) {
    return verbatim(e - i);
  }
  const size_t k = letters(in, n, p1, 7);
  if (k > p1 && k - p1 <= 6 && k < e && in[k] == '_' && e - (k + 1) >= 4) {
    return masked(in, i, k + 1 - i, e, esc);
  }
  return masked(in, i, p1 - i, e, esc);
}

/* redact_put — piece p of in[i..] into out; text bytes of 0x80 and above
 * as they are when utf8, else '?' (controls always '?'). */
static void redact_put(const char *in, size_t i, const redact_piece *p,
                       char *out, int utf8) {
  if (!p->masked) {
    for (size_t k = 0; k < p->in_len; k++) {
      const char c = in[i + k];
      if (utf8 && (unsigned char)c >= 0x80) {
        out[k] = c;
      } else {
        out[k] = printable(c);
      }
    }
    return;
  }
  for (size_t k = 0; k < p->plen; k++) {
    out[k] = printable(in[i + k]);
  }
  for (size_t k = 0; k < 4; k++) {
    out[p->plen + k] = '*';
  }
  if (p->tail != NPOS) {
    for (size_t k = 0; k < 4; k++) { /* printable: in_key_run */
      out[p->plen + 4 + k] = in[p->tail + k];
    }
  }
}

/* ---------------------------------------------------------------------- */
/* Redaction of percent-encoded and JSON-escaped keys                     */
/* ---------------------------------------------------------------------- */

/*
 * SPEC §1.1 counts a key in a URL raw or percent-decoded (once, and again
 * where %25 hides an escape): "sk%5Flive%5F...", "%73k_live_...",
 * "sk%255Flive%255F..." are keys, and a report must not show them. Nor may
 * it show one a server wrote into a JSON string with escapes
 * ("sk\u005flive\u005f...", "\u0041b3x..."): RFC 8259 lets any byte be
 * written so. A run of key bytes (run_end: '%', hex digits and escapes of
 * key bytes are) is decoded level by level, both kinds of escape at each
 * level (unescape_once's rule: a JSON body may carry a URL), up to
 * DEC_LEVELS times (deeper than the SPEC's two: masking too much is safe),
 * and each level is matched as the raw text is. Decoding never joins runs:
 * every decoded byte comes from key bytes only, and a byte that is not '%'
 * or '\\' is itself at every level.
 */
#define DEC_LEVELS KGL_DECODE_LEVELS
#define DEC_WINDOW 1024 /* input bytes decoded at one place, at most */

/* The decoded text of a window of the input: byte k of c comes from the
 * input bytes before end[k] (offsets from the window's start). */
typedef struct dec_window {
  char c[DEC_WINDOW];
  unsigned short end[DEC_WINDOW];
  size_t len;
} dec_window;

/* dec_level — one level of decoding of w, percent and JSON escapes as
 * unescape_once decodes them, in place (the decoded text is never longer).
 * 1 when some escape was decoded, else 0. */
static int dec_level(dec_window *w) {
  size_t o = 0;
  int changed = 0;
  for (size_t j = 0; j < w->len; o++) {
    int hi = -1, lo = -1;
    if (w->c[j] == '%' && j + 2 < w->len) {
      hi = hex_value((unsigned char)w->c[j + 1]);
      lo = hex_value((unsigned char)w->c[j + 2]);
    }
    size_t len = 0;
    const int v = lo < 0 ? json_escape(w->c, w->len, j, &len) : -1;
    if (hi >= 0 && lo >= 0) {
      w->c[o] = (char)(hi * 16 + lo);
      w->end[o] = w->end[j + 2];
      j += 3;
      changed = 1;
    } else if (v >= 0) {
      w->c[o] = (char)v;
      w->end[o] = w->end[j + len - 1];
      j += len;
      changed = 1;
    } else {
      w->c[o] = w->c[j];
      w->end[o] = w->end[j];
      j++;
    }
  }
  w->len = o;
  return changed;
}

/* not_guessed — 1 when the run in[i..e), which holds an escape, is no key
 * of the shape, as it is to its first backslash nor once decoded (its
 * first DEC_WINDOW bytes, every level, to the first byte that ends a run
 * there): fewer than 8 bytes
 * ("https:\/\/x\/api_v1\/keys" as "v1/keys"), or lower-case words
 * ("\/v1\/payment_methods\/list", "\\u0022invalid_api_key\\u0022":
 * review 118). */
static int not_guessed(const char *in, size_t i, size_t e) {
  dec_window d;
  d.len = e - i < DEC_WINDOW ? e - i : DEC_WINDOW;
  memcpy(d.c, in + i, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  for (int level = 0; level < DEC_LEVELS && dec_level(&d); level++) {
  }
  size_t k = 0;
  while (k < d.len && in_key_run((unsigned char)d.c[k])) {
    k++;
  }
  /* and as it is, to its first backslash: a guess either way stands
   * ("ab_cd%3D<body>\u0041" is guessed at as before: review 119) */
  const char *bs = memchr(in + i, '\\', e - i);
  const size_t raw = bs != NULL ? (size_t)(bs - (in + i)) : e - i;
  const int raw_no = raw < 8 || snake_words(in + i, raw);
  return raw_no && (k < 8 || snake_words(d.c, k));
}

/* The end of the run of key bytes from in[i] (run_end). */
static size_t key_run_end(const char *in, size_t n, size_t i) {
  int esc = 0;
  return run_end(in, n, i, &esc);
}

/* The rules a redaction applies: named prefixes, and perhaps the shape and
 * the key parameters' values. */
typedef struct redact_rules {
  const char *const *prefixes;
  size_t nprefixes;
  int shape;  /* 1: shape_next for what no named prefix masked */
  int params; /* 1: param_value for the values of SPEC §1.1's names */
  int utf8;   /* 1: bytes of 0x80 and above kept (a message's "§", a
               * file's name), else '?' as for a report */
} redact_rules;

/* A piece found in decoded text d (d->c[0] is in[i]'s level), as a piece of
 * the input: it covers the whole run of key bytes as it is in the input,
 * up to seg_end, as a raw key's piece would (a decoded delimiter such as
 * %26 ends the key, not what is hidden: masking again then changes
 * nothing). Rendered from d: the decoded prefix, "****", the decoded last
 * four when p shows them; into show when not NULL (out_len bytes). */
static redact_piece dec_piece(const dec_window *d, const redact_piece *p,
                              size_t i, size_t seg_end, char *show) {
  redact_piece o = verbatim(seg_end - i);
  o.masked = 2;
  /* a key by what it hides, not by its first stretch alone: the piece
   * runs to the raw run's end, and "sk%5Flive%5Fey_a%3Dk_sk%5Flive%5F<key>"
   * hides a key after a decoded '=' (fuzz_redact), so kgl_holds_key
   * counts it when 12 or more decoded bytes follow the prefix, or the run
   * goes on past the window */
  const size_t window = d->len > 0 ? d->end[d->len - 1] : 0;
  o.keyed = p->keyed || d->len >= p->plen + 12 || seg_end - i > window;
  const size_t plen = p->plen <= DEC_PREFIX_MAX ? p->plen : 0;
  o.out_len = plen + 4 + (p->tail != NPOS ? 4 : 0); /* <= o.in_len */
  if (show != NULL) {
    for (size_t k = 0; k < plen; k++) {
      show[k] = printable(d->c[k]);
    }
    memset(show + plen, '*', 4); /* a piece of the output, not a string */
    if (p->tail != NPOS) {       /* printable: in_key_run */
      memcpy(show + plen + 4, d->c + p->tail, 4);
    }
  }
  return o;
}

/* decoded_match — decoded_next's work where a match can start (w_end: the
 * end of the run of key bytes within the window). */
static redact_piece decoded_match(const char *in, size_t n, size_t i,
                                  size_t w_end, const redact_rules *r,
                                  char *show) {
  dec_window d;
  d.len = w_end - i;
  memcpy(d.c, in + i, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  for (int level = 0; level < DEC_LEVELS && dec_level(&d); level++) {
    for (size_t k = 0; k <= r->nprefixes; k++) {
      redact_piece p;
      if (k < r->nprefixes) {
        const char *pre = r->prefixes[k];
        p = redact_next(d.c, d.len, 0, pre, pre != NULL ? strlen(pre) : 0);
      } else if (r->shape) {
        p = shape_next(d.c, d.len, 0);
      } else {
        break;
      }
      if (p.masked) {
        const size_t seg_end = key_run_end(in, n, i);
        if (seg_end > w_end && p.in_len == d.len) {
          p.tail = NPOS; /* the run goes on past the window: its last four
                          * are not the key's, show none */
        }
        redact_piece o = dec_piece(&d, &p, i, seg_end, show);
        o.guessed = k == r->nprefixes;
        return o;
      }
    }
  }
  return verbatim(1);
}

/*
 * decoded_next — the piece at in[i] when some level of the decoded text
 * from in[i] (percent and JSON escapes) starts with a named prefix's key
 * (or, with r->shape, a key of the shape) at the first level that does:
 * masked to the end of the run of key bytes (dec_piece), written into show
 * when not NULL; verbatim(1) otherwise. Only places where such a match can
 * start are decoded: in[i] is '%' or a JSON escape, or the first byte of a
 * prefix (a letter starting a word, for the shape), and a '%' or an escape
 * follows in the run.
 */
static redact_piece decoded_next(const char *in, size_t n, size_t i,
                                 const redact_rules *r, char *show) {
  const unsigned char c0 = (unsigned char)in[i];
  int cand = c0 == '%' || esc_in_run(in, n, i) > 0;
  for (size_t k = 0; !cand && k < r->nprefixes; k++) {
    const char *pre = r->prefixes[k];
    cand = pre != NULL && pre[0] != '\0' &&
           ascii_lower(c0) == ascii_lower((unsigned char)pre[0]);
  }
  if (!cand && r->shape && is_alpha(c0)) {
    cand = i == 0 || !is_alpha((unsigned char)in[i - 1]);
  }
  if (!cand) {
    return verbatim(1);
  }
  /* the run of key bytes within the window only: the whole run is found
   * on a match, so a long run costs DEC_WINDOW a place, not its length */
  const size_t w_end =
      key_run_end(in, n - i > DEC_WINDOW ? i + DEC_WINDOW : n, i);
  if (w_end == i || (memchr(in + i, '%', w_end - i) == NULL &&
                     memchr(in + i, '\\', w_end - i) == NULL)) {
    return verbatim(1);
  }
  return decoded_match(in, n, i, w_end, r, show);
}

/* A byte that may dress a parameter's value before the value itself: a
 * repeated '=', a quote, a space or '+' (a space in a query). */
static int dress_byte(unsigned char c) {
  return c == '=' || c == '"' || c == '\'' || c == ' ' || c == '+';
}

/* value_dress_end — the end of the dressing at in[i] (dress_byte, raw or
 * percent-encoded at any depth: "%3D", "%22", "%2522"), at most 64 bytes
 * of it; i when there is none. The server counts "api_key==B" as a
 * non-empty api_key (SPEC §1.1), so B is a key body all the same. */
static size_t value_dress_end(const char *in, size_t n, size_t i) {
  size_t j = i;
  while (j < n && j - i < 64) {
    if (dress_byte((unsigned char)in[j])) {
      j++;
      continue;
    }
    size_t len = 0;
    const int v = json_escape(in, n, j, &len);
    if (v >= 0 && dress_byte((unsigned char)v)) {
      j += len; /* JSON-escaped: "\u0022", "\"", "\u003d" */
      continue;
    }
    if (in[j] != '%') {
      break;
    }
    size_t k = j + 1;
    while (k + 1 < n && in[k] == '2' && in[k + 1] == '5') {
      k += 2; /* "%25" hides an escape, level after level */
    }
    const int hi = k + 1 < n ? hex_value((unsigned char)in[k]) : -1;
    const int lo = k + 1 < n ? hex_value((unsigned char)in[k + 1]) : -1;
    if (hi < 0 || lo < 0 || !dress_byte((unsigned char)(hi * 16 + lo))) {
      break;
    }
    j = k + 2;
  }
  return j;
}

/* How far back a parameter's name is looked for: an encoded URL before it
 * ("https%3A%2F%2F...%23token") is read decoded, up to this many bytes. */
#define NAME_SPAN 256

/* A byte a parameter's name may follow: one that ends a key run, '?',
 * '/', or '#' (a fragment's parameters: an OAuth redirect's
 * "cb#access_token=...", review 104). */
static int before_name(unsigned char c) {
  return !in_key_run(c) || c == '?' || c == '/' || c == '#';
}

/* value_end — 1 when a parameter's value ends at in[i]: a raw '&', '#',
 * whitespace or quote. Not their JSON escapes: a value in a JSON string
 * ("?a=1\u0026token=B\u0026b=2", Go's encoder) runs on to the string's
 * end and hides what follows too, which is safe; ending it at "\u0026"
 * showed the rest of an encoded key after it (review 118's harness). */
static int value_end(const char *in, size_t n, size_t i) {
  (void)n;
  const int c = (unsigned char)in[i];
  return c == '&' || c == '#' || c == ' ' || c == '\t' || c == '\r' ||
         c == '\n' || c == '"' || c == '\'';
}

/*
 * param_end — when in[i] starts the value of a query parameter SPEC §1.1
 * names (api_key, apikey, key, access_token, token, ASCII
 * case-insensitively, after decoding the name): "name=" before it, the
 * name starting the text or after a byte no name holds (before_name: '?',
 * '/', '#', '&', ';', a space, a quote, ...), raw or encoded (NAME_SPAN
 * bytes back at most), the '=' raw, "%3D" or "\u003d": the value's end, and its
 * start in *vstart (after its dressing, value_dress_end: "api_key==B",
 * "token=\"B\""). The value runs to the parameter's end ('&', '#',
 * whitespace or a quote, raw: value_end), so "(B)", "<B>"
 * and "a,B" are values too. 0 when in[i] starts no such value, or its
 * start is before min_v (then its end is not looked for).
 */
static size_t param_start(const char *in, size_t n, size_t i) {
  static const char *const names[] = {"api_key", "apikey", "key",
                                      "access_token", "token"};
  /* the '=', "%3D" (the server decodes the query: "token%3DB") or "\u003d"
   * (JSON) */
  size_t eq = 0, len = 0;
  if (i >= 1 && in[i - 1] == '=') {
    eq = 1;
  } else if (i >= 3 && in[i - 3] == '%' && in[i - 2] == '3' &&
             (in[i - 1] == 'D' || in[i - 1] == 'd')) {
    eq = 3;
  } else if (i >= 6 && json_escape(in, i, i - 6, &len) == '=' && len == 6) {
    eq = 6; /* "\u003d": Gson writes every '=' so */
  } else {
    return 0;
  }
  /* the name: the run before the '=', percent-decoded, from its last
   * decoded separator on, so an encoded URL's names count as a raw one's
   * ("next=%2Fv1%3Fkey%3DB", "redirect_uri=https%3A...%23token%3DB":
   * review 105) */
  /* "token==B" read at B: the '=' before it is dressing, the name is
   * before the first (a key's run takes "==" as its padding: review 117) */
  size_t q = i - eq;
  while (q > 0 && i - q < 64) {
    if (in[q - 1] == '=') {
      q--;
    } else if (q >= 3 && in[q - 3] == '%' && in[q - 2] == '3' &&
               (in[q - 1] == 'D' || in[q - 1] == 'd')) {
      q -= 3; /* "token%3D=B" */
    } else if (q >= 6 && json_escape(in, q, q - 6, &len) == '=' && len == 6) {
      q -= 6;
    } else {
      break;
    }
  }
  eq = i - q;
  size_t ns = i - eq;
  while (ns > 0 && i - eq - ns < NAME_SPAN) {
    if (before_name((unsigned char)in[ns - 1]) &&
        (json_escape(in, i - eq, ns - 1, &len) < 0)) {
      break; /* a separator, not a JSON escape of one: Go's encoder
              * writes "?a=1\u0026api_key=B" */
    }
    ns--;
  }
  const int cut = ns > 0 && !before_name((unsigned char)in[ns - 1]);
  dec_window d;
  d.len = i - eq - ns;
  memcpy(d.c, in + ns, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  for (int level = 0; level < DEC_LEVELS && dec_level(&d); level++) {
  }
  size_t k0 = d.len;
  while (k0 > 0 && !before_name((unsigned char)d.c[k0 - 1])) {
    k0--;
  }
  if (k0 == 0 && cut) {
    return 0; /* a name longer than any of ours */
  }
  int named = 0;
  for (size_t k = 0; !named && k < sizeof names / sizeof names[0]; k++) {
    named = ci_eq(d.c + k0, d.len - k0, names[k]);
  }
  if (!named) {
    return 0;
  }
  /* the value as it may be dressed: "api_key==B", "token=\"B\"", '+' or
   * spaces, the same escaped ("%3D", "%22", "%2522"): shown as it is */
  return value_dress_end(in, n, i);
}

/* param_end — param_start's value, when it starts at min_v or later: its
 * end, its start in *vstart; 0 otherwise. The value runs to the
 * parameter's end, whatever it holds: a body bracketed or after a few
 * other bytes ("(B)", "<B>", "a,B") is still the value the server refuses
 * as a key (review); however long (review 105 found the bytes past a
 * 4,096-byte cap shown). */
static size_t param_end(const char *in, size_t n, size_t i, size_t *vstart,
                        size_t min_v) {
  const size_t v = param_start(in, n, i);
  if (v == 0 || v < min_v) {
    return 0;
  }
  size_t e = v;
  while (e < n && !value_end(in, n, e)) {
    e++;
  }
  *vstart = v;
  return e;
}

/* holds_prefix — 1 when in[s..e), as it is or decoded at some level,
 * holds a named prefix (any case) or, with r->shape, two letters and a
 * '_' (where a guessed prefix may end). */
static int holds_prefix(const char *in, size_t s, size_t e,
                        const redact_rules *r) {
  dec_window d;
  d.len = e - s;
  memcpy(d.c, in + s, d.len);
  for (size_t k = 0; k < d.len; k++) {
    d.end[k] = (unsigned short)(k + 1);
  }
  int level = 0;
  do {
    for (size_t k = 0; k < d.len; k++) {
      for (size_t x = 0; x < r->nprefixes; x++) {
        const char *pre = r->prefixes[x];
        if (pre == NULL || pre[0] == '\0') {
          continue;
        }
        size_t m = 0; /* the NUL ends pre: it matches no byte of d here */
        while (k + m < d.len && pre[m] != '\0' &&
               ascii_lower((unsigned char)d.c[k + m]) ==
                   ascii_lower((unsigned char)pre[m])) {
          m++;
        }
        if (pre[m] == '\0') {
          return 1;
        }
      }
      if (r->shape && d.c[k] == '_' && k >= 2 &&
          is_alpha((unsigned char)d.c[k - 1]) &&
          is_alpha((unsigned char)d.c[k - 2])) {
        return 1;
      }
    }
  } while (level++ < DEC_LEVELS && dec_level(&d));
  return 0;
}

/*
 * value_past — the end of a key parameter's value at in[v..e) once what
 * starts in it and runs on past e is taken in (reviews 106 and 117): a key
 * parameter whose dressing crosses e ("...%3Dabcdefgh?key=%20 B": the
 * outer value ends at the space, the inner one after it; its '=' is in the
 * last VALUE_DRESS_SPAN bytes), and, where the value ends at a '#' (a byte
 * a key run holds), the run through it and on to the value's next end when
 * the run's last DEC_WINDOW bytes before it hold a prefix, named or
 * guessed, as they are or decoded ("token=CrHq3Wfosk_live_#f04Zk...").
 * Otherwise what follows e would be shown, since the piece at v took the
 * start of what hides it. Each look is bounded and each extension moves e
 * on: linear.
 */
#define VALUE_DRESS_SPAN 256

/* crossing — the end of a key parameter's value of 8 or more bytes whose
 * '=' is in in[v..e)'s last VALUE_DRESS_SPAN bytes and that goes on past
 * e: its dressing passes e ("...?key=%20 B" cut at the space), or it
 * starts before e and no end of a value lies between ("access_token%3Da,B"
 * cut at the ',' by a guessed prefix's run: review 118); e when there is
 * none. The value's end past e is looked for once. */
static size_t crossing(const char *in, size_t n, size_t v, size_t e) {
  const size_t from = e - v > VALUE_DRESS_SPAN ? e - VALUE_DRESS_SPAN : v + 1;
  size_t last_end = NPOS; /* the last end of a value in in[from..e) */
  for (size_t k = from; k < e; k++) {
    if (value_end(in, n, k)) {
      last_end = k;
    }
  }
  size_t far = e, past = NPOS; /* past: the first end of a value from e */
  for (size_t j = from; j <= e && j < n; j++) {
    if (in[j - 1] != '=' && in[j - 1] != 'D' && in[j - 1] != 'd') {
      continue;
    }
    size_t iv = 0;
    size_t ie = param_end(in, n, j, &iv, e + 1);
    if (ie == 0 && (last_end == NPOS || last_end < j)) {
      iv = param_start(in, n, j);
      if (iv != 0 && iv <= e && (last_end == NPOS || last_end < iv)) {
        if (past == NPOS) {
          past = e;
          while (past < n && !value_end(in, n, past)) {
            past++;
          }
        }
        ie = past;
      }
    }
    if (ie > far && ie - iv >= 8) {
      far = ie;
    }
  }
  return far;
}

static size_t value_past(const char *in, size_t n, size_t v, size_t e,
                         const redact_rules *r) {
  for (;;) {
    size_t far = crossing(in, n, v, e);
    if (far == e && e < n && in[e] == '#') {
      size_t s0 = e;
      /* back over the run: its bytes and the backslashes of its escapes
       * (a bare backslash ends it, so each run is walked once) */
      while (s0 > v && e - s0 < DEC_WINDOW &&
             (in_key_run((unsigned char)in[s0 - 1]) ||
              (in[s0 - 1] == '\\' && esc_in_run(in, n, s0 - 1) > 0))) {
        s0--;
      }
      if (s0 < e && holds_prefix(in, s0, e, r)) {
        /* the '#' is the key's, not the value's end: the value goes on
         * to its next end after the key's run, as it reads once masked
         * ("token=****Ab3x==..." is one value) */
        far = key_run_end(in, n, e);
        while (far < n && !value_end(in, n, far)) {
          far++;
        }
      }
    }
    if (far == e) {
      return e;
    }
    e = far;
  }
}

/*
 * param_value — with r->params, the piece at in[i] when it starts a key
 * parameter's value (param_end) of 8 or more bytes: a key body whatever its
 * prefix, masked whole with what runs on past it (value_past): "****" and,
 * when 12 or more bytes long and free of '%' and '\\', its last four if
 * they are printable ASCII (no control, no space, no byte of 0x80 and
 * above). The dressing is shown as it is. verbatim(1) otherwise.
 */
static redact_piece param_value(const char *in, size_t n, size_t i,
                                const redact_rules *r) {
  size_t v = 0;
  size_t e = param_end(in, n, i, &v, 0);
  if (e == 0 || e - v < 8) {
    return verbatim(1);
  }
  if (e - v <= 8 && memcmp(in + v, "****", 4) == 0) {
    return verbatim(e - i); /* already masked */
  }
  e = value_past(in, n, v, e, r);
  redact_piece p = {e - i, (v - i) + 4, 1, v - i, NPOS, 1, 0};
  /* its last four only when they are printable: the value runs over any
   * byte, and a NUL, a control or half a UTF-8 character is no hint */
  int tail_ok = e - v >= 12 && memchr(in + v, '%', e - v) == NULL &&
                memchr(in + v, '\\', e - v) == NULL;
  for (size_t k = e - 4; tail_ok && k < e; k++) {
    const unsigned char c = (unsigned char)in[k];
    tail_ok = c > 0x20 && c < 0x7f;
  }
  if (tail_ok) {
    p.tail = e - 4;
    p.out_len += 4;
  }
  return p;
}

/* The piece at in[i]: a named prefix's key as it is (decoded when its run
 * holds an escape, for the decoded last four), then in the decoded text (a
 * key parameter's value before a guessed prefix found there), then a key
 * parameter's value, then the shape. */
static redact_piece piece_first(const char *in, size_t n, size_t i,
                                const redact_rules *r) {
  for (size_t k = 0; k < r->nprefixes; k++) {
    const char *pre = r->prefixes[k];
    redact_piece p = redact_next(in, n, i, pre, pre != NULL ? strlen(pre) : 0);
    if (p.masked && p.tail == NPOS && p.keyed) {
      /* a key with an escape in it ("sk_live_Ab\u0033x..."): shown with
       * its decoded last four when decoding finds it too */
      const redact_piece d = decoded_next(in, n, i, r, NULL);
      return d.masked ? d : p;
    }
    if (p.masked || p.in_len > 1) {
      return p;
    }
  }
  redact_piece p = decoded_next(in, n, i, r, NULL);
  if (p.guessed && r->params) {
    /* a guess shows the letters before a '_': in a key parameter's value
     * they are the key's, so the parameter's rule masks it whole */
    const redact_piece v = param_value(in, n, i, r);
    if (v.masked) {
      return v;
    }
  }
  if (p.masked || p.in_len > 1) {
    return p;
  }
  if (r->params) {
    p = param_value(in, n, i, r);
    if (p.masked || p.in_len > 1) {
      return p;
    }
  }
  return r->shape ? shape_next(in, n, i) : verbatim(1);
}

/* piece_at — piece_first, and with r->params a masked piece goes on over
 * the key parameter's value it starts ("?key=sk_live_...,B": review 119)
 * and over one whose name and '=' it took and whose value passes its end
 * (crossing: "sk_live_abcd/key%3D%20 B", review 117), as value_past does
 * for a value; its raw last four are then not shown (a decoded piece
 * keeps its decoded ones, which come before what it took). */
static redact_piece piece_at(const char *in, size_t n, size_t i,
                             const redact_rules *r) {
  redact_piece p = piece_first(in, n, i, r);
  if (!p.masked || !r->params) {
    return p;
  }
  size_t e = i + p.in_len;
  /* the piece may start a key parameter's value ("?key=sk_live_...,B":
   * review 119): the value, whatever it holds, is masked to its end */
  size_t iv = 0;
  const size_t ve = param_end(in, n, i, &iv, 0);
  if (ve > e && ve - iv >= 8) {
    e = ve;
  }
  for (size_t far; (far = crossing(in, n, i, e)) > e;) {
    e = far;
  }
  if (e > i + p.in_len) {
    p.in_len = e - i;
    p.keyed = 1; /* it holds a key parameter's value (kgl_holds_key) */
    if (p.masked == 1 && p.tail != NPOS) {
      p.tail = NPOS;
      p.out_len -= 4;
    }
  }
  return p;
}

/* redact — (in, n) into out under rules; *keys (when not NULL) counts the
 * masked runs long enough to be a key (keyed). */
static size_t redact(const char *in, size_t n, const redact_rules *rules,
                     char *out, size_t cap, size_t *keys) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  if (in == NULL) {
    n = 0;
  }
  /* Every piece renders to at most its input length: total <= n. */
  size_t total = 0;
  for (size_t i = 0; i < n;) {
    redact_piece p = piece_at(in, n, i, rules);
    total += p.out_len;
    i += p.in_len;
    if (keys != NULL && p.keyed) {
      ++*keys;
    }
  }
  size_t room = cap - 1;
  int cut = total > room;
  size_t budget = !cut ? room : (room >= 3 ? room - 3 : 0);
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    redact_piece p = piece_at(in, n, i, rules);
    if (p.out_len > budget - w) {
      break; /* a piece is written whole or not at all */
    }
    if (p.masked == 2) {
      (void)decoded_next(in, n, i, rules, out + w); /* the same piece */
    } else {
      redact_put(in, i, &p, out + w, rules->utf8);
    }
    w += p.out_len;
    i += p.in_len;
  }
  if (cut) {
    size_t dots = room - w < 3 ? room - w : 3;
    memset(out + w, '.', dots);
    w += dots;
  }
  out[w] = '\0';
  return w;
}

size_t kgl_redact(const char *in, size_t n, const char *prefix, char *out,
                  size_t cap) {
  const redact_rules r = {&prefix, 1, 0, 0, 0};
  return redact(in, n, &r, out, cap, NULL);
}

size_t kgl_redact_keys(const char *in, size_t n, char *out, size_t cap) {
  static const char *const named[] = {"sk_live_", "sk_test_"};
  const redact_rules r = {named, 2, 1, 1, 0};
  return redact(in, n, &r, out, cap, NULL);
}

/* ---------------------------------------------------------------------- */
/* Messages: a key's random part by its shape                             */
/* ---------------------------------------------------------------------- */

/*
 * public_id_len — the length of the public id that starts at s[i] (i
 * starts a word): a key id, "key_" + 11 base62 (kg_key_id_format), or a
 * request id, "req_" + 24, not followed by '_'; 0 for anything else. Such an id
 * names a key or a request and is kept: no key is 15 bytes long (SPEC §1.2: 16
 * at the least), and a request id is what the server itself prints.
 */
static size_t public_id_len(const char *s, size_t n, size_t i) {
  if (n - i < 4 || (i > 0 && is_base62((unsigned char)s[i - 1]))) {
    return 0;
  }
  size_t want = 0;
  if (memcmp(s + i, "key_", 4) == 0) {
    want = KG_KEY_ID_STR_LEN - 1 - 4;
  } else if (memcmp(s + i, "req_", 4) == 0) {
    want = KG_REQUEST_ID_LEN - 4;
  } else {
    return 0;
  }
  size_t j = i + 4;
  while (j < n && j - (i + 4) <= want && is_base62((unsigned char)s[j])) {
    j++;
  }
  /* not before a '_': pass 1 writes a decoded prefix ("%73k_live_" as
   * "sk_live_") whose letters could finish one ("req_<22 of a key>" and
   * "sk": fuzz_redact) */
  return j - (i + 4) == want && (j == n || s[j] != '_') ? 4 + want : 0;
}

/*
 * temp_suffix_len — the length of a temporary name's random suffix at s[i]
 * (e: the end of the run): '.' and 6 to 10 letters and digits that end a
 * '/'-separated part, as mktemp(1) makes them ("keygate-test.z6zL62/",
 * "tmp.Ab3dQw8eZx"); else 0. Left out of a part's shape like a public id:
 * a temporary folder's name is no key, and its few random characters made
 * a third of the test suite's paths look like one.
 */
static size_t temp_suffix_len(const char *s, size_t i, size_t e) {
  if (s[i] != '.') {
    return 0;
  }
  size_t k = i + 1;
  while (k < e && is_base62((unsigned char)s[k])) {
    k++;
  }
  const size_t len = k - (i + 1);
  return (k == e || s[k] == '/') && len >= 6 && len <= 10 ? k - i : 0;
}

/* 0 for a digit, 1 for a lower-case letter, 2 for an upper-case one. */
static int base62_class(unsigned char c) {
  return is_digit(c) ? 0 : (c >= 'a' && c <= 'z') ? 1 : 2;
}

/*
 * part_like — 1 when s[i..e), a '/'-separated part of a run of token68
 * bytes (or the whole run), reads as a key's random part, its public ids
 * and temporary suffixes counted in its length but not in its shape: with
 * bodies, it holds a run of 16 or more letters and digits that mixes upper
 * case, lower case and digits (a base62 body); or it is 16 bytes or more,
 * mixes upper and lower case, and its letters and digits change class
 * (digit, lower, upper) between neighbours at per20 pairs in 20 or more (a
 * key in groups: "acme-Ab3d-Qw8e-Zx9r-Lm2p").
 */
static int part_like(const char *s, size_t i, size_t e, size_t per20,
                     int bodies) {
  size_t len = 0, pairs = 0, changes = 0;
  int classes = 0;
  for (size_t k = i; k < e;) {
    /* an id or a temporary suffix adds its length but not its shape:
     * "key_Ab3dQw8eZx9-Lm2pAb3d..." is still 16 bytes and more (review) */
    const size_t id = public_id_len(s, e, k) + temp_suffix_len(s, k, e);
    if (id > 0) {
      len += id;
      k += id;
      continue;
    }
    if (!is_base62((unsigned char)s[k])) {
      len++;
      k++;
      continue;
    }
    size_t j = k;
    int seg = 0;
    for (; j < e && is_base62((unsigned char)s[j]); j++) {
      const int c = base62_class((unsigned char)s[j]);
      seg |= 1 << c;
      if (j > k && c != base62_class((unsigned char)s[j - 1])) {
        changes++;
      }
    }
    if (bodies && j - k >= 16 && seg == 7) {
      return 1;
    }
    len += j - k;
    pairs += j - k - 1;
    classes |= seg;
    k = j;
  }
  return len >= 16 && (classes & 6) == 6 && changes * 20 >= pairs * per20;
}

/* a_word — 1 when (s, n) is a path's word: not empty, and only lower-case
 * letters, '-', '.' and '_' ("home", "tmp", "keys.d"), perhaps with a
 * temporary suffix ("keygate-test.z6zL62"). A part that holds a digit or
 * an upper-case letter may be the rest of a base64 key. */
static int a_word(const char *s, size_t n) {
  size_t dot = n;
  while (dot > 0 && s[dot - 1] != '.') {
    dot--;
  }
  if (dot > 1 && temp_suffix_len(s, dot - 1, n) > 0) {
    n = dot - 1;
  }
  for (size_t k = 0; k < n; k++) {
    if (!(s[k] >= 'a' && s[k] <= 'z') && strchr("-._", s[k]) == NULL) {
      return 0;
    }
  }
  return n > 0;
}

/* put_mask — "****" and the last four of the run s[i..e) (16 bytes or
 * more) at s + w (w <= i); returns the new w. */
static size_t put_mask(char *s, size_t w, size_t e) {
  memset(s + w, '*', 4); /* a piece of the text, not a string */
  memmove(s + w + 4, s + e - 4, 4);
  return w + 8;
}

/* decoded — the run s[i..e) percent-decoded level by level, DEC_LEVELS
 * at most, into d (room for e - i bytes; decoding never lengthens);
 * returns its length. */
static size_t decoded(const char *s, size_t i, size_t e, char *d) {
  size_t n = e - i;
  memcpy(d, s + i, n);
  int changed = 1;
  for (int level = 0; level < KGL_DECODE_LEVELS && changed; level++) {
    n = pct_decode_once(d, n, &changed);
  }
  return n;
}

/* parts_like — 1 when a '/'-separated part of (d, n) of 16 bytes or more
 * reads as a key (part_like, class changes at 1 pair in 4). */
static int parts_like(const char *d, size_t n) {
  for (size_t a = 0; a < n;) {
    size_t b = a;
    while (b < n && d[b] != '/') {
      b++;
    }
    if (b - a >= 16 && part_like(d, a, b, 5, 1)) {
      return 1;
    }
    a = b + 1;
  }
  return 0;
}

/*
 * mask_shapes — the message rule's second pass, in place over (s, n); d
 * has room for n bytes. A run of token68 bytes, '%' escapes and '='
 * padding reads as a key when one of its '/'-separated parts does
 * (part_like, class changes at 1 pair in 4), or the whole run does at 2
 * pairs in 5 (a key split by many '/'; a path's words dilute a key less
 * than they make one up: "/home/JohnDoe2/Build9X/kf.txt" changes at 7
 * pairs in 19); a run with an escape is judged raw and percent-decoded.
 * Such a run becomes "****" and its last four, all of it, or, in a path
 * that says it is one, from its first part that is not a lower-case word.
 * Random text changes class at about 3 pairs in 5; words, numbers, dates
 * and most file names seldom do, and hex digests have no upper case. A
 * heuristic, measured (docs/cli.md). Returns the new length.
 */
static size_t mask_shapes(char *s, size_t n, char *d) {
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    if (!is_t68((unsigned char)s[i]) && s[i] != '%') {
      s[w++] = s[i++];
      continue;
    }
    size_t e = i;
    while (e < n && (is_t68((unsigned char)s[e]) || s[e] == '%')) {
      e++;
    }
    while (e < n && s[e] == '=') {
      e++;
    }
    const int escaped = memchr(s + i, '%', e - i) != NULL;
    int parts = parts_like(s + i, e - i);
    int as_one = e - i >= 16 && part_like(s, i, e, 8, 0);
    if (escaped) { /* judged raw and decoded: "%Ab3d..." decodes shorter */
      const size_t dn = decoded(s, i, e, d);
      parts = parts || parts_like(d, dn);
      as_one = as_one || (dn >= 16 && part_like(d, 0, dn, 8, 0));
    }
    if (e - i < 16 || (!parts && !as_one)) {
      memmove(s + w, s + i, e - i);
      w += e - i;
      i = e;
      continue;
    }
    /* Masked to the run's end, from its start, or, in a path that says
     * it is one ("/", "./", "../", "~/"), from its first part that is
     * not a word (a_word): "/home/u/" and "****M6GO". Whatever follows a
     * key may be the rest of it (base64 holds '/': review 102), and so
     * may what comes before it when nothing says it is a path. */
    size_t f = i;
    if (parts && !escaped &&
        (s[i] == '/' || (e - i > 2 && memcmp(s + i, "./", 2) == 0) ||
         (e - i > 3 && memcmp(s + i, "../", 3) == 0) ||
         (e - i > 2 && memcmp(s + i, "~/", 2) == 0))) {
      f = s[i] == '/'
              ? i + 1
              : (size_t)((const char *)memchr(s + i, '/', e - i) - s) + 1;
      for (;;) {
        size_t b = f;
        while (b < e && s[b] != '/') {
          b++;
        }
        if (b == e || !a_word(s + f, b - f)) {
          break;
        }
        f = b + 1;
      }
      if (e - f < 16) {
        f = i; /* the mask must hide 8 more than it shows */
      }
    }
    memmove(s + w, s + i, f - i);
    w = put_mask(s, w + (f - i), e);
    i = e;
  }
  s[w] = '\0';
  return w;
}

/*
 * message — kgl_redact_message, and *keys: the keys of pass 1 (named
 * prefixes, parameters' values) long enough to be one. Both passes see the
 * whole input, and the cut comes after them: the run of token68 bytes (or
 * of a mask) at the cut goes whole, since its start may be a key's that
 * the passes would have masked had it not been cut. Out of memory writes
 * "..." alone.
 */
static size_t message(const char *in, size_t n, char *out, size_t cap,
                      size_t *keys) {
  static const char *const named[] = {"sk_live_", "sk_test_"};
  const redact_rules r = {named, 2, 0, 1, 1};
  *keys = 0;
  if (out == NULL || cap == 0) {
    return 0;
  }
  if (in == NULL) {
    n = 0;
  }
  char *t = malloc(n + 1), *d = malloc(n + 1);
  size_t m = 0;
  if (t != NULL && d != NULL) {
    m = redact(in, n, &r, t, n + 1, keys); /* never longer: no cut */
    m = mask_shapes(t, m, d);
  } else {
    free(t);
    t = NULL;
    *keys = 1; /* cannot tell: kgl_holds_key fails closed */
  }
  free(d);
  const size_t room = cap - 1;
  const int cut = t == NULL || m > room;
  size_t w = 0;
  if (t != NULL) {
    w = !cut ? m : room >= 3 ? room - 3 : 0;
    while (cut && w > 0 &&
           (is_t68((unsigned char)t[w - 1]) || t[w - 1] == '=' ||
            t[w - 1] == '*' || t[w - 1] == '%')) {
      w--;
    }
    /* nor inside a UTF-8 sequence: its lead byte goes with the rest */
    while (cut && w > 0 && ((unsigned char)t[w] & 0xC0) == 0x80) {
      w--;
    }
    memcpy(out, t, w);
  }
  if (cut) {
    const size_t dots = room - w < 3 ? room - w : 3;
    memset(out + w, '.', dots);
    w += dots;
  }
  out[w] = '\0';
  free(t);
  return w;
}

size_t kgl_redact_message(const char *in, size_t n, char *out, size_t cap) {
  size_t keys;
  return message(in, n, out, cap, &keys);
}

int kgl_holds_key(const char *s) {
  if (s == NULL) {
    return 0;
  }
  char none[1]; /* the count is of the whole input, whatever is written */
  size_t keys;
  (void)message(s, strlen(s), none, sizeof none, &keys);
  return keys > 0;
}

/* ---- a key's prefix and its display form (internal.h) ------------------ */

size_t kgl_key_prefix_len(const char *key, size_t n) {
  size_t p = 0;
  while (p < n && p < 4 && strchr("\"'<(", key[p]) != NULL) {
    p++; /* a quote typed around the key: not a secret */
  }
  const size_t quotes = p;
  for (int word = 0; word < 2; word++) {
    size_t i = p;
    while (i < n && i - p < 7 && key[i] >= 'a' && key[i] <= 'z') {
      i++;
    }
    const size_t letters = i - p;
    if (letters < 2 || letters > 6 || i >= n || key[i] != '_' ||
        i + 1 - quotes > 11) {
      break;
    }
    p = i + 1;
  }
  return p;
}

void kgl_mask_key(const char *key, size_t n, char *out, size_t cap) {
  size_t p = kgl_key_prefix_len(key, n);
  if (n - p < 12) {
    p = p <= n ? p : n; /* too short to show an end: the prefix only */
  }
  char buf[64];
  size_t o = 0;
  for (size_t i = 0; i < p && o < 16; i++) {
    const unsigned char c = (unsigned char)key[i];
    buf[o] = key[i];
    if (c <= 0x20 || c >= 0x7f) {
      buf[o] = '?';
    }
    o++;
  }
  memcpy(buf + o, "****", 4);
  o += 4;
  if (n >= p + 12) {
    for (size_t i = n - 4; i < n; i++) {
      const unsigned char c = (unsigned char)key[i];
      buf[o] = key[i];
      if (c <= 0x20 || c >= 0x7f) {
        buf[o] = '?';
      }
      o++;
    }
  }
  buf[o] = '\0';
  snprintf(out, cap, "%s", buf);
}

size_t kgl_key_hint(const char *in, size_t n, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  char buf[16 + 4 + 4 + 1];
  size_t o = 0;
  if (in == NULL || n == 0 || (n == 6 && memcmp(in, "(none)", 6) == 0)) {
    o = in == NULL ? 0 : n; /* no key: the missing class */
    if (o > 0) {
      memcpy(buf, in, o);
    }
  } else {
    /* The one rule of load's masks, so no character of a key's random part
     * ever passes as a prefix ("8yDoYITcMs_", "ghp_abcdefghi_"). */
    const size_t p = kgl_key_prefix_len(in, n);
    const size_t body = n - p;
    int hint =
        body >= 4 && memcmp(in + p, "****", 4) == 0 && (body == 4 || body == 8);
    for (size_t k = p + 4; hint && k < n; k++) {
      hint = in_key_run((unsigned char)in[k]);
    }
    memcpy(buf, in, p);
    o = p;
    memset(buf + o, '*', 4); /* a piece of the hint, not a string */
    o += 4;
    if (hint ? body == 8 : body >= 12) { /* its last four, eight hidden */
      for (size_t k = n - 4; k < n; k++) {
        buf[o++] = printable(in[k]);
      }
    }
    for (size_t k = 0; k < p; k++) {
      buf[k] = printable(buf[k]);
    }
  }
  const size_t w = o < cap - 1 ? o : cap - 1;
  memcpy(out, buf, w);
  out[w] = '\0';
  return w;
}

size_t kgl_redact_arg(const char *in, size_t n, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return 0;
  }
  out[0] = '\0';
  if (in == NULL) {
    return 0;
  }
  char *t = malloc(n + 1);
  if (t == NULL) {
    return 0;
  }
  const size_t m = kgl_redact_keys(in, n, t, n + 1);
  size_t w = 0;
  for (size_t i = 0; i < m;) {
    size_t j = i;
    int up = 0, lo = 0, dg = 0;
    while (j < m && is_base62((unsigned char)t[j])) {
      const unsigned char c = (unsigned char)t[j];
      up |= c >= 'A' && c <= 'Z';
      lo |= c >= 'a' && c <= 'z';
      dg |= is_digit(c);
      j++;
    }
    const int key = j - i >= 8 && up && lo && dg;
    if (j == i) {
      j = i + 1;
    }
    const char *piece = key ? "****" : t + i;
    const size_t len = key ? 4 : j - i;
    if (len > cap - 1 - w) {
      break; /* a piece is written whole or not at all */
    }
    memcpy(out + w, piece, len);
    w += len;
    i = j;
  }
  out[w] = '\0';
  free(t);
  return w;
}
