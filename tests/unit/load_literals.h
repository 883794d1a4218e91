/*
 * tests/unit/load_literals.h — what the load generator's verifier and
 * redaction tests (test_load_verify.c, test_load_redact.c) write their
 * cases with: a byte string literal with its length, and two strict
 * sk_live_ keys (the ones test_credential.c uses) with their hints.
 */
#ifndef KEYGATE_TEST_LOAD_LITERALS_H
#define KEYGATE_TEST_LOAD_LITERALS_H

#include <stddef.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A string literal that may hold NUL bytes, with its length. */
typedef struct bytes {
  const char *s;
  size_t n;
} bytes;
#define B(lit)                                                                 \
  { lit, sizeof(lit) - 1 }

#define K "sk_live_7KWyWfty6uEvcdZQoaZrknnVmnbSF0d50ScUGk"
#define K_MASKED "sk_live_****cUGk"
#define K2 "sk_live_p6SijozWGSxzBzRrkUy4fHvVN6ClsQ9S4YpUa2"
#define K2_MASKED "sk_live_****pUa2"
#define PREFIX "sk_live_"

#endif
