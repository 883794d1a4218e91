/*
 * key.c — the key format of SPEC §1.2: check, generate, hint.
 */
#include "keygate/key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "chars.h"
#include "crc32.h"
#include "defensive.h"
#include "hotpath.h"
#include "keygate/credential.h"

kg_status kg_key_kind_parse(const char *name, size_t len, kg_key_kind *kind) {
  if (KG_NEVER(kind == NULL || (name == NULL && len > 0))) {
    return KG_E_ARGUMENT;
  }
  if (len == 6 && memcmp(name, "strict", 6) == 0) {
    *kind = KG_KEY_STRICT;
    return KG_OK;
  }
  if (len == 6 && memcmp(name, "prefix", 6) == 0) {
    *kind = KG_KEY_PREFIX;
    return KG_OK;
  }
  return KG_E_ARGUMENT;
}

const char *kg_key_kind_str(kg_key_kind kind) {
  switch (kind) {
  case KG_KEY_STRICT:
    return "strict";
  case KG_KEY_PREFIX:
    return "prefix";
  default:
    return "";
  }
}

kg_status kg_key_policy_init(kg_key_policy *p, kg_key_kind kind,
                             const char *prefix, size_t prefix_len) {
  if (KG_NEVER(p == NULL || (prefix == NULL && prefix_len > 0)) ||
      prefix_len == 0 || prefix_len > KG_KEY_PREFIX_MAX ||
      (kind != KG_KEY_STRICT && kind != KG_KEY_PREFIX)) {
    return KG_E_ARGUMENT;
  }
  for (size_t i = 0; i < prefix_len; i++) {
    unsigned char c = (unsigned char)prefix[i];
    if (!kg_is(c, KG_C_BASE62) && c != '_' && c != '-') {
      return KG_E_ARGUMENT;
    }
  }
  memset(p, 0, sizeof *p);
  p->kind = kind;
  memcpy(p->prefix, prefix, prefix_len);
  p->prefix_len = prefix_len;
  p->prefix_crc = kg_crc32(0, prefix, prefix_len);
  return KG_OK;
}

size_t kg_key_strict_len(const kg_key_policy *p) {
  if (KG_NEVER(p == NULL)) {
    return 0;
  }
  return p->prefix_len + KG_KEY_RANDOM_CHARS + KG_KEY_CHECKSUM_CHARS;
}

int kg_base62_encode_u32(unsigned long v, char *out, size_t width) {
  if (KG_NEVER(out == NULL && width > 0)) {
    return 0;
  }
  for (size_t i = width; i > 0; i--) {
    out[i - 1] = kg_base62_digits[v % 62];
    v /= 62;
  }
  return v == 0;
}

/*
 * The checksum of SPEC §1.2: CRC-32 (IEEE, zlib's crc32 function) of
 * everything before the checksum digits, computed by kg_crc32 (crc32.c).
 * That it is zlib's function is the tests' business: unit.key and
 * fuzz_key_format compare kg_crc32 with zlib's crc32 on every input they
 * make, and unit.crc32 regenerates its tables from the polynomial; the
 * library itself needs no zlib.
 */
static unsigned long issue_crc(const char *key, size_t body_len) {
  return kg_crc32(0, key, body_len);
}

/* 1 when key starts with the policy's prefix. The common 8-byte prefix is
 * one word compare. */
static int has_prefix(const kg_key_policy *p, const char *key, size_t len) {
  if (len < p->prefix_len) {
    return 0;
  }
  if (p->prefix_len == 8) {
    uint64_t a;
    uint64_t b;
    memcpy(&a, key, 8);
    memcpy(&b, p->prefix, 8);
    return a == b;
  }
  return memcmp(key, p->prefix, p->prefix_len) == 0;
}

/* The strict format without the CRC: length, base62 body, checksum
 * digits decoded into pending->want. */
static kg_status check_strict(const kg_key_policy *p, const char *key,
                              size_t len, kg_key_pending *pending) {
  size_t body = p->prefix_len + KG_KEY_RANDOM_CHARS;
  if (len != body + KG_KEY_CHECKSUM_CHARS) {
    return KG_KEY_BAD_LENGTH;
  }
  if (kg_span_base62(key + p->prefix_len, KG_KEY_RANDOM_CHARS) !=
      KG_KEY_RANDOM_CHARS) {
    return KG_KEY_BAD_CHARACTER;
  }
  int bad = 0;
  uint64_t sum = 0;
  for (size_t i = body; i < len; i++) {
    int d = kg_base62_value((unsigned char)key[i]);
    bad |= d;
    sum = sum * 62u + (unsigned)d;
  }
  if (bad < 0) {
    return KG_KEY_BAD_CHARACTER; /* some digit was -1 */
  }
  pending->checked = 1;
  pending->crc = 1;
  pending->want = sum;
  return KG_OK;
}

int kg_key_strict_quick(const kg_key_policy *p, const char *key, size_t len,
                        kg_key_pending *pending) {
  kg_key_pending got;
  if (p->kind != KG_KEY_STRICT || key == NULL || !has_prefix(p, key, len) ||
      check_strict(p, key, len, &got) != KG_OK) {
    return 0;
  }
  *pending = got;
  return 1;
}

/* The bodies of kg_key_check_deferred and kg_key_crc_ok, static so that
 * kg_key_check inlines them (exported functions of a -fPIC library are
 * called through the PLT, not inlined). */
static kg_status check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending) {
  pending->checked = 0;
  pending->crc = 0;
  pending->want = 0;
  /* The NULL policy: no policy, or a key of some length at NULL, is the
   * caller's bug; (NULL, 0) is no key (KG_E_ARGUMENT as well). In a release
   * build this is the one test key == NULL (kg_key_check's cost). */
  if (KG_NEVER(p == NULL) || KG_NEVER(key == NULL && len > 0) || key == NULL) {
    return KG_E_ARGUMENT;
  }
  if (!has_prefix(p, key, len)) {
    return KG_KEY_BAD_PREFIX;
  }
  if (p->kind == KG_KEY_STRICT) {
    return check_strict(p, key, len, pending);
  }
  if (len < KG_KEY_PREFIX_MIN_LEN || len > KG_KEY_PREFIX_MAX_LEN ||
      len == p->prefix_len) {
    return KG_KEY_BAD_LENGTH;
  }
  if (!kg_is_token68(key + p->prefix_len, len - p->prefix_len)) {
    return KG_KEY_BAD_CHARACTER;
  }
  pending->checked = 1;
  return KG_OK;
}

static kg_status crc_ok(const kg_key_policy *p, const char *key,
                        const kg_key_pending *pending) {
  if (!pending->crc) {
    return KG_OK;
  }
  /* The prefix was compared already: continue its CRC over the rest. */
  uint32_t crc =
      kg_crc32(p->prefix_crc, key + p->prefix_len, KG_KEY_RANDOM_CHARS);
  return pending->want == crc ? KG_OK : KG_KEY_BAD_CHECKSUM;
}

kg_status kg_key_check_deferred(const kg_key_policy *p, const char *key,
                                size_t len, kg_key_pending *pending) {
  return check_deferred(p, key, len, pending);
}

kg_status kg_key_crc_ok(const kg_key_policy *p, const char *key,
                        const kg_key_pending *pending) {
  return crc_ok(p, key, pending);
}

kg_status kg_key_check(const kg_key_policy *p, const char *key, size_t len) {
  kg_key_pending pending;
  kg_status s = check_deferred(p, key, len, &pending);
  return s == KG_OK ? crc_ok(p, key, &pending) : s;
}

kg_status kg_random_base62(char *out, size_t n) {
  if (KG_NEVER(out == NULL && n > 0)) {
    return KG_E_ARGUMENT;
  }
  unsigned char pool[64];
  size_t have = 0;
  size_t next = 0;
  size_t i = 0;
  while (i < n) {
    if (next == have) {
      if (RAND_bytes(pool, (int)sizeof pool) != 1) {
        OPENSSL_cleanse(pool, sizeof pool);
        return KG_E_CRYPTO;
      }
      have = sizeof pool;
      next = 0;
    }
    unsigned char b = pool[next++];
    /* 248 = 4 * 62: bytes at or above it would bias the low digits. */
    if (b < 248) {
      out[i++] = kg_base62_digits[b % 62];
    }
  }
  OPENSSL_cleanse(pool, sizeof pool);
  return KG_OK;
}

/* Prefix and checksum around the random part already at out[prefix_len]. */
static void finish_key(const kg_key_policy *p, char *out, size_t *out_len) {
  size_t len = kg_key_strict_len(p);
  memcpy(out, p->prefix, p->prefix_len);
  size_t body = p->prefix_len + KG_KEY_RANDOM_CHARS;
  kg_base62_encode_u32(issue_crc(out, body), out + body, KG_KEY_CHECKSUM_CHARS);
  out[len] = '\0';
  *out_len = len;
}

kg_status kg_key_generate(const kg_key_policy *p, char *out, size_t cap,
                          size_t *out_len) {
  if (KG_NEVER(p == NULL || out == NULL || out_len == NULL)) {
    return KG_E_ARGUMENT;
  }
  if (cap < kg_key_strict_len(p) + 1) {
    return KG_E_BUFFER_TOO_SMALL;
  }
  kg_status s = kg_random_base62(out + p->prefix_len, KG_KEY_RANDOM_CHARS);
  if (s != KG_OK) {
    OPENSSL_cleanse(out, cap);
    return s;
  }
  finish_key(p, out, out_len);
  return KG_OK;
}

kg_status kg_key_compose(const kg_key_policy *p,
                         const char body[KG_KEY_RANDOM_CHARS], char *out,
                         size_t cap, size_t *out_len) {
  if (KG_NEVER(p == NULL || body == NULL || out == NULL || out_len == NULL)) {
    return KG_E_ARGUMENT;
  }
  if (cap < kg_key_strict_len(p) + 1) {
    return KG_E_BUFFER_TOO_SMALL;
  }
  for (size_t i = 0; i < KG_KEY_RANDOM_CHARS; i++) {
    unsigned char c = (unsigned char)body[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
          (c >= 'a' && c <= 'z'))) {
      return KG_E_ARGUMENT;
    }
  }
  memmove(out + p->prefix_len, body, KG_KEY_RANDOM_CHARS);
  finish_key(p, out, out_len);
  return KG_OK;
}

size_t kg_key_hint(const kg_key_policy *p, const char *key, size_t len,
                   char *out, size_t cap) {
  if (KG_NEVER(out == NULL || (key == NULL && len > 0))) {
    return 0;
  }
  if (key == NULL) {
    key = "";
  }
  size_t shown = 0;
  if (p != NULL && len >= p->prefix_len &&
      memcmp(key, p->prefix, p->prefix_len) == 0) {
    shown = p->prefix_len;
  }
  /* Show the tail only when at least 8 characters stay hidden. */
  size_t tail = (len - shown >= 12) ? 4 : 0;
  size_t need = shown + 4 + tail;
  if (cap < need + 1) {
    return 0;
  }
  size_t n = 0;
  for (size_t i = 0; i < shown; i++) {
    out[n++] = p->prefix[i];
  }
  memcpy(out + n, "****", 4);
  n += 4;
  for (size_t i = len - tail; i < len; i++) {
    unsigned char c = (unsigned char)key[i];
    out[n++] = (char)((c >= 0x21 && c <= 0x7e) ? c : '?');
  }
  out[n] = '\0';
  return n;
}
