/*
 * load/load.h — one load run: mixed valid, invalid, missing and expired
 * credentials fired at any HTTP API, every response verified against the
 * contract (load/verify.h), latencies recorded per class (load/result.h).
 *
 * Engines (wrk's and h2load's design): one event loop per thread, one client
 * per connection, requests serialised once per (class, key) and written
 * again and again.
 *   native   HTTP/1.1 over plain TCP or TLS (OpenSSL, non-blocking)
 *   nghttp2  HTTP/2 (libnghttp2) over TLS with ALPN h2, or h2c with prior
 *            knowledge, on the same event loop
 *   curl     libcurl's multi interface, for what the others do not do
 *
 * Closed loop (no rate): each connection sends its next request as soon as
 * the previous one is answered. Open loop (rate R): request i leaves at
 * start + i / R whatever the server does, spread over the threads so the
 * global schedule is evenly spaced; its latency counts from that scheduled
 * time (wrk2's correction), so a stalled server cannot hide behind
 * coordinated omission.
 */
#ifndef KEYGATE_LOAD_LOAD_H
#define KEYGATE_LOAD_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "load/result.h"
#include "load/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kgl_header_mode {
  KGL_HEADER_BEARER = 0, /* Authorization: Bearer <key> */
  KGL_HEADER_X_API_KEY = 1,
  KGL_HEADER_MIXED = 2 /* the two in turn */
} kgl_header_mode;

typedef enum kgl_engine {
  KGL_ENGINE_AUTO = 0, /* native for HTTP/1.1, nghttp2 for HTTP/2 */
  KGL_ENGINE_NATIVE = 1,
  KGL_ENGINE_CURL = 2
} kgl_engine;

typedef enum kgl_http {
  KGL_HTTP_AUTO = 0, /* https: ALPN h2 or http/1.1; http: HTTP/1.1 */
  KGL_HTTP_1 = 1,    /* HTTP/1.1 only */
  KGL_HTTP_2 = 2     /* HTTP/2 only (h2c prior knowledge on http://) */
} kgl_http;

typedef struct kgl_options {
  const char *url;
  const char *keys_path; /* <class>TAB<key> lines (keygate keys seed) */
  int mix[KGL_NCLASS];   /* weights; 0 = class not sent */
  kgl_header_mode header;
  int connections; /* total, spread over the threads */
  int threads;
  int streams;       /* HTTP/2: concurrent streams per connection */
  double rate;       /* requests/s over all threads; 0 = closed loop */
  double duration_s; /* 0 when requests is set */
  int64_t requests;  /* total requests to complete; 0 when duration is set */
  double warmup_s;
  double timeout_s;
  const char *method;
  kgl_http http;
  kgl_engine engine;
  int insecure;       /* do not verify the server's certificate */
  const char *cacert; /* CA file for the server's certificate */
  uint64_t seed;
  int progress; /* one line a second on stderr */
  kgl_expect expect[KGL_NCLASS];
} kgl_options;

/* kgl_options_default — the defaults of `keygate load`: mix 70/15/10/5,
 * header mixed, 64 connections, 1 thread, 10 s, no warmup, timeout 5 s,
 * GET, streams 10, the contract's expectations. */
void kgl_options_default(kgl_options *o);

/*
 * kgl_load_run — run the load described by o and fill r (initialised here).
 * Returns 0 when the run happened (whatever it found), -1 when it could not
 * (bad URL, unreadable key file, a class asked for that the file lacks, the
 * target unreachable at the start), with one line in why naming the cause
 * and the fix. No key ever reaches why or r.
 */
int kgl_load_run(const kgl_options *o, kgl_result *r, char *why, size_t whycap);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_LOAD_H */
