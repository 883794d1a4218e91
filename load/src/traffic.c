/*
 * load/src/traffic.c — what a load run sends: the keys of the key file by
 * class, the invalid keys made on the fly, every request serialised once.
 *
 * Invalid keys come in four kinds, in turn (KGL_INVALID_KINDS of each):
 * well formed but never issued (a fresh key from the CSPRNG: its checksum
 * is right, no store holds it), a wrong checksum (one checksum digit
 * changed), truncated (the last character cut), and a bad character (a
 * '!' inside the random part). Each must answer invalid_api_key.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "internal.h"
#include "keygate/key.h"
#include "keygate/keygate.h"
#include "load/redact.h"

#define KGL_INVALID_KINDS 4
#define KGL_INVALID_EACH 16
#define KGL_KEY_LINE_MAX 1024

/* ---- arena: every request and key lives in one growing buffer ---------- */

static int arena_reserve(kgl_traffic *t, size_t n) {
  if (t->arena_len + n <= t->arena_cap) {
    return 0;
  }
  size_t cap = t->arena_cap ? t->arena_cap : 65536;
  while (cap < t->arena_len + n) {
    cap *= 2;
  }
  char *a = realloc(t->arena, cap);
  if (a == NULL) {
    return -1;
  }
  t->arena = a;
  t->arena_cap = cap;
  return 0;
}

/* Requests point into the arena by offset until it stops moving. */
typedef struct pending {
  kgl_class cls;
  size_t h1_off, h1_len, key_off, key_len;
  int has_key, bearer;
} pending;

typedef struct builder {
  kgl_traffic *t;
  const kgl_options *o;
  pending *items;
  size_t n, cap;
} builder;

static int append(kgl_traffic *t, const char *s, size_t n) {
  if (arena_reserve(t, n) != 0) {
    return -1;
  }
  memcpy(t->arena + t->arena_len, s, n);
  t->arena_len += n;
  return 0;
}

static int appends(kgl_traffic *t, const char *s) {
  return append(t, s, strlen(s));
}

/* One request for (cls, key, bearer): request line, Host, a User-Agent,
 * Accept, the credential field, an empty line. */
static int add_request(builder *b, kgl_class cls, const char *key,
                       size_t key_len, int bearer) {
  kgl_traffic *t = b->t;
  if (b->n == b->cap) {
    const size_t cap = b->cap ? b->cap * 2 : 256;
    pending *p = realloc(b->items, cap * sizeof *p);
    if (p == NULL) {
      return -1;
    }
    b->items = p;
    b->cap = cap;
  }
  pending *it = &b->items[b->n];
  memset(it, 0, sizeof *it);
  it->cls = cls;
  it->bearer = bearer;
  if (key != NULL) {
    it->has_key = 1;
    it->key_off = t->arena_len;
    it->key_len = key_len;
    if (append(t, key, key_len) != 0) {
      return -1;
    }
  }
  it->h1_off = t->arena_len;
  int rc = appends(t, t->method);
  rc |= append(t, " ", 1);
  rc |= appends(t, t->url.target);
  rc |= appends(t, " HTTP/1.1\r\nHost: ");
  rc |= appends(t, t->url.authority);
  rc |= appends(t, "\r\nUser-Agent: keygate-load/" KEYGATE_VERSION
                   "\r\nAccept: application/json\r\n");
  if (strcmp(t->method, "POST") == 0 || strcmp(t->method, "PUT") == 0 ||
      strcmp(t->method, "PATCH") == 0) {
    rc |= appends(t, "Content-Length: 0\r\n");
  }
  if (key != NULL) {
    rc |= appends(t, bearer ? "Authorization: Bearer " : "X-API-Key: ");
    rc |= append(t, key, key_len);
    rc |= append(t, "\r\n", 2);
  }
  rc |= append(t, "\r\n", 2);
  if (rc != 0) {
    return -1;
  }
  it->h1_len = t->arena_len - it->h1_off;
  b->n++;
  return 0;
}

/* A key in the file's header mode(s): mixed sends each key both ways. */
static int add_key(builder *b, kgl_class cls, const char *key, size_t n) {
  switch (b->o->header) {
  case KGL_HEADER_BEARER:
    return add_request(b, cls, key, n, 1);
  case KGL_HEADER_X_API_KEY:
    return add_request(b, cls, key, n, 0);
  case KGL_HEADER_MIXED:
  default:
    if (add_request(b, cls, key, n, 1) != 0) {
      return -1;
    }
    return add_request(b, cls, key, n, 0);
  }
}

/* ---- the key's form (token68) ------------------------------------------ */

int kgl_token68(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] != '\0' &&
         ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || strchr("-._~+/", s[i]) != NULL)) {
    i++;
  }
  if (i == 0) {
    return 0;
  }
  while (i < n && s[i] == '=') {
    i++;
  }
  return i == n;
}

static void add_prefix(kgl_traffic *t, const char *key, size_t p) {
  if (p == 0 || p >= sizeof t->prefixes[0]) {
    return;
  }
  for (int i = 0; i < t->nprefixes; i++) {
    if (strlen(t->prefixes[i]) == p && memcmp(t->prefixes[i], key, p) == 0) {
      return;
    }
  }
  if (t->nprefixes < KGL_MAX_PREFIXES) {
    memcpy(t->prefixes[t->nprefixes], key, p);
    t->prefixes[t->nprefixes][p] = '\0';
    t->nprefixes++;
  }
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* known_window — 1 when the 8 bytes at s are 8 bytes of a key sent. */
static int known_window(const kgl_traffic *t, const char *s) {
  uint64_t w;
  memcpy(&w, s, 8);
  return bsearch(&w, t->key_windows, t->nkey_windows, sizeof w, cmp_u64) !=
         NULL;
}

/* A byte a key may hold (token68 and its padding): what follows a masked
 * run's last four must not be one, or those four might join more. */
static int key_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z') || strchr("-._~+/=", c) != NULL;
}

/* A byte that ends a run of text where a percent-encoded key may hide. */
static int run_byte(unsigned char c) {
  return c > 0x20 && c < 0x7f && strchr("\"'(),;&<>[]{}\\`=", c) == NULL;
}

/* text_run_end — the end of the run of text from s[i] (run_byte) where an
 * encoded key may hide: it goes on over JSON escapes of such bytes (and of
 * a backslash that starts one a level down, json_nested), and
 * *esc is set to 1 when it holds an escape of either kind. */
static size_t text_run_end(const char *s, size_t n, size_t i, int *esc) {
  size_t len = 0;
  for (int v; i < n;) {
    if (run_byte((unsigned char)s[i])) {
      *esc |= s[i] == '%';
      i++;
    } else if ((v = json_escape(s, n, i, &len)) >= 0 &&
               (run_byte((unsigned char)v) ||
                (v == '\\' && json_nested(s, n, i, len) >= 0 &&
                 run_byte((unsigned char)json_nested(s, n, i, len))))) {
      *esc = 1;
      i += len;
    } else {
      break;
    }
  }
  return i;
}

/* encoded_known — 1 when some level of decoding (percent and JSON escapes,
 * unescape_once; up to 8 levels) of (s, n) holds 8 bytes of a key sent. */
static int encoded_known(const kgl_traffic *t, const char *s, size_t n) {
  char d[512];
  size_t len = n < sizeof d ? n : sizeof d;
  memcpy(d, s, len);
  for (int level = 0; level < KGL_DECODE_LEVELS; level++) {
    int changed;
    len = unescape_once(d, len, &changed);
    if (!changed) {
      return 0;
    }
    for (size_t j = 0; j + 8 <= len; j++) {
      if (known_window(t, d + j)) {
        return 1;
      }
    }
  }
  return 0;
}

/* holds_known — 1 when s[0..n) holds 12 bytes of a key sent (five known
 * 8-byte windows in a row: one or two would also match a word that runs
 * into a prefix, "track_live_events" against a key whose body starts
 * "ev"), or 8 in a run with percent or JSON escapes (a server's JSON may
 * write "\u0041b3x..."; encoded_known, which reads 512 bytes at a time: a
 * long run is read in overlapping pieces). A run goes on over escapes of
 * the bytes it holds. */
static int holds_known(const kgl_traffic *t, const char *s, size_t n) {
  if (t->nkey_windows == 0) {
    return 0;
  }
  int row = 0;
  for (size_t i = 0; i + 8 <= n; i++) {
    row = known_window(t, s + i) ? row + 1 : 0;
    if (row >= 5) {
      return 1;
    }
  }
  for (size_t i = 0; i < n;) {
    int esc = 0;
    const size_t e = text_run_end(s, n, i, &esc);
    if (esc) {
      for (size_t at = i; at < e; at += 256) {
        if (encoded_known(t, s + at, e - at < 512 ? e - at : 512)) {
          return 1;
        }
      }
    }
    i = e + 1;
  }
  return 0;
}

/* key_prefix_in_url — 1 when the target holds a key by SPEC 1.1's rules
 * for one of the key file's prefixes of 5 characters or more: keys of the
 * file that this run does not send (a class out of --mix) and other keys
 * of the same issuer. A shorter prefix is no sign ("id_" would refuse
 * ?sort=user_id_desc). */
static int key_prefix_in_url(const kgl_traffic *t) {
  for (int i = 0; i < t->nprefixes; i++) {
    if (strlen(t->prefixes[i]) >= 5 &&
        kgl_url_holds_key(&t->url, t->prefixes[i])) {
      return 1;
    }
  }
  return 0;
}

/* mask_known — in place: every run of the text whose every 8 bytes are 8
 * bytes of a key sent becomes "****" and, when 12 or more long and not
 * followed by a key byte, its last four; a run of text holding a '%' or a
 * JSON escape whose decoding holds such 8 bytes becomes "****" whole. */
static void mask_known(const kgl_traffic *t, char *b) {
  if (t->nkey_windows == 0) {
    return;
  }
  size_t n = strlen(b), o = 0;
  for (size_t i = 0; i < n;) { /* encoded keys first */
    int esc = 0;
    size_t e = text_run_end(b, n, i, &esc);
    if (esc && encoded_known(t, b + i, e - i)) {
      memcpy(b + o, "****", 4); /* e - i >= 8: the 8 bytes are in it */
      o += 4;
    } else {
      memmove(b + o, b + i, e - i);
      o += e - i;
    }
    if (e < n) {
      b[o++] = b[e++];
    }
    i = e;
  }
  b[o] = '\0';
  n = o;
  o = 0;
  for (size_t i = 0; i < n;) {
    if (i + 8 <= n && known_window(t, b + i)) {
      size_t e = i + 8;
      while (e < n && known_window(t, b + e - 7)) {
        e++;
      }
      const int tail =
          e - i >= 12 && (e == n || !key_byte((unsigned char)b[e]));
      memcpy(b + o, "****", 4);
      o += 4;
      if (tail) {
        memmove(b + o, b + e - 4, 4);
        o += 4;
      }
      i = e;
      continue;
    }
    b[o++] = b[i++];
  }
  b[o] = '\0';
}

/* a withheld request id or code reads whole in a sample (review: the
 * request id lost its closing parenthesis) */
_Static_assert(sizeof KGL_WITHHELD <= sizeof((kgl_sample *)0)->request_id &&
                   sizeof KGL_WITHHELD <= sizeof((kgl_sample *)0)->code &&
                   sizeof KGL_WITHHELD <= sizeof((kgl_sample *)0)->detail,
               "a sample's text field cannot hold KGL_WITHHELD");

void kgl_safe_text(const kgl_traffic *t, const char *key, size_t keylen,
                   const char *in, size_t n, char *out, size_t cap) {
  char a[512], b[512];
  kgl_redact_keys(in, n, b, sizeof b);
  for (int i = 0; i < t->nprefixes; i++) {
    kgl_redact(b, strlen(b), t->prefixes[i], a, sizeof a);
    memcpy(b, a, strlen(a) + 1);
  }
  mask_known(t, b);
  /* the last line: no 8 consecutive characters of the key sent */
  for (size_t i = 0; key != NULL && i + 8 <= keylen; i++) {
    if (memmem(b, strlen(b), key + i, 8) != NULL) {
      snprintf(out, cap, "%s", KGL_WITHHELD);
      return;
    }
  }
  snprintf(out, cap, "%s", b);
}

/* ---- the key file -------------------------------------------------------- */

static int line_class(const char *s, size_t n, kgl_class *c) {
  if (n == 11 && memcmp(s, "deactivated", 11) == 0) {
    *c = KGL_EXPIRED; /* a deactivated key answers expired_api_key */
    return 0;
  }
  if (n == 6 && memcmp(s, "active", 6) == 0) {
    *c = KGL_VALID; /* keygate check --keys's word for it */
    return 0;
  }
  if (kgl_class_parse(s, n, c) != 0 || *c == KGL_MISSING || *c == KGL_INVALID) {
    return -1;
  }
  return 0;
}

static int read_keys(builder *b, char *why, size_t whycap) {
  kgl_traffic *t = b->t;
  FILE *f = fopen(b->o->keys_path, "r");
  if (f == NULL) {
    snprintf(why, whycap, "cannot read the key file %s: %s", b->o->keys_path,
             strerror(errno));
    return -1;
  }
  char line[KGL_KEY_LINE_MAX];
  long lineno = 0;
  int rc = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    lineno++;
    size_t n = strlen(line);
    if (n + 1 < sizeof line && line[n] == '\0' && !feof(f) &&
        (n == 0 || line[n - 1] != '\n')) {
      snprintf(why, whycap, "%s:%ld: a NUL byte in the line", b->o->keys_path,
               lineno);
      rc = -1;
      break;
    }
    if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
      snprintf(why, whycap, "%s:%ld: line too long (a key is at most %d bytes)",
               b->o->keys_path, lineno, KG_KEY_MAX_LEN);
      rc = -1;
      break;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
      line[--n] = '\0';
    }
    if (lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
      snprintf(why, whycap,
               "%s:1: the file starts with a byte-order mark: save it as "
               "plain UTF-8 (or ASCII) without one",
               b->o->keys_path);
      rc = -1;
      break;
    }
    if (n == 0 || line[0] == '#') {
      continue;
    }
    const char *tab = memchr(line, '\t', n);
    kgl_class cls;
    if (tab == NULL || line_class(line, (size_t)(tab - line), &cls) != 0) {
      snprintf(why, whycap,
               "%s:%ld: want <class><TAB><key> with class valid (or active), "
               "expired or deactivated (as 'keygate keys seed --out' writes)",
               b->o->keys_path, lineno);
      rc = -1;
      break;
    }
    const char *key = tab + 1;
    const size_t klen = n - (size_t)(key - line);
    int bad = klen == 0 || klen > KG_KEY_MAX_LEN;
    for (size_t i = 0; i < klen && !bad; i++) {
      const unsigned char ch = (unsigned char)key[i];
      bad = ch <= 0x20 || ch >= 0x7f;
    }
    if (bad) {
      snprintf(why, whycap,
               "%s:%ld: the key is empty, too long, or holds a space or "
               "control byte",
               b->o->keys_path, lineno);
      rc = -1;
      break;
    }
    if (!kgl_token68(key, klen)) {
      /* a quote, comma or semicolon around or in a key (SPEC §1.1: a
       * malformed key): every request with it would be refused, and the
       * refusals blamed on the server */
      char hint[32];
      kgl_mask_key(key, klen, hint, sizeof hint);
      snprintf(why, whycap,
               "%s:%ld: the %.*s key %s is not a token68 (letters, digits, "
               "-._~+/ and trailing =): a quote or stray character? fix the "
               "line",
               b->o->keys_path, lineno, (int)(tab - line), line, hint);
      rc = -1;
      break;
    }
    const size_t p = kgl_key_prefix_len(key, klen);
    if (t->prefix[0] == '\0') {
      memcpy(t->prefix, key, p);
      t->prefix[p] = '\0';
    }
    add_prefix(t, key, p);
    if (b->o->mix[cls] > 0 && add_key(b, cls, key, klen) != 0) {
      snprintf(why, whycap, "out of memory reading %s", b->o->keys_path);
      rc = -1;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(why, whycap, "cannot read the key file %s: %s", b->o->keys_path,
             strerror(errno));
    rc = -1;
  }
  OPENSSL_cleanse(line, sizeof line);
  fclose(f);
  return rc;
}

/* ---- invalid keys -------------------------------------------------------- */

static int add_invalid(builder *b) {
  kg_key_policy pol;
  const char *prefix = b->t->prefix[0] ? b->t->prefix : "sk_live_";
  if (kg_key_policy_init(&pol, KG_KEY_STRICT, prefix, strlen(prefix)) !=
      KG_OK) {
    (void)kg_key_policy_init(&pol, KG_KEY_STRICT, "sk_live_", 8);
  }
  char key[KG_KEY_MAX_LEN + 1];
  for (int i = 0; i < KGL_INVALID_EACH * KGL_INVALID_KINDS; i++) {
    size_t n = 0;
    if (kg_key_generate(&pol, key, sizeof key, &n) != KG_OK) {
      return -1;
    }
    switch (i % KGL_INVALID_KINDS) {
    case 0: /* well formed, never issued */
      break;
    case 1: /* wrong checksum: one checksum digit changed */
      key[n - 1] = key[n - 1] == '0' ? '1' : '0';
      break;
    case 2: /* truncated */
      n--;
      break;
    default: /* a character outside base62 and token68 */
      key[pol.prefix_len + 5] = '!';
      break;
    }
    if (add_key(b, KGL_INVALID, key, n) != 0) {
      return -1;
    }
  }
  OPENSSL_cleanse(key, sizeof key);
  return 0;
}

/* ---- build --------------------------------------------------------------- */

/* radix_sort — (w, n) in ascending order, 16 bits a pass: a key file of
 * 100,000 keys makes 3.9 million windows, which qsort took 0.8 s over.
 * 0, or -1 (out of memory). */
static int radix_sort(uint64_t *w, size_t n) {
  uint64_t *tmp = malloc(n * sizeof *tmp);
  size_t *count = malloc(65537 * sizeof *count);
  if (tmp == NULL || count == NULL) {
    free(tmp);
    free(count);
    return -1;
  }
  uint64_t *src = w, *dst = tmp;
  for (int shift = 0; shift < 64; shift += 16) {
    memset(count, 0, 65537 * sizeof *count);
    for (size_t k = 0; k < n; k++) {
      count[((src[k] >> shift) & 0xFFFF) + 1]++;
    }
    for (size_t d = 0; d < 65536; d++) {
      count[d + 1] += count[d];
    }
    for (size_t k = 0; k < n; k++) {
      dst[count[(src[k] >> shift) & 0xFFFF]++] = src[k];
    }
    uint64_t *x = src;
    src = dst;
    dst = x;
  } /* four passes: the sorted array is back in w */
  OPENSSL_cleanse(tmp, n * sizeof *tmp);
  free(tmp);
  free(count);
  return 0;
}

/* key_windows — t->key_windows: every 8 bytes of every key sent but those
 * wholly in its prefix ("sk_live_" is in every report), sorted, each once.
 * 0, or -1 (out of memory). */
static int key_windows(kgl_traffic *t) {
  size_t total = 0;
  for (int c = 0; c < KGL_NCLASS; c++) {
    for (size_t j = 0; j < t->nreq[c]; j++) {
      const kgl_req *r = &t->reqs[c][j];
      total += r->key != NULL && r->key_len >= 8 ? r->key_len - 7 : 0;
    }
  }
  if (total == 0) {
    return 0;
  }
  uint64_t *w = malloc(total * sizeof *w);
  if (w == NULL) {
    return -1;
  }
  size_t n = 0;
  for (int c = 0; c < KGL_NCLASS; c++) {
    for (size_t j = 0; j < t->nreq[c]; j++) {
      const kgl_req *r = &t->reqs[c][j];
      if (r->key == NULL || r->key_len < 8) {
        continue;
      }
      const size_t p = kgl_key_prefix_len(r->key, r->key_len);
      for (size_t k = 0; k + 8 <= r->key_len; k++) {
        if (k + 8 > p) {
          memcpy(&w[n++], r->key + k, 8);
        }
      }
    }
  }
  if (radix_sort(w, n) != 0) {
    OPENSSL_cleanse(w, total * sizeof *w);
    free(w);
    return -1;
  }
  size_t u = 0;
  for (size_t k = 0; k < n; k++) {
    if (u == 0 || w[u - 1] != w[k]) {
      w[u++] = w[k];
    }
  }
  /* a key sent by both headers is in two requests: keep each window once */
  uint64_t *fit = u < total ? malloc(u * sizeof *fit) : NULL;
  if (fit != NULL) {
    memcpy(fit, w, u * sizeof *fit);
    OPENSSL_cleanse(w, total * sizeof *w);
    free(w);
    w = fit;
    total = u;
  }
  t->key_windows = w;
  t->nkey_windows = u;
  t->key_windows_bytes = total * sizeof *w;
  return 0;
}

int kgl_traffic_build(kgl_traffic *t, const kgl_options *o, char *why,
                      size_t whycap) {
  memset(t, 0, sizeof *t);
  if (kgl_url_parse(o->url, &t->url, why, whycap) != 0) {
    return -1;
  }
  snprintf(t->method, sizeof t->method, "%s", o->method);
  t->head_method = strcmp(t->method, "HEAD") == 0;
  builder b = {t, o, NULL, 0, 0};
  int rc = 0;
  if (o->keys_path != NULL) {
    rc = read_keys(&b, why, whycap);
  }
  if (rc == 0 && o->mix[KGL_INVALID] > 0 && add_invalid(&b) != 0) {
    snprintf(why, whycap, "cannot make invalid keys (CSPRNG or memory)");
    rc = -1;
  }
  if (rc == 0 && o->mix[KGL_MISSING] > 0 &&
      add_request(&b, KGL_MISSING, NULL, 0, 0) != 0) {
    snprintf(why, whycap, "out of memory");
    rc = -1;
  }
  if (rc == 0) {
    /* every class asked for needs requests */
    size_t count[KGL_NCLASS] = {0};
    for (size_t i = 0; i < b.n; i++) {
      count[b.items[i].cls]++;
    }
    for (int c = 0; c < KGL_NCLASS && rc == 0; c++) {
      if (o->mix[c] > 0 && count[c] == 0) {
        snprintf(why, whycap,
                 o->keys_path == NULL
                     ? "--mix asks for %s keys: give --keys FILE (keygate keys "
                       "seed --out FILE writes one)"
                     : "--mix asks for %s keys and the key file has none: add "
                       "some, or leave the class out of --mix",
                 kgl_class_name((kgl_class)c));
        rc = -1;
      }
      if (rc == 0 && count[c] > 0) {
        t->reqs[c] = calloc(count[c], sizeof(kgl_req));
        if (t->reqs[c] == NULL) {
          snprintf(why, whycap, "out of memory");
          rc = -1;
        }
      }
    }
  }
  if (rc == 0) {
    for (size_t i = 0; i < b.n; i++) {
      const pending *it = &b.items[i];
      kgl_req *r = &t->reqs[it->cls][t->nreq[it->cls]++];
      r->cls = it->cls;
      r->h1 = t->arena + it->h1_off;
      r->h1_len = it->h1_len;
      r->key = it->has_key ? t->arena + it->key_off : NULL;
      r->key_len = it->key_len;
      r->bearer = it->bearer;
    }
    int sum = 0;
    for (int c = 0; c < KGL_NCLASS; c++) {
      sum += o->mix[c];
      t->cumulative[c] = sum;
    }
    t->total_weight = sum;
    if (sum <= 0) {
      snprintf(why, whycap, "--mix sends nothing: give a class a weight");
      rc = -1;
    }
  }
  if (rc == 0 && key_windows(t) != 0) {
    snprintf(why, whycap, "out of memory");
    rc = -1;
  }
  /* kgl_url_parse looks for sk_live_ and sk_test_ keys; the run also
   * knows its key file's prefixes and the keys it sends (holds_known,
   * key_prefix_in_url) */
  if (rc == 0 && (key_prefix_in_url(t) ||
                  holds_known(t, t->url.target, strlen(t->url.target)) ||
                  holds_known(t, t->url.authority, strlen(t->url.authority)))) {
    snprintf(why, whycap,
             "the URL holds an API key (one of --keys, or of its prefixes: "
             "SPEC 1.1): it would reach the server's logs; keys go in "
             "headers");
    rc = -1;
  }
  free(b.items);
  if (rc != 0) {
    kgl_traffic_free(t);
  }
  return rc;
}

void kgl_traffic_free(kgl_traffic *t) {
  for (int c = 0; c < KGL_NCLASS; c++) {
    free(t->reqs[c]);
    t->reqs[c] = NULL;
    t->nreq[c] = 0;
  }
  if (t->arena != NULL) {
    OPENSSL_cleanse(t->arena, t->arena_len);
    free(t->arena);
  }
  t->arena = NULL;
  t->arena_len = t->arena_cap = 0;
  if (t->key_windows != NULL) {
    OPENSSL_cleanse(t->key_windows, t->key_windows_bytes);
    free(t->key_windows);
  }
  t->key_windows = NULL;
  t->nkey_windows = t->key_windows_bytes = 0;
}

int kgl_keep_body(const kgl_options *o, kgl_class c) {
  const kgl_expect *e = &o->expect[c];
  return e->contract || e->code[0] != '\0' ? KGL_H1_KEEP_ALL
                                           : KGL_H1_KEEP_ERRORS;
}

const kgl_req *kgl_traffic_pick(const kgl_traffic *t, uint64_t *rng) {
  const uint64_t r = kgl_rand(rng);
  const int w = (int)((r >> 32) % (uint64_t)t->total_weight);
  int c = 0;
  while (c < KGL_NCLASS - 1 && w >= t->cumulative[c]) {
    c++;
  }
  const size_t i = (size_t)((r & 0xffffffffu) % t->nreq[c]);
  return &t->reqs[c][i];
}
