/*
 * fuzz/fuzz_authorization.c — one Authorization value through
 * kg_parse_authorization.
 *
 * Invariants: the status is KG_OK, KG_MISSING_API_KEY or KG_KEY_MALFORMED;
 * a KG_OK token is non-empty token68 inside the input; a malformed token
 * lies inside the input; and the verdict and the presented token agree
 * with the plain model in reference_credential.c.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "keygate/credential.h"
#include "reference_credential.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_copy(data, size);
  kg_span value = {buf, size};
  kg_span token = {NULL, 0};
  kg_status st = kg_parse_authorization(value, &token);
  FUZZ_CHECK(st == KG_OK || st == KG_MISSING_API_KEY || st == KG_KEY_MALFORMED);
  FUZZ_CHECK(fuzz_span_inside(token.ptr, token.len, buf, size));
  if (st == KG_OK) {
    FUZZ_CHECK(token.len > 0 && kg_is_token68(token.ptr, token.len));
  }

  kg_span want = {NULL, 0};
  kg_status ref = ref_parse_authorization(value, &want);
  FUZZ_CHECK(st == ref);
  if (st != KG_MISSING_API_KEY) {
    /* The presented token, well formed or not, is the same span. */
    FUZZ_CHECK(token.ptr == want.ptr && token.len == want.len);
  }
  free(buf);
  return 0;
}
