/*
 * fuzz/fuzz_redact.c — the one redaction of keygate's text (load/redact.h):
 * what a server sent back, a result file's texts, an argument echoed in an
 * error, and every error line of the `keygate` program pass through it.
 * SPEC §1.4: no message holds a presented key, at most its prefix and last
 * four characters.
 *
 * Input: byte 0 picks the output capacity of the cut run, byte 1 the mode,
 * bytes 2..9 seed the key's body, byte 10 its length, byte 11 where it
 * goes in the text; the rest is the text around it. Modes (byte 1 % 6):
 *   0  no key: the text alone;
 *   1  "sk_live_" or "sk_test_" (byte 1's bits pick which, and upper case)
 *      and the body;
 *   2  the same prefix encoded: the seed's first byte picks the kind,
 *      percent escapes ("sk%5Flive%5F", "%73k_live_", "sk%255Flive%255F",
 *      the escapes' case varied), JSON escapes ("sk\u005flive\u005f",
 *      "\u0073k_live_", a JSON escape of a percent one), or both mixed
 *      ("sk\u005flive%5F", "sk%5Cu005flive%5Cu005f", and JSON in JSON:
 *      "sk\\u005flive\\u005f");
 *   3  a parameter SPEC §1.1 names, in any case (byte 1 / 5 picks it),
 *      after '?', '&', ';', '/', '#', a space, or "%3F", "%23", "%2F" (the
 *      seed's first byte picks it), then '=', "==", "%3D" or "\u003d"
 *      (its second byte), and the body as its value, perhaps after "x,"
 *      or "(" ("?api_key=<body>", "%23token==x,<body>");
 *   4  the body alone: a key of an issuer nobody named;
 *   5  a prefix of an issuer nobody named, of the shape kgl_redact_keys
 *      guesses ("ghp_", "github_pat_", "pk_live_"; the seed's first byte
 *      picks it, byte 1's bit 0x40 upper-cases its first letter, the
 *      seed's second byte writes its '_' raw, as "%5F" or as "\u005f"),
 *      and the body.
 * The body is 12 to 38 base62 characters (16 to 38 in mode 4) drawn from
 * splitmix64 of the seed, so the fuzzer cannot steer it byte by byte, with
 * one upper-case letter, one lower-case and one digit in its first three
 * places (SPEC §1.2's random part mixes them; pass 2 relies on it).
 *
 * Checks, on every input:
 *  - each function's return is the length it wrote, below its capacity,
 *    NUL-terminated, never a byte past the buffer (each is a malloc of
 *    exactly the capacity); kgl_redact_message is never longer than its
 *    input; a hint (kgl_key_hint, kgl_mask_key) is at most 24 bytes and
 *    holds no run of 7 or more letters and digits (a prefix's word is 6 at
 *    most, its tail 4);
 *  - a cut output is the full output's start, then perhaps "..." (the cut
 *    falls between pieces, so it never shows what the full output hides);
 *  - kgl_redact_message keeps valid UTF-8 valid;
 *  - kgl_holds_key says 1 only of a text kgl_redact_message changes.
 * With a key (modes 1-5), no 8 characters in a row of the body before its
 * last four appear in an output unless the text around the key holds them
 * too, as it is or decoded (percent and JSON escapes, level by level, as
 * the redaction decodes): kgl_redact (with the mode's prefix)
 * in modes 1-2, kgl_redact_keys in modes 1-3 and 5, kgl_redact_arg in
 * every mode, kgl_redact_message in every mode but 5 with a body shorter
 * than 16 (it guesses no prefix; its shape rule is promised for 16 or
 * more); and kgl_holds_key finds the key in modes 1-2. The exemptions the
 * header documents are the only ones: a body that is part of a request id
 * ("req_" + 24 base62) in modes 4-5 is kept by kgl_redact_message.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "load/redact.h"

/* internal.h of load, not its public API: declared from its comments. */
size_t kgl_key_prefix_len(const char *key, size_t n);
void kgl_mask_key(const char *key, size_t n, char *out, size_t cap);

#define HEADER 12   /* input bytes before the text */
#define BODY_MAX 38 /* SPEC §1.2: 32 random and 6 checksum characters */
#define WINDOW 8    /* characters in a row that count as shown */

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int is_base62(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* put — the NUL-terminated s into dst, without its NUL; returns its
 * length. */
static size_t put(char *dst, const char *s) {
  size_t k = 0;
  for (; s[k] != '\0'; k++) {
    dst[k] = s[k];
  }
  return k;
}

/* find — 1 when (w, k) occurs in (s, n); a plain loop, so the fuzzer's
 * memmem hook does not learn the key's windows from it. */
static int find(const char *s, size_t n, const char *w, size_t k) {
  for (size_t i = 0; i + k <= n; i++) {
    size_t j = 0;
    while (j < k && s[i + j] == w[j]) {
      j++;
    }
    if (j == k) {
      return 1;
    }
  }
  return 0;
}

/* The case being checked. */
typedef struct fuzz_case {
  const char *text; /* the whole text, key included */
  size_t n;
  const char *body; /* the key's body, or NULL */
  size_t blen;
  const char *around; /* the text without the key, split by 0x01 */
  size_t alen;
  const char *decoded; /* around decoded, 8 levels at most */
  size_t dlen;
} fuzz_case;

/* check_leak — no WINDOW characters of the body before its last four are
 * in (out, w), unless the text around the key holds them too, raw or
 * decoded (an encoded key shows its decoded prefix and last four, and
 * those may join letters the text spelled with escapes). */
static void check_leak(const fuzz_case *c, const char *out, size_t w) {
  if (c->body == NULL) {
    return;
  }
  for (size_t k = 0; k + WINDOW <= c->blen - 4; k++) {
    FUZZ_CHECK(!find(out, w, c->body + k, WINDOW) ||
               find(c->around, c->alen, c->body + k, WINDOW) ||
               find(c->decoded, c->dlen, c->body + k, WINDOW));
  }
}

/* hexval — the value of one hex digit, or -1. */
static int hexval(unsigned char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* json_at — the byte of the JSON escape at s[j] when it stands for an
 * ASCII byte ("\u0001".."\u007f", 'U' too; "\/", "\\", "\""), its
 * length in *len; -1 otherwise. Written from RFC 8259 §7, not from the
 * redaction's code. */
static int json_at(const char *s, size_t n, size_t j, size_t *len) {
  if (s[j] != '\\' || j + 1 >= n) {
    return -1;
  }
  if (s[j + 1] == '/' || s[j + 1] == '\\' || s[j + 1] == '"') {
    *len = 2;
    return (unsigned char)s[j + 1];
  }
  if ((s[j + 1] != 'u' && s[j + 1] != 'U') || j + 6 > n) {
    return -1;
  }
  int v = 0;
  for (size_t k = j + 2; k < j + 6; k++) {
    const int h = hexval((unsigned char)s[k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  *len = 6;
  return v > 0 && v < 0x80 ? v : -1;
}

/* pct_decode — (s, n) decoded in place, percent and JSON escapes, level
 * after level (8 at most, as deep as the redaction looks); returns the new
 * length. 0x01 is no hex digit and no escape, so no escape joins the text
 * before the key to the text after it. */
static size_t pct_decode(char *s, size_t n) {
  for (int level = 0; level < 8; level++) {
    size_t o = 0;
    int changed = 0;
    for (size_t j = 0; j < n; o++) {
      const int hi =
          s[j] == '%' && j + 2 < n ? hexval((unsigned char)s[j + 1]) : -1;
      const int lo = hi >= 0 ? hexval((unsigned char)s[j + 2]) : -1;
      size_t len = 0;
      const int v = lo < 0 ? json_at(s, n, j, &len) : -1;
      if (lo >= 0) {
        s[o] = (char)(hi * 16 + lo);
        j += 3;
        changed = 1;
      } else if (v >= 0) {
        s[o] = (char)v;
        j += len;
        changed = 1;
      } else {
        s[o] = s[j++];
      }
    }
    n = o;
    if (!changed) {
      break;
    }
  }
  return n;
}

typedef size_t (*redact_fn)(const char *in, size_t n, const char *prefix,
                            char *out, size_t cap);

/* run — fn into a malloc of exactly cap bytes; its length checked, the
 * result a malloc the caller frees. */
static char *run(redact_fn fn, const fuzz_case *c, const char *prefix,
                 size_t cap, size_t *w) {
  char *out = malloc(cap ? cap : 1);
  FUZZ_CHECK(out != NULL);
  memset(out, 'K', cap ? cap : 1);
  *w = fn(c->text, c->n, prefix, out, cap);
  if (cap == 0) {
    FUZZ_CHECK(*w == 0 && out[0] == 'K'); /* nothing written */
    return out;
  }
  FUZZ_CHECK(*w < cap && out[*w] == '\0' && strlen(out) == *w);
  return out;
}

/* The four redactions under one signature (the prefix: kgl_redact's). */
static size_t do_redact(const char *in, size_t n, const char *prefix, char *out,
                        size_t cap) {
  return kgl_redact(in, n, prefix, out, cap);
}
static size_t do_keys(const char *in, size_t n, const char *prefix, char *out,
                      size_t cap) {
  (void)prefix;
  return kgl_redact_keys(in, n, out, cap);
}
static size_t do_arg(const char *in, size_t n, const char *prefix, char *out,
                     size_t cap) {
  (void)prefix;
  return kgl_redact_arg(in, n, out, cap);
}
static size_t do_message(const char *in, size_t n, const char *prefix,
                         char *out, size_t cap) {
  (void)prefix;
  return kgl_redact_message(in, n, out, cap);
}

/* cut_is_start — 1 when (cut, cw) is (full, fw)'s start and then at most
 * three dots (some of which may be the full output's own). */
static int cut_is_start(const char *full, size_t fw, const char *cut,
                        size_t cw) {
  for (size_t d = 0; d <= 3 && d <= cw; d++) {
    if (d > 0 && cut[cw - d] != '.') {
      break;
    }
    if (cw - d <= fw && memcmp(cut, full, cw - d) == 0) {
      return 1;
    }
  }
  return 0;
}

/* utf8_valid — (s, n) is well-formed UTF-8 (RFC 3629). */
static int utf8_valid(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    size_t k = c < 0x80                 ? 0
               : c >= 0xC2 && c <= 0xDF ? 1
               : c >= 0xE0 && c <= 0xEF ? 2
               : c >= 0xF0 && c <= 0xF4 ? 3
                                        : 9;
    if (k == 9 || n - i <= k) {
      return k == 0;
    }
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) {
        return 0;
      }
    }
    if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
        (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F)) {
      return 0;
    }
    i += k + 1;
  }
  return 1;
}

/* check_hint — a hint's length and shape: at most 24 bytes, no run of 7
 * or more letters and digits. */
static void check_hint(const char *h, size_t w) {
  FUZZ_CHECK(w <= 24 && strlen(h) == w);
  size_t runlen = 0;
  for (size_t i = 0; i < w; i++) {
    runlen = is_base62((unsigned char)h[i]) ? runlen + 1 : 0;
    FUZZ_CHECK(runlen < 7);
  }
}

/* in_request_id — 1 when the body (at b in the text) lies in a request id
 * as kgl_redact_message reads one: "req_" after no letter or digit, then
 * exactly 24 base62, not followed by '_'. */
static int in_request_id(const fuzz_case *c, size_t b) {
  for (size_t i = 0; i + 28 <= c->n; i++) {
    if (memcmp(c->text + i, "req_", 4) != 0 ||
        (i > 0 && is_base62((unsigned char)c->text[i - 1]))) {
      continue;
    }
    size_t j = i + 4;
    while (j < c->n && is_base62((unsigned char)c->text[j])) {
      j++;
    }
    if (j - (i + 4) == 24 && (j == c->n || c->text[j] != '_') &&
        i + 4 < b + c->blen && b < j) {
      return 1;
    }
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < HEADER) {
    return 0;
  }
  const unsigned mode = data[1] % 6u;
  const size_t ctx_len = size - HEADER;
  const size_t pos = (size_t)data[11] * ctx_len / 256u;

  /* the key: prefix and body */
  char body[BODY_MAX];
  size_t blen = 0;
  char prefix[40] = "";
  const char *named = (data[1] & 0x20) ? "sk_test_" : "sk_live_";
  if (mode != 0) {
    uint64_t seed = 0;
    memcpy(&seed, data + 2, 8);
    const size_t least = mode == 4 ? 16 : 12;
    blen = least + data[10] % (BODY_MAX - least + 1);
    body[0] = (char)('A' + splitmix64(&seed) % 26);
    body[1] = (char)('a' + splitmix64(&seed) % 26);
    body[2] = (char)('0' + splitmix64(&seed) % 10);
    for (size_t i = 3; i < blen; i++) {
      body[i] = base62[splitmix64(&seed) % 62];
    }
  }
  size_t plen = 0;
  if (mode == 1) {
    for (; named[plen] != '\0'; plen++) {
      prefix[plen] = named[plen];
      if ((data[1] & 0x40) && named[plen] != '_') {
        prefix[plen] = (char)(named[plen] - 'a' + 'A');
      }
    }
  } else if (mode == 2) {
    static const char *const live[3][4] = {
        {"sk%5Flive%5F", "%73k_live_", "sk%255Flive%255F", "sk%5flive%5f"},
        {"sk\\u005flive\\u005f", "\\u0073k_live_", "sk\\U005Flive\\u005F",
         "sk\\u00255Flive\\u00255F"},
        {"sk\\u005flive%5F", "sk%5Cu005flive%5Cu005f",
         "sk\\\\u005flive\\\\u005f", "%5Cu0073k_live\\u005f"}};
    static const char *const test[3][4] = {
        {"sk%5Ftest%5F", "%73k_test_", "sk%255Ftest%255F", "sk%5ftest%5f"},
        {"sk\\u005ftest\\u005f", "\\u0073k_test_", "sk\\U005Ftest\\u005F",
         "sk\\u00255Ftest\\u00255F"},
        {"sk\\u005ftest%5F", "sk%5Cu005ftest%5Cu005f",
         "sk\\\\u005ftest\\\\u005f", "%5Cu0073k_test\\u005f"}};
    const unsigned kind = data[2] % 3u, v = (data[1] >> 6) & 3u;
    plen = put(prefix, (data[1] & 0x20) ? test[kind][v] : live[kind][v]);
  } else if (mode == 3) {
    static const char *const names[] = {"api_key",      "apikey", "key",
                                        "access_token", "token",  "API_KEY",
                                        "Api_Key",      "TOKEN"};
    static const char *const seps[] = {"?", "&",   ";",   "/",  " ",
                                       "#", "%3F", "%23", "%2F"};
    /* byte 1 is 6k + 3: k % 8 the name; the separator from the seed's
     * first byte, so every pair occurs */
    static const char *const eqs[] = {"=", "==", "%3D", "\\u003d"};
    plen = put(prefix, seps[data[2] % 9u]);
    plen += put(prefix + plen, names[(data[1] / 6u) % 8u]);
    static const char *const fills[] = {"", "", "x,", "("};
    plen += put(prefix + plen, eqs[data[3] % 4u]);
    plen += put(prefix + plen, fills[(data[3] / 4u) % 4u]);
  } else if (mode == 5) {
    static const char *const issuers[] = {"ghp_",     "gho_",     "github_pat_",
                                          "pk_live_", "rk_test_", "glpat_",
                                          "npm_",     "whsec_"};
    static const char *const unders[] = {"_", "%5F", "\\u005f"};
    const char *w = issuers[data[2] % 8u];
    const char *u = unders[data[3] % 3u];
    for (; *w != '\0'; w++) {
      if (*w == '_') {
        plen += put(prefix + plen, u);
      } else {
        prefix[plen++] = *w;
      }
    }
    if (data[1] & 0x40) {
      prefix[0] = (char)(prefix[0] - 'a' + 'A');
    }
  }

  /* the text, and the text without the key */
  const size_t n = ctx_len + plen + blen;
  char *text = malloc(n ? n : 1);
  char *around = malloc(ctx_len + 1);
  FUZZ_CHECK(text != NULL && around != NULL);
  const char *ctx = (const char *)data + HEADER;
  memcpy(text, ctx, pos);
  memcpy(text + pos, prefix, plen);
  memcpy(text + pos + plen, body, blen);
  memcpy(text + pos + plen + blen, ctx + pos, ctx_len - pos);
  memcpy(around, ctx, pos);
  around[pos] = '\x01';
  memcpy(around + pos + 1, ctx + pos, ctx_len - pos);
  char *decoded = malloc(ctx_len + 1);
  FUZZ_CHECK(decoded != NULL);
  memcpy(decoded, around, ctx_len + 1);
  const size_t dlen = pct_decode(decoded, ctx_len + 1);
  fuzz_case c = {text,    n,      mode != 0 ? body : NULL,
                 blen,    around, ctx_len + 1,
                 decoded, dlen};

  /* every redaction, in full and cut */
  const redact_fn fns[4] = {do_redact, do_keys, do_arg, do_message};
  const int covers[4] = {mode == 1 || mode == 2,
                         (mode >= 1 && mode <= 3) || mode == 5, 1,
                         mode < 4 || ((mode == 4 || blen >= 16) &&
                                      !in_request_id(&c, pos + plen))};
  const size_t small = data[0] < 0xF0 ? data[0] : (size_t)data[0] * 8u;
  for (int f = 0; f < 4; f++) {
    size_t fw, cw;
    char *full = run(fns[f], &c, named, n + 64, &fw);
    char *cut = run(fns[f], &c, named, small, &cw);
    if (covers[f]) {
      check_leak(&c, full, fw);
      if (small > 0) {
        check_leak(&c, cut, cw);
      }
    }
    if (small > 0) {
      FUZZ_CHECK(cut_is_start(full, fw, cut, cw));
    }
    if (fns[f] == do_message) {
      FUZZ_CHECK(fw <= n);
      if (utf8_valid((const unsigned char *)text, n)) {
        FUZZ_CHECK(utf8_valid((const unsigned char *)full, fw));
        if (small > 0) {
          FUZZ_CHECK(utf8_valid((const unsigned char *)cut, cw));
        }
      }
    }
    free(cut);
    free(full);
  }

  /* kgl_holds_key: of the text with its NULs made 0x01, which no key
   * holds either */
  char *s = malloc(n + 1);
  FUZZ_CHECK(s != NULL);
  for (size_t i = 0; i < n; i++) {
    s[i] = text[i];
    if (s[i] == '\0') {
      s[i] = '\x01';
    }
  }
  s[n] = '\0';
  const int holds = kgl_holds_key(s);
  FUZZ_CHECK(holds == 0 || holds == 1);
  if (mode == 1 || mode == 2) {
    FUZZ_CHECK(holds == 1);
  }
  if (holds) {
    char *m = malloc(n + 1);
    FUZZ_CHECK(m != NULL);
    const size_t mw = kgl_redact_message(s, n, m, n + 1);
    FUZZ_CHECK(mw != n || memcmp(m, s, n) != 0);
    free(m);
  }

  /* the hints: of the key alone and of the whole text */
  char hint[32];
  size_t hw = kgl_key_hint(text, n, hint, sizeof hint);
  check_hint(hint, hw);
  kgl_mask_key(text, n, hint, sizeof hint);
  check_hint(hint, strlen(hint));
  if (mode != 0) {
    const char *key = text + pos;
    hw = kgl_key_hint(key, plen + blen, hint, sizeof hint);
    check_hint(hint, hw);
    kgl_mask_key(key, plen + blen, hint, sizeof hint);
    check_hint(hint, strlen(hint));
  }
  FUZZ_CHECK(kgl_key_prefix_len(text, n) <= 15);

  free(s);
  free(decoded);
  free(around);
  free(text);
  return 0;
}
