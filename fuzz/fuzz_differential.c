/*
 * fuzz/fuzz_differential.c — kg_credential_extract against the plain model
 * in reference_credential.c. Both must agree on the outcome for every
 * input, and on the presented key (the same span of the input) whenever
 * one is extracted, well formed (KG_OK) or not (KG_INVALID_API_KEY).
 *
 * Input format (text, so seeds read as requests):
 *     <query string>\n
 *     <name>:<value>\n      one field line per line, split at the first ':'
 *     ...
 * A line without ':' is a field with that name and an empty value. At most
 * MAX_FIELDS lines are used. Values are passed as they are, OWS and all:
 * trimming is part of what is compared. The policy is strict sk_live_.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "keygate/credential.h"
#include "keygate/key.h"
#include "reference_credential.h"

#define MAX_FIELDS 64
#define MAX_INPUT 4096 /* the model's query scratch size */

static kg_key_policy policy;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  FUZZ_CHECK(kg_key_policy_init(&policy, KG_KEY_STRICT, "sk_live_", 8) ==
             KG_OK);
  return 0;
}

/* next_line — the span up to '\n' (or the end) from *at; advances *at. */
static kg_span next_line(const char *buf, size_t size, size_t *at) {
  kg_span s = {buf + *at, 0};
  while (*at + s.len < size && buf[*at + s.len] != '\n') {
    s.len++;
  }
  *at += s.len + 1;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) {
    return 0;
  }
  char *buf = fuzz_copy(data, size);
  size_t at = 0;
  kg_span query = next_line(buf, size, &at);
  kg_field fields[MAX_FIELDS];
  size_t n = 0;
  while (at < size && n < MAX_FIELDS) {
    kg_span line = next_line(buf, size, &at);
    const char *colon = line.len ? memchr(line.ptr, ':', line.len) : NULL;
    size_t name_len = colon ? (size_t)(colon - line.ptr) : line.len;
    fields[n].name.ptr = line.ptr;
    fields[n].name.len = name_len;
    fields[n].value.ptr = colon ? colon + 1 : line.ptr + line.len;
    fields[n].value.len = colon ? line.len - name_len - 1 : 0;
    n++;
  }

  kg_credential got;
  kg_status outcome = kg_credential_extract(&policy, fields, n, query, &got);
  FUZZ_CHECK(outcome == got.outcome);
  FUZZ_CHECK(fuzz_span_inside(got.key.ptr, got.key.len, buf, size));
  FUZZ_CHECK((got.sources & ~(KG_SOURCE_AUTHORIZATION | KG_SOURCE_X_API_KEY)) ==
             0);

  kg_span want = {NULL, 0};
  kg_status ref = ref_credential_extract(policy.prefix, policy.prefix_len,
                                         fields, n, query, &want);
  FUZZ_CHECK(outcome == ref);
  if (outcome == KG_OK || outcome == KG_INVALID_API_KEY) {
    /* The presented token: the same span of the input. */
    FUZZ_CHECK(got.key.len > 0 && got.key.ptr == want.ptr &&
               got.key.len == want.len);
    FUZZ_CHECK(got.sources != 0);
  } else {
    FUZZ_CHECK(got.key.len == 0);
  }
  free(buf);
  return 0;
}
