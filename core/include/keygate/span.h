/*
 * keygate/span.h — a (pointer, length) view into a caller's buffer.
 *
 * libkeygate never relies on NUL termination: every input is a span, and
 * every parser output is a span pointing back into the caller's input. A span
 * owns nothing; it is valid as long as the buffer it points into.
 */
#ifndef KEYGATE_SPAN_H
#define KEYGATE_SPAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kg_span {
  const char *ptr; /* NULL only when len == 0 */
  size_t len;
} kg_span;

/* One header field line, as parsed: name as sent, value with OWS trimmed. */
typedef struct kg_field {
  kg_span name;
  kg_span value;
} kg_field;

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_SPAN_H */
