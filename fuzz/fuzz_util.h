/*
 * fuzz/fuzz_util.h — helpers shared by the libFuzzer targets of keygate.
 *
 * Every target copies its input into a buffer of exactly the input's size
 * (fuzz_copy) before handing it to libkeygate, so ASan catches a read one
 * byte past the end even where libFuzzer's own buffer would have slack.
 * Invariant failures call FUZZ_CHECK, which prints the condition (never the
 * input: it may hold a key) and aborts, so libFuzzer saves the input.
 */
#ifndef KEYGATE_FUZZ_UTIL_H
#define KEYGATE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The two entry points every target defines (libFuzzer's interface). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_CHECK — abort with file:line and the failed condition. */
#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/*
 * fuzz_copy — a malloc'd copy of data[0..size) of exactly size bytes (one
 * byte for an empty input, never read). Aborts when out of memory. The
 * caller frees it.
 */
static inline char *fuzz_copy(const uint8_t *data, size_t size) {
  char *p = malloc(size ? size : 1);
  FUZZ_CHECK(p != NULL);
  if (size) {
    memcpy(p, data, size);
  }
  return p;
}

/* fuzz_span_inside — 1 when the span (p, n) lies inside buf[0..len). */
static inline int fuzz_span_inside(const char *p, size_t n, const char *buf,
                                   size_t len) {
  if (n == 0) {
    return 1;
  }
  if (p == NULL || p < buf) {
    return 0;
  }
  size_t off = (size_t)(p - buf);
  return off <= len && n <= len - off;
}

#endif /* KEYGATE_FUZZ_UTIL_H */
