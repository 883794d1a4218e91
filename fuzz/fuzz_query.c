/*
 * fuzz/fuzz_query.c — a raw request-target (or query string) through
 * kg_query_has_key and kg_target_scan.
 *
 * The first input byte picks the policy (sk_live_, sk_test_ strict, or the
 * prefix policy with "pk_"); the rest is the target: a path, a query
 * without '?', or both. Invariant:
 * the answer is 0 or 1 and agrees with the plain model in
 * reference_credential.c. kg_target_deep, with a scratch of exactly the
 * target's size, agrees with the model's deeper levels (the level that
 * holds the prefix, byte for byte, in scratch; or none; or still
 * decoding), and refuses a scratch one byte short of a target it would
 * decode.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "keygate/credential.h"
#include "keygate/key.h"
#include "reference_credential.h"

#define MAX_QUERY 4096 /* the model's scratch size */

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
  return 0;
}

static void check_deep(const kg_key_policy *p, kg_span target) {
  static char want[MAX_QUERY];
  size_t want_len = 0;
  int ref = ref_target_deep(p->prefix, p->prefix_len, target, want, &want_len);
  FUZZ_CHECK(ref != -2);
  char *scratch = malloc(target.len > 0 ? target.len : 1); /* exact size */
  FUZZ_CHECK(scratch != NULL);
  kg_span level = {NULL, 0};
  kg_status st = kg_target_deep(p, target, scratch, target.len, &level);
  if (ref > 0) {
    FUZZ_CHECK(st == KG_URL_KEY_PREFIX);
    FUZZ_CHECK(level.ptr == scratch && level.len == want_len);
    FUZZ_CHECK(memcmp(level.ptr, want, want_len) == 0);
  } else {
    FUZZ_CHECK(st == (ref == 0 ? KG_OK : KG_E_BAD_TARGET));
    FUZZ_CHECK(level.ptr == target.ptr && level.len == target.len);
  }
  /* A scratch too small is refused whenever there is something to decode
   * (a '%' in a target of three bytes or more), and never written. */
  int decodable = target.len >= 3 && memchr(target.ptr, '%', target.len);
  memset(scratch, 0xA5, target.len);
  st =
      kg_target_deep(p, target, scratch, target.len - (target.len > 0), &level);
  FUZZ_CHECK(st == (decodable ? KG_E_BUFFER_TOO_SMALL : KG_OK));
  FUZZ_CHECK(level.ptr == target.ptr && level.len == target.len);
  for (size_t i = 0; i < target.len; i++) {
    FUZZ_CHECK((unsigned char)scratch[i] == 0xA5);
  }
  free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size - 1 > MAX_QUERY) {
    return 0;
  }
  const kg_key_policy *p = &policies[data[0] % 3];
  char *buf = fuzz_copy(data + 1, size - 1);
  kg_span query = {buf, size - 1};
  int got = kg_query_has_key(p, query);
  FUZZ_CHECK(got == 0 || got == 1);
  kg_status why = kg_target_scan(p, query);
  FUZZ_CHECK(why == KG_OK || why == KG_URL_KEY_PREFIX ||
             why == KG_URL_KEY_PARAM);
  FUZZ_CHECK(got == (why != KG_OK));
  FUZZ_CHECK(got == ref_query_has_key(p->prefix, p->prefix_len, query));
  check_deep(p, query);
  free(buf);
  return 0;
}
