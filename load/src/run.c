/*
 * load/src/run.c — one load run: check the target, start the workers on a
 * common schedule, gather each finished second (progress line, series),
 * merge the workers' results once at the end (h2load's design).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define NS 1000000000LL

void kgl_options_default(kgl_options *o) {
  memset(o, 0, sizeof *o);
  o->mix[KGL_VALID] = 70;
  o->mix[KGL_INVALID] = 15;
  o->mix[KGL_MISSING] = 10;
  o->mix[KGL_EXPIRED] = 5;
  o->header = KGL_HEADER_MIXED;
  o->connections = 64;
  o->threads = 1;
  o->streams = 10;
  o->duration_s = 10;
  o->timeout_s = 5;
  o->method = "GET";
  o->seed = 0;
  for (int c = 0; c < KGL_NCLASS; c++) {
    kgl_expect_default((kgl_class)c, &o->expect[c]);
  }
}

/* ---- SIGINT: stop sending, finish what is in flight --------------------- */

static atomic_int *volatile g_stop;
/* the first signal that stopped the run (the result says so) */
static volatile sig_atomic_t g_signal;

/* The first ^C (or SIGTERM) stops sending and lets what is out finish (at
 * most --timeout), and is recorded; a second one ends the program at
 * once. */
static void on_sigint(int sig) {
  if (g_stop == NULL || atomic_exchange(g_stop, 1) != 0) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_signal = sig;
}

/* ---- the target is reachable ----------------------------------------------
 */

/* One connection (and TLS handshake, or h2c's prefaces) before the run: a
 * target that cannot be reached, whose certificate is not trusted, or
 * that does not speak the HTTP/2 --http2 asks for, is a run that cannot
 * happen (exit 2), not a run of errors. */
static int probe_connect(const kgl_shared *sh, const kgl_options *o,
                         const kgl_url *u, char *why, size_t whycap) {
  const double timeout_s = o->timeout_s;
  const int fd = socket(sh->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, whycap, "cannot make a socket: %s", strerror(errno));
    return -1;
  }
  const int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int rc =
      connect(fd, (const struct sockaddr *)&sh->addr, (socklen_t)sh->addrlen);
  int err = rc == 0 ? 0 : errno;
  if (rc != 0 && errno == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    rc = poll(&p, 1, kgl_probe_ms(timeout_s));
    if (rc == 1) {
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    } else {
      err = ETIMEDOUT;
    }
  }
  if (err != 0) {
    close(fd);
    char ep[KGL_ENDPOINT_MAX];
    snprintf(why, whycap,
             "cannot connect to %s: %s (is the server running and the URL "
             "right?)",
             kgl_url_endpoint(u, ep), strerror(err));
    return -1;
  }
  const int ms = kgl_probe_ms(timeout_s);
  /* --http2 on http:// is h2c with prior knowledge: a server without it
   * (most HTTP/1.1 servers answer the preface with a 400) is told here,
   * before the run, not as a run of protocol errors */
  const int trc = sh->ssl_ctx != NULL
                      ? kgl_tls_check(sh->ssl_ctx, o, u, fd, ms, why, whycap)
                  : sh->h2c ? kgl_h2c_check(fd, u, ms, why, whycap)
                            : 0;
  close(fd);
  return trc;
}

/* ---- seconds: merge the workers' hand-offs, finish the complete ones ---- */

typedef struct gather {
  kgl_interval **pending; /* by second */
  size_t npending;
  int64_t next_t; /* the next second to finish */
  kgl_result *res;
  int progress;
  double rate;
} gather;

static void row_from_hist(kgl_second_row *row, const kgl_hist *h) {
  row->p50 = kgl_hist_percentile(h, 50);
  row->p90 = kgl_hist_percentile(h, 90);
  row->p99 = kgl_hist_percentile(h, 99);
  row->p999 = kgl_hist_percentile(h, 99.9);
  row->max = h->total ? h->max : 0;
}

static void finish_second(gather *g, kgl_interval *iv, int64_t t) {
  kgl_second s;
  memset(&s, 0, sizeof s);
  s.t = t;
  if (iv != NULL) {
    for (int c = 0; c < KGL_NCLASS; c++) {
      s.row[c].requests = iv->requests[c];
      s.row[c].mismatches = iv->mismatches[c];
      s.row[c].errors = iv->errors[c];
      row_from_hist(&s.row[c], &iv->lat[c]);
      s.row[KGL_ALL].requests += iv->requests[c];
      s.row[KGL_ALL].mismatches += iv->mismatches[c];
      s.row[KGL_ALL].errors += iv->errors[c];
      kgl_hist_merge(&iv->lat[KGL_ALL], &iv->lat[c]);
    }
    row_from_hist(&s.row[KGL_ALL], &iv->lat[KGL_ALL]);
  }
  kgl_result_add_second(g->res, &s);
  if (g->progress) {
    char p99[32];
    kgl_fmt_latency(s.row[KGL_ALL].p99, p99, sizeof p99);
    fprintf(stderr,
            "  %4llds  %9lld req/s  mismatches %lld  errors %lld  p99 %s\n",
            (long long)t + 1, (long long)s.row[KGL_ALL].requests,
            (long long)s.row[KGL_ALL].mismatches,
            (long long)s.row[KGL_ALL].errors, p99);
  }
}

static void interval_clear(kgl_interval *iv) {
  for (int i = 0; i < KGL_ROWS; i++) {
    iv->requests[i] = iv->mismatches[i] = iv->errors[i] = 0;
    kgl_hist_reset(&iv->lat[i]);
  }
}

static void interval_free(kgl_interval *iv) {
  while (iv != NULL) {
    kgl_interval *next = iv->next;
    for (int i = 0; i < KGL_ROWS; i++) {
      kgl_hist_free(&iv->lat[i]);
    }
    free(iv);
    iv = next;
  }
}

/* Take the workers' hand-offs; finish every second all workers are past. */
static void gather_step(gather *g, kgl_shared *sh, kgl_worker *ws, int n,
                        int final) {
  pthread_mutex_lock(&sh->mu);
  kgl_interval *list = sh->handed;
  sh->handed = NULL;
  pthread_mutex_unlock(&sh->mu);
  kgl_interval *spare = NULL;
  while (list != NULL) {
    kgl_interval *iv = list;
    list = iv->next;
    iv->next = NULL;
    if (iv->t < g->next_t) {
      iv->t = g->next_t; /* late: count it in the next open second */
    }
    const size_t slot = (size_t)(iv->t - g->next_t);
    if (slot >= g->npending) {
      size_t cap = g->npending ? g->npending : 4;
      while (cap <= slot) {
        cap *= 2;
      }
      kgl_interval **p = realloc(g->pending, cap * sizeof(kgl_interval *));
      if (p == NULL) {
        iv->next = spare;
        spare = iv;
        continue;
      }
      memset(p + g->npending, 0, (cap - g->npending) * sizeof(kgl_interval *));
      g->pending = p;
      g->npending = cap;
    }
    if (g->pending[slot] == NULL) {
      g->pending[slot] = iv;
    } else {
      kgl_interval *agg = g->pending[slot];
      for (int r = 0; r < KGL_ROWS; r++) {
        agg->requests[r] += iv->requests[r];
        agg->mismatches[r] += iv->mismatches[r];
        agg->errors[r] += iv->errors[r];
        kgl_hist_merge(&agg->lat[r], &iv->lat[r]);
      }
      interval_clear(iv);
      iv->next = spare;
      spare = iv;
    }
  }
  int64_t done_t = INT64_MAX;
  for (int i = 0; i < n; i++) {
    const int64_t t = atomic_load_explicit(&ws[i].cur_t, memory_order_acquire);
    if (t < done_t) {
      done_t = t;
    }
  }
  /* finish the seconds every worker is past (all of them at the end) */
  size_t last_used = 0; /* 1 + the last slot holding a hand-off */
  for (size_t i = 0; i < g->npending; i++) {
    if (g->pending[i] != NULL) {
      last_used = i + 1;
    }
  }
  size_t finish = last_used;
  if (!final && done_t != INT64_MAX) {
    finish = done_t > g->next_t ? (size_t)(done_t - g->next_t) : 0;
  }
  for (size_t k = 0; k < finish; k++) {
    kgl_interval *iv = k < g->npending ? g->pending[k] : NULL;
    finish_second(g, iv, g->next_t + (int64_t)k);
    if (iv != NULL) {
      interval_clear(iv);
      iv->next = spare;
      spare = iv;
    }
  }
  if (finish > 0 && g->npending > 0) {
    const size_t shift = finish < g->npending ? finish : g->npending;
    memmove(g->pending, g->pending + shift,
            (g->npending - shift) * sizeof(kgl_interval *));
    memset(g->pending + (g->npending - shift), 0,
           shift * sizeof(kgl_interval *));
    g->next_t += (int64_t)finish;
  }
  if (spare != NULL) {
    pthread_mutex_lock(&sh->mu);
    kgl_interval *last = spare;
    while (last->next != NULL) {
      last = last->next;
    }
    last->next = sh->spare;
    sh->spare = spare;
    pthread_mutex_unlock(&sh->mu);
  }
}

/* Every connection needs a descriptor: raise the soft limit to what the
 * run needs (up to the hard one), or refuse the run rather than open fewer
 * connections than asked for and report the number asked. */
static int enough_descriptors(const kgl_options *o, char *why, size_t whycap) {
  const rlim_t want = (rlim_t)o->connections + 64;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
    return 0;
  }
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) {
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
      return 0;
    }
  }
  snprintf(why, whycap,
           "--connections %d needs %llu file descriptors and this process "
           "may open %llu (ulimit -n): raise the limit, or ask for fewer "
           "connections",
           o->connections, (unsigned long long)want,
           (unsigned long long)rl.rlim_max);
  return -1;
}

/* ---- workers --------------------------------------------------------------
 */

static int worker_init(kgl_worker *w, int id, int nconns, kgl_shared *sh,
                       const kgl_options *o, const kgl_traffic *t) {
  memset(w, 0, sizeof *w);
  w->id = id;
  w->sh = sh;
  w->opt = o;
  w->traffic = t;
  w->ssl_ctx = sh->ssl_ctx;
  w->rng = o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)id + 1;
  w->nconns = nconns;
  w->epfd = -1;
  atomic_store(&w->cur_t, -1);
  if (kgl_result_init(&w->res) != 0) {
    return -1;
  }
  w->conns = calloc((size_t)nconns, sizeof *w->conns);
  /* dispatch may list a connection it closes again before it drops the
   * old entry: at most two entries per connection */
  w->idle = calloc(2 * (size_t)nconns + 2, sizeof *w->idle);
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (w->conns == NULL || w->idle == NULL || w->epfd < 0) {
    return -1;
  }
  /* every stream of every connection may be refused at once (GOAWAY) */
  w->retry_cap = nconns * (o->streams > 1 ? o->streams : 1) + 16;
  w->retry = calloc((size_t)w->retry_cap, sizeof *w->retry);
  if (w->retry == NULL) {
    return -1;
  }
  for (int i = 0; i < nconns; i++) {
    w->conns[i].w = w;
    w->conns[i].fd = -1;
    w->conns[i].rcap = KGL_RBUF_START;
    w->conns[i].rbuf = malloc(KGL_RBUF_START);
    if (w->conns[i].rbuf == NULL) {
      return -1;
    }
  }
  return 0;
}

static void worker_free(kgl_worker *w) {
  for (int i = 0; w->conns != NULL && i < w->nconns; i++) {
    free(w->conns[i].rbuf);
  }
  free(w->retry);
  free(w->conns);
  free(w->idle);
  if (w->epfd >= 0) {
    close(w->epfd);
  }
  kgl_result_free(&w->res);
}

/* ---- the run --------------------------------------------------------------
 */

static void fill_config(kgl_result *r, const kgl_options *o,
                        const kgl_traffic *t, const char *protocol,
                        const char *engine) {
  kgl_config *c = &r->config;
  kgl_safe_text(t, NULL, 0, o->url, strlen(o->url), c->url, sizeof c->url);
  snprintf(c->method, sizeof c->method, "%s", o->method);
  snprintf(c->protocol, sizeof c->protocol, "%s", protocol);
  snprintf(c->engine, sizeof c->engine, "%s", engine);
  static const char *const HEADERS[] = {"bearer", "x-api-key", "mixed"};
  snprintf(c->header, sizeof c->header, "%s", HEADERS[o->header]);
  c->connections = o->connections;
  c->threads = o->threads;
  c->streams = o->streams;
  c->rate = o->rate;
  c->duration_s = o->requests > 0 ? 0 : o->duration_s;
  c->requests = o->requests;
  c->warmup_s = o->warmup_s;
  c->timeout_s = o->timeout_s;
  memcpy(c->mix, o->mix, sizeof c->mix);
  c->seed = o->seed;
  memcpy(c->expect, o->expect, sizeof c->expect);
}

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

int kgl_load_run(const kgl_options *o, kgl_result *r, char *why,
                 size_t whycap) {
  if (kgl_result_init(r) != 0) {
    snprintf(why, whycap, "out of memory");
    return -1;
  }
  kgl_traffic traffic;
  if (kgl_traffic_build(&traffic, o, why, whycap) != 0) {
    return -1;
  }
  kgl_shared sh;
  memset(&sh, 0, sizeof sh);
  sh.opt = o;
  sh.traffic = &traffic;
  sh.nthreads = o->threads;
  pthread_mutex_init(&sh.mu, NULL);
  int rc = -1;
  kgl_worker *ws = NULL;
  int started = 0;
  int curl_ready = 0;
  gather g;
  memset(&g, 0, sizeof g);
  /* libcurl connects on its own (through a proxy the environment may
   * name) and checks the target its way; the native engines probe here */
  const int use_curl = o->engine == KGL_ENGINE_CURL;
  if (use_curl) {
    if (kgl_curl_prepare(o, &traffic, why, whycap) != 0) {
      goto out;
    }
    curl_ready = 1;
  } else {
    if (traffic.url.tls) {
      sh.ssl_ctx = kgl_tls_ctx(o, why, whycap);
      if (sh.ssl_ctx == NULL) {
        goto out;
      }
    }
    sh.h2c = !traffic.url.tls && o->http == KGL_HTTP_2;
    if (kgl_resolve(&traffic.url, &sh.addr, &sh.addrlen, why, whycap) != 0 ||
        probe_connect(&sh, o, &traffic.url, why, whycap) != 0) {
      goto out;
    }
  }
  sh.h2c = !traffic.url.tls && o->http == KGL_HTTP_2;
  const char *protocol =
      sh.h2c || (traffic.url.tls && o->http == KGL_HTTP_2) ? "h2" : "http/1.1";
  int64_t sessions[2] = {0, 0};
  if (enough_descriptors(o, why, whycap) != 0) {
    goto out;
  }
  ws = calloc((size_t)o->threads, sizeof *ws);
  if (ws == NULL) {
    snprintf(why, whycap, "out of memory");
    goto out;
  }
  int64_t per_thread_quota = 0;
  for (int i = 0; i < o->threads; i++) {
    const int nconns =
        o->connections / o->threads + (i < o->connections % o->threads ? 1 : 0);
    if (worker_init(&ws[i], i, nconns, &sh, o, &traffic) != 0) {
      snprintf(why, whycap,
               "out of memory or file descriptors for %d "
               "connections (ulimit -n?)",
               o->connections);
      for (int j = 0; j <= i; j++) {
        worker_free(&ws[j]);
      }
      free(ws);
      ws = NULL;
      goto out;
    }
    if (o->requests > 0) {
      per_thread_quota =
          o->requests / o->threads + (i < o->requests % o->threads ? 1 : 0);
      ws[i].quota = per_thread_quota > 0 ? per_thread_quota : -1;
    }
  }
  const int64_t t0 = kgl_now_ns() + 20 * 1000000LL;
  sh.t0_ns = t0;
  sh.start_ns = t0 + (int64_t)(o->warmup_s * 1e9);
  sh.end_ns = o->requests > 0 ? INT64_MAX
                              : sh.start_ns + (int64_t)(o->duration_s * 1e9);
  for (int i = 0; i < o->threads; i++) {
    ws[i].start_ns = sh.start_ns;
    ws[i].end_ns = sh.end_ns;
    ws[i].next_due_ns =
        t0 + (o->rate > 0 ? (int64_t)((double)i * 1e9 / o->rate) : 0);
  }
  const int64_t wall_t0 = wall_ns() + (t0 - kgl_now_ns());
  g_signal = 0;
  g_stop = &sh.stop;
  /* OpenSSL writes alerts with write(): a peer that closed must not kill
   * the run with SIGPIPE (plain sockets use MSG_NOSIGNAL) */
  struct sigaction ign, old_pipe;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old_pipe);
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  for (int i = 0; i < o->threads; i++) {
    if (pthread_create(&ws[i].thread, NULL,
                       use_curl ? kgl_curl_run : kgl_worker_run, &ws[i]) != 0) {
      atomic_store(&sh.stop, 1);
      break;
    }
    started++;
  }
  g.res = r;
  g.progress = o->progress;
  g.rate = o->rate;
  /* gather once every 100 ms until every worker is done */
  for (;;) {
    int done = 1;
    for (int i = 0; i < started; i++) {
      done &=
          atomic_load_explicit(&ws[i].cur_t, memory_order_acquire) == INT64_MAX;
    }
    gather_step(&g, &sh, ws, started, 0);
    if (done) {
      break;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < started; i++) {
    pthread_join(ws[i].thread, NULL);
  }
  gather_step(&g, &sh, ws, started, 1);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGPIPE, &old_pipe, NULL);
  g_stop = NULL;
  r->interrupted = g_signal;

  /* merge the workers once */
  int64_t last = sh.start_ns;
  double lag = 0;
  int64_t sent = 0;
  for (int i = 0; i < started; i++) {
    kgl_worker *w = &ws[i];
    for (int c = 0; c < KGL_NCLASS; c++) {
      kgl_class_stats_merge(&r->cls[c], &w->res.cls[c]);
    }
    r->warmup_requests += w->res.warmup_requests;
    r->warmup_mismatches += w->res.warmup_mismatches;
    r->warmup_errors += w->res.warmup_errors;
    r->unsolicited += w->res.unsolicited;
    r->valid_unknown += w->res.valid_unknown;
    for (int s = 0; s < w->res.nsamples && r->nsamples < KGL_MAX_SAMPLES; s++) {
      r->samples[r->nsamples++] = w->res.samples[s];
    }
    if (w->last_ns > last) {
      last = w->last_ns;
    }
    if (w->max_lag_ms > lag) {
      lag = w->max_lag_ms;
    }
    sent += w->sent_measured;
    sessions[0] += w->sessions[0];
    sessions[1] += w->sessions[1];
  }
  for (int c = 0; c < KGL_NCLASS; c++) {
    kgl_class_stats_merge(&r->cls[KGL_ALL], &r->cls[c]);
  }
  /* the measured span: the asked duration (cut short by ^C), or until the
   * last response of a --requests run */
  int64_t end = o->requests > 0 ? last : sh.end_ns;
  if (atomic_load(&sh.stop) && last < end) {
    end = last;
  }
  if (end < sh.start_ns) {
    end = sh.start_ns;
  }
  r->start_unix_ns = wall_t0 + (sh.start_ns - t0);
  r->end_unix_ns = r->start_unix_ns + (end - sh.start_ns);
  if (o->rate > 0) {
    const double span = (double)(end - sh.start_ns) / 1e9;
    r->rate_achieved = span > 0 ? (double)sent / span : 0;
    r->max_lag_ms = lag;
  }
  if (!use_curl && sessions[1] > 0 && sessions[0] == 0) {
    protocol = "h2"; /* https:// where ALPN chose h2 */
  }
  fill_config(r, o, &traffic, protocol,
              use_curl ? "curl"
                       : (strcmp(protocol, "h2") == 0 ? "nghttp2" : "native"));
  rc = 0;
out:
  if (ws != NULL) {
    for (int i = 0; i < o->threads; i++) {
      pthread_mutex_lock(&sh.mu);
      if (ws[i].cur != NULL) {
        ws[i].cur->next = sh.spare;
        sh.spare = ws[i].cur;
        ws[i].cur = NULL;
      }
      pthread_mutex_unlock(&sh.mu);
      worker_free(&ws[i]);
    }
    free(ws);
  }
  for (size_t i = 0; i < g.npending; i++) {
    interval_free(g.pending[i]);
  }
  free(g.pending);
  interval_free(sh.handed);
  interval_free(sh.spare);
  if (sh.ssl_ctx != NULL) {
    SSL_CTX_free(sh.ssl_ctx);
  }
  pthread_mutex_destroy(&sh.mu);
  kgl_traffic_free(&traffic);
  if (curl_ready) {
    kgl_curl_release();
  }
  return rc;
}
