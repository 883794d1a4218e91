/*
 * load/src/engine_curl.c — the third engine, `--engine curl`: libcurl's
 * multi interface, for what the native engines do not do (proxies from the
 * environment: http_proxy, https_proxy, no_proxy; HTTP/3 where the library
 * has it), on the same schedule, verifier and histograms as they are.
 *
 * One CURLM per worker thread. Its easy handles ("slots") are made once and
 * reused for every request: nconns of them for HTTP/1.1, nconns x streams
 * when HTTP/2 is known (--http2, or the first response of an https:// run
 * came over h2), with libcurl's connections capped at nconns. The request
 * header lists are built once per worker from traffic.c's serialised
 * requests (one node per request holding its credential, all sharing one
 * tail), so a request allocates nothing of ours; libcurl allocates inside
 * as it always does. The response's fields and kept body go into a kgl_h1
 * per slot by h1.c's own rules (kgl_h1_keep_field/body), read out by
 * kgl_h1_response, so the verifier sees what the native engine would give.
 *
 * The schedule (closed or open loop, warmup, --requests, the stop flag, the
 * end) is worker.c's, called, not copied.
 *
 * kgl_curl_prepare runs once per run before the threads start (the
 * process-wide curl_global_init is there, never in a thread).
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Most field lines a request may have besides Host and its key (traffic.c
 * writes User-Agent, Accept, at most Content-Length), with room for
 * "Expect:". */
#define KGL_CURL_TAIL_MAX 8

/* One easy handle and the response it is collecting. */
typedef struct curl_slot {
  CURL *easy;
  int busy;              /* a transfer is on it */
  int64_t rest_until_ns; /* after a failed connect: not before this */
  kgl_flight flight;
  int keep;          /* KGL_H1_KEEP_* for this request (kgl_keep_body) */
  int head_done;     /* the head's empty line went by: what follows is body or
                        trailers */
  kgl_h1 resp;       /* the fields and body kept (h1.c's storage and rules) */
  int short_timeout; /* CURLOPT_TIMEOUT_MS is below --timeout (an owed
                        request's rest): set back on the next start */
  /* framing the native parser refuses (h1.c) and libcurl would guess at:
   * the head's Content-Length (-1: none yet) and Transfer-Encoding */
  long long content_length;
  int transfer_encoding;
  int chunked;       /* Transfer-Encoding: chunked */
  int framing_error; /* the transfer was aborted for it: a protocol error */
  int h1;            /* the response's status line is HTTP/1.x */
  int head_echo;     /* a head line held the key sent (kgl_h1_set_key) */
  /* the body's framing as the native parser holds it, fed the bytes
   * libcurl read (CURLINFO_DATA_IN: before it drops what lies beyond
   * Content-Length or the last chunk, "Excess found"): bytes past the end
   * are a protocol error, as the native engine counts them */
  int framing; /* frame is set for this response's body */
  kgl_h1 frame;
} curl_slot;

typedef struct curl_engine {
  kgl_worker *w;
  CURLM *multi;
  curl_slot *slots;
  int nslots;
  int limit;      /* how many slots may be busy or resting now */
  int *free_slot; /* stack of slot indices ready for a request */
  int nfree;
  int *resting; /* slots backing off after a failed connect */
  int nresting;
  int nbusy;
  int h2_only; /* --http2 on https://: a response not over h2 is an error */
  int h2_grow; /* https:// without --http1.1: grow to nslots on h2 */
  int head;    /* the method is HEAD */
  /* request headers: per class, one node per request (its credential line)
   * whose next is the shared tail; requests without a key use the tail */
  struct curl_slist *node[KGL_NCLASS];
  struct curl_slist tail[KGL_CURL_TAIL_MAX];
  char *lines; /* every line of the lists, NUL-terminated */
  size_t lines_len;
} curl_engine;

/* ---- request headers, built once per worker ------------------------------ */

/*
 * The fields come from each request's pre-serialised HTTP/1.1 bytes
 * (traffic.c, their one home), so both engines send the same ones: every
 * field line but Host (libcurl writes it, or :authority, from the URL),
 * plus "Expect:" (no 100-continue, ever). The line holding the request's key
 * gets a node of its own; the others are the same for every request and
 * are kept once, as the shared tail.
 */

static const char NO_EXPECT[] = "Expect:";

/* The next field line from *p (before end): 1 with (line, len) without the
 * CRLF, 0 at the empty line or the end. */
static int next_field(const char **p, const char *end, const char **line,
                      size_t *len) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  if (nl == NULL) {
    return 0;
  }
  size_t n = (size_t)(nl - *p);
  if (n > 0 && (*p)[n - 1] == '\r') {
    n--;
  }
  *line = *p;
  *len = n;
  *p = nl + 1;
  return n > 0;
}

typedef struct span {
  const char *s;
  size_t n;
} span;

/* Split request r's fields: the line holding its key (*cred; NULL/0 when it
 * has none) and the others but Host, in order (other[], at most cap, count
 * in *nother). -1 when there are more than cap. */
static int req_fields(const kgl_req *r, span *cred, span *other, int cap,
                      int *nother) {
  const char *p = r->h1, *end = r->h1 + r->h1_len, *line;
  size_t n;
  cred->s = NULL;
  cred->n = 0;
  *nother = 0;
  next_field(&p, end, &line, &n); /* the request line */
  while (next_field(&p, end, &line, &n)) {
    if (n >= 5 && strncasecmp(line, "host:", 5) == 0) {
      continue;
    }
    if (r->key != NULL && cred->s == NULL &&
        memmem(line, n, r->key, r->key_len) != NULL) {
      cred->s = line;
      cred->n = n;
      continue;
    }
    if (*nother >= cap) {
      return -1;
    }
    other[*nother].s = line;
    other[*nother].n = n;
    (*nother)++;
  }
  return 0;
}

/* Copy (s, n) into the lines buffer as a C string. */
static char *line_copy(curl_engine *e, size_t *off, const char *s, size_t n) {
  char *d = e->lines + *off;
  memcpy(d, s, n);
  d[n] = '\0';
  *off += n + 1;
  return d;
}

/* Build the per-request header lists. 0, or -1 (out of memory, or requests
 * whose fields other than the key differ: traffic.c makes none). */
static int lists_build(curl_engine *e) {
  const kgl_traffic *t = e->w->traffic;
  span tail[KGL_CURL_TAIL_MAX], other[KGL_CURL_TAIL_MAX], cred;
  int ntail = -1, nother = 0;
  size_t need = sizeof NO_EXPECT;
  for (int c = 0; c < KGL_NCLASS; c++) {
    for (size_t i = 0; i < t->nreq[c]; i++) {
      if (req_fields(&t->reqs[c][i], &cred, other, KGL_CURL_TAIL_MAX - 1,
                     &nother) != 0) {
        return -1;
      }
      need += cred.s != NULL ? cred.n + 1 : 0;
      if (ntail < 0) {
        ntail = nother;
        for (int k = 0; k < nother; k++) {
          tail[k] = other[k];
          need += other[k].n + 1;
        }
        continue;
      }
      if (nother != ntail) {
        return -1;
      }
      for (int k = 0; k < nother; k++) {
        if (other[k].n != tail[k].n ||
            memcmp(other[k].s, tail[k].s, tail[k].n) != 0) {
          return -1;
        }
      }
    }
  }
  ntail = ntail < 0 ? 0 : ntail;
  e->lines = malloc(need);
  if (e->lines == NULL) {
    return -1;
  }
  e->lines_len = need;
  size_t off = 0;
  for (int k = 0; k < ntail; k++) {
    e->tail[k].data = line_copy(e, &off, tail[k].s, tail[k].n);
    e->tail[k].next = &e->tail[k + 1];
  }
  e->tail[ntail].data = line_copy(e, &off, NO_EXPECT, sizeof NO_EXPECT - 1);
  e->tail[ntail].next = NULL;
  for (int c = 0; c < KGL_NCLASS; c++) {
    if (t->nreq[c] == 0) {
      continue;
    }
    e->node[c] = calloc(t->nreq[c], sizeof *e->node[c]);
    if (e->node[c] == NULL) {
      return -1;
    }
    for (size_t i = 0; i < t->nreq[c]; i++) {
      req_fields(&t->reqs[c][i], &cred, other, KGL_CURL_TAIL_MAX - 1, &nother);
      if (cred.s != NULL) {
        e->node[c][i].data = line_copy(e, &off, cred.s, cred.n);
        e->node[c][i].next = e->tail;
      }
    }
  }
  return 0;
}

/* The header list of request r (one of the traffic's). */
static struct curl_slist *list_of(curl_engine *e, const kgl_req *r) {
  const size_t i = (size_t)(r - e->w->traffic->reqs[r->cls]);
  return e->node[r->cls] != NULL && e->node[r->cls][i].data != NULL
             ? &e->node[r->cls][i]
             : e->tail;
}

/* Free the lists; the lines (keys among them) are wiped first. */
static void lists_free(curl_engine *e) {
  if (e->lines != NULL) {
    OPENSSL_cleanse(e->lines, e->lines_len);
    free(e->lines);
    e->lines = NULL;
  }
  for (int c = 0; c < KGL_NCLASS; c++) {
    free(e->node[c]);
    e->node[c] = NULL;
  }
}

/* ---- the response: fields and body --------------------------------------- */

static int is_ows(char ch) {
  return ch == ' ' || ch == '\t';
}

/* Content-Length and Transfer-Encoding of the head, as the native parser
 * reads them (h1.c): two Content-Lengths that differ, or one that is not
 * digits, are not HTTP/1.1 (RFC 9112 §6.3) — libcurl takes one and waits
 * for a body that never comes. -1 for such a field, else 0. */
static int framing_field(curl_slot *s, const char *name, size_t nlen,
                         const char *v, size_t vl) {
  if (nlen == 17 && strncasecmp(name, "transfer-encoding", 17) == 0) {
    s->transfer_encoding = 1;
    s->chunked = vl == 7 && strncasecmp(v, "chunked", 7) == 0;
    return 0;
  }
  if (nlen != 14 || strncasecmp(name, "content-length", 14) != 0) {
    return 0;
  }
  long long cl = 0;
  if (vl == 0 || vl > 18) {
    return -1;
  }
  for (size_t i = 0; i < vl; i++) {
    if (v[i] < '0' || v[i] > '9') {
      return -1;
    }
    cl = cl * 10 + (v[i] - '0');
  }
  if (s->content_length >= 0 && s->content_length != cl) {
    return -1;
  }
  s->content_length = cl;
  return 0;
}

/* One header line as libcurl hands it: a status line (a new response: an
 * interim 1xx, or a proxy's CONNECT answer, came before), "name: value",
 * or the empty line ending the head. Trailers are not read. */
static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  curl_slot *s = ud;
  const size_t len = size * n;
  const kgl_req *req = s->flight.req;
  if (req->key != NULL && memmem(buf, len, req->key, req->key_len) != NULL) {
    s->head_echo = 1; /* judged when the head is whole (kgl_h1_set_key) */
  }
  if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
    kgl_h1_reset(&s->resp, s->keep, s->resp.no_body);
    kgl_h1_set_key(&s->resp, req->key, req->key_len);
    s->head_done = 0;
    s->content_length = -1;
    s->transfer_encoding = 0;
    s->chunked = 0;
    s->framing = 0;
    s->h1 = len >= 7 && memcmp(buf, "HTTP/1.", 7) == 0;
    return len;
  }
  size_t ll = len;
  while (ll > 0 && (buf[ll - 1] == '\n' || buf[ll - 1] == '\r')) {
    ll--;
  }
  if (ll == 0) {
    /* the head is whole: its status says which body is kept (a 1xx's
     * settles nothing, the next status line resets) */
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!s->head_done && s->content_length >= 0 && s->transfer_encoding) {
      s->framing_error = 1; /* RFC 9112 §6.3: a smuggling shape */
      return 0;
    }
    if (!s->head_done && status >= 200) {
      kgl_h1_head_done(&s->resp, (int)status);
      /* a response read whole holds no key, as the native parser checks */
      s->resp.key_echo = s->resp.keep_body && s->head_echo;
      if (s->h1) {
        s->framing = 1;
        kgl_h1_body(&s->frame, s->resp.no_body || status == 204 || status == 304
                                   ? 0
                               : s->chunked             ? -2
                               : s->content_length >= 0 ? s->content_length
                                                        : -1);
      }
    }
    s->head_done = 1;
    return len;
  }
  const char *colon = memchr(buf, ':', ll);
  if (s->head_done || colon == NULL) {
    return len;
  }
  const char *v = colon + 1;
  size_t vl = ll - (size_t)(v - buf);
  while (vl > 0 && is_ows(v[0])) {
    v++;
    vl--;
  }
  while (vl > 0 && is_ows(v[vl - 1])) {
    vl--;
  }
  if (framing_field(s, buf, (size_t)(colon - buf), v, vl) != 0) {
    s->framing_error = 1;
    return 0; /* aborts the transfer now, not at --timeout */
  }
  kgl_h1_keep_field(&s->resp, buf, (size_t)(colon - buf), v, vl);
  return len;
}

/* CURLINFO_DATA_IN: the body bytes libcurl read, before it drops those
 * past the framed end (libcurl 7.88, Debian 12's: the curl runs of
 * tests/integration/load_contract_gaps.sh count on it). Over the
 * native parser's framing: a byte past the end, or framing the native
 * parser refuses, is a protocol error. Everything else (the request with
 * its key, libcurl's texts) is ignored: nothing here is ever printed. */
static int on_debug(CURL *h, curl_infotype type, char *d, size_t n, void *ud) {
  (void)h;
  curl_slot *s = ud;
  if (type != CURLINFO_DATA_IN || !s->framing || s->framing_error) {
    return 0;
  }
  size_t used = 0;
  const kgl_h1_rc rc = kgl_h1_feed(&s->frame, d, n, &used);
  if (rc == KGL_H1_ERROR || (rc == KGL_H1_DONE && used < n)) {
    s->framing_error = 1;
  }
  return 0;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud) {
  curl_slot *s = ud;
  kgl_h1_keep_body(&s->resp, buf, size * n);
  return size * n;
}

/* ---- errors ---------------------------------------------------------------
 */

/* The kgl_err_kind of a transfer that failed with rc. */
static int error_kind(CURL *easy, CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    return KGL_ERR_CONNECT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    return KGL_ERR_TLS;
  case CURLE_OPERATION_TIMEDOUT:
    return KGL_ERR_TIMEOUT;
  case CURLE_SEND_ERROR:
    return KGL_ERR_WRITE;
  case CURLE_RECV_ERROR: {
    long os = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os);
    return os == ECONNRESET ? KGL_ERR_RESET : KGL_ERR_READ;
  }
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return KGL_ERR_CLOSED;
  case CURLE_HTTP2_STREAM:
    return KGL_ERR_RESET; /* RST_STREAM, as result.h counts it */
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return KGL_ERR_PROTOCOL;
  default:
    return KGL_ERR_READ;
  }
}

/* ---- slots ------------------------------------------------------------------
 */

static long http_version(const kgl_options *o, int tls) {
  if (o->http == KGL_HTTP_1) {
    return CURL_HTTP_VERSION_1_1;
  }
  if (o->http == KGL_HTTP_2) {
    return tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  }
  /* auto: https offers h2 by ALPN (as the native engines do); http is 1.1 */
  return tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1;
}

/* The options every easy handle of a run shares, the probe's too. */
static CURLcode common_opts(CURL *h, const kgl_options *o, int tls) {
  long ms = (long)(o->timeout_s * 1000);
  if (o->timeout_s > 0 && ms < 1) {
    ms = 1;
  }
  CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, o->url);
  rc |= curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* the URL as given */
  rc |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  rc |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  rc |= curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  rc |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
  rc |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  rc |= curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  rc |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, http_version(o, tls));
  if (o->insecure) {
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    rc |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o->cacert != NULL) {
    rc |= curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
  }
  return rc;
}

/* Make slot s's easy handle with every option that never changes. 0, or -1
 * (out of memory, or an option the library refuses). */
static int slot_init(curl_engine *e, curl_slot *s) {
  const kgl_traffic *t = e->w->traffic;
  s->easy = curl_easy_init();
  if (s->easy == NULL) {
    return -1;
  }
  CURL *h = s->easy;
  CURLcode rc = common_opts(h, e->w->opt, t->url.tls);
  if (e->head) {
    rc |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(t->method, "GET") != 0) {
    rc |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, t->method);
  }
  rc |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  rc |= curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
  rc |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  rc |= curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
  rc |= curl_easy_setopt(h, CURLOPT_PRIVATE, s);
  /* the debug callback is how the bytes past a body's end are seen; it
   * takes every debug message, so none reaches stderr */
  rc |= curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
  rc |= curl_easy_setopt(h, CURLOPT_DEBUGDATA, s);
  rc |= curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
  return rc == CURLE_OK ? 0 : -1;
}

/* Start request f on a free slot. 0, or -1 (the multi handle refused it:
 * f is failed and the slot goes back). */
static int slot_start(curl_engine *e, const kgl_flight *f) {
  kgl_worker *w = e->w;
  const int i = e->free_slot[--e->nfree];
  curl_slot *s = &e->slots[i];
  s->busy = 1;
  e->nbusy++;
  s->flight = *f;
  s->head_done = 0;
  s->content_length = -1;
  s->transfer_encoding = 0;
  s->chunked = 0;
  s->framing_error = 0;
  s->framing = 0;
  s->h1 = 0;
  s->head_echo = 0;
  s->keep = kgl_keep_body(w->opt, f->req->cls);
  kgl_h1_reset(&s->resp, s->keep, e->head);
  kgl_h1_set_key(&s->resp, f->req->key, f->req->key_len);
  w->in_flight++;
  /* an open-loop request has --timeout from its due time (sent_ns,
   * kgl_worker_next_flight), not from now */
  const int64_t now = kgl_now_ns();
  const int64_t limit_ms = (int64_t)(w->opt->timeout_s * 1000);
  const int64_t left_ms = limit_ms - (now - f->sent_ns) / 1000000;
  if (left_ms < limit_ms || s->short_timeout) {
    s->short_timeout = left_ms < limit_ms;
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS,
                     (long)(left_ms > 1 ? left_ms : 1));
  }
  if (curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, list_of(e, f->req)) !=
          CURLE_OK ||
      curl_multi_add_handle(e->multi, s->easy) != CURLM_OK) {
    kgl_worker_fail(w, f, KGL_ERR_PROTOCOL);
    s->busy = 0;
    e->nbusy--;
    e->free_slot[e->nfree++] = i;
    return -1;
  }
  return 0;
}

/* A transfer is over: record it, give the slot back. */
static void slot_done(curl_engine *e, CURL *easy, CURLcode result) {
  kgl_worker *w = e->w;
  void *priv = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
  curl_slot *s = priv;
  curl_multi_remove_handle(e->multi, easy);
  long version = 0;
  curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
  const int h2 = version == CURL_HTTP_VERSION_2_0;
  const int kind = s->framing_error     ? KGL_ERR_PROTOCOL
                   : result != CURLE_OK ? error_kind(easy, result)
                                        : -1;
  s->busy = 0;
  e->nbusy--;
  if (kind >= 0) {
    kgl_worker_fail(w, &s->flight, kind);
  } else if (e->h2_only && !h2) {
    kgl_worker_fail(w, &s->flight, KGL_ERR_PROTOCOL); /* no h2 by ALPN */
  } else {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    s->resp.status = (int)status; /* also when no head came through us */
    kgl_response r;
    kgl_h1_response(&s->resp, &r);
    kgl_worker_complete(w, &s->flight, &r);
  }
  if (h2 && e->h2_grow) {
    e->limit = e->nslots; /* multiplexed: streams per connection */
  }
  const int i = (int)(s - e->slots);
  if (kind == KGL_ERR_CONNECT || kind == KGL_ERR_TLS) {
    /* as the native engine does: a dead server is not hammered, it shows
     * as one connect error per slot per back-off */
    s->rest_until_ns = kgl_now_ns() + KGL_RECONNECT_BACKOFF_NS;
    e->resting[e->nresting++] = i;
  } else {
    e->free_slot[e->nfree++] = i;
  }
}

/* ---- once per run, before the threads ------------------------------------ */

int kgl_curl_prepare(const kgl_options *o, const kgl_traffic *t, char *why,
                     size_t whycap) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(why, whycap, "cannot initialise libcurl");
    return -1;
  }
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  const char *lacks = NULL;
  if (t->url.tls && !(v->features & CURL_VERSION_SSL)) {
    lacks = "TLS (https://)";
  } else if (o->http == KGL_HTTP_2 && !(v->features & CURL_VERSION_HTTP2)) {
    lacks = "HTTP/2 (--http2)";
  }
  if (lacks != NULL) {
    snprintf(why, whycap,
             "libcurl %s has no %s: use --engine native, or a libcurl built "
             "with it",
             v->version, lacks);
    curl_global_cleanup();
    return -1;
  }
  /* curl#10634: before 8.0.0 a reused h2c prior-knowledge connection fails
   * every request after its first ("Error in the HTTP2 framing layer"): a
   * run of errors that would say nothing about the server */
  if (!t->url.tls && o->http == KGL_HTTP_2 && v->version_num < 0x080000) {
    snprintf(why, whycap,
             "libcurl %s cannot reuse an h2c connection (curl#10634, fixed in "
             "8.0.0): use --engine native for --http2 on http://",
             v->version);
    curl_global_cleanup();
    return -1;
  }
  /* connect (through the proxy the environment names, TLS included) and
   * send nothing: the run starts only when the target is reachable */
  CURL *h = curl_easy_init();
  if (h == NULL) {
    snprintf(why, whycap, "out of memory");
    curl_global_cleanup();
    return -1;
  }
  char err[CURL_ERROR_SIZE];
  err[0] = '\0';
  const long ms = kgl_probe_ms(o->timeout_s);
  CURLcode rc = common_opts(h, o, t->url.tls);
  rc |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
  /* common_opts' whole-transfer limit is --timeout, which may be shorter
   * than the check's own (10 ms cut it at 11 ms on a busy host) */
  rc |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
  rc |= curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  rc |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  if (rc == CURLE_OK) {
    rc = curl_easy_perform(h);
  }
  curl_easy_cleanup(h);
  if (rc != CURLE_OK) {
    const char *m = err[0] ? err : curl_easy_strerror(rc);
    char shown[CURL_ERROR_SIZE];
    kgl_safe_text(t, NULL, 0, m, strlen(m), shown, sizeof shown);
    char ep[KGL_ENDPOINT_MAX];
    snprintf(why, whycap,
             "cannot connect to %s through libcurl: %s (is the server "
             "running, the URL right, the proxy reachable?)",
             kgl_url_endpoint(&t->url, ep), shown);
    curl_global_cleanup();
    return -1;
  }
  return 0;
}

void kgl_curl_release(void) {
  curl_global_cleanup();
}

/* ---- the engine ------------------------------------------------------------
 */

static void engine_free(curl_engine *e) {
  if (e->slots != NULL) {
    for (int i = 0; i < e->nslots; i++) {
      if (e->slots[i].easy != NULL) {
        if (e->multi != NULL) {
          curl_multi_remove_handle(e->multi, e->slots[i].easy);
        }
        curl_easy_cleanup(e->slots[i].easy);
      }
    }
  }
  if (e->multi != NULL) {
    curl_multi_cleanup(e->multi);
  }
  free(e->slots);
  free(e->free_slot);
  free(e->resting);
  lists_free(e);
}

/* Set up the multi handle, the slots and the header lists. 0, or -1 with
 * w->why set. */
static int engine_init(curl_engine *e, kgl_worker *w) {
  const kgl_options *o = w->opt;
  const int tls = w->traffic->url.tls;
  memset(e, 0, sizeof *e);
  e->w = w;
  e->head = strcmp(w->traffic->method, "HEAD") == 0;
  const int h2_known = o->http == KGL_HTTP_2;
  e->h2_only = h2_known && tls;
  e->h2_grow = tls && o->http == KGL_HTTP_AUTO;
  const int streams = o->streams > 0 ? o->streams : 1;
  const int h2_maybe = h2_known || e->h2_grow;
  e->nslots = w->nconns * (h2_maybe ? streams : 1);
  e->limit = h2_known ? e->nslots : w->nconns;
  e->multi = curl_multi_init();
  e->slots = calloc((size_t)e->nslots + 1, sizeof *e->slots);
  e->free_slot = calloc((size_t)e->nslots + 1, sizeof *e->free_slot);
  e->resting = calloc((size_t)e->nslots + 1, sizeof *e->resting);
  if (e->multi == NULL || e->slots == NULL || e->free_slot == NULL ||
      e->resting == NULL || lists_build(e) != 0) {
    snprintf(w->why, sizeof w->why, "curl engine: out of memory");
    return -1;
  }
  const long conns = w->nconns;
  CURLMcode mc =
      curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
  mc |= curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
  mc |= curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS, conns);
  mc |= curl_multi_setopt(e->multi, CURLMOPT_PIPELINING,
                          h2_maybe ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
#if LIBCURL_VERSION_NUM >= 0x074300 /* 7.67.0 */
  mc |= curl_multi_setopt(e->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                          (long)streams);
#endif
  if (mc != CURLM_OK) {
    snprintf(w->why, sizeof w->why, "curl engine: %s", curl_multi_strerror(mc));
    return -1;
  }
  for (int i = 0; i < e->nslots; i++) {
    if (slot_init(e, &e->slots[i]) != 0) {
      snprintf(w->why, sizeof w->why, "curl engine: out of memory");
      return -1;
    }
    e->free_slot[e->nfree++] = e->nslots - 1 - i;
  }
  return 0;
}

/* Start every due request that a slot can take (rested slots first come
 * back). */
static void dispatch(curl_engine *e, int64_t now) {
  int keep = 0;
  for (int k = 0; k < e->nresting; k++) {
    const int i = e->resting[k];
    if (now >= e->slots[i].rest_until_ns) {
      e->free_slot[e->nfree++] = i;
    } else {
      e->resting[keep++] = i;
    }
  }
  e->nresting = keep;
  kgl_flight f;
  while (e->nfree > 0 && e->nbusy + e->nresting < e->limit &&
         kgl_worker_next_flight(e->w, now, &f)) {
    slot_start(e, &f);
  }
}

/* Record every finished transfer; how many there were. */
static int drain(curl_engine *e) {
  int done = 0;
  int left = 0;
  CURLMsg *m;
  while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
    if (m->msg == CURLMSG_DONE) {
      slot_done(e, m->easy_handle, m->data.result);
      done++;
    }
  }
  return done;
}

/* Forget what is still in flight when the loop ends (only a stopped run
 * ends so): the run cut it, the server did not fail it. */
static void abort_busy(curl_engine *e) {
  for (int i = 0; i < e->nslots; i++) {
    curl_slot *s = &e->slots[i];
    if (s->busy) {
      curl_multi_remove_handle(e->multi, s->easy);
      s->busy = 0;
      e->nbusy--;
      kgl_worker_fail(e->w, &s->flight, KGL_ERR_CANCELLED);
    }
  }
}

void *kgl_curl_run(void *arg) {
  kgl_worker *w = arg;
  curl_engine e;
  if (engine_init(&e, w) != 0) {
    w->rc = -1;
    atomic_store(&w->sh->stop, 1); /* a fatal error: the run stops */
    engine_free(&e);
    kgl_worker_finish(w);
    return NULL;
  }
  kgl_worker_wait_start(w);
  for (;;) {
    int64_t now = kgl_now_ns();
    kgl_worker_tick(w, now);
    dispatch(&e, now);
    int running = 0;
    curl_multi_perform(e.multi, &running);
    const int done = drain(&e);
    now = kgl_now_ns();
    const int more = kgl_worker_more(w, now);
    if (kgl_worker_over(w, now, more)) {
      break;
    }
    if (done > 0) {
      continue; /* slots came free: refill them before waiting */
    }
    curl_multi_poll(e.multi, NULL, 0, kgl_worker_wait_ms(w, now, more), NULL);
  }
  abort_busy(&e);
  engine_free(&e);
  kgl_worker_finish(w);
  return NULL;
}
