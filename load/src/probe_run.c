/*
 * load/src/probe_run.c — a `keygate probe` run (load/probe.h): each case's
 * request over its own connection (plain TCP, or TLS through OpenSSL with
 * ALPN http/1.1 only), the answer parsed by kgl_h1 and judged by
 * kgl_probe_judge, the cases one at a time --interval apart; then the
 * table, the case list and the JSON report.
 *
 * Blocking sockets with timeouts: a probe sends one request at a time on
 * purpose, so an event loop would buy nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "internal.h"
#include "load/outfile.h"
#include "load/probe.h"

#define RAW_MAX 65536 /* answer bytes kept for the echo and header checks */
/* A 2xx body longer than what raw holds is read on (until it ends or the
 * case's deadline) and searched for key pieces as it streams, a window at
 * a time; consecutive windows share ECHO_OVERLAP bytes, more than the
 * longest form of an 8-character piece kgl_probe_echo finds (percent-
 * encoded three rounds: 7 bytes a character, 56 in all). */
#define ECHO_WINDOW 65536
#define ECHO_OVERLAP 1024
#define SPILL_MAX 16384 /* a read beyond raw, parsed and dropped */
/* How long the probe reads on once an answer is whole, for bytes beyond
 * its framing (a second answer, garbage) that come in a later segment.
 * The request says Connection: close, so a conforming server closes and
 * the wait ends at once; one that keeps the connection open costs this
 * much a case. Bounded by the case's deadline too. */
#define LINGER_NS ((int64_t)200 * 1000000)

/* ====================================================================== */
/* One connection                                                         */
/* ====================================================================== */

/* The socket is non-blocking and every wait is a poll bounded by the
 * case's deadline (connect, handshake, send and the whole answer share
 * --timeout): a server that trickles a byte at a time cannot hold a case
 * longer. */
typedef struct conn {
  int fd;
  SSL *ssl;
  int64_t deadline_ns;
} conn;

static void conn_close(conn *c) {
  if (c->ssl != NULL) {
    SSL_shutdown(c->ssl); /* non-blocking: one try */
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  ERR_clear_error();
}

/* A TCP connect bounded by the deadline; the socket stays non-blocking.
 * 0, or -1 + why. */
static int tcp_connect(const struct sockaddr_storage *sa, unsigned salen,
                       conn *c, double timeout_s, char *why, size_t whycap) {
  const int fd =
      socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    snprintf(why, whycap, "socket: %s", strerror(errno));
    return -1;
  }
  int rc = connect(fd, (const struct sockaddr *)sa, salen);
  if (rc != 0 && errno == EINPROGRESS) {
    if (kgl_wait_io(fd, POLLOUT, c->deadline_ns) != 1) {
      close(fd);
      snprintf(why, whycap, "connect timed out after %gs", timeout_s);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    snprintf(why, whycap, "connect: %s", strerror(errno));
    close(fd);
    return -1;
  }
  c->fd = fd;
  return 0;
}

enum { OPEN_OK = 0, OPEN_FAIL = -1, OPEN_H2_ONLY = 1 };

/* Why a handshake failed, into why; OPEN_H2_ONLY when the server refused
 * every protocol offered (ALPN http/1.1): it speaks HTTP/2 alone. */
static int handshake_failed(conn *c, char *why, size_t whycap) {
  const unsigned long e = ERR_peek_error();
  const int h2 = ERR_GET_REASON(e) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL;
  const long vr = SSL_get_verify_result(c->ssl);
  if (vr != X509_V_OK) {
    snprintf(why, whycap,
             "TLS handshake: the certificate does not verify (%s); give "
             "--cacert FILE, or --insecure",
             X509_verify_cert_error_string(vr));
  } else {
    char es[160];
    ERR_error_string_n(e, es, sizeof es);
    snprintf(why, whycap, "TLS handshake failed: %s",
             e != 0 ? es : "the connection closed");
  }
  ERR_clear_error();
  conn_close(c);
  return h2 ? OPEN_H2_ONLY : OPEN_FAIL;
}

/* Connect (and shake hands) before c->deadline_ns. */
static int conn_open(conn *c, const kgl_url *u,
                     const struct sockaddr_storage *sa, unsigned salen,
                     SSL_CTX *ctx, int verify, double timeout_s, char *why,
                     size_t whycap) {
  c->fd = -1;
  c->ssl = NULL;
  if (tcp_connect(sa, salen, c, timeout_s, why, whycap) != 0) {
    return OPEN_FAIL;
  }
  if (ctx == NULL) {
    return OPEN_OK;
  }
  c->ssl = SSL_new(ctx);
  if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
    snprintf(why, whycap, "cannot start TLS (OpenSSL)");
    conn_close(c);
    return OPEN_FAIL;
  }
  struct in6_addr a6;
  struct in_addr a4;
  if (inet_pton(AF_INET, u->host, &a4) != 1 &&
      inet_pton(AF_INET6, u->host, &a6) != 1) {
    SSL_set_tlsext_host_name(c->ssl, u->host);
  }
  if (verify) {
    SSL_set1_host(c->ssl, u->host);
  }
  for (;;) {
    ERR_clear_error();
    const int r = SSL_connect(c->ssl);
    if (r == 1) {
      break;
    }
    const int e = SSL_get_error(c->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      return handshake_failed(c, why, whycap);
    }
    if (kgl_wait_io(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                    c->deadline_ns) != 1) {
      snprintf(why, whycap, "TLS handshake timed out after %gs", timeout_s);
      conn_close(c);
      return OPEN_FAIL;
    }
  }
  const unsigned char *alpn = NULL;
  unsigned alen = 0;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
  if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
    conn_close(c);
    return OPEN_H2_ONLY;
  }
  return OPEN_OK;
}

/* Send all of (b, n) before the deadline. 0, or -1. */
static int conn_write(conn *c, const char *b, size_t n) {
  while (n > 0) {
    long w;
    short ev = POLLOUT;
    if (c->ssl != NULL) {
      ERR_clear_error();
      w = SSL_write(c->ssl, b, (int)n);
      if (w <= 0) {
        const int e = SSL_get_error(c->ssl, (int)w);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
          return -1;
        }
        ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
      }
    } else {
      w = send(c->fd, b, n, MSG_NOSIGNAL);
      if (w < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        return -1;
      }
    }
    if (w > 0) {
      b += w;
      n -= (size_t)w;
    } else if (kgl_wait_io(c->fd, ev, c->deadline_ns) != 1) {
      return -1;
    }
  }
  return 0;
}

/* The peer closed a TLS connection without close_notify: OpenSSL 3 says
 * SSL_ERROR_SSL, unexpected EOF (kgl_tls_ctx sets
 * SSL_OP_IGNORE_UNEXPECTED_EOF, which turns it into a clean close; this is
 * for a library without that option), OpenSSL 1.1 SSL_ERROR_SYSCALL with
 * errno 0. An answer delimited by the close ends there; one cut short is
 * still caught by kgl_h1_eof. */
static int tls_eof(int e) {
  if (e == SSL_ERROR_SYSCALL && errno == 0) {
    return 1;
  }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
  if (e == SSL_ERROR_SSL &&
      ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return 1;
  }
#endif
  return 0;
}

/* Read some bytes before the deadline: > 0, 0 at the peer's close, -1 on
 * an error or at the deadline (timed_out set). */
static long conn_read(conn *c, char *b, size_t cap, int *timed_out) {
  for (;;) {
    long r;
    short ev = POLLIN;
    errno = 0;
    if (c->ssl != NULL) {
      ERR_clear_error();
      r = SSL_read(c->ssl, b, (int)cap);
      if (r > 0) {
        return r;
      }
      const int e = SSL_get_error(c->ssl, (int)r);
      if (e == SSL_ERROR_ZERO_RETURN || tls_eof(e)) {
        ERR_clear_error();
        return 0;
      }
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return -1;
      }
      ev = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
    } else {
      r = recv(c->fd, b, cap, 0);
      if (r >= 0) {
        return r;
      }
      if (errno == ECONNRESET) {
        return 0; /* a reset after a complete answer is read as its end */
      }
      if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        return -1;
      }
    }
    const int w = kgl_wait_io(c->fd, ev, c->deadline_ns);
    if (w != 1) {
      *timed_out = w == 0;
      return -1;
    }
  }
}

/* An HTTP/2 frame header where an HTTP/1.1 status line should be: a
 * server that speaks only h2c (prior knowledge) opens with SETTINGS
 * (RFC 9113 §3.4: type 0x4 on stream 0). Needs the 9 bytes of the frame
 * header (the caller reads until it has them). */
static int h2_frame(const char *b, size_t n) {
  return n >= 9 && b[3] == 0x04 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
         b[8] == 0;
}

/* ====================================================================== */
/* One case                                                               */
/* ====================================================================== */

typedef struct run_ctx {
  const kgl_probe_options *o;
  kgl_url url;
  struct sockaddr_storage sa;
  unsigned salen;
  SSL_CTX *ctx;
  char raw[RAW_MAX];
  kgl_h1 h1;
  /* a read beyond raw, after the last ECHO_OVERLAP bytes before it */
  char spill[ECHO_OVERLAP + SPILL_MAX];
  size_t spill_carry; /* those bytes (0: no read beyond raw yet) */
  char window[ECHO_WINDOW];
  size_t window_len;
  int window_hit; /* a piece of a key in the body, as it streamed */
  int spill_hit;  /* a piece in the bytes beyond raw, as they came */
  int silent;     /* the last case: not a byte of an answer within --timeout */
} run_ctx;

/* The echo check over the window so far (until the first piece found). */
static void window_scan(run_ctx *x) {
  if (!x->window_hit && x->window_len > 0 &&
      kgl_probe_echo(x->o->keys, x->window, x->window_len)) {
    x->window_hit = 1;
  }
}

/* kgl_h1's body sink: every body byte (de-chunked) into the window; a full
 * window is searched, and its last ECHO_OVERLAP bytes start the next. */
static void window_sink(void *ud, const char *b, size_t n) {
  run_ctx *x = ud;
  while (n > 0 && !x->window_hit) {
    const size_t room = sizeof x->window - x->window_len;
    const size_t k = n < room ? n : room;
    memcpy(x->window + x->window_len, b, k);
    x->window_len += k;
    b += k;
    n -= k;
    if (x->window_len == sizeof x->window) {
      window_scan(x);
      memmove(x->window, x->window + sizeof x->window - ECHO_OVERLAP,
              ECHO_OVERLAP);
      x->window_len = ECHO_OVERLAP;
    }
  }
}

/* One read beyond raw (at spill + spill_carry, n bytes): searched as it
 * came, framing included (a chunk extension or trailer past raw reaches
 * no body sink), with the stream's ECHO_OVERLAP bytes before it; its last
 * ECHO_OVERLAP bytes are kept for the next. */
static void spill_scan(run_ctx *x, size_t n) {
  const size_t all = x->spill_carry + n;
  if (!x->spill_hit && kgl_probe_echo(x->o->keys, x->spill, all)) {
    x->spill_hit = 1;
  }
  const size_t keep = all < ECHO_OVERLAP ? all : ECHO_OVERLAP;
  memmove(x->spill, x->spill + all - keep, keep);
  x->spill_carry = keep;
}

/* A piece of a key in what came so far: raw's bytes as they came, the
 * body de-chunked (the window's rest searched now), the bytes beyond raw.
 * For an answer that never ended: the key crossed the wire all the same. */
static int echo_so_far(run_ctx *x, size_t len) {
  window_scan(x);
  return x->window_hit || x->spill_hit ||
         (len > 0 && kgl_probe_echo(x->o->keys, x->raw, len));
}

/* raw is full and the answer is not whole: why it is not read on (a head
 * that does not fit, an error answer: its body is checked as JSON), or
 * NULL for a 2xx, whose body is read on and dropped. */
static const char *raw_full(const kgl_h1 *h1) {
  if (kgl_h1_waiting(h1)) {
    return "the answer's head is longer than 64 KiB";
  }
  if (h1->status < 200 || h1->status > 299) {
    return "an error answer longer than 64 KiB";
  }
  return NULL;
}

/* Parse raw[*off, len) on: done at a whole answer, err at bytes that are
 * not HTTP/1.1; *off moves past what the parser took (a head not yet
 * whole stays for the next read). At done, raw[*off, len) is what came
 * beyond the answer's framing. */
static void feed(kgl_h1 *h1, const char *raw, size_t len, size_t *off,
                 int *done, const char **err) {
  while (*off < len) {
    size_t used = 0;
    const kgl_h1_rc hr = kgl_h1_feed(h1, raw + *off, len - *off, &used);
    *off += used;
    if (hr == KGL_H1_DONE) {
      *done = 1;
      return;
    }
    if (hr == KGL_H1_ERROR) {
      *err = h1->error != NULL ? h1->error : "not HTTP/1.1";
      return;
    }
    if (used == 0) {
      return; /* a head not yet whole: read more */
    }
  }
}

static void no_answer(kgl_probe_outcome *out, const char *got,
                      const char *why) {
  memset(out, 0, sizeof *out);
  out->verdict = KGL_PROBE_DEVIATION;
  snprintf(out->got, sizeof out->got, "%s", got);
  snprintf(out->notes, sizeof out->notes, "%s", why);
}

/* Where the next read beyond raw goes (raw full): the spill, after the
 * stream's last ECHO_OVERLAP bytes (raw's tail before the first). */
static char *spill_at(run_ctx *x) {
  if (x->spill_carry == 0) { /* raw's tail leads the first */
    memcpy(x->spill, x->raw + sizeof x->raw - ECHO_OVERLAP, ECHO_OVERLAP);
    x->spill_carry = ECHO_OVERLAP;
  }
  return x->spill + x->spill_carry;
}

/* The answer is whole: read on until the server closes (it was asked to:
 * Connection: close), LINGER_NS pass or the deadline, whichever comes
 * first. What comes is beyond the answer's framing: counted into *extra,
 * kept in raw while it has room (the judge searches raw for keys as it
 * came), else searched as the spill is. */
static void linger(run_ctx *x, conn *cn, size_t *len, size_t *extra) {
  const int64_t until = kgl_now_ns() + LINGER_NS;
  if (until < cn->deadline_ns) {
    cn->deadline_ns = until;
  }
  for (;;) {
    int timed_out = 0;
    const int in_raw = *len < sizeof x->raw;
    char *const at = in_raw ? x->raw + *len : spill_at(x);
    const size_t cap = in_raw ? sizeof x->raw - *len : SPILL_MAX;
    const long r = conn_read(cn, at, cap, &timed_out);
    if (r <= 0) {
      return; /* closed, the wait over, or an error: nothing more came */
    }
    *extra += (size_t)r;
    if (in_raw) {
      *len += (size_t)r;
    } else {
      spill_scan(x, (size_t)r);
    }
  }
}

/* Send case c, judge the answer. OPEN_OK (out filled), OPEN_FAIL (the
 * target cannot be reached: why), OPEN_H2_ONLY. */
static int one_case(run_ctx *x, const kgl_probe_case *c, kgl_probe_outcome *out,
                    char *why, size_t whycap) {
  const kgl_probe_options *o = x->o;
  char req[KGL_PROBE_REQUEST_MAX];
  const size_t n = kgl_probe_request(c, o->keys, x->url.authority,
                                     x->url.target, req, sizeof req);
  if (n == 0) {
    snprintf(why, whycap, "case %s: the request does not fit in %d bytes",
             c->name, KGL_PROBE_REQUEST_MAX);
    return OPEN_FAIL;
  }
  x->silent = 0;
  conn cn;
  cn.deadline_ns = kgl_now_ns() + (int64_t)(o->timeout_s * 1e9);
  const int rc = conn_open(&cn, &x->url, &x->sa, x->salen, x->ctx, !o->insecure,
                           o->timeout_s, why, whycap);
  if (rc != OPEN_OK) {
    OPENSSL_cleanse(req, n);
    return rc;
  }
  const int wrc = conn_write(&cn, req, n);
  OPENSSL_cleanse(req, n);
  kgl_h1_reset(&x->h1, KGL_H1_KEEP_ALL, 0);
  x->h1.body_sink = window_sink;
  x->h1.body_sink_ud = x;
  x->window_len = 0;
  x->window_hit = 0;
  x->spill_carry = 0;
  x->spill_hit = 0;
  size_t len = 0, off = 0;
  size_t extra = 0; /* bytes beyond the answer's framing */
  int done = 0, timed_out = 0, eof = 0;
  const char *err = NULL, *too_long = NULL;
  while (!done && err == NULL) {
    if (len == sizeof x->raw) {
      /* past raw: a 2xx body is read on (bounded by the deadline),
       * parsed for its framing, searched by the window and dropped */
      too_long = raw_full(&x->h1);
      if (too_long != NULL) {
        break;
      }
      char *const at = spill_at(x);
      const long r = conn_read(&cn, at, SPILL_MAX, &timed_out);
      if (r <= 0) {
        eof = r == 0;
        break;
      }
      size_t soff = 0;
      feed(&x->h1, at, (size_t)r, &soff, &done, &err);
      if (done) {
        extra += (size_t)r - soff;
      }
      spill_scan(x, (size_t)r);
      continue;
    }
    const long r =
        conn_read(&cn, x->raw + len, sizeof x->raw - len, &timed_out);
    if (r <= 0) {
      eof = r == 0;
      break;
    }
    len += (size_t)r;
    if (off == 0 && len < 9) {
      continue; /* an HTTP/2 frame header is 9 bytes: have them first */
    }
    if (off == 0 && h2_frame(x->raw, len)) {
      conn_close(&cn);
      return OPEN_H2_ONLY;
    }
    feed(&x->h1, x->raw, len, &off, &done, &err);
    if (done) {
      extra += len - off;
    }
  }
  if (!done && err == NULL && eof && off < len) {
    feed(&x->h1, x->raw, len, &off, &done, &err); /* fewer than 9 bytes */
    if (done) {
      extra += len - off;
    }
  }
  if (done && !eof) {
    linger(x, &cn, &len, &extra);
  }
  conn_close(&cn);
  if (!done && err == NULL && eof && len > 0) {
    if (kgl_h1_eof(&x->h1) == KGL_H1_DONE) {
      done = 1;
    } else {
      err = "the connection closed in the middle of the answer";
    }
  }
  if (!done) {
    const int hit = echo_so_far(x, len);
    OPENSSL_cleanse(x->window, sizeof x->window);
    char w[256];
    if (err != NULL) {
      snprintf(w, sizeof w, "not an HTTP/1.1 answer: %s", err);
      no_answer(out, "no answer", w);
    } else if (len == 0 && eof) {
      no_answer(out, "no answer",
                wrc != 0 ? "the server closed before the request was sent"
                         : "the connection closed without an answer");
    } else if (timed_out) {
      snprintf(w, sizeof w, "no whole answer within %gs", o->timeout_s);
      no_answer(out, "no answer", w);
      x->silent = len == 0; /* bytes that came slowly are an answer */
    } else if (too_long != NULL) {
      no_answer(out, "no answer", too_long);
    } else {
      no_answer(out, "no answer", "the connection failed mid-answer");
    }
    if (hit) {
      kgl_probe_note_echo(out); /* in what came before it stopped */
    }
    return OPEN_OK;
  }
  kgl_response resp;
  kgl_h1_response(&x->h1, &resp);
  kgl_probe_judge(c, o->keys, x->raw, len, &resp, out);
  window_scan(x); /* the body's last window */
  OPENSSL_cleanse(x->window, sizeof x->window);
  if ((x->window_hit || x->spill_hit) && !out->echo) {
    kgl_probe_note_echo(out); /* beyond what raw held */
  }
  if (extra > 0) {
    kgl_probe_note_extra(out, extra);
  }
  return OPEN_OK;
}

static void sleep_s(double s) {
  if (s <= 0) {
    return;
  }
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ====================================================================== */
/* The run                                                                */
/* ====================================================================== */

/* The summary cases, over the answers of the request cases. */
static void summaries(kgl_probe_report *rep, const kgl_probe_case *cases) {
  for (size_t i = 0; i < rep->n; i++) {
    if (!rep->selected[i] || cases[i].kind != KGL_PROBE_SUMMARY) {
      continue;
    }
    kgl_probe_outcome *s = &rep->out[i];
    memset(s, 0, sizeof *s);
    size_t answers = 0, bad = 0;
    const char *names[KGL_PROBE_CASES_MAX];
    const int echo = strcmp(cases[i].name, "no_key_echo") == 0;
    for (size_t j = 0; j < rep->n; j++) {
      const kgl_probe_outcome *a = &rep->out[j];
      /* an answer that never ended still counts for no_key_echo when
       * what came held a key: the key crossed the wire */
      if (!rep->selected[j] || cases[j].kind != KGL_PROBE_REQUEST ||
          (a->status == 0 && !(echo && a->echo))) {
        continue;
      }
      answers++;
      int hit = 0;
      if (echo) {
        hit = a->echo;
      } else if (a->request_id[0] != '\0') {
        for (size_t m = 0; m < j && !hit; m++) {
          hit = rep->selected[m] && cases[m].kind == KGL_PROBE_REQUEST &&
                strcmp(rep->out[m].request_id, a->request_id) == 0;
        }
      }
      if (hit && bad < KGL_PROBE_CASES_MAX) {
        names[bad++] = cases[j].name;
      }
    }
    if (bad > 0) { /* the whole list or "and N more": never cut */
      kgl_probe_name_list(s->notes, sizeof s->notes,
                          echo ? "echoed by: " : "repeated by: ", names, bad);
    }
    if (answers == 0) {
      s->verdict = KGL_PROBE_SKIPPED;
      snprintf(s->got, sizeof s->got, "no answers");
      snprintf(s->notes, sizeof s->notes, "no case of the run was answered");
    } else if (bad > 0) {
      s->verdict = KGL_PROBE_DEVIATION;
      snprintf(s->got, sizeof s->got, "%zu of %zu answers", bad, answers);
    } else {
      s->verdict = KGL_PROBE_PASS;
      snprintf(s->got, sizeof s->got, "%zu answers checked", answers);
    }
  }
}

static const char NO_EXPIRED_KEY[] =
    "no expired key: give --expired-key-file FILE, "
    "KEYGATE_PROBE_EXPIRED_KEY or --expired-key";

static void skip(kgl_probe_outcome *out, const char *why) {
  memset(out, 0, sizeof *out);
  out->verdict = KGL_PROBE_SKIPPED;
  snprintf(out->got, sizeof out->got, "-");
  snprintf(out->notes, sizeof out->notes, "%s", why);
}

/* not_run — after the target was lost at case `from`: that case and every
 * selected request case after it skipped, saying so (the lost case how,
 * the others where; an expired case without the expired key keeps its
 * own reason). */
static void not_run(kgl_probe_report *rep, const kgl_probe_case *cases,
                    size_t from, const kgl_probe_options *o) {
  char lost[sizeof rep->out[0].notes], after[sizeof rep->out[0].notes];
  snprintf(lost, sizeof lost, "not run: %s", rep->unreachable);
  snprintf(after, sizeof after,
           "not run: the target was unreachable from case %s on",
           cases[from].name);
  for (size_t i = from; i < rep->n; i++) {
    if (!rep->selected[i] || cases[i].kind != KGL_PROBE_REQUEST) {
      continue;
    }
    if ((cases[i].needs & KGL_PROBE_NEEDS_EXPIRED) &&
        o->keys->expired_len == 0) {
      skip(&rep->out[i], NO_EXPIRED_KEY);
    } else {
      skip(&rep->out[i], i == from ? lost : after);
    }
  }
}

static void tally(kgl_probe_report *rep) {
  rep->pass = rep->deviation = rep->skipped = 0;
  for (size_t i = 0; i < rep->n; i++) {
    if (!rep->selected[i]) {
      continue;
    }
    switch (rep->out[i].verdict) {
    case KGL_PROBE_PASS:
      rep->pass++;
      break;
    case KGL_PROBE_DEVIATION:
      rep->deviation++;
      break;
    default:
      rep->skipped++;
      break;
    }
  }
}

static int prepare(run_ctx *x, char *why, size_t whycap) {
  const kgl_probe_options *o = x->o;
  if (kgl_url_parse(o->url, &x->url, why, whycap) != 0) {
    return -1;
  }
  /* kgl_url_parse looks for sk_live_ and sk_test_ keys; the probe also
   * knows its policy's prefix (--prefix) and its keys: 8 characters of
   * one, raw or encoded, anywhere in the URL, and it is refused too */
  const kgl_probe_keys *k = o->keys;
  if (kgl_url_holds_key(&x->url, k->policy.prefix) ||
      kgl_probe_echo(k, x->url.target, strlen(x->url.target)) ||
      kgl_probe_echo(k, x->url.authority, strlen(x->url.authority))) {
    snprintf(
        why, whycap,
        "the URL holds an API key (one of --key-file's, or one of prefix %s: "
        "SPEC 1.1): it would reach the server's logs; keys go in "
        "headers (--key-file)",
        k->policy.prefix);
    return -1;
  }
  if (kgl_resolve(&x->url, &x->sa, &x->salen, why, whycap) != 0) {
    return -1;
  }
  if (x->url.tls) {
    kgl_options lo;
    memset(&lo, 0, sizeof lo);
    lo.insecure = o->insecure;
    lo.cacert = o->cacert;
    lo.http = KGL_HTTP_1; /* ALPN http/1.1 alone: exact HTTP/1.1 bytes */
    x->ctx = kgl_tls_ctx(&lo, why, whycap);
    if (x->ctx == NULL) {
      return -1;
    }
  }
  return 0;
}

/* still_answers — after a case that got not a byte of an answer within
 * --timeout: 1 when a request without a key (case no_key's, which a
 * gateway answers itself, 401 missing_api_key, whatever its upstream
 * does), sent interval later, gets at least a byte in time; 0 when it
 * gets none either, or cannot be sent (then why says how). The answer is
 * not judged. */
static int still_answers(run_ctx *x, double interval_s, char *why,
                         size_t whycap) {
  static const char PLAIN[] = "no_key";
  const kgl_probe_case *plain = kgl_probe_find(PLAIN, sizeof PLAIN - 1);
  why[0] = '\0';
  if (plain == NULL) {
    return 1; /* no control to send: the run goes on as before */
  }
  sleep_s(interval_s);
  kgl_probe_outcome ctl;
  const int one = one_case(x, plain, &ctl, why, whycap);
  if (one != OPEN_FAIL) {
    why[0] = '\0';
  }
  return one == OPEN_H2_ONLY || (one == OPEN_OK && !x->silent);
}

int kgl_probe_run(const kgl_probe_options *o, kgl_probe_report *rep, char *why,
                  size_t whycap) {
  memset(rep, 0, sizeof *rep);
  const kgl_probe_case *cases = kgl_probe_cases(&rep->n);
  rep->out = calloc(rep->n, sizeof *rep->out);
  rep->selected = calloc(rep->n, 1);
  run_ctx *x = calloc(1, sizeof *x);
  if (rep->out == NULL || rep->selected == NULL || x == NULL) {
    free(x);
    snprintf(why, whycap, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < rep->n; i++) {
    rep->selected[i] = o->selected == NULL || o->selected[i];
  }
  x->o = o;
  if (prepare(x, why, whycap) != 0) {
    SSL_CTX_free(x->ctx);
    free(x);
    return -1;
  }
  int rc = 0, sent = 0;
  size_t judged = 0, stop = rep->n; /* stop: the case the target was lost at */
  for (size_t i = 0; i < rep->n && rc == 0; i++) {
    const kgl_probe_case *c = &cases[i];
    if (!rep->selected[i] || c->kind != KGL_PROBE_REQUEST) {
      continue;
    }
    if ((c->needs & KGL_PROBE_NEEDS_EXPIRED) && o->keys->expired_len == 0) {
      skip(&rep->out[i], NO_EXPIRED_KEY);
      continue;
    }
    if (sent++ > 0) {
      sleep_s(o->interval_s);
    }
    char w[384];
    char cw[160]; /* why the control request could not be sent */
    const int one = one_case(x, c, &rep->out[i], w, sizeof w);
    if (one == OPEN_H2_ONLY) {
      rep->h2_only = 1;
      rc = 1;
    } else if (one == OPEN_FAIL) {
      char ep[KGL_ENDPOINT_MAX];
      snprintf(rep->unreachable, sizeof rep->unreachable,
               "cannot reach %s (case %s): %s", kgl_url_endpoint(&x->url, ep),
               c->name, w);
      snprintf(why, whycap, "%s", rep->unreachable);
      /* once a case was judged, what it found is the run's result: lost
       * midway, the target's answers so far are reported, not dropped
       * (a CI would read an older report as this run's) */
      rc = judged > 0 ? 2 : -1;
      stop = i;
    } else if (x->silent && !still_answers(x, o->interval_s, cw, sizeof cw)) {
      /* a case without an answer is a deviation of that case only while
       * the target answers a request without a key after it (which needs
       * no upstream: a slow upstream is not a silent gateway); else the
       * target went silent, and each case left would wait --timeout for
       * nothing (review 108: ~5 minutes without a line). A slow answer (a
       * byte at a time, a body without end) is an answer: judged. */
      snprintf(rep->unreachable, sizeof rep->unreachable,
               "the target stopped answering at case %s: not a byte of an "
               "answer within %gs, nor to a request without a key after "
               "it%s%s%s",
               c->name, o->timeout_s, cw[0] ? " (" : "", cw, cw[0] ? ")" : "");
      snprintf(why, whycap, "%s", rep->unreachable);
      rc = judged > 0 ? 2 : -1;
      stop = i;
    } else {
      judged++;
    }
  }
  if (rc == 2) {
    not_run(rep, cases, stop, o);
    const size_t used = strlen(why);
    snprintf(why + used, whycap - used,
             "; the %zu case%s judged before %s reported, the rest not run",
             judged, judged == 1 ? "" : "s", judged == 1 ? "is" : "are");
  }
  if (rc == 1) {
    for (size_t i = 0; i < rep->n; i++) {
      skip(&rep->out[i],
           "the target speaks only HTTP/2 (it refused ALPN http/1.1, or "
           "answered with an HTTP/2 frame): probe sends exact HTTP/1.1 bytes "
           "over a raw socket, which HTTP/2 cannot carry");
    }
    snprintf(why, whycap,
             "%s speaks only HTTP/2: every case skipped (probe checks the "
             "contract over HTTP/1.1; expose an HTTP/1.1 listener to probe)",
             x->url.authority);
  } else if (rc == 0 || rc == 2) {
    summaries(rep, cases);
  }
  tally(rep);
  SSL_CTX_free(x->ctx);
  OPENSSL_cleanse(x->raw, sizeof x->raw);
  free(x);
  return rc;
}

void kgl_probe_report_free(kgl_probe_report *rep) {
  free(rep->out);
  free(rep->selected);
  memset(rep, 0, sizeof *rep);
}

/* ====================================================================== */
/* Output                                                                 */
/* ====================================================================== */

void kgl_probe_print(const kgl_probe_report *rep, FILE *f) {
  size_t n;
  const kgl_probe_case *cases = kgl_probe_cases(&n);
  fprintf(f, "%-36s %-40s %-26s %s\n", "CASE", "EXPECTED", "GOT", "VERDICT");
  for (size_t i = 0; i < rep->n && i < n; i++) {
    if (!rep->selected[i]) {
      continue;
    }
    const kgl_probe_outcome *o = &rep->out[i];
    char exp[96];
    fprintf(f, "%-36s %-40s %-26s %s\n", cases[i].name,
            kgl_probe_expected(&cases[i], exp, sizeof exp), o->got,
            kgl_probe_verdict_name(o->verdict));
    if (o->verdict != KGL_PROBE_PASS && o->notes[0] != '\0') {
      fprintf(f, "    %s\n", o->notes);
    }
  }
  fprintf(f, "\n%zu cases: %zu pass, %zu deviation%s, %zu skipped\n",
          rep->pass + rep->deviation + rep->skipped, rep->pass, rep->deviation,
          rep->deviation == 1 ? "" : "s", rep->skipped);
}

void kgl_probe_list(const unsigned char *selected, FILE *f) {
  size_t n;
  const kgl_probe_case *cases = kgl_probe_cases(&n);
  for (size_t i = 0; i < n; i++) {
    if (selected != NULL && !selected[i]) {
      continue;
    }
    char exp[96];
    fprintf(f, "%-36s %-10s %s\n    %s", cases[i].name, cases[i].group,
            kgl_probe_expected(&cases[i], exp, sizeof exp), cases[i].rationale);
    if (cases[i].rfc != NULL) {
      fprintf(f, " (%s)", cases[i].rfc);
    }
    if (cases[i].needs & KGL_PROBE_NEEDS_EXPIRED) {
      fprintf(f, " [needs the expired key]");
    }
    fputc('\n', f);
  }
}

/* The request of case c as text for the report: escaped (\r \n \t \xNN)
 * and masked. */
static void request_text(const kgl_probe_case *c, const kgl_probe_options *o,
                         const kgl_url *u, char *out, size_t cap) {
  char req[KGL_PROBE_REQUEST_MAX];
  const size_t n =
      kgl_probe_request(c, o->keys, u->authority, u->target, req, sizeof req);
  char esc[KGL_PROBE_REQUEST_MAX * 2];
  size_t e = 0;
  for (size_t i = 0; i < n && e + 5 < sizeof esc; i++) {
    const unsigned char b = (unsigned char)req[i];
    if (b == '\r' || b == '\n' || b == '\t') {
      esc[e++] = '\\';
      esc[e++] = (char)(b == '\r' ? 'r' : b == '\n' ? 'n' : 't');
    } else if (b < 0x20 || b >= 0x7f || b == '\\') {
      e += (size_t)snprintf(esc + e, sizeof esc - e, "\\x%02x", b);
    } else {
      esc[e++] = (char)b;
    }
  }
  OPENSSL_cleanse(req, sizeof req);
  kgl_probe_show(o->keys, esc, e, out, cap);
  OPENSSL_cleanse(esc, sizeof esc);
}

static json_t *expectation_json(const kgl_probe_case *c) {
  json_t *e = json_object();
  if (c->kind == KGL_PROBE_SUMMARY) {
    return e;
  }
  json_object_set_new(e, "status",
                      c->status == 0 ? json_string("2xx")
                                     : json_integer(c->status));
  json_object_set_new(e, "code",
                      c->code != NULL ? json_string(c->code) : json_null());
  if (c->alt_status != 0) {
    json_t *alt = json_object();
    json_object_set_new(alt, "status", json_integer(c->alt_status));
    json_object_set_new(alt, "code",
                        c->alt_code != NULL ? json_string(c->alt_code)
                                            : json_null());
    json_object_set_new(e, "or", alt);
  }
  return e;
}

int kgl_probe_write_json(const kgl_probe_report *rep,
                         const kgl_probe_options *o, const char *path,
                         char *why, size_t whycap) {
  size_t n;
  const kgl_probe_case *cases = kgl_probe_cases(&n);
  kgl_url u;
  char w[256];
  if (kgl_url_parse(o->url, &u, w, sizeof w) != 0) {
    memset(&u, 0, sizeof u);
  }
  const kgl_probe_keys *k = o->keys;
  char t[1024];
  if (whycap > 0) {
    why[0] = '\0'; /* kgl_out_close keeps a reason given before it */
  }
  json_t *root = json_object();
  json_object_set_new(root, "schema", json_string("keygate-probe v1"));
  json_object_set_new(
      root, "target",
      json_string(kgl_probe_show(k, o->url, strlen(o->url), t, sizeof t)));
  json_object_set_new(root, "prefix", json_string(k->policy.prefix));
  char hint[KG_KEY_HINT_MAX];
  kg_key_hint(&k->policy, k->valid, k->valid_len, hint, sizeof hint);
  json_object_set_new(root, "key", json_string(hint));
  if (k->expired_len > 0) {
    kg_key_hint(&k->policy, k->expired, k->expired_len, hint, sizeof hint);
    json_object_set_new(root, "expired_key", json_string(hint));
  } else {
    json_object_set_new(root, "expired_key", json_null());
  }
  json_object_set_new(root, "protocol", json_string("http/1.1"));
  json_object_set_new(root, "interval_ms",
                      json_integer((json_int_t)(o->interval_s * 1000 + 0.5)));
  json_object_set_new(root, "h2_only", json_boolean(rep->h2_only));
  json_object_set_new(
      root, "unreachable",
      rep->unreachable[0] != '\0'
          ? json_string(kgl_probe_show(k, rep->unreachable,
                                       strlen(rep->unreachable), t, sizeof t))
          : json_null());
  json_t *sum = json_object();
  json_object_set_new(sum, "cases",
                      json_integer((json_int_t)rep->pass +
                                   (json_int_t)rep->deviation +
                                   (json_int_t)rep->skipped));
  json_object_set_new(sum, "pass", json_integer((json_int_t)rep->pass));
  json_object_set_new(sum, "deviation",
                      json_integer((json_int_t)rep->deviation));
  json_object_set_new(sum, "skipped", json_integer((json_int_t)rep->skipped));
  json_object_set_new(root, "summary", sum);
  json_t *arr = json_array();
  for (size_t i = 0; i < rep->n && i < n; i++) {
    if (!rep->selected[i]) {
      continue;
    }
    const kgl_probe_case *c = &cases[i];
    const kgl_probe_outcome *out = &rep->out[i];
    json_t *j = json_object();
    char exp[96];
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "group", json_string(c->group));
    json_object_set_new(j, "rationale", json_string(c->rationale));
    json_object_set_new(j, "rfc",
                        c->rfc != NULL ? json_string(c->rfc) : json_null());
    json_object_set_new(j, "expected",
                        json_string(kgl_probe_expected(c, exp, sizeof exp)));
    json_object_set_new(j, "expect", expectation_json(c));
    if (c->kind == KGL_PROBE_REQUEST && u.target[0] != '\0' &&
        ((c->needs & KGL_PROBE_NEEDS_EXPIRED) == 0 || k->expired_len > 0)) {
      request_text(c, o, &u, t, sizeof t);
      json_object_set_new(j, "request", json_string(t));
    } else {
      json_object_set_new(j, "request", json_null());
    }
    json_object_set_new(j, "verdict",
                        json_string(kgl_probe_verdict_name(out->verdict)));
    json_object_set_new(j, "got", json_string(out->got));
    json_object_set_new(j, "status",
                        out->status != 0 ? json_integer(out->status)
                                         : json_null());
    char rid[sizeof out->request_id];
    json_object_set_new(
        j, "request_id",
        out->request_id[0] != '\0'
            ? json_string(kgl_probe_show_answer(
                  k, out->request_id, strlen(out->request_id), rid, sizeof rid))
            : json_null());
    json_object_set_new(j, "notes", json_string(out->notes));
    json_array_append_new(arr, j);
  }
  json_object_set_new(root, "cases", arr);
  const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
  kgl_out f;
  if (kgl_out_open(&f, path, why, whycap) != 0) {
    json_decref(root);
    return -1;
  }
  const int ok = json_dumpf(root, f.f, flags) == 0 && fputc('\n', f.f) != EOF;
  json_decref(root);
  return kgl_out_close(&f, ok, why, whycap);
}
