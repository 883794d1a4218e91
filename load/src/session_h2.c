/*
 * load/src/session_h2.c — HTTP/2 over one connection (libnghttp2, h2load's
 * design): requests multiplexed as streams, at most --streams at a time and
 * never more than the server's SETTINGS_MAX_CONCURRENT_STREAMS; each
 * response collected in its stream's slot and handed to the worker to
 * verify when the stream closes.
 *
 * Memory: one h2_state per connection, allocated in start() with a fixed
 * array of stream slots (c->w->opt->streams of them); nghttp2 keeps its own
 * per-connection state. Per request this file allocates nothing: a slot is
 * taken from a free stack in submit() and given back when its stream
 * closes. The slot is the stream's user data in nghttp2.
 *
 * Output: nghttp2_session_mem_send() hands out one frame at a time, in a
 * buffer valid until its next call. Frames are copied into a per-connection
 * write buffer until it is full, so one write (one TLS record) carries many
 * small HEADERS frames; a frame that does not fit stays pending (pointer and
 * length) and mem_send is not called again until all of it is copied.
 *
 * The credential is sent as a never-indexed literal (RFC 7541 §7.1.3): a
 * secret must not enter the HPACK dynamic table, where a compression oracle
 * could probe it (CRIME-style), nor be re-sent by reference.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "keygate/key.h"
#include "keygate/keygate.h"

#define H2_WBUF 16384              /* write buffer: one TLS record's worth */
#define H2_STREAM_WINDOW (1 << 20) /* SETTINGS_INITIAL_WINDOW_SIZE */
#define H2_CONN_WINDOW (16 << 20)  /* the connection's receive window */
#define H2_AUTH_CAP (KG_KEY_MAX_LEN + 8) /* "Bearer " + key */

/* One request in flight: its flight and what has come back so far. */
typedef struct h2_slot {
  kgl_flight flight;
  int32_t stream_id; /* 0: the slot is free */
  int status;        /* 0 until a :status arrives */
  int head_done;     /* the final (non-1xx) header block is complete */
  int ended;         /* END_STREAM received */
  int bad;       /* nghttp2 found the response malformed (RFC 9113 §8.1.1) */
  int keep_body; /* KGL_H1_KEEP_*, as kgl_keep_body says for its class */
  size_t content_type_len;
  int content_type_count;
  size_t www_authenticate_len;
  int www_authenticate_count;
  size_t request_id_len;
  int request_id_count;
  unsigned cut;  /* KGL_MM_* of a field longer than its buffer (h1.c's) */
  int no_store;  /* a cache-control field holds no-store */
  int head_echo; /* a field value held the key sent */
  size_t auth_len;
  size_t body_len;
  int body_truncated;
  struct h2_buf *b; /* its buffers, kept apart (below) */
} h2_slot;

/* A slot's buffers. Apart from the slots so that the fields every response
 * touches sit together in a few cache lines, while these (9 KiB a stream,
 * the body written only when a check reads it) stay cold. */
typedef struct h2_buf {
  char content_type[KGL_H1_CONTENT_TYPE_KEEP];
  char www_authenticate[KGL_H1_WWW_AUTHENTICATE_KEEP];
  char request_id[KGL_H1_REQUEST_ID_KEEP];
  char auth[H2_AUTH_CAP]; /* the Authorization value (NO_COPY: lives here) */
  char body[KGL_H1_BODY_KEEP];
} h2_buf;

typedef struct h2_state {
  nghttp2_session *ng;
  kgl_conn *c;
  int nslots;
  int active;                /* slots in use */
  int goaway;                /* GOAWAY received: no new streams */
  int fatal;                 /* nghttp2 failed: the connection is done */
  int keep_body[KGL_NCLASS]; /* kgl_keep_body, per class */
  size_t min_key_len; /* the shortest key sent: a shorter value holds none */
  h2_slot *slots;
  h2_buf *bufs;
  int *free_stack; /* indices of free slots */
  int nfree;
  const uint8_t *pend; /* the rest of mem_send's last frame */
  size_t pend_len;
  size_t wlen, woff; /* wbuf holds wlen bytes, woff of them sent */
  uint8_t wbuf[H2_WBUF];
} h2_state;

/* ---- slots --------------------------------------------------------------- */

static h2_slot *slot_take(h2_state *s) {
  if (s->nfree == 0) {
    return NULL;
  }
  h2_slot *sl = &s->slots[s->free_stack[--s->nfree]];
  s->active++;
  return sl;
}

static void slot_release(h2_state *s, h2_slot *sl) {
  sl->stream_id = 0;
  s->free_stack[s->nfree++] = (int)(sl - s->slots);
  s->active--;
}

/* The slot of stream id, or NULL (unknown, or already given back). */
static h2_slot *slot_of(h2_state *s, int32_t id) {
  h2_slot *sl = nghttp2_session_get_stream_user_data(s->ng, id);
  return sl != NULL && sl->stream_id == id ? sl : NULL;
}

/* A slot by a linear search: for streams nghttp2 has not opened yet. */
static h2_slot *slot_find(h2_state *s, int32_t id) {
  for (int i = 0; i < s->nslots; i++) {
    if (s->slots[i].stream_id == id) {
      return &s->slots[i];
    }
  }
  return NULL;
}

/* Forget the headers of a 1xx interim response (RFC 9110 §15.2). */
static void slot_reset_head(h2_slot *sl) {
  sl->status = 0;
  sl->content_type_count = 0;
  sl->content_type_len = 0;
  sl->www_authenticate_count = 0;
  sl->www_authenticate_len = 0;
  sl->request_id_count = 0;
  sl->request_id_len = 0;
  sl->cut = 0;
  sl->no_store = 0;
}

static void slot_fail(h2_state *s, h2_slot *sl, int kind) {
  const kgl_flight f = sl->flight;
  slot_release(s, sl);
  kgl_worker_fail(s->c->w, &f, kind);
}

/* Refused before any processing (RFC 9113 §8.7): the worker sends it
 * again, once, or counts a reset. */
static void slot_retry(h2_state *s, h2_slot *sl) {
  const kgl_flight f = sl->flight;
  slot_release(s, sl);
  kgl_worker_retry(s->c->w, &f);
}

/* The stream is over: record its response, or its failure. */
static void slot_finish(h2_state *s, h2_slot *sl, uint32_t error_code) {
  /* a whole response counts even if a RST followed */
  if (sl->bad) {
    slot_fail(s, sl, KGL_ERR_PROTOCOL);
    return;
  }
  if (!sl->ended) {
    /* RST_STREAM: no whole response. REFUSED_STREAM (also what nghttp2
     * gives the streams above a GOAWAY's last one) with nothing received:
     * never processed, so sent again */
    if (error_code == NGHTTP2_REFUSED_STREAM && !sl->head_done &&
        sl->status == 0) {
      slot_retry(s, sl);
    } else {
      slot_fail(s, sl, KGL_ERR_RESET);
    }
    return;
  }
  if (!sl->head_done || sl->status < 200) {
    slot_fail(s, sl, KGL_ERR_PROTOCOL); /* ended without a final status */
    return;
  }
  kgl_response r;
  memset(&r, 0, sizeof r);
  r.status = sl->status;
  r.content_type = sl->b->content_type;
  r.content_type_len = sl->content_type_len;
  r.content_type_count = sl->content_type_count;
  r.www_authenticate = sl->b->www_authenticate;
  r.www_authenticate_len = sl->www_authenticate_len;
  r.www_authenticate_count = sl->www_authenticate_count;
  r.request_id = sl->b->request_id;
  r.request_id_len = sl->request_id_len;
  r.request_id_count = sl->request_id_count;
  r.body = sl->b->body;
  r.body_len = sl->body_len;
  r.body_truncated = sl->body_truncated;
  r.cut = sl->cut;
  r.no_store = sl->no_store;
  /* a response read whole (its body kept) holds no key: SPEC §1.4 */
  const kgl_req *q = sl->flight.req;
  r.key_echo = sl->keep_body == KGL_H1_KEEP_ALL && q->key != NULL &&
               (sl->head_echo ||
                memmem(sl->b->body, sl->body_len, q->key, q->key_len) != NULL);
  /* the slot's buffers stay intact until the next submit(): release first
   * so the worker sees the capacity, then verify from the slot */
  const kgl_flight f = sl->flight;
  slot_release(s, sl);
  kgl_worker_complete(s->c->w, &f, &r);
}

/* ---- nghttp2 callbacks --------------------------------------------------- */

static int name_is(const uint8_t *n, size_t nl, const char *lit, size_t ll) {
  return nl == ll && memcmp(n, lit, ll) == 0;
}

/* The first value whole, or its start with its kind set in *cut: never
 * judged by its start (as h1.c keeps them). */
static void keep_value(char *dst, size_t cap, size_t *len, int *count,
                       unsigned *cut, unsigned kind, const uint8_t *v,
                       size_t n) {
  if (*count == 0) {
    size_t k = n;
    if (n > cap) {
      k = cap;
      *cut |= kind;
    }
    memcpy(dst, v, k);
    *len = k;
  }
  (*count)++;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data) {
  (void)ng;
  (void)flags;
  h2_state *s = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  /* the name first: most fields (date, server, content-length) are not
   * read, and finding the slot costs a lookup and a cache miss. Names
   * arrive lowercase: nghttp2 refuses uppercase (RFC 9113 §8.2.1). */
  enum { F_OTHER, F_STATUS, F_CTYPE, F_WWW, F_RID, F_CC } which = F_OTHER;
  if (name_is(name, namelen, ":status", 7)) {
    which = F_STATUS;
  } else if (name_is(name, namelen, "content-type", 12)) {
    which = F_CTYPE;
  } else if (name_is(name, namelen, "www-authenticate", 16)) {
    which = F_WWW;
  } else if (name_is(name, namelen, "x-request-id", 12)) {
    which = F_RID;
  } else if (name_is(name, namelen, "cache-control", 13)) {
    which = F_CC;
  } else if (valuelen < s->min_key_len) {
    return 0; /* not read, and too short to hold a key sent */
  }
  h2_slot *sl = slot_of(s, frame->hd.stream_id);
  if (sl == NULL || sl->head_done) {
    return 0; /* trailers: nothing the verifier reads */
  }
  const kgl_req *q = sl->flight.req;
  if (valuelen >= s->min_key_len && q->key != NULL &&
      memmem(value, valuelen, q->key, q->key_len) != NULL) {
    sl->head_echo = 1; /* judged at the end, when the body is kept */
  }
  switch (which) {
  case F_OTHER:
    break;
  case F_CC:
    sl->no_store |= kgl_cache_control_no_store((const char *)value, valuelen);
    break;
  case F_STATUS:
    if (sl->status != 0 || valuelen != 3) {
      sl->bad = 1; /* nghttp2 catches both first; defence in depth */
      return 0;
    }
    sl->status =
        (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    break;
  case F_CTYPE:
    keep_value(sl->b->content_type, sizeof sl->b->content_type,
               &sl->content_type_len, &sl->content_type_count, &sl->cut,
               KGL_MM_CONTENT_TYPE, value, valuelen);
    break;
  case F_WWW:
    keep_value(sl->b->www_authenticate, sizeof sl->b->www_authenticate,
               &sl->www_authenticate_len, &sl->www_authenticate_count, &sl->cut,
               KGL_MM_WWW_AUTH, value, valuelen);
    break;
  case F_RID:
    keep_value(sl->b->request_id, sizeof sl->b->request_id, &sl->request_id_len,
               &sl->request_id_count, &sl->cut, KGL_MM_REQUEST_ID, value,
               valuelen);
    break;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *user_data) {
  (void)ng;
  (void)flags;
  h2_state *s = user_data;
  h2_slot *sl = slot_of(s, id);
  if (sl == NULL || sl->keep_body != KGL_H1_KEEP_ALL) {
    return 0;
  }
  const size_t room = sizeof sl->b->body - sl->body_len;
  const size_t k = len < room ? len : room;
  memcpy(sl->b->body + sl->body_len, data, k);
  sl->body_len += k;
  if (k < len) {
    sl->body_truncated = 1;
  }
  return 0;
}

/* Streams above last_stream_id that nghttp2 has not opened yet (still in
 * its queue) never reach on_stream_close: fail them here. */
static void goaway_unopened(h2_state *s, int32_t last_stream_id) {
  for (int i = 0; i < s->nslots; i++) {
    h2_slot *sl = &s->slots[i];
    if (sl->stream_id > last_stream_id &&
        nghttp2_session_find_stream(s->ng, sl->stream_id) == NULL) {
      slot_retry(s, sl); /* never processed: RFC 9113 §6.8 */
    }
  }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                         void *user_data) {
  (void)ng;
  h2_state *s = user_data;
  switch (frame->hd.type) {
  case NGHTTP2_GOAWAY:
    /* nghttp2 closes the streams above last_stream_id itself (REFUSED) */
    s->goaway = 1;
    goaway_unopened(s, frame->goaway.last_stream_id);
    return 0;
  case NGHTTP2_HEADERS: {
    h2_slot *sl = slot_of(s, frame->hd.stream_id);
    if (sl == NULL) {
      return 0;
    }
    if (!sl->head_done) {
      if (sl->status >= 100 && sl->status < 200) {
        slot_reset_head(sl); /* interim: the final response follows */
      } else {
        sl->head_done = 1;
        if (sl->keep_body == KGL_H1_KEEP_ERRORS) {
          /* an error's body, for the mismatch sample; a 2xx's costs none */
          sl->keep_body = sl->status >= 200 && sl->status < 300
                              ? KGL_H1_KEEP_NONE
                              : KGL_H1_KEEP_ALL;
        }
      }
    }
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
      sl->ended = 1;
    }
    return 0;
  }
  case NGHTTP2_DATA: {
    h2_slot *sl = slot_of(s, frame->hd.stream_id);
    if (sl != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      sl->ended = 1;
    }
    return 0;
  }
  default:
    return 0;
  }
}

/* nghttp2's HTTP messaging checks (a duplicate or missing :status, a
 * Content-Length that the DATA frames contradict, ...) land here before it
 * resets the stream; remember it so the close counts as a protocol error. */
static int on_invalid_frame(nghttp2_session *ng, const nghttp2_frame *frame,
                            int lib_error_code, void *user_data) {
  (void)ng;
  (void)lib_error_code;
  h2_state *s = user_data;
  if (frame->hd.stream_id != 0) {
    h2_slot *sl = slot_of(s, frame->hd.stream_id);
    if (sl != NULL) {
      sl->bad = 1;
    }
  }
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code,
                           void *user_data) {
  (void)ng;
  h2_state *s = user_data;
  h2_slot *sl = slot_of(s, id);
  if (sl != NULL) {
    slot_finish(s, sl, error_code);
  }
  return 0;
}

/* A request's HEADERS that nghttp2 could not send (GOAWAY came first, or
 * the stream could not be opened): no stream close follows for a stream
 * that was never opened, so the flight fails here. */
static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame,
                             int lib_error_code, void *user_data) {
  (void)ng;
  (void)lib_error_code;
  h2_state *s = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  h2_slot *sl = slot_find(s, frame->hd.stream_id);
  if (sl != NULL) {
    slot_retry(s, sl); /* never sent */
  }
  return 0;
}

/* ---- the session interface ----------------------------------------------- */

static void h2_free(kgl_conn *c);
static void h2_abort(kgl_conn *c, int kind);

static int h2_start(kgl_conn *c) {
  const kgl_options *o = c->w->opt;
  const int n = o->streams > 0 ? o->streams : 1;
  h2_state *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return -1;
  }
  c->session = s;
  s->c = c;
  s->nslots = n;
  s->slots = calloc((size_t)n, sizeof *s->slots);
  s->bufs = calloc((size_t)n, sizeof *s->bufs);
  s->free_stack = calloc((size_t)n, sizeof *s->free_stack);
  if (s->slots == NULL || s->bufs == NULL || s->free_stack == NULL) {
    h2_free(c);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    s->slots[i].b = &s->bufs[i];
    s->free_stack[i] = n - 1 - i; /* slot 0 first */
  }
  s->nfree = n;
  for (int k = 0; k < KGL_NCLASS; k++) {
    s->keep_body[k] = kgl_keep_body(o, (kgl_class)k); /* as HTTP/1.1 does */
  }
  if (c->w->min_key_len == 0) { /* once per worker: it walks every key */
    const kgl_traffic *t = c->w->traffic;
    c->w->min_key_len = SIZE_MAX;
    for (int k = 0; k < KGL_NCLASS; k++) {
      for (size_t i = 0; i < t->nreq[k]; i++) {
        const size_t kl = t->reqs[k][i].key_len;
        if (t->reqs[k][i].key != NULL && kl > 0 && kl < c->w->min_key_len) {
          c->w->min_key_len = kl;
        }
      }
    }
  }
  s->min_key_len = c->w->min_key_len;

  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) {
    h2_free(c);
    return -1;
  }
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
      cb, on_invalid_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb,
                                                           on_frame_not_send);
  const int rc = nghttp2_session_client_new(&s->ng, cb, s);
  nghttp2_session_callbacks_del(cb);
  if (rc != 0) {
    s->ng = NULL;
    h2_free(c);
    return -1;
  }
  /* the client preface (RFC 9113 §3.4) goes out with the first mem_send */
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)n},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv,
                              sizeof iv / sizeof iv[0]) != 0 ||
      nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                            H2_CONN_WINDOW) != 0) {
    h2_free(c);
    return -1;
  }
  return 0;
}

static int h2_capacity(kgl_conn *c) {
  h2_state *s = c->session;
  if (s == NULL || s->goaway || s->fatal) {
    return 0;
  }
  uint32_t limit = nghttp2_session_get_remote_settings(
      s->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  if (limit > (uint32_t)s->nslots) {
    limit = (uint32_t)s->nslots;
  }
  const int room = (int)limit - s->active;
  return room > 0 ? room : 0;
}

/* A header field whose name and value outlive the HEADERS frame (static
 * names, the traffic's arena, the slot). */
static nghttp2_nv nv_of(const char *name, size_t nl, const char *value,
                        size_t vl, uint8_t extra) {
  nghttp2_nv nv;
  /* nghttp2 takes uint8_t *; NO_COPY promises it never writes them */
  memcpy(&nv.name, &name, sizeof name); /* drops const, no int cast */
  nv.namelen = nl;
  memcpy(&nv.value, &value, sizeof value);
  nv.valuelen = vl;
  nv.flags = (uint8_t)(NGHTTP2_NV_FLAG_NO_COPY_NAME |
                       NGHTTP2_NV_FLAG_NO_COPY_VALUE | extra);
  return nv;
}

#define NV_LIT(n, v, vl) nv_of((n), sizeof(n) - 1, (v), (vl), 0)

static int h2_submit(kgl_conn *c, const kgl_flight *f) {
  h2_state *s = c->session;
  h2_slot *sl = slot_take(s);
  if (sl == NULL) {
    return -1;
  }
  const kgl_traffic *t = c->w->traffic;
  const kgl_req *q = f->req;
  sl->flight = *f;
  sl->status = 0;
  sl->head_done = 0;
  sl->ended = 0;
  sl->bad = 0;
  sl->keep_body = t->head_method ? KGL_H1_KEEP_NONE : s->keep_body[q->cls];
  slot_reset_head(sl);
  sl->head_echo = 0;
  sl->body_len = 0;
  sl->body_truncated = 0;

  static const char ua[] = "keygate-load/" KEYGATE_VERSION;
  static const char accept[] = "application/json";
  nghttp2_nv nva[7];
  size_t n = 0;
  nva[n++] = NV_LIT(":method", t->method, strlen(t->method));
  nva[n++] = c->ssl != NULL ? NV_LIT(":scheme", "https", 5)
                            : NV_LIT(":scheme", "http", 4);
  nva[n++] = NV_LIT(":authority", t->url.authority, strlen(t->url.authority));
  nva[n++] = NV_LIT(":path", t->url.target, strlen(t->url.target));
  nva[n++] = NV_LIT("user-agent", ua, sizeof ua - 1);
  nva[n++] = NV_LIT("accept", accept, sizeof accept - 1);
  if (q->key != NULL) {
    /* never indexed: RFC 7541 §7.1.3 */
    if (q->bearer) {
      if (q->key_len > sizeof sl->b->auth - 7) {
        slot_release(s, sl);
        return -1;
      }
      memcpy(sl->b->auth, "Bearer ", 7);
      memcpy(sl->b->auth + 7, q->key, q->key_len);
      sl->auth_len = 7 + q->key_len;
      nva[n++] = nv_of("authorization", 13, sl->b->auth, sl->auth_len,
                       NGHTTP2_NV_FLAG_NO_INDEX);
    } else {
      nva[n++] =
          nv_of("x-api-key", 9, q->key, q->key_len, NGHTTP2_NV_FLAG_NO_INDEX);
    }
  }
  const int32_t id = nghttp2_submit_request(s->ng, NULL, nva, n, NULL, sl);
  if (id < 0) {
    slot_release(s, sl);
    return -1;
  }
  sl->stream_id = id;
  return 0;
}

static long h2_received(kgl_conn *c, const char *buf, size_t len) {
  h2_state *s = c->session;
  if (s->fatal) {
    return -1;
  }
  const ssize_t rv = nghttp2_session_mem_recv(s->ng, (const uint8_t *)buf, len);
  if (rv < 0 || (size_t)rv != len) {
    s->fatal = 1;
    return -1;
  }
  if (!s->goaway && !nghttp2_session_check_request_allowed(s->ng)) {
    /* nghttp2 found a connection error and is ending the session (its
     * GOAWAY would be its last frame): close now, fail what is in flight */
    s->fatal = 1;
    return -1;
  }
  return (long)len;
}

static int h2_eof(kgl_conn *c) {
  const h2_state *s = c->session;
  return s == NULL || s->active == 0 ? 0 : -1;
}

static void h2_output(kgl_conn *c, const char **buf, size_t *len) {
  h2_state *s = c->session;
  *buf = NULL;
  *len = 0;
  if (s == NULL) {
    return;
  }
  if (s->woff == s->wlen) {
    s->woff = s->wlen = 0;
    while (!s->fatal && s->wlen < sizeof s->wbuf) {
      if (s->pend_len == 0) {
        const uint8_t *p = NULL;
        const ssize_t k = nghttp2_session_mem_send(s->ng, &p);
        if (k < 0) {
          /* out of memory or a callback failure: the connection is done;
           * what it carried fails now rather than at --timeout */
          s->fatal = 1;
          h2_abort(c, KGL_ERR_PROTOCOL);
          break;
        }
        if (k == 0) {
          break;
        }
        s->pend = p;
        s->pend_len = (size_t)k;
      }
      const size_t room = sizeof s->wbuf - s->wlen;
      const size_t k = s->pend_len < room ? s->pend_len : room;
      memcpy(s->wbuf + s->wlen, s->pend, k);
      s->wlen += k;
      s->pend += k;
      s->pend_len -= k;
    }
  }
  if (s->woff < s->wlen) {
    *buf = (const char *)s->wbuf + s->woff;
    *len = s->wlen - s->woff;
  }
}

static void h2_sent(kgl_conn *c, size_t n) {
  h2_state *s = c->session;
  s->woff += n;
}

static void h2_abort(kgl_conn *c, int kind) {
  h2_state *s = c->session;
  if (s == NULL) {
    return;
  }
  for (int i = 0; i < s->nslots && s->active > 0; i++) {
    if (s->slots[i].stream_id != 0) {
      slot_fail(s, &s->slots[i], kind);
    }
  }
}

static int h2_closing(kgl_conn *c) {
  const h2_state *s = c->session;
  return s == NULL || s->goaway || s->fatal ||
         !nghttp2_session_check_request_allowed(s->ng);
}

static int64_t h2_oldest(kgl_conn *c) {
  const h2_state *s = c->session;
  int64_t oldest = 0;
  if (s == NULL || s->active == 0) {
    return 0;
  }
  for (int i = 0; i < s->nslots; i++) {
    const h2_slot *sl = &s->slots[i];
    if (sl->stream_id != 0 && (oldest == 0 || sl->flight.sent_ns < oldest)) {
      oldest = sl->flight.sent_ns;
    }
  }
  return oldest;
}

/* Streams sent before older_than get no more time: each is cancelled
 * (RST_STREAM CANCEL, RFC 9113 §8.7) and counted a timeout; the others on
 * the connection go on. */
static int h2_expire(kgl_conn *c, int64_t older_than) {
  h2_state *s = c->session;
  int n = 0;
  for (int i = 0; s != NULL && i < s->nslots; i++) {
    h2_slot *sl = &s->slots[i];
    if (sl->stream_id != 0 && sl->flight.sent_ns < older_than) {
      const int32_t id = sl->stream_id;
      (void)nghttp2_session_set_stream_user_data(s->ng, id, NULL);
      slot_fail(s, sl, KGL_ERR_TIMEOUT);
      (void)nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, id,
                                      NGHTTP2_CANCEL);
      n++;
    }
  }
  return n;
}

static void h2_free(kgl_conn *c) {
  h2_state *s = c->session;
  if (s == NULL) {
    return;
  }
  /* nghttp2_session_del calls no callback: the slots go with it */
  nghttp2_session_del(s->ng);
  if (s->bufs != NULL) {
    for (int i = 0; i < s->nslots; i++) {
      /* the Bearer values held keys */
      explicit_bzero(s->bufs[i].auth, sizeof s->bufs[i].auth);
    }
  }
  free(s->slots);
  free(s->bufs);
  free(s->free_stack);
  free(s);
  c->session = NULL;
}

const kgl_session_ops kgl_session_h2 = {
    "h2",    h2_start, h2_capacity, h2_submit, h2_received, h2_eof,   h2_output,
    h2_sent, h2_abort, h2_closing,  h2_oldest, h2_free,     h2_expire};
