/*
 * load/src/internal.h — the load generator's insides, shared by its files:
 * the target URL, the traffic (pre-serialised requests per class), the
 * worker's event loop and connections, the session interface that HTTP/1.1
 * and HTTP/2 both implement (h2load's design), and the HTTP/1.1 response
 * parser. Not installed; the CLI uses load/load.h only.
 */
#ifndef KEYGATE_LOAD_INTERNAL_H
#define KEYGATE_LOAD_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "load/load.h"
#include "load/result.h"
#include "load/verify.h"

/* ---- target URL ---------------------------------------------------------- */

typedef struct kgl_url {
  int tls;             /* https */
  char host[256];      /* without brackets */
  char authority[300]; /* Host header / :authority: host[:port] as given */
  int port;
  char target[2048]; /* origin-form: path and query, never empty */
} kgl_url;

/* kgl_url_parse — http://HOST[:PORT][/PATH][?QUERY] or https://...; no
 * userinfo; a #fragment is dropped (it is never sent). 0, or -1 + why. */
int kgl_url_parse(const char *s, kgl_url *u, char *why, size_t whycap);

/* kgl_url_holds_key — 1 when u's target or authority holds a key by SPEC
 * 1.1's rules for prefix (any spelling of it, or a parameter named api_key,
 * apikey, key, access_token or token with a value), else 0. kgl_url_parse
 * refuses a URL that holds one for sk_live_ or sk_test_; probe checks its
 * policy's prefix (--prefix) as well; load its key file's prefixes of 5
 * characters or more, and pieces of the keys it sends (traffic.c). */
int kgl_url_holds_key(const kgl_url *u, const char *prefix);

/* kgl_url_endpoint — "host:port" for a message, an IPv6 host in brackets
 * ("[::1]:8080"); out has room for KGL_ENDPOINT_MAX bytes. Returns out. */
#define KGL_ENDPOINT_MAX (256 + 2 + 1 + 11 + 1)
const char *kgl_url_endpoint(const kgl_url *u, char *out);

/* ---- traffic ------------------------------------------------------------- */

/* One request, serialised once and sent again and again. */
typedef struct kgl_req {
  kgl_class cls;
  const char *h1; /* the whole HTTP/1.1 request */
  size_t h1_len;
  const char *key; /* the credential sent (NULL for missing) */
  size_t key_len;
  int bearer; /* 1: Authorization: Bearer, 0: X-API-Key */
} kgl_req;

#define KGL_MAX_PREFIXES 16

typedef struct kgl_traffic {
  kgl_url url;
  char method[16];
  int head_method;           /* HEAD: responses carry no body */
  kgl_req *reqs[KGL_NCLASS]; /* per class, nreq[c] of them */
  size_t nreq[KGL_NCLASS];
  int cumulative[KGL_NCLASS]; /* running sums of the mix weights */
  int total_weight;
  char prefix[32]; /* the first key's prefix ("sk_live_"), for invalid keys */
  /* every distinct prefix of the file's keys (and sk_live_, sk_test_), for
   * masking what a server sends back */
  char prefixes[KGL_MAX_PREFIXES][32];
  int nprefixes;
  char *arena; /* every serialised request and key */
  size_t arena_len, arena_cap;
  /* every 8 bytes of every key sent that are not all prefix, sorted: what
   * kgl_safe_text masks whatever the key's prefix shape ("kg.<body>") */
  uint64_t *key_windows;
  size_t nkey_windows, key_windows_bytes;
} kgl_traffic;

/*
 * kgl_traffic_build — read the key file, make the invalid keys (unknown
 * but well formed, wrong checksum, truncated, a bad character) and serialise
 * every request. 0, or -1 + why (unreadable file, a class asked for by the
 * mix that the file lacks, a malformed line: named by its number).
 */
int kgl_traffic_build(kgl_traffic *t, const kgl_options *o, char *why,
                      size_t whycap);
void kgl_traffic_free(kgl_traffic *t);

/* kgl_probe_ms — how long the check before the run waits to connect (and
 * for a TLS handshake or h2c's prefaces): --timeout, but at least 1 s and
 * at most 5 s. Whether a target can be reached is not a request's budget:
 * a --timeout of 10 ms on a busy machine made a 24 ms connect an
 * unreachable target (exit 2) and not a run of timeouts. */
static inline int kgl_probe_ms(double timeout_s) {
  const double ms = timeout_s * 1000;
  return ms < 1000 ? 1000 : ms > 5000 ? 5000 : (int)(ms + 0.5);
}

/* xoshiro-style per-thread PRNG (splitmix64): fast, seeded, no locking. */
static inline uint64_t kgl_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* kgl_keep_body — what the engines keep of a response body for class c:
 * all of it when the expectation reads the body, else only an error's (so
 * a mismatch sample of a valid key can say which error came back). */
int kgl_keep_body(const kgl_options *o, kgl_class c);

/* kgl_token68 — 1 when (s, n) is one token68 (RFC 9110 §11.2: 1*( ALPHA /
 * DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="), the form a key must
 * have (SPEC §1.1: any other is a malformed key). */
int kgl_token68(const char *s, size_t n);

/* kgl_safe_text — (in, n), received from a server, fit for a report:
 * redacted with every prefix the traffic knows, any 8 or more characters
 * of any key the traffic sends masked (t->key_windows), and withheld whole
 * when it still holds any 8 consecutive characters of `key` (the key sent). */
void kgl_safe_text(const kgl_traffic *t, const char *key, size_t keylen,
                   const char *in, size_t n, char *out, size_t cap);

/* kgl_traffic_pick — the next request for a thread (class by the mix, key
 * at random within it). */
const kgl_req *kgl_traffic_pick(const kgl_traffic *t, uint64_t *rng);

/* ---- a key's prefix and its display form (redact.c) ---------------------- */

/* kgl_key_prefix_len — the length of key's prefix, the part a mask shows:
 * one or two words of 2-6 lower-case ASCII letters, each ended by '_', 11
 * bytes at most ("sk_live_", "ghp_", "github_pat_"), after up to 4 quotes
 * or brackets typed around the key, or 0. What a random part may look
 * like is what limits it: a '_' after a digit or a capital
 * ("Zm9vYmFyYmF6_qux...") ends no prefix, and lower-case words long enough
 * to show 8 random characters ("abcdef_ghijkl_...") are too long for one. */
size_t kgl_key_prefix_len(const char *key, size_t n);

/* kgl_mask_key — the display form of a key that was sent, whatever its
 * issuer: its prefix, "****", and its last four characters when at least
 * eight more stay hidden ("AKIA..." shows as "****1234"). Never more. */
void kgl_mask_key(const char *key, size_t n, char *out, size_t cap);

/* ---- HTTP/1.1 response parser -------------------------------------------- */

#define KGL_H1_HEAD_MAX                                                        \
  262144                      /* a longer response head is a protocol error    \
                               */
#define KGL_RBUF_START 16384  /* a connection's read buffer grows from this */
#define KGL_H1_BODY_KEEP 8192 /* body bytes kept for verification */
/* Field values kept for verification (docs/load.md, "What is checked"):
 * room for any conforming value with a wide margin. SPEC §1.4's
 * Content-Type is application/json (16 bytes; a charset parameter makes
 * it 31), its X-Request-Id 28 bytes, its longest challenge 96 bytes (an
 * error_description of any text may be longer: 2 KiB leaves it 1.9 KiB).
 * A longer value is a mismatch of its kind, never judged by its start. */
#define KGL_H1_CONTENT_TYPE_KEEP 256
#define KGL_H1_WWW_AUTHENTICATE_KEEP 2048
#define KGL_H1_REQUEST_ID_KEEP 64

/* Which bodies the parser keeps for the verifier. */
#define KGL_H1_KEEP_NONE 0
#define KGL_H1_KEEP_ALL 1
#define KGL_H1_KEEP_ERRORS 2 /* only when the status is not 2xx */

typedef enum kgl_h1_rc {
  KGL_H1_MORE = 0,  /* consumed what it could; feed more */
  KGL_H1_DONE = 1,  /* one whole response parsed */
  KGL_H1_ERROR = -1 /* not HTTP/1.1: a protocol error */
} kgl_h1_rc;

typedef struct kgl_h1 {
  int state;
  int keep_body; /* KGL_H1_KEEP_*: keep up to KGL_H1_BODY_KEEP body bytes */
  int no_body;   /* the request was HEAD */
  int status;
  int close;         /* Connection: close, or HTTP/1.0 without keep-alive */
  int64_t remaining; /* body bytes (Content-Length or chunk) still due */
  int chunk_ext;     /* bytes of the current extension or trailer line */
  int chunk_state;   /* within a chunk-size line (h1.c) */
  int chunk_digits;  /* hex digits of the chunk size so far */
  /* the first value of each field the verifier reads, whole when it fits
   * (KGL_H1_*_KEEP: every conforming value does); a longer one is never
   * judged by its start: its KGL_MM_* bit is set in `cut` */
  char content_type[KGL_H1_CONTENT_TYPE_KEEP];
  size_t content_type_len;
  int content_type_count;
  char www_authenticate[KGL_H1_WWW_AUTHENTICATE_KEEP];
  size_t www_authenticate_len;
  int www_authenticate_count;
  char request_id[KGL_H1_REQUEST_ID_KEEP];
  size_t request_id_len;
  int request_id_count;
  unsigned cut;    /* KGL_MM_CONTENT_TYPE, _WWW_AUTH, _REQUEST_ID: cut */
  int no_store;    /* a Cache-Control line holds the no-store directive */
  const char *key; /* the key the request sent (kgl_h1_set_key), or NULL */
  size_t key_len;
  int key_echo; /* the key came back in a head (kgl_h1_set_key) */
  char body[KGL_H1_BODY_KEEP];
  size_t body_len;
  int body_truncated;
  const char *error; /* what was wrong, for the report */
  /* every body byte (de-chunked) as it is parsed, kept or not: for a
   * reader that checks more than KGL_H1_BODY_KEEP (the probe's echo check).
   * NULL: none. kgl_h1_reset clears it: set it after. */
  void (*body_sink)(void *ud, const char *b, size_t n);
  void *body_sink_ud;
} kgl_h1;

/* kgl_h1_reset — ready p for the response to one request; keep_body is a
 * KGL_H1_KEEP_* value. */
void kgl_h1_reset(kgl_h1 *p, int keep_body, int head_request);

/*
 * kgl_h1_feed — parse (buf, len). The head is parsed only when whole: until
 * then *used is 0 and KGL_H1_MORE asks the caller to keep the bytes and
 * append more (at most KGL_H1_HEAD_MAX, else KGL_H1_ERROR). Body bytes are
 * consumed as they come. Sets *used to the bytes consumed.
 */
kgl_h1_rc kgl_h1_feed(kgl_h1 *p, const char *buf, size_t len, size_t *used);

/* kgl_h1_eof — the peer closed: KGL_H1_DONE when the body ran to the close
 * (no length given), KGL_H1_ERROR otherwise (closed mid-response). */
kgl_h1_rc kgl_h1_eof(kgl_h1 *p);

/* For an engine that parses responses elsewhere (libcurl) but keeps them
 * by the parser's rules, in p after kgl_h1_reset:
 * kgl_h1_keep_field — one field (name; value without OWS): Content-Type,
 *   WWW-Authenticate and X-Request-Id (names case-insensitive) keep their
 *   first value (one longer than the buffer is marked cut) and count every
 *   one; Cache-Control notes no-store; others ignored.
 * kgl_h1_head_done — the final (non-1xx) head is whole with this status:
 *   records it and settles KGL_H1_KEEP_ERRORS.
 * kgl_h1_keep_body — body bytes: kept up to KGL_H1_BODY_KEEP when
 *   p->keep_body says so, the body marked truncated past that; all of them
 *   handed to p->body_sink when set. */
void kgl_h1_keep_field(kgl_h1 *p, const char *name, size_t nlen, const char *v,
                       size_t vl);
void kgl_h1_head_done(kgl_h1 *p, int status);
void kgl_h1_keep_body(kgl_h1 *p, const char *b, size_t n);

/* kgl_h1_body — ready p to frame a body alone, as it would after a head
 * (for an engine that parses heads elsewhere and checks the body's
 * framing with this parser's rules): length 0 for none (HEAD, 204, 304),
 * > 0 its Content-Length, -1 to the close, -2 chunked. kgl_h1_feed then
 * says KGL_H1_DONE at its end (bytes past it are not consumed) and
 * KGL_H1_ERROR for a malformed chunk; nothing is kept. */
void kgl_h1_body(kgl_h1 *p, int64_t length);

/* kgl_h1_set_key — after kgl_h1_reset: the key the request sent (n > 0),
 * so that a response the verifier reads whole (its body is kept: an error
 * class's, or any that is not a 2xx) is searched for it, head and kept
 * body, and r->key_echo says when it came back (SPEC §1.4: no response
 * holds a presented key). key must outlive the response. */
void kgl_h1_set_key(kgl_h1 *p, const char *key, size_t n);

/* kgl_cache_control_no_store — 1 when the Cache-Control value (v, n)
 * holds the no-store directive (RFC 9111 §5.2: a list of directives,
 * names case-insensitive, quoted-string arguments skipped). */
int kgl_cache_control_no_store(const char *v, size_t n);

/* kgl_h1_waiting — 1 while no response head has been parsed (the caller
 * may hold part of one in its buffer: the parser keeps no bytes). */
int kgl_h1_waiting(const kgl_h1 *p);

/* kgl_h1_response — the parsed response as the verifier reads it (spans
 * into p). */
void kgl_h1_response(const kgl_h1 *p, kgl_response *r);

/* ---- worker, connections, sessions --------------------------------------- */

struct kgl_worker;
struct kgl_conn;

/* A request in flight. */
typedef struct kgl_flight {
  const kgl_req *req;
  int64_t sched_ns; /* when it was due (open loop) or sent (closed) */
  int64_t sent_ns;  /* --timeout counts from it: the send (closed loop),
                     * the due time (open loop) */
  int warmup;       /* due before the measured start */
  int retries;      /* times it was sent again after a refusal */
} kgl_flight;

/* Refused HTTP/2 streams (REFUSED_STREAM, or above a GOAWAY's last stream)
 * were never processed and may be sent again (RFC 9113 §8.7): once each,
 * from a small ring per worker. */
#define KGL_RETRY_MAX 3 /* connections hitting their limit together */

/* What HTTP/1.1 and HTTP/2 both implement over one connection. */
typedef struct kgl_session_ops {
  const char *name; /* "http/1.1", "h2" */
  /* the transport is ready: set up session state (h2: preface, SETTINGS) */
  int (*start)(struct kgl_conn *c);
  /* how many more requests it takes now */
  int (*capacity)(struct kgl_conn *c);
  /* queue one request (capacity() > 0) */
  int (*submit)(struct kgl_conn *c, const kgl_flight *f);
  /* bytes received; completes flights via kgl_worker_complete/fail.
   * Returns how many bytes it consumed (the caller keeps the rest in front
   * of the next read: HTTP/1.1 parses a head only when whole), or -1 on a
   * protocol error (the caller fails what is in flight and reconnects) */
  long (*received)(struct kgl_conn *c, const char *buf, size_t len);
  /* the peer closed: 0 when that ended a response cleanly */
  int (*eof)(struct kgl_conn *c);
  /* bytes to send now (NULL/0: none) */
  void (*output)(struct kgl_conn *c, const char **buf, size_t *len);
  /* n bytes of output were sent */
  void (*sent)(struct kgl_conn *c, size_t n);
  /* fail every flight still in flight with kind, and forget them */
  void (*abort)(struct kgl_conn *c, int kind);
  /* 1 when the session must not take new requests (GOAWAY, close) */
  int (*closing)(struct kgl_conn *c);
  /* the oldest in-flight request's due time, or 0 when none */
  int64_t (*oldest)(struct kgl_conn *c);
  void (*free)(struct kgl_conn *c);
  /* fail as timeouts the requests sent before older_than and let the rest
   * go on (HTTP/2: RST_STREAM per stream); NULL when the session cannot
   * (HTTP/1.1: the worker closes the connection instead) */
  int (*expire)(struct kgl_conn *c, int64_t older_than);
} kgl_session_ops;

extern const kgl_session_ops kgl_session_h1;
extern const kgl_session_ops kgl_session_h2;

typedef enum kgl_conn_state {
  KGL_CONN_DOWN = 0, /* no socket: connect when there is work */
  KGL_CONN_CONNECTING = 1,
  KGL_CONN_HANDSHAKE = 2,
  KGL_CONN_READY = 3
} kgl_conn_state;

typedef struct kgl_conn {
  struct kgl_worker *w;
  int fd;
  SSL *ssl;
  kgl_conn_state state;
  const kgl_session_ops *ops;
  void *session;       /* the session's own state */
  unsigned events;     /* the epoll events registered */
  int64_t retry_at_ns; /* after a failed connect: not before this */
  int64_t opened_ns;   /* when the current connect began */
  int connect_failures;
  int64_t requests_on_conn;
  /* the HTTP/1.1 session's state lives here (no allocation per conn) */
  kgl_flight h1_flight;
  int h1_busy;
  int idle_listed; /* on the worker's idle stack */
  int closing;     /* close once the current response is done */
  size_t h1_out_off;
  kgl_h1 h1;
  char *rbuf; /* KGL_RBUF_START, doubled up to KGL_H1_HEAD_MAX for a head */
  size_t rcap;
  size_t rlen;
} kgl_conn;

/* One second of one worker, handed to the main thread when the second is
 * over (latencies in µs, 2 significant digits). */
typedef struct kgl_interval {
  int64_t t;
  int64_t requests[KGL_ROWS], mismatches[KGL_ROWS], errors[KGL_ROWS];
  kgl_hist lat[KGL_ROWS];
  struct kgl_interval *next;
} kgl_interval;

/* What every worker of a run shares; written before the threads start,
 * then read-only except the atomics and the interval hand-off. */
typedef struct kgl_shared {
  const kgl_options *opt;
  const kgl_traffic *traffic;
  struct sockaddr_storage addr;
  unsigned addrlen;
  SSL_CTX *ssl_ctx; /* https only */
  int h2c;          /* http:// with --http2: h2 with prior knowledge */
  int64_t t0_ns;    /* the schedule's origin (warmup starts here) */
  int64_t start_ns; /* the measured start: t0 + warmup */
  int64_t end_ns;   /* duration mode: nothing is due from here on */
  int nthreads;
  atomic_int stop;      /* set on SIGINT or a fatal error */
  pthread_mutex_t mu;   /* guards the hand-off lists */
  kgl_interval *handed; /* finished seconds, for the main thread */
  kgl_interval *spare;  /* emptied ones, for the workers */
} kgl_shared;

typedef struct kgl_worker {
  int id;
  kgl_shared *sh;
  const kgl_traffic *traffic;
  const kgl_options *opt;
  SSL_CTX *ssl_ctx;
  int epfd;
  kgl_conn *conns;
  int nconns;
  uint64_t rng;
  /* schedule */
  int64_t start_ns;  /* measured start (after warmup) */
  int64_t end_ns;    /* no request is due at or after this (duration) */
  int64_t quota;     /* requests mode: how many this thread completes */
  int64_t issued;    /* requests handed to connections */
  int64_t completed; /* completed (measured ones) */
  int64_t in_flight;
  int64_t next_seq; /* open loop: this thread's next sequence number */
  int64_t next_due_ns;
  int64_t due_step_ns; /* open loop: threads / rate */
  double max_lag_ms;
  int64_t sent_measured; /* requests due in the measured span and sent */
  int64_t sessions[2];   /* sessions started: [0] HTTP/1.1, [1] HTTP/2 */
  /* results */
  kgl_result res;
  kgl_interval *cur;  /* the second being filled */
  atomic_llong cur_t; /* its second; INT64_MAX once the worker is done */
  kgl_flight *retry;  /* refused flights to send again: a ring */
  int retry_cap, retry_head, retry_n; /* cap: every stream of the worker */
  int64_t stop_ns; /* when a stop (^C) was first seen; 0 before */
  int *idle;       /* stack of connections that take requests */
  int nidle;
  int64_t next_timeout_check_ns;
  int64_t last_ns;    /* time of the latest completion */
  size_t min_key_len; /* the shortest key sent (HTTP/2); 0 until known */
  pthread_t thread;
  int rc;
  char why[256];
} kgl_worker;

/* After a failed connect a connection (the curl engine: a slot) waits this
 * long before the next try, so a dead server is not hammered. */
#define KGL_RECONNECT_BACKOFF_NS (50 * 1000000LL)

/* Monotonic nanoseconds. */
int64_t kgl_now_ns(void);

/* kgl_wait_io — wait until fd is ready for ev (POLLIN, POLLOUT) or the
 * deadline (kgl_now_ns's clock): 1 ready, 0 the deadline passed, -1 a
 * poll error (the read or write that follows says what is wrong). */
int kgl_wait_io(int fd, short ev, int64_t deadline_ns);

/* kgl_worker_complete — one response arrived for f: verify, record. */
void kgl_worker_complete(kgl_worker *w, const kgl_flight *f,
                         const kgl_response *r);

/* kgl_worker_retry — f was refused unprocessed (RFC 9113 §8.7): send it
 * again, keeping its due time (latency still counts from it), unless it
 * was retried already or the ring is full (then it fails as a reset). */
void kgl_worker_retry(kgl_worker *w, const kgl_flight *f);

/* A request the run itself cut (still in flight when a stopped run ends):
 * not the server's failure, so not counted (kgl_worker_fail forgets it). */
#define KGL_ERR_CANCELLED (-1)

/* kgl_worker_fail — f got no response (kind: kgl_err_kind, or
 * KGL_ERR_CANCELLED: forgotten, not counted). */
void kgl_worker_fail(kgl_worker *w, const kgl_flight *f, int kind);

/* kgl_worker_tick — start a new second when `now` is past the current one
 * (hands the finished one to the main thread). Every engine calls it at
 * least every 10 ms, and kgl_worker_complete/fail call it. */
void kgl_worker_tick(kgl_worker *w, int64_t now);

/* kgl_worker_next_flight — is another request due now (closed loop: always
 * while the run lasts; open loop: when its scheduled time has come, also
 * past the end for what was due before it)? Fills *f and counts it issued.
 * 0 when none is due. An open-loop request carries its due time as sent_ns:
 * its --timeout counts from when it was due, whenever it leaves. */
int kgl_worker_next_flight(kgl_worker *w, int64_t now, kgl_flight *f);

/* kgl_worker_more — 1 while the run will still send requests (now or
 * later), 0 once the duration, the quota or a stop has ended it. Open loop
 * past the end: 1 while requests due before the end are owed; those owed
 * --timeout past their due time are failed here as timeouts (every
 * engine's loop calls it, so none is left unsettled). */
int kgl_worker_more(kgl_worker *w, int64_t now);

/* kgl_worker_over — 1 when an engine's loop ends: nothing more to send
 * and nothing in flight, or stopped (^C) --timeout ago with requests still
 * out (more: kgl_worker_more's answer for now). */
int kgl_worker_over(kgl_worker *w, int64_t now, int more);

/* kgl_worker_wait_ms — how long an engine's loop may wait for events: up
 * to the next due time in open loop (1 ms when it has passed: no
 * connection could take it), never more than 10 ms. */
int kgl_worker_wait_ms(const kgl_worker *w, int64_t now, int more);

/* kgl_worker_wait_start — sleep until the run's common start (t0). */
void kgl_worker_wait_start(kgl_worker *w);

/* kgl_worker_finish — hand the last second over and mark the worker done;
 * the last thing every engine's loop does. */
void kgl_worker_finish(kgl_worker *w);

/* kgl_worker_run — the native event loop (HTTP/1.1 and HTTP/2 sessions). */
void *kgl_worker_run(void *arg);

/* kgl_curl_prepare — once per run, before any curl worker starts: the
 * process-wide curl_global_init, a check that the library has what the
 * options ask for (TLS, HTTP/2), and a connect to the target the way the
 * workers will (through a proxy the environment names, TLS included) with
 * nothing sent. 0, or -1 + why (one line); after 0, kgl_curl_release once
 * the workers are joined. */
int kgl_curl_prepare(const kgl_options *o, const kgl_traffic *t, char *why,
                     size_t whycap);
void kgl_curl_release(void);

/* kgl_curl_run — the libcurl engine's loop for one worker. */
void *kgl_curl_run(void *arg);

/* ---- transport ----------------------------------------------------------- */

/* kgl_tls_ctx — an SSL_CTX for the options (verification, CA file, ALPN
 * list for the wanted protocol). NULL + why on failure. */
SSL_CTX *kgl_tls_ctx(const kgl_options *o, char *why, size_t whycap);

/* kgl_tls_new — an SSL for fd: SNI for a host name, the certificate
 * checked against the host unless --insecure. NULL on failure. */
SSL *kgl_tls_new(SSL_CTX *ctx, const kgl_options *o, const kgl_url *u, int fd);

/* kgl_tls_check — one TLS handshake on the connected, non-blocking fd, as
 * the engines will make it: 0, or -1 + why (certificate not trusted, with
 * the fix; no HTTP/2 where --http2 asks for it; a timeout). */
int kgl_tls_check(SSL_CTX *ctx, const kgl_options *o, const kgl_url *u, int fd,
                  int timeout_ms, char *why, size_t whycap);

/* kgl_h2c_check — on the connected, non-blocking fd of an http:// target
 * under --http2: send the client preface (RFC 9113 §3.4) and an empty
 * SETTINGS frame, and read until the server's preface, a SETTINGS frame
 * (RFC 9113 §6.5), has come whole. 0, or -1 + why (one line with the fix)
 * when the server answered otherwise (HTTP/1.1, other bytes), closed the
 * connection, or sent nothing within timeout_ms. */
int kgl_h2c_check(int fd, const kgl_url *u, int timeout_ms, char *why,
                  size_t whycap);

/* kgl_resolve — the target's address (first of getaddrinfo). 0, or -1. */
int kgl_resolve(const kgl_url *u, struct sockaddr_storage *sa, unsigned *salen,
                char *why, size_t whycap);

#endif /* KEYGATE_LOAD_INTERNAL_H */
