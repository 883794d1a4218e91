/*
 * fuzz/fuzz_query.c — a raw request-target (or query string) through
 * kg_query_has_key and kg_target_scan.
 *
 * The first input byte picks the policy (sk_live_, sk_test_ strict, or the
 * prefix policy with "pk_"); the rest is the target: a path, a query
 * without '?', or both. Invariant:
 * the answer is 0 or 1 and agrees with the plain model in
 * reference_credential.c.
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
  free(buf);
  return 0;
}
