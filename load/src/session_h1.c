/*
 * load/src/session_h1.c — HTTP/1.1 over one connection: one request at a
 * time (no pipelining, as a browser or an API client does), the
 * pre-serialised bytes written as they are, the response read by the
 * strict parser of h1.c and handed to the worker to verify.
 *
 * The state lives in kgl_conn itself (h1_flight, h1_busy, h1): nothing is
 * allocated per connection or per request.
 */
#include <string.h>

#include "internal.h"

static int h1_start(kgl_conn *c) {
  c->h1_busy = 0;
  c->h1_out_off = 0;
  return 0;
}

static int h1_capacity(kgl_conn *c) {
  return c->h1_busy ? 0 : 1;
}

static int h1_submit(kgl_conn *c, const kgl_flight *f) {
  c->h1_flight = *f;
  c->h1_busy = 1;
  c->h1_out_off = 0;
  kgl_h1_reset(&c->h1, kgl_keep_body(c->w->opt, f->req->cls),
               c->w->traffic->head_method);
  kgl_h1_set_key(&c->h1, f->req->key, f->req->key_len);
  return 0;
}

static long h1_received(kgl_conn *c, const char *buf, size_t len) {
  size_t consumed = 0;
  while (consumed < len) {
    if (!c->h1_busy) {
      /* bytes on an idle connection: a response nobody asked for. It
       * belongs to no request; counted, and the connection is dropped
       * so it cannot be taken for the next request's answer */
      c->w->res.unsolicited++;
      return -1;
    }
    size_t used = 0;
    const kgl_h1_rc rc =
        kgl_h1_feed(&c->h1, buf + consumed, len - consumed, &used);
    if (rc == KGL_H1_ERROR) {
      return -1;
    }
    consumed += used;
    if (rc == KGL_H1_DONE && consumed < len) {
      /* more bytes than the response framed, in the same read: nothing
       * can follow an answer before the next request is sent (no
       * pipelining), so its framing was wrong: a protocol error */
      c->h1_busy = 0;
      kgl_worker_fail(c->w, &c->h1_flight, KGL_ERR_PROTOCOL);
      return -1;
    }
    if (rc == KGL_H1_DONE) {
      kgl_response r;
      kgl_h1_response(&c->h1, &r);
      c->h1_busy = 0;
      if (c->h1.close) {
        c->closing = 1;
      }
      kgl_worker_complete(c->w, &c->h1_flight, &r);
      break; /* consumed == len: nothing may follow it */
    }
    if (used == 0) {
      break; /* the head is not whole yet: keep the bytes */
    }
  }
  return (long)consumed;
}

static int h1_eof(kgl_conn *c) {
  if (!c->h1_busy) {
    return 0;
  }
  if (kgl_h1_eof(&c->h1) == KGL_H1_DONE) {
    kgl_response r;
    kgl_h1_response(&c->h1, &r);
    c->h1_busy = 0;
    kgl_worker_complete(c->w, &c->h1_flight, &r);
    return 0;
  }
  return -1; /* closed mid-response: abort() charges it */
}

static void h1_output(kgl_conn *c, const char **buf, size_t *len) {
  if (c->h1_busy && c->h1_out_off < c->h1_flight.req->h1_len) {
    *buf = c->h1_flight.req->h1 + c->h1_out_off;
    *len = c->h1_flight.req->h1_len - c->h1_out_off;
  } else {
    *buf = NULL;
    *len = 0;
  }
}

static void h1_sent(kgl_conn *c, size_t n) {
  c->h1_out_off += n;
}

static void h1_abort(kgl_conn *c, int kind) {
  if (c->h1_busy) {
    c->h1_busy = 0;
    kgl_worker_fail(c->w, &c->h1_flight, kind);
  }
}

static int h1_closing(kgl_conn *c) {
  return c->closing;
}

static int64_t h1_oldest(kgl_conn *c) {
  return c->h1_busy ? c->h1_flight.sent_ns : 0;
}

static void h1_free(kgl_conn *c) {
  c->h1_busy = 0;
}

const kgl_session_ops kgl_session_h1 = {
    "http/1.1", h1_start, h1_capacity, h1_submit,  h1_received, h1_eof,
    h1_output,  h1_sent,  h1_abort,    h1_closing, h1_oldest,   h1_free,
    NULL /* expire: one request per connection, so the worker closes it */};
