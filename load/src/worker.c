/*
 * load/src/worker.c — one thread of the native engines: an epoll loop over
 * its connections (wrk's design), the schedule (closed or open loop), and
 * the recording of every outcome (verify, histogram, the current second).
 *
 * Per request nothing is allocated: requests are pre-serialised
 * (traffic.c), a connection's buffers are part of it, histograms are laid
 * out at the start. Once a second the finished second's counts are handed
 * to the main thread under a mutex (not per request).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NS 1000000000LL
#define TIMEOUT_CHECK_NS (20 * 1000000LL)

int64_t kgl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---- seconds: the interval being filled and its hand-off ------------------
 */

static kgl_interval *interval_get(kgl_shared *sh) {
  pthread_mutex_lock(&sh->mu);
  kgl_interval *iv = sh->spare;
  if (iv != NULL) {
    sh->spare = iv->next;
  }
  pthread_mutex_unlock(&sh->mu);
  if (iv == NULL) {
    iv = calloc(1, sizeof *iv);
    if (iv == NULL) {
      return NULL;
    }
    for (int i = 0; i < KGL_ROWS; i++) {
      if (kgl_hist_init(&iv->lat[i], KGL_LAT_LOWEST, KGL_LAT_HIGHEST, 2) != 0) {
        for (int j = 0; j < i; j++) {
          kgl_hist_free(&iv->lat[j]);
        }
        free(iv);
        return NULL;
      }
    }
  }
  return iv;
}

/* Hand the current second to the main thread and start second t. */
static void interval_advance(kgl_worker *w, int64_t t) {
  kgl_shared *sh = w->sh;
  kgl_interval *next = interval_get(sh);
  if (next == NULL) {
    return; /* out of memory: keep filling the current one */
  }
  next->t = t;
  kgl_interval *done = w->cur;
  pthread_mutex_lock(&sh->mu);
  if (done != NULL) {
    done->next = sh->handed;
    sh->handed = done;
  }
  pthread_mutex_unlock(&sh->mu);
  w->cur = next;
  atomic_store_explicit(&w->cur_t, t, memory_order_release);
}

void kgl_worker_tick(kgl_worker *w, int64_t now) {
  if (now < w->sh->start_ns) {
    return;
  }
  int64_t t = (now - w->sh->start_ns) / NS;
  /* responses to requests sent before the end count in the last second,
   * not in a nearly empty one after it */
  if (w->sh->end_ns != INT64_MAX && now >= w->sh->end_ns) {
    const int64_t last = (w->sh->end_ns - w->sh->start_ns - 1) / NS;
    t = t < last ? t : last;
  }
  if (w->cur == NULL || t > w->cur->t) {
    interval_advance(w, t);
  }
}

/* ---- recording ------------------------------------------------------------
 */

static void keep_sample(kgl_worker *w, const kgl_flight *f, unsigned mm,
                        const kgl_response *r, const char *code,
                        size_t code_len, const char *detail,
                        size_t detail_len) {
  kgl_result *res = &w->res;
  if (res->nsamples >= KGL_MAX_SAMPLES) {
    return;
  }
  kgl_sample *s = &res->samples[res->nsamples++];
  memset(s, 0, sizeof *s);
  const kgl_class c = f->req->cls;
  const kgl_expect *e = &w->opt->expect[c];
  const kgl_traffic *t = w->traffic;
  const char *key = f->req->key;
  const size_t klen = f->req->key_len;
  s->cls = (int)c;
  s->kinds = mm;
  s->status = r != NULL ? r->status : 0;
  s->expected_status = e->status;
  snprintf(s->expected_code, sizeof s->expected_code, "%s", e->code);
  /* what the server sent back may echo the key: every text is masked
   * with every known prefix and withheld if any piece of the key is left;
   * the key itself is masked whatever its issuer */
  if (code != NULL) {
    kgl_safe_text(t, key, klen, code, code_len, s->code, sizeof s->code);
  }
  if (r != NULL && r->request_id_count > 0) {
    kgl_safe_text(t, key, klen, r->request_id, r->request_id_len, s->request_id,
                  sizeof s->request_id);
  }
  if (key != NULL) {
    kgl_mask_key(key, klen, s->key, sizeof s->key);
  } else {
    snprintf(s->key, sizeof s->key, "(none)");
  }
  kgl_safe_text(t, key, klen, detail, detail_len, s->detail, sizeof s->detail);
}

static void interval_count(kgl_worker *w, const kgl_flight *f, int mismatch,
                           int error, int64_t lat_us) {
  if (f->warmup || w->cur == NULL) {
    return;
  }
  const int c = (int)f->req->cls;
  kgl_interval *iv = w->cur;
  iv->requests[c]++;
  iv->mismatches[c] += mismatch;
  iv->errors[c] += error;
  if (!error) {
    kgl_hist_record(&iv->lat[c], lat_us);
  }
}

static void finish_one(kgl_worker *w, const kgl_flight *f) {
  w->in_flight--;
  if (!f->warmup) {
    w->completed++;
  }
}

void kgl_worker_complete(kgl_worker *w, const kgl_flight *f,
                         const kgl_response *r) {
  const int64_t now = kgl_now_ns();
  /* --timeout holds for every response, not only those the 20 ms sweep
   * catches: a late answer is a timeout, as libcurl counts it */
  if (now - f->sent_ns > (int64_t)(w->opt->timeout_s * 1e9)) {
    kgl_worker_fail(w, f, KGL_ERR_TIMEOUT);
    return;
  }
  kgl_worker_tick(w, now);
  const kgl_class c = f->req->cls;
  const char *code = NULL;
  size_t code_len = 0;
  const unsigned mm = kgl_verify(&w->opt->expect[c], r, &code, &code_len);
  int64_t lat_us = (now - f->sched_ns) / 1000;
  if (lat_us < 1) {
    lat_us = 1;
  }
  if (mm != 0) {
    /* the kinds are in the sample already; the detail shows the header
     * that was wrong, as received (redacted when kept) */
    const char *d = "";
    size_t dn = 0;
    int span = 0; /* d is a value received (dn bytes), not a text here */
    const unsigned cut = mm & r->cut;
    if (mm & KGL_MM_KEY_ECHO) {
      d = "(the key sent came back in the response)";
    } else if (cut & KGL_MM_WWW_AUTH) {
      d = "(WWW-Authenticate longer than kept: not judged by its start)";
    } else if (mm & KGL_MM_WWW_AUTH) {
      d = r->www_authenticate_count ? r->www_authenticate
                                    : "(no WWW-Authenticate)";
      span = r->www_authenticate_count != 0;
      dn = r->www_authenticate_len;
    } else if (cut & KGL_MM_CONTENT_TYPE) {
      d = "(Content-Type longer than kept: not judged by its start)";
    } else if (mm & KGL_MM_CONTENT_TYPE) {
      d = r->content_type_count ? r->content_type : "(no Content-Type)";
      span = r->content_type_count != 0;
      dn = r->content_type_len;
    } else if (cut & KGL_MM_REQUEST_ID) {
      d = "(X-Request-Id longer than kept: not judged by its start)";
    } else if (mm & KGL_MM_BODY) {
      d = r->body_truncated ? "(body longer than kept)"
                            : "(body not the contract's JSON)";
    } else if (mm & KGL_MM_CACHE_CONTROL) {
      d = "(no Cache-Control: no-store)";
    }
    if (!span) {
      dn = strlen(d);
    }
    keep_sample(w, f, mm, r, code, code_len, d, dn);
  }
  if (f->warmup) {
    w->res.warmup_requests++;
    w->res.warmup_mismatches += mm != 0;
  } else {
    kgl_class_stats *st = &w->res.cls[c];
    st->requests++;
    w->res.valid_unknown += c == KGL_VALID && r->status == 401 &&
                            code_len == 15 &&
                            memcmp(code, "invalid_api_key", 15) == 0;
    if (mm == 0) {
      st->ok++;
    } else {
      st->mismatches++;
      for (int i = 0; i < KGL_MM_KINDS; i++) {
        st->mismatch_kinds[i] += (mm >> i) & 1u;
      }
    }
    kgl_hist_record(&st->latency, lat_us);
    interval_count(w, f, mm != 0, 0, lat_us);
  }
  w->last_ns = now;
  finish_one(w, f);
}

void kgl_worker_fail(kgl_worker *w, const kgl_flight *f, int kind) {
  if (kind < 0) { /* KGL_ERR_CANCELLED */
    w->in_flight--;
    return;
  }
  const int64_t now = kgl_now_ns();
  kgl_worker_tick(w, now);
  if (f->warmup) {
    w->res.warmup_requests++;
    w->res.warmup_errors++;
  } else {
    kgl_class_stats *st = &w->res.cls[f->req->cls];
    st->requests++;
    st->errors++;
    st->error_kinds[kind]++;
    interval_count(w, f, 0, 1, 0);
  }
  w->last_ns = now;
  finish_one(w, f);
}

void kgl_worker_retry(kgl_worker *w, const kgl_flight *f) {
  if (f->retries >= KGL_RETRY_MAX || w->retry_n >= w->retry_cap) {
    kgl_worker_fail(w, f, KGL_ERR_RESET);
    return;
  }
  kgl_flight *slot = &w->retry[(w->retry_head + w->retry_n) % w->retry_cap];
  *slot = *f;
  slot->retries++;
  w->retry_n++;
  w->in_flight--; /* it is waiting again, not in flight */
}

/* ---- schedule ---------------------------------------------------------------
 */

/* Open loop: the next due time of this thread's schedule (request i is
 * due at t0 + i / rate; this thread sends i = id, id + T, id + 2T, ...). */
static void advance_due(kgl_worker *w) {
  const kgl_shared *sh = w->sh;
  w->next_seq++;
  w->next_due_ns =
      sh->t0_ns + (int64_t)((double)(w->next_seq * sh->nthreads + w->id) * 1e9 /
                            w->opt->rate);
}

/* Open loop with a duration: requests due before the end are owed even
 * when the end has passed before a connection was free to send them
 * (coordinated omission hides them otherwise: a server that stops
 * answering for the last seconds would show only what it answered). An
 * owed request that has not left --timeout after its due time can no
 * longer be answered in time (the one rule: within --timeout of its due
 * time), during the run or after its end: it is a timeout, counted in its
 * class (picked by the mix, as if it had been sent), and is not sent. With
 * --requests a late request still leaves and times out at once. */
static void expire_owed(kgl_worker *w, int64_t now) {
  const kgl_shared *sh = w->sh;
  if (w->opt->rate <= 0 || w->quota != 0) {
    return;
  }
  const int64_t limit = (int64_t)(w->opt->timeout_s * 1e9);
  while (w->next_due_ns < sh->end_ns && now - w->next_due_ns >= limit) {
    kgl_flight f;
    memset(&f, 0, sizeof f);
    f.req = kgl_traffic_pick(w->traffic, &w->rng);
    f.sched_ns = w->next_due_ns;
    f.sent_ns = w->next_due_ns;
    f.warmup = f.sched_ns < sh->start_ns;
    advance_due(w);
    w->issued++;
    w->in_flight++;
    kgl_worker_fail(w, &f, KGL_ERR_TIMEOUT);
  }
}

/* Is another request due now? Fills *f (its due time) when so. */
int kgl_worker_next_flight(kgl_worker *w, int64_t now, kgl_flight *f) {
  const kgl_options *o = w->opt;
  kgl_shared *sh = w->sh;
  if (w->retry_n > 0) { /* owed first: it was due already */
    *f = w->retry[w->retry_head];
    w->retry_head = (w->retry_head + 1) % w->retry_cap;
    w->retry_n--;
    /* open loop: --timeout counts from its due time, as for every request */
    f->sent_ns = o->rate > 0 ? f->sched_ns : now;
    return 1;
  }
  if (atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
    return 0;
  }
  if (w->quota > 0 && w->issued >= w->quota) {
    return 0;
  }
  int64_t due;
  if (o->rate > 0) {
    expire_owed(w, now);
    due = w->next_due_ns;
    if (due > now) {
      return 0;
    }
  } else {
    due = now;
  }
  /* duration mode: nothing due at or after the end is sent. Closed loop
   * sends nothing once the end has passed; open loop still sends what was
   * due before it (expire_owed: within --timeout of its due time) */
  if (w->quota == 0 &&
      (due >= sh->end_ns || (o->rate <= 0 && now >= sh->end_ns))) {
    return 0;
  }
  f->req = kgl_traffic_pick(w->traffic, &w->rng);
  f->sched_ns = due;
  /* open loop: every request must be answered within --timeout of when it
   * was due (its latency counts from then too), whenever it left; the run
   * ends at most --timeout after its span. Closed loop: from the send. */
  f->sent_ns = o->rate > 0 ? due : now;
  f->warmup = due < sh->start_ns;
  f->retries = 0;
  if (o->rate > 0) {
    const double lag = (double)(now - due) / 1e6;
    if (!f->warmup && lag > w->max_lag_ms) {
      w->max_lag_ms = lag;
    }
    advance_due(w);
  }
  if (!f->warmup && now < sh->end_ns) {
    w->sent_measured++; /* the rate sent over the measured span */
  }
  /* in requests mode the warmup does not use the quota */
  if (!f->warmup || w->quota == 0) {
    w->issued++;
  }
  return 1;
}

/* Is there (or will there be) more to send? Open loop past the end: while
 * requests due before it are owed (the overdue ones are settled here as
 * timeouts, so every engine's loop settles them). */
int kgl_worker_more(kgl_worker *w, int64_t now) {
  if (w->retry_n > 0) {
    return 1;
  }
  if (atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
    return 0;
  }
  if (w->quota > 0) {
    return w->issued < w->quota;
  }
  if (w->opt->rate > 0) {
    expire_owed(w, now);
    return w->next_due_ns < w->sh->end_ns;
  }
  return now < w->sh->end_ns;
}

/* ---- connections ------------------------------------------------------------
 */

static void conn_events(kgl_conn *c, unsigned want) {
  if (c->fd < 0 || c->events == want) {
    return;
  }
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = want;
  ev.data.ptr = c;
  epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = want;
}

static void idle_push(kgl_conn *c) {
  kgl_worker *w = c->w;
  if (!c->idle_listed) {
    c->idle_listed = 1;
    w->idle[w->nidle++] = (int)(c - w->conns);
  }
}

static void conn_close(kgl_conn *c, int fail_kind) {
  if (c->ops != NULL) {
    c->ops->abort(c, fail_kind);
    c->ops->free(c);
    c->ops = NULL;
  }
  if (c->ssl != NULL) {
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  c->state = KGL_CONN_DOWN;
  c->events = 0;
  c->rlen = 0;
  c->closing = 0;
  c->requests_on_conn = 0;
  idle_push(c); /* a down connection takes work: it reconnects for it */
}

static int conn_open(kgl_conn *c, int64_t now) {
  kgl_worker *w = c->w;
  kgl_shared *sh = w->sh;
  if (now < c->retry_at_ns) {
    return -1;
  }
  const int fd =
      socket(sh->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)&sh->addr, (socklen_t)sh->addrlen) !=
          0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  c->fd = fd;
  c->opened_ns = now;
  c->state = KGL_CONN_CONNECTING;
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLOUT;
  ev.data.ptr = c;
  epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
  c->events = EPOLLOUT;
  return 0;
}

/* The transport is up: pick the session (ALPN on TLS), start it. */
static int conn_ready(kgl_conn *c) {
  kgl_worker *w = c->w;
  int h2 = w->sh->h2c;
  if (c->ssl != NULL) {
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
    h2 = alen == 2 && memcmp(alpn, "h2", 2) == 0;
    if (!h2 && w->opt->http == KGL_HTTP_2) {
      return -1; /* the server did not agree to HTTP/2 */
    }
  }
  c->ops = h2 ? &kgl_session_h2 : &kgl_session_h1;
  w->sessions[h2 ? 1 : 0]++;
  c->state = KGL_CONN_READY;
  if (c->ops->start(c) != 0) {
    return -1;
  }
  conn_events(c, EPOLLIN);
  idle_push(c);
  return 0;
}

static int tls_step(kgl_conn *c) {
  const int rc = SSL_connect(c->ssl);
  if (rc == 1) {
    return conn_ready(c);
  }
  const int e = SSL_get_error(c->ssl, rc);
  if (e == SSL_ERROR_WANT_READ) {
    conn_events(c, EPOLLIN);
    return 0;
  }
  if (e == SSL_ERROR_WANT_WRITE) {
    conn_events(c, EPOLLOUT);
    return 0;
  }
  ERR_clear_error();
  return -1;
}

/* A failure before any request was on the connection: back off a little,
 * and charge it to a request so a dead server shows as connect errors. */
static void connect_failed(kgl_conn *c, int kind, int64_t now) {
  kgl_worker *w = c->w;
  conn_close(c, kind);
  c->connect_failures++;
  c->retry_at_ns = now + KGL_RECONNECT_BACKOFF_NS;
  kgl_flight f;
  if (kgl_worker_next_flight(w, now, &f)) {
    w->in_flight++;
    kgl_worker_fail(w, &f, kind);
  }
}

static void on_connecting(kgl_conn *c, int64_t now) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    connect_failed(c, KGL_ERR_CONNECT, now);
    return;
  }
  c->connect_failures = 0;
  if (c->w->ssl_ctx != NULL) {
    c->ssl = kgl_tls_new(c->w->ssl_ctx, c->w->opt, &c->w->traffic->url, c->fd);
    if (c->ssl == NULL) {
      connect_failed(c, KGL_ERR_TLS, now);
      return;
    }
    c->state = KGL_CONN_HANDSHAKE;
    if (tls_step(c) != 0) {
      connect_failed(c, KGL_ERR_TLS, now);
    }
    return;
  }
  if (conn_ready(c) != 0) {
    connect_failed(c, KGL_ERR_PROTOCOL, now);
  }
}

/* Send what the session has. 0, or -1 (the caller closes). */
static int conn_flush(kgl_conn *c) {
  for (;;) {
    const char *buf = NULL;
    size_t len = 0;
    c->ops->output(c, &buf, &len);
    if (len == 0) {
      conn_events(c, EPOLLIN);
      return 0;
    }
    ssize_t n;
    if (c->ssl != NULL) {
      ERR_clear_error();
      const int rc =
          SSL_write(c->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
      if (rc <= 0) {
        const int e = SSL_get_error(c->ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
          conn_events(c, EPOLLIN | EPOLLOUT);
          return 0;
        }
        return -1;
      }
      n = rc;
    } else {
      n = send(c->fd, buf, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          conn_events(c, EPOLLIN | EPOLLOUT);
          return 0;
        }
        return -1;
      }
    }
    c->ops->sent(c, (size_t)n);
  }
}

/* Read what there is. 0 on EAGAIN, 1 on EOF, -1 on error (errno kept in
 * *kind as a kgl_err_kind). */
static int conn_read(kgl_conn *c, int *kind) {
  for (int rounds = 0; rounds < 64; rounds++) {
    if (c->rlen == c->rcap) {
      /* a head that does not fit yet: grow, up to the parser's limit */
      if (c->rcap == 0 || c->rcap >= KGL_H1_HEAD_MAX) {
        *kind = KGL_ERR_PROTOCOL;
        return -1;
      }
      char *b = realloc(c->rbuf, c->rcap * 2);
      if (b == NULL) {
        *kind = KGL_ERR_READ;
        return -1;
      }
      c->rbuf = b;
      c->rcap *= 2;
    }
    const size_t room = c->rcap - c->rlen;
    ssize_t n;
    if (c->ssl != NULL) {
      ERR_clear_error();
      const int rc = SSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
      if (rc <= 0) {
        const int e = SSL_get_error(c->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          return 0;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
          return 1;
        }
        if (e == SSL_ERROR_SYSCALL && errno == 0) {
          return 1; /* EOF without close_notify */
        }
        *kind = errno == ECONNRESET ? KGL_ERR_RESET : KGL_ERR_READ;
        return -1;
      }
      n = rc;
    } else {
      n = recv(c->fd, c->rbuf + c->rlen, room, 0);
      if (n == 0) {
        return 1;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          return 0;
        }
        *kind = errno == ECONNRESET ? KGL_ERR_RESET : KGL_ERR_READ;
        return -1;
      }
    }
    c->rlen += (size_t)n;
    const long used = c->ops->received(c, c->rbuf, c->rlen);
    if (used < 0) {
      *kind = KGL_ERR_PROTOCOL;
      return -1;
    }
    c->rlen -= (size_t)used;
    if (c->rlen > 0 && used > 0) {
      memmove(c->rbuf, c->rbuf + used, c->rlen);
    }
    if (c->ssl == NULL && (size_t)n < room) {
      return 0; /* a short read: the socket is drained */
    }
  }
  return 0;
}

static void on_event(kgl_conn *c, unsigned ev, int64_t now) {
  if (c->state == KGL_CONN_CONNECTING) {
    on_connecting(c, now);
    return;
  }
  if (c->state == KGL_CONN_HANDSHAKE) {
    if (tls_step(c) != 0) {
      connect_failed(c, KGL_ERR_TLS, now);
    }
    return;
  }
  if (c->state != KGL_CONN_READY) {
    return;
  }
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    int kind = KGL_ERR_READ;
    const int rc = conn_read(c, &kind);
    if (rc < 0) {
      conn_close(c, kind);
      return;
    }
    if (rc == 1) {
      /* eof() completes a response the close ended; what is still in
       * flight after it was cut: conn_close fails it as closed */
      (void)c->ops->eof(c);
      conn_close(c, KGL_ERR_CLOSED);
      return;
    }
  }
  if (c->state == KGL_CONN_READY && c->ops->closing(c) &&
      c->ops->capacity(c) >= 0 && c->ops->oldest(c) == 0) {
    conn_close(c, KGL_ERR_CLOSED); /* nothing in flight: reconnect */
    return;
  }
  if (c->state == KGL_CONN_READY) {
    if (conn_flush(c) != 0) {
      conn_close(c, KGL_ERR_WRITE);
      return;
    }
    if (c->ops->capacity(c) > 0 && !c->ops->closing(c)) {
      idle_push(c);
    }
  }
}

/* Hand due requests to connections that take them. */
static void dispatch(kgl_worker *w, int64_t now) {
  int keep = 0;
  for (int i = 0; i < w->nidle; i++) {
    kgl_conn *c = &w->conns[w->idle[i]];
    c->idle_listed = 0;
    if (c->state == KGL_CONN_DOWN) {
      if (!kgl_worker_more(w, now) || conn_open(c, now) != 0) {
        if (kgl_worker_more(w, now)) {
          w->idle[keep++] = w->idle[i];
          c->idle_listed = 1;
        }
      }
      continue;
    }
    if (c->state != KGL_CONN_READY) {
      continue;
    }
    int submitted = 0;
    kgl_flight f;
    while (c->ops->capacity(c) > 0 && !c->ops->closing(c) &&
           kgl_worker_next_flight(w, now, &f)) {
      w->in_flight++;
      c->requests_on_conn++;
      if (c->ops->submit(c, &f) != 0) {
        kgl_worker_fail(w, &f, KGL_ERR_PROTOCOL);
        break;
      }
      submitted = 1;
    }
    if (submitted && conn_flush(c) != 0) {
      conn_close(c, KGL_ERR_WRITE);
      /* conn_close listed it again at the end: keep scanning */
      continue;
    }
    /* still room (nothing due yet in open loop, or HTTP/2 streams left):
     * it stays on the stack */
    if (c->ops != NULL && c->ops->capacity(c) > 0 && !c->ops->closing(c)) {
      w->idle[keep++] = w->idle[i];
      c->idle_listed = 1;
    }
  }
  /* connections listed while scanning (conn_close pushes) were scanned
   * too: the loop reads nidle as it grows */
  w->nidle = keep;
}

static void check_timeouts(kgl_worker *w, int64_t now) {
  const int64_t limit = (int64_t)(w->opt->timeout_s * 1e9);
  for (int i = 0; i < w->nconns; i++) {
    kgl_conn *c = &w->conns[i];
    if (c->state == KGL_CONN_READY && c->ops != NULL) {
      const int64_t oldest = c->ops->oldest(c);
      if (oldest != 0 && now - oldest > limit) {
        if (c->ops->expire == NULL) {
          conn_close(c, KGL_ERR_TIMEOUT);
        } else if (c->ops->expire(c, now - limit) > 0 && conn_flush(c) != 0) {
          conn_close(c, KGL_ERR_WRITE);
        }
      }
    } else if ((c->state == KGL_CONN_CONNECTING ||
                c->state == KGL_CONN_HANDSHAKE) &&
               now - c->opened_ns > limit) {
      connect_failed(c, KGL_ERR_TIMEOUT, now);
    }
  }
}

int kgl_worker_over(kgl_worker *w, int64_t now, int more) {
  if (more) {
    return 0;
  }
  if (w->in_flight == 0) {
    return 1;
  }
  if (!atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
    return 0;
  }
  /* stopped: what is still out gets --timeout from the stop */
  if (w->stop_ns == 0) {
    w->stop_ns = now;
  }
  return now - w->stop_ns > (int64_t)(w->opt->timeout_s * 1e9);
}

int kgl_worker_wait_ms(const kgl_worker *w, int64_t now, int more) {
  if (w->opt->rate <= 0 || !more) {
    return 10;
  }
  const int64_t d = w->next_due_ns - now;
  /* already due and not sent: no connection could take it, and an event
   * (an answer, a connection up) wakes the loop when one can; 1 ms keeps
   * a stalled server from making the loop spin */
  return d <= 0 ? 1 : d >= 10 * 1000000LL ? 10 : (int)(d / 1000000);
}

void kgl_worker_wait_start(kgl_worker *w) {
  for (int64_t now = kgl_now_ns(); now < w->sh->t0_ns; now = kgl_now_ns()) {
    const int64_t d = w->sh->t0_ns - now;
    struct timespec ts = {(time_t)(d / NS), (long)(d % NS)};
    nanosleep(&ts, NULL);
  }
}

void *kgl_worker_run(void *arg) {
  kgl_worker *w = arg;
  struct epoll_event events[256];
  kgl_worker_wait_start(w);
  for (int i = 0; i < w->nconns; i++) {
    idle_push(&w->conns[i]);
  }
  for (;;) {
    int64_t now = kgl_now_ns();
    kgl_worker_tick(w, now);
    dispatch(w, now);
    const int more = kgl_worker_more(w, now);
    if (kgl_worker_over(w, now, more)) {
      break;
    }
    if (now >= w->next_timeout_check_ns) {
      check_timeouts(w, now);
      w->next_timeout_check_ns = now + TIMEOUT_CHECK_NS;
    }
    const int n =
        epoll_wait(w->epfd, events, 256, kgl_worker_wait_ms(w, now, more));
    now = kgl_now_ns();
    for (int i = 0; i < n; i++) {
      on_event(events[i].data.ptr, events[i].events, now);
    }
  }
  for (int i = 0; i < w->nconns; i++) {
    conn_close(&w->conns[i], KGL_ERR_CANCELLED); /* cut by us, not failed */
  }
  kgl_worker_finish(w);
  return NULL;
}

void kgl_worker_finish(kgl_worker *w) {
  kgl_shared *sh = w->sh;
  /* the last second */
  pthread_mutex_lock(&sh->mu);
  if (w->cur != NULL) {
    w->cur->next = sh->handed;
    sh->handed = w->cur;
    w->cur = NULL;
  }
  pthread_mutex_unlock(&sh->mu);
  atomic_store_explicit(&w->cur_t, INT64_MAX, memory_order_release);
}
