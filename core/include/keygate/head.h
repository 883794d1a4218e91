/*
 * keygate/head.h — a strict, allocation-free HTTP/1.1 request-head parser.
 *
 * Parses a request line and its field lines (RFC 9112 §2-§5) from
 * (buf, len) into spans that point into buf. Line ends are CRLF or a bare
 * LF (RFC 9112 §2.2). Refused, each with its own status: obs-fold (a field
 * line starting with SP or HTAB, §5.2), whitespace between a field name and
 * its colon (§5.1), control characters in a name or value (RFC 9110 §5.5;
 * HTAB is allowed inside a value), more than KG_HEAD_MAX_FIELDS fields, and a
 * head longer than KG_HEAD_MAX_BYTES.
 *
 * Arguments follow the NULL policy of api.h: each function below says which
 * pointer may be NULL; any other NULL is the caller's bug.
 *
 * Timing: depends on the bytes of the input. The head is not a secret of the
 * server's; presented keys inside it are compared only by the index.
 */
#ifndef KEYGATE_HEAD_H
#define KEYGATE_HEAD_H

#include "keygate/api.h"
#include <stddef.h>

#include "keygate/span.h"
#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_HEAD_MAX_FIELDS 100
#define KG_HEAD_MAX_BYTES ((size_t)16 * 1024)

typedef struct kg_head {
  kg_span method;
  kg_span target;   /* request-target as sent */
  kg_span path;     /* target up to '?' */
  kg_span query;    /* after '?', empty when there is none */
  kg_span version;  /* "HTTP/1.1" */
  kg_field *fields; /* caller's array, capacity fields_cap */
  size_t fields_cap;
  size_t nfields;
  size_t error_offset; /* on an error, offset in buf where it was found */
  size_t lead;         /* bytes of empty lines kg_head_parse skipped before the
                          request line (RFC 9112 §2.2): once that line has begun,
                          method.ptr is buf + lead; 0 before (an error or too few
                          bytes inside the empty lines) */
  unsigned flags;      /* KG_HEAD_* options, set by the caller */
} kg_head;

/*
 * KG_HEAD_CTL_IN_VALUES — accept control bytes other than NUL (0x01-0x1F
 * but CR and LF, and 0x7F) inside field values, as nginx does, and leave
 * them to the credential rules (which call such a key malformed:
 * invalid_api_key). Without it they are KG_E_CONTROL_CHAR (RFC 9110 §5.5).
 * `keygate check` sets it so that it answers as the server does.
 */
#define KG_HEAD_CTL_IN_VALUES 1u

/*
 * kg_head_init — make head empty, parsing into fields[0..cap) (at most
 * KG_HEAD_MAX_FIELDS are ever used) with the KG_HEAD_* flags. The one way to
 * prepare a kg_head for kg_head_parse; a head is reused by calling it
 * again. fields must outlive every use of head. head is never NULL;
 * fields may be NULL only with cap 0 (a head with room for no field line:
 * a request that has one is KG_E_TOO_MANY_FIELDS).
 */
KG_API void kg_head_init(kg_head *head, kg_field *fields, size_t cap,
                         unsigned flags);

/*
 * kg_head_parse — parse one request head from (buf, len).
 *
 * Before the call, prepare head with kg_head_init. On KG_OK,
 * *consumed is the number of bytes of the head including the empty line that
 * ends it, and every span of head points into buf. KG_INCOMPLETE means buf
 * holds a valid prefix of a head and more bytes are needed. Any other value is
 * a parse error, with head->error_offset set. Allocates nothing; reads only
 * buf[0..len). buf may be NULL with len 0 (nothing received yet:
 * KG_INCOMPLETE); head and consumed are never NULL.
 */
KG_API kg_status kg_head_parse(const char *buf, size_t len, kg_head *head,
                               size_t *consumed);

/* The longest request line or field line, its line end included, nginx
 * reads with keygate serve's defaults: one of large_client_header_buffers'
 * 8 KiB buffers. */
#define KG_HEAD_LINE_MAX 8192

/*
 * kg_head_screen_line — what nginx refuses while it reads the request line
 * at the start of buf[0..len) (after any empty lines), before it has the
 * whole line: KG_E_BAD_METHOD, KG_E_BAD_TARGET, KG_E_BAD_VERSION or
 * KG_E_VERSION_NOT_SUPPORTED (HTTP/2 and above) for a byte its parser
 * refuses in the method, the request-target (not origin- or absolute-form,
 * a host byte other than a letter, digit, '.' or '-', an IP literal's byte
 * nginx does not take, a port that is not digits, a control byte, a CR not
 * followed by LF) or the version within the line's first
 * KG_HEAD_LINE_MAX bytes; else KG_E_URI_TOO_LONG when those bytes hold no
 * line end and more follow; else KG_OK (also when buf ends first: the
 * rest is kg_head_parse's and kg_head_screen's). A byte past the limit is
 * never read by nginx: the answer is then 414. For a head that does not
 * parse (keygate check answers it as the server does); kg_head_screen
 * applies it first to a head that does. Reads only buf; allocates nothing.
 */
KG_API kg_status kg_head_screen_line(const char *buf, size_t len);

/*
 * kg_head_screen — the refusals a server makes before any authentication,
 * for a head kg_head_parse accepted: what nginx (with keygate serve's
 * defaults) refuses before its access phase. KG_OK when none applies, else
 * the first that does, in the order nginx finds them:
 *   KG_E_BAD_METHOD (400)              a method byte other than A-Z _ -
 *   KG_E_BAD_TARGET (400)              not origin- or absolute-form
 *                                      ('*', host:port), userinfo, a host
 *                                      or port byte nginx refuses
 *   (both: within the first KG_HEAD_LINE_MAX bytes; kg_head_screen_line)
 *   KG_E_URI_TOO_LONG (414)            request line over KG_HEAD_LINE_MAX
 *   KG_E_BAD_VERSION (400)             HTTP/0.x on a request line
 *   KG_E_VERSION_NOT_SUPPORTED (505)   HTTP/2.0 and above
 *   KG_E_BAD_TARGET (400)              in the path (before '?' or '#'):
 *                                      a '%' without two hex digits,
 *                                      %00, a ".." (or %2E%2E, or after
 *                                      a %2F) above the root
 *   KG_E_HEADER_TOO_LARGE (431)        a field line over KG_HEAD_LINE_MAX
 *   KG_E_DUPLICATE_HEADER (400)        Host, Content-Length,
 *                                      Transfer-Encoding, Authorization,
 *                                      Expect, Content-Range, If-Range or
 *                                      another conditional twice
 *   KG_E_BAD_HOST (400)                empty Host, SP, '/', '\', ".."
 *   KG_E_MISSING_HOST (400)            HTTP/1.1 without Host (RFC 9112 §3.2)
 *   KG_E_BAD_FRAMING (400)             Content-Length not digits or over
 *                                      2^63 - 1, or Transfer-Encoding on
 *                                      HTTP/1.0
 *   KG_E_UNSUPPORTED_TRANSFER_CODING (501) a coding other than chunked
 *   KG_E_BAD_FRAMING (400)             chunked with a Content-Length
 *   (values delimited as nginx's: spaces aside, a tab kept)
 *   KG_E_METHOD_NOT_ALLOWED (405)      TRACE, CONNECT
 * kg_refusal_http_status (response.h) gives each one's status; the
 * decisions are in docs/contract.md. Reads only h; allocates nothing.
 * h is never NULL; KG_E_ARGUMENT for a head kg_head_parse has not filled
 * (one only prepared by kg_head_init).
 */
KG_API kg_status kg_head_screen(const kg_head *h);

/*
 * kg_head_screen_read — kg_head_screen, and how many of h's field lines
 * nginx has read when it refuses, in *nread: 0 for a refusal of the request
 * line; the lines before a line too long; the lines up to and including
 * one refused by its name (a second Host); all of them for a refusal of
 * the whole head, and when nothing is refused. A server's answer to a
 * refused head (api_key_in_query, ambiguous_api_key) sees only those.
 * h and nread are never NULL.
 */
KG_API kg_status kg_head_screen_read(const kg_head *h, size_t *nread);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_HEAD_H */
