/*
 * fuzz/fuzz_key_format.c — the key format of SPEC §1.2.
 *
 * Input: byte 0 picks the policy (% 3: sk_live_ / sk_test_ strict, pk_
 * prefix policy), or with 0x80 set a policy from the input (byte 1 % 20 a
 * prefix length, then the prefix; byte 0 & 1 the kind), which
 * kg_key_policy_init must accept exactly when it is 1 to 16 bytes of
 * [A-Za-z0-9_-]; the rest is a presented key. Checks:
 *  - kg_key_check returns one of its documented statuses and agrees with a
 *    plain model of the format written here (length, prefix, characters,
 *    CRC32 checksum in base62);
 *  - kg_key_hint shows at most the prefix, "****" and four characters, and
 *    those four are the key's last four when the key is long enough;
 *  - round trip: a strict key built from the input (32 base62 characters
 *    taken from the input bytes, checksum computed here with zlib's crc32
 *    and kg_base62_encode_u32) passes kg_key_check, and changing any one of
 *    its characters to any other byte (position and byte from the input),
 *    dropping its last character or adding one, is rejected.
 */
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "keygate/key.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static kg_key_policy policies[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  FUZZ_CHECK(kg_key_policy_init(&policies[0], KG_KEY_STRICT, "sk_live_", 8) ==
             KG_OK);
  FUZZ_CHECK(kg_key_policy_init(&policies[1], KG_KEY_STRICT, "sk_test_", 8) ==
             KG_OK);
  FUZZ_CHECK(kg_key_policy_init(&policies[2], KG_KEY_PREFIX, "pk_", 3) ==
             KG_OK);
  FUZZ_CHECK(kg_key_strict_len(&policies[0]) == 46);
  /* Issued keys (RAND_bytes, so once, not per input): each passes the
   * check; a buffer one byte short is refused. */
  for (int i = 0; i < 2; i++) {
    char key[64];
    size_t len = 0;
    FUZZ_CHECK(kg_key_generate(&policies[i], key, sizeof key, &len) == KG_OK);
    FUZZ_CHECK(len == 46 && key[len] == '\0');
    FUZZ_CHECK(kg_key_check(&policies[i], key, len) == KG_OK);
    FUZZ_CHECK(kg_key_generate(&policies[i], key, len, &len) ==
               KG_E_BUFFER_TOO_SMALL);
  }
  /* The documented answers to misuse. (A NULL where the header allows none
   * is a caller's bug that debug builds assert on: the NULL policy of
   * keygate/api.h, tested in both builds by unit.key; not here, since the
   * replay of this target runs in the debug build.) */
  char hint[KG_KEY_HINT_MAX];
  FUZZ_CHECK(kg_key_check(&policies[0], NULL, 0) == KG_E_ARGUMENT);
  FUZZ_CHECK(kg_key_hint(&policies[0], NULL, 0, hint, sizeof hint) == 4 &&
             strcmp(hint, "****") == 0);
  FUZZ_CHECK(kg_key_hint(&policies[0], "sk_live_abcdefghijkl", 20, hint, 8) ==
             0);
  FUZZ_CHECK(kg_base62_encode_u32(62, hint, 1) == 0);
  return 0;
}

/* base62_value — the digit's value, or -1 for a byte outside 0-9A-Za-z. */
static int base62_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'Z') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 36;
  }
  return -1;
}

static int is_base62(char c) {
  return base62_value(c) >= 0;
}

static int is_token68_char(char c) {
  return is_base62(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
         c == '+' || c == '/';
}

/* model_check — the format rules spelled out; 1 when well formed. */
static int model_check(const kg_key_policy *p, const char *k, size_t n) {
  if (n < p->prefix_len || memcmp(k, p->prefix, p->prefix_len) != 0) {
    return 0;
  }
  if (p->kind == KG_KEY_PREFIX) {
    if (n < KG_KEY_PREFIX_MIN_LEN || n > KG_KEY_PREFIX_MAX_LEN) {
      return 0;
    }
    /* The rest after the prefix is token68: 1*tchar68 *"=". */
    size_t i = p->prefix_len;
    while (i < n && is_token68_char(k[i])) {
      i++;
    }
    if (i == p->prefix_len) {
      return 0;
    }
    while (i < n && k[i] == '=') {
      i++;
    }
    return i == n;
  }
  if (n != p->prefix_len + KG_KEY_RANDOM_CHARS + KG_KEY_CHECKSUM_CHARS) {
    return 0;
  }
  for (size_t i = p->prefix_len; i < n; i++) {
    if (!is_base62(k[i])) {
      return 0;
    }
  }
  size_t body = p->prefix_len + KG_KEY_RANDOM_CHARS;
  /* Decode the checksum digits and compare with the CRC32. */
  unsigned long long v = 0;
  for (size_t i = body; i < n; i++) {
    v = v * 62 + (unsigned long long)base62_value(k[i]);
  }
  uLong crc = crc32(0L, (const Bytef *)k, (uInt)body);
  return v == (unsigned long long)crc;
}

static void check_hint(const kg_key_policy *p, const char *k, size_t n) {
  char hint[KG_KEY_HINT_MAX];
  size_t len = kg_key_hint(p, k, n, hint, sizeof hint);
  FUZZ_CHECK(len > 0 && len < sizeof hint && hint[len] == '\0');
  size_t at = 0;
  if (n >= p->prefix_len && memcmp(k, p->prefix, p->prefix_len) == 0) {
    FUZZ_CHECK(len >= p->prefix_len &&
               memcmp(hint, p->prefix, p->prefix_len) == 0);
    at = p->prefix_len;
  }
  FUZZ_CHECK(len >= at + 4 && memcmp(hint + at, "****", 4) == 0);
  size_t shown = len - at - 4;
  FUZZ_CHECK(shown == 0 || shown == 4);
  if (shown == 4) {
    /* Four characters shown only when at least eight stay hidden. */
    FUZZ_CHECK(n - at >= 12);
  }
  if (n < p->prefix_len + 8) {
    FUZZ_CHECK(at == 0 || shown == 0);
  }
  for (size_t i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)k[n - shown + i];
    char h = hint[at + 4 + i];
    FUZZ_CHECK(h >= 0x20 && h <= 0x7E);
    FUZZ_CHECK(h == (char)c || h == '?');
    if (c > 0x20 && c < 0x7F) {
      FUZZ_CHECK(h == (char)c);
    }
  }
}

static void round_trip(const kg_key_policy *p, const uint8_t *data,
                       size_t size) {
  char key[KG_KEY_PREFIX_MAX + KG_KEY_RANDOM_CHARS + KG_KEY_CHECKSUM_CHARS + 2];
  size_t n = p->prefix_len;
  memcpy(key, p->prefix, n);
  for (size_t i = 0; i < KG_KEY_RANDOM_CHARS; i++) {
    key[n++] = base62[size ? data[i % size] % 62 : 0];
  }
  uLong crc = crc32(0L, (const Bytef *)key, (uInt)n);
  FUZZ_CHECK(kg_base62_encode_u32(crc, key + n, KG_KEY_CHECKSUM_CHARS) == 1);
  n += KG_KEY_CHECKSUM_CHARS;
  FUZZ_CHECK(n == kg_key_strict_len(p));

  char *k = malloc(n);
  FUZZ_CHECK(k != NULL);
  memcpy(k, key, n);
  FUZZ_CHECK(kg_key_check(p, k, n) == KG_OK);
  FUZZ_CHECK(kg_key_check(p, k, n - 1) != KG_OK);
  free(k);

  /* One changed character, chosen by the input's last two bytes. */
  size_t pos = size >= 2 ? data[size - 2] % n : 0;
  char repl = 'x';
  if (size >= 1) {
    repl = (char)data[size - 1];
  }
  char orig = key[pos];
  if (repl != orig) {
    key[pos] = repl;
    k = malloc(n);
    FUZZ_CHECK(k != NULL);
    memcpy(k, key, n);
    FUZZ_CHECK(kg_key_check(p, k, n) != KG_OK);
    free(k);
    key[pos] = orig;
  }
  key[n] = base62[size % 62];
  k = malloc(n + 1);
  FUZZ_CHECK(k != NULL);
  memcpy(k, key, n + 1);
  FUZZ_CHECK(kg_key_check(p, k, n + 1) != KG_OK);
  free(k);
}

/* model_prefix_ok — kg_key_policy_init's rule: 1 to KG_KEY_PREFIX_MAX
 * bytes of [A-Za-z0-9_-]. */
static int model_prefix_ok(const char *s, size_t n) {
  if (n < 1 || n > KG_KEY_PREFIX_MAX) {
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (!is_base62(s[i]) && s[i] != '_' && s[i] != '-') {
      return 0;
    }
  }
  return 1;
}

/* custom_policy — byte 0 has 0x80 set: byte 1 % 20 is a prefix length,
 * then the prefix; byte 0 & 1 picks the kind. Returns the bytes used, or 0
 * when the input is too short or the prefix is refused (as it must be). */
static size_t custom_policy(const uint8_t *data, size_t size,
                            kg_key_policy *out) {
  size_t plen = size > 1 ? data[1] % 20 : 0;
  if (size < 2 + plen) {
    return 0;
  }
  kg_key_kind kind = (data[0] & 1) ? KG_KEY_PREFIX : KG_KEY_STRICT;
  char *pre = fuzz_copy(data + 2, plen);
  kg_status ps = kg_key_policy_init(out, kind, pre, plen);
  FUZZ_CHECK(ps == KG_OK || ps == KG_E_ARGUMENT);
  FUZZ_CHECK((ps == KG_OK) == model_prefix_ok(pre, plen));
  if (ps == KG_OK) {
    FUZZ_CHECK(out->kind == kind && out->prefix_len == plen &&
               memcmp(out->prefix, pre, plen) == 0 && out->prefix[plen] == 0);
  }
  free(pre);
  return ps == KG_OK ? 2 + plen : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  kg_key_policy custom;
  const kg_key_policy *p = &policies[data[0] % 3];
  size_t at = 1;
  if (data[0] & 0x80) {
    at = custom_policy(data, size, &custom);
    if (at == 0) {
      return 0;
    }
    p = &custom;
  }
  char *k = fuzz_copy(data + at, size - at);
  size_t n = size - at;

  kg_status st = kg_key_check(p, k, n);
  FUZZ_CHECK(st == KG_OK || st == KG_KEY_BAD_PREFIX ||
             st == KG_KEY_BAD_LENGTH || st == KG_KEY_BAD_CHARACTER ||
             (st == KG_KEY_BAD_CHECKSUM && p->kind == KG_KEY_STRICT));
  FUZZ_CHECK((st == KG_OK) == model_check(p, k, n));
  check_hint(p, k, n);
  free(k);

  const kg_key_policy *strict =
      p->kind == KG_KEY_STRICT ? p : &policies[data[0] % 2];
  round_trip(strict, data + at, size - at);
  return 0;
}
