/*
 * load/result.h — the outcome of a load run, in memory and on disk.
 *
 * One kgl_result holds everything a run measured: per class (and overall)
 * the counts, the mismatches by kind, the socket errors by kind and an
 * HdrHistogram-layout latency histogram; up to KGL_MAX_SAMPLES mismatch
 * samples (keys masked); one kgl_second per second of the run; the
 * thresholds asked for and how they came out. `keygate load` fills one per
 * thread and merges them once at the end; `keygate report` reads them back
 * from the JSON file (schema "keygate-load", version KGL_SCHEMA_VERSION,
 * documented in docs/load.md) and merges, compares and draws them.
 *
 * Memory: kgl_result_init allocates the histograms; the series grows by
 * doubling (one entry per second of run time, never per request). Nothing
 * in a result ever holds a full key: samples carry kgl_redact'ed text.
 */
#ifndef KEYGATE_LOAD_RESULT_H
#define KEYGATE_LOAD_RESULT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "load/histogram.h"
#include "load/verify.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KGL_SCHEMA_NAME "keygate-load"
#define KGL_SCHEMA_VERSION 1

/* Latency histograms: microseconds, 1 µs .. 60 s, 3 significant digits. */
#define KGL_LAT_LOWEST 1
#define KGL_LAT_HIGHEST 60000000
#define KGL_LAT_DIGITS 3

#define KGL_ALL KGL_NCLASS /* index of the overall row */
#define KGL_ROWS (KGL_NCLASS + 1)
#define KGL_MAX_SAMPLES 10 /* mismatch samples kept */
#define KGL_MAX_THRESHOLDS 32

/* Socket-level failures: a request that got no response to verify. */
typedef enum kgl_err_kind {
  KGL_ERR_CONNECT = 0,  /* connect() refused, unreachable, DNS */
  KGL_ERR_TLS = 1,      /* handshake or certificate failure */
  KGL_ERR_WRITE = 2,    /* sending failed */
  KGL_ERR_READ = 3,     /* receiving failed (other than reset) */
  KGL_ERR_RESET = 4,    /* ECONNRESET, or an HTTP/2 RST_STREAM/GOAWAY */
  KGL_ERR_CLOSED = 5,   /* the server closed mid-response */
  KGL_ERR_TIMEOUT = 6,  /* no whole response within --timeout */
  KGL_ERR_PROTOCOL = 7, /* a response that is not valid HTTP */
  KGL_ERR_KINDS = 8
} kgl_err_kind;

/* kgl_err_name — "connect", "tls", "write", "read", "reset", "closed",
 * "timeout", "protocol"; "unknown" otherwise. */
const char *kgl_err_name(int kind);

typedef struct kgl_class_stats {
  int64_t requests;   /* completed: ok + mismatches + errors */
  int64_t ok;         /* responses that verified */
  int64_t mismatches; /* responses that did not */
  int64_t mismatch_kinds[KGL_MM_KINDS]; /* by kgl_mismatch_name bit index */
  int64_t errors;                       /* requests without a response */
  int64_t error_kinds[KGL_ERR_KINDS];
  kgl_hist latency; /* µs, every response (ok and mismatched) */
} kgl_class_stats;

/* What a sample's text field holds instead of a server text that still
 * held 8 characters of the key sent (kgl_safe_text): every such field has
 * room for it whole. */
#define KGL_WITHHELD "(withheld: it held part of the key sent)"

/* One mismatched response, for the report; every text field redacted. */
typedef struct kgl_sample {
  int cls;             /* kgl_class */
  unsigned kinds;      /* KGL_MM_* bits */
  int status;          /* status received */
  int expected_status; /* 0: any 2xx */
  char expected_code[KGL_CODE_MAX + 1];
  char code[KGL_CODE_MAX + 8]; /* error.code received, redacted */
  char request_id[48];         /* X-Request-Id received, redacted */
  char key[32];                /* the key sent, as sk_live_****Ab3x */
  char detail[128];            /* what exactly differed */
} kgl_sample;

/* One second of a run, every thread merged; latencies in µs. */
typedef struct kgl_second_row {
  int64_t requests, mismatches, errors;
  int64_t p50, p90, p99, p999, max;
} kgl_second_row;

typedef struct kgl_second {
  int64_t t; /* seconds since the measured start: 0, 1, 2, ... */
  kgl_second_row row[KGL_ROWS];
} kgl_second;

/* A threshold as asked for and as it came out. */
typedef struct kgl_threshold_outcome {
  char expr[96]; /* as given: "valid.p99.9<100ms" */
  double actual; /* the measured value, in the expression's unit */
  int holds;     /* 1 holds, 0 violated */
} kgl_threshold_outcome;

/* How the run was set up (echoed in reports). */
typedef struct kgl_config {
  char url[512]; /* redacted */
  char method[16];
  char protocol[16]; /* "http/1.1" or "h2" */
  char engine[16];   /* "native", "nghttp2" or "curl" */
  char header[16];   /* "bearer", "x-api-key" or "mixed" */
  int connections, threads, streams;
  double rate;       /* requests/s asked for; 0 = closed loop */
  double duration_s; /* 0 when --requests was given */
  int64_t requests;  /* 0 when --duration was given */
  double warmup_s, timeout_s;
  int mix[KGL_NCLASS]; /* weights */
  uint64_t seed;
  kgl_expect expect[KGL_NCLASS];
} kgl_config;

typedef struct kgl_result {
  int schema_version;
  char tool_version[32];
  int runs; /* 1, or how many runs were merged into this one */
  kgl_config config;
  int64_t start_unix_ns, end_unix_ns; /* the measured span (after warmup) */
  /* open loop: the rate actually sent, and how late the latest send was */
  double rate_achieved;
  double max_lag_ms;
  int64_t warmup_requests, warmup_mismatches, warmup_errors;
  /* 1 when the warm-up was cut short (^C, SIGTERM before the measured
   * start): it ran warmup_done_s seconds, not config.warmup_s */
  int warmup_cut;
  double warmup_done_s;
  /* 0 for a run that ran as asked; else the signal that stopped it early
   * (SIGINT or SIGTERM: the first one stops sending, lets what is out
   * finish, and the result covers the span that ran). A merge keeps the
   * first interrupted run's. */
  int interrupted;
  /* responses nobody asked for (HTTP/1.1 bytes on an idle connection):
   * they belong to no request and no class; the overall `errors`
   * threshold counts them */
  int64_t unsolicited;
  /* measured valid-class answers that were 401 invalid_api_key: the
   * server knows no such key (keygate load's hint reads it; not in the
   * JSON, 0 in a result read from a file) */
  int64_t valid_unknown;
  kgl_class_stats cls[KGL_ROWS]; /* KGL_ALL is the overall row */
  kgl_sample samples[KGL_MAX_SAMPLES];
  int nsamples;
  kgl_second *series;
  size_t nseries, series_cap;
  kgl_threshold_outcome thresholds[KGL_MAX_THRESHOLDS];
  int nthresholds;
} kgl_result;

/* kgl_result_init — zero *r and allocate its histograms (the KGL_LAT_*
 * layout); schema_version = KGL_SCHEMA_VERSION, tool_version = this build's,
 * runs = 1. 0, or -1 (out of memory; *r is then safe to free). */
int kgl_result_init(kgl_result *r);

/* kgl_result_free — release what *r owns. NULL-safe, idempotent. */
void kgl_result_free(kgl_result *r);

/* kgl_result_elapsed_s — the measured span in seconds (0 when empty). */
double kgl_result_elapsed_s(const kgl_result *r);

/* kgl_result_rps — requests of row `row` per second of the measured span. */
double kgl_result_rps(const kgl_result *r, int row);

/* kgl_result_measured — 1 when the run measured something: at least one
 * request completed (a response or a socket error) after the warm-up; 0
 * for a run cut short in its warm-up or one whose target never answered in
 * time. A result that measured nothing holds no threshold, compares with
 * nothing and merges with nothing (`keygate load` and `keygate report` exit
 * 2 on it). */
int kgl_result_measured(const kgl_result *r);

/* kgl_signal_name — "SIGINT", "SIGTERM", or "a signal" for any other. */
const char *kgl_signal_name(int sig);

/* kgl_result_interruption — when r->interrupted, one phrase for reports
 * into out (capacity cap): "stopped by SIGINT after 3.2 s of the 10.0 s
 * asked" (or "... after 812 of the 10000 requests asked", or for a merge
 * "at least one of the 3 runs merged was
 * stopped by SIGTERM"); "" otherwise. The
 * one wording the table, the HTML page, compare and the CLI print. */
void kgl_result_interruption(const kgl_result *r, char *out, size_t cap);

/* kgl_result_errors — the errors of row `row`: its requests that got no
 * response, and for the overall row (KGL_ALL) the responses nobody asked
 * for as well (r->unsolicited: they belong to no class, but they are
 * errors). The one definition the `errors` threshold, the JSON's
 * totals.errors and errors.overall and the table's overall row use. */
int64_t kgl_result_errors(const kgl_result *r, int row);

/* kgl_result_warmup_s — the seconds of warm-up the run had: config.warmup_s,
 * or warmup_done_s when it was cut short. */
double kgl_result_warmup_s(const kgl_result *r);

/*
 * kgl_result_mergeable — 0 when `keygate report merge` may fold b into a
 * (a: the first file, or what was merged so far); else -1 with one line in
 * why naming what differs. The rule: both measured something
 * (kgl_result_measured); the same traffic — config.url, method, header
 * form, mix and per-class expectations equal, or the merged counts mean
 * different things; and their measured spans overlap (start < the other's
 * end, both ways), since a merge takes its runs as concurrent (rates add
 * up, rps is over the union of the spans): runs one after the other would
 * show half their rps. Protocol, engine, connections, threads, rate and
 * duration may differ (machines driving one target). `merge --force`
 * skips the traffic and span tests, never the measured one.
 */
int kgl_result_mergeable(const kgl_result *a, const kgl_result *b, char *why,
                         size_t whycap);

/* kgl_class_stats_merge — add src's counts and histogram into dst. 0, or -1
 * when the histogram layouts differ or a count would pass INT64_MAX (dst
 * unchanged: nothing ever wraps). */
int kgl_class_stats_merge(kgl_class_stats *dst, const kgl_class_stats *src);

/* kgl_result_add_second — append a copy of *s to the series (growing it).
 * 0, or -1 out of memory. */
int kgl_result_add_second(kgl_result *r, const kgl_second *s);

/*
 * kgl_result_merge — fold src into dst, as if one run had made both: counts
 * and histograms added (exact), samples appended while room is left, the
 * span becomes the union of both spans, series entries of the same
 * wall-clock second (start_unix_ns / 1e9 + t) summed (their percentiles:
 * the larger of the two, an upper bound), runs added. Refuses, with a
 * one-line reason in why, results of another schema version or histogram
 * layout, and a merge whose counts (or runs, or a second's t) would pass
 * what their type holds. 0, or -1 (dst unchanged).
 * Merged runs are taken as concurrent (threads of one run, machines on one
 * target): config.rate and rate_achieved add up, max_lag_ms is the larger;
 * dst keeps its other config. The merge is interrupted when an input was
 * (the first interrupted input's signal). A dst that has measured nothing
 * (fresh from kgl_result_init: no span, requests, samples or series) takes
 * src's config, tool version and runs. Threshold outcomes are dropped (they
 * described the inputs): evaluate again on the merged result.
 */
int kgl_result_merge(kgl_result *dst, const kgl_result *src, char *why,
                     size_t whycap);

/*
 * kgl_result_write_json — write r as one JSON document (docs/load.md's
 * schema) to the file at path ("-" for stdout), replacing it whole (written
 * aside, then renamed). 0, or -1 with a one-line reason in why.
 */
int kgl_result_write_json(const kgl_result *r, const char *path, char *why,
                          size_t whycap);

/*
 * kgl_result_read_json — read a file written by kgl_result_write_json into
 * *r (which this initialises); "-" reads standard input. Refuses, with a
 * one-line reason naming the file, what is not such a file, another schema
 * name, or a version this build cannot read, a required field missing or of
 * the wrong JSON type, a histogram that does not rebuild exactly, counts
 * that do not add up (requests = ok + mismatches + errors per class, "all"
 * the sum of the classes) or whose sums pass INT64_MAX, an end before the
 * start, and a path that is not a regular file (a folder, a FIFO: refused
 * without blocking). Any histogram layout kgl_hist_init accepts is read
 * (kgl_result_merge is where layouts must agree). Text fields pass through
 * kgl_redact_keys again. 0, or -1 (*r then freed).
 */
int kgl_result_read_json(const char *path, kgl_result *r, char *why,
                         size_t whycap);

/* kgl_fmt_latency — a latency in µs as the end-of-run table prints it:
 * "850us", "1.21ms", "121ms", "1.21s", into out (capacity cap). */
void kgl_fmt_latency(int64_t us, char *out, size_t cap);

/* kgl_md_put — s to f as markdown text that renders as s: the characters
 * markdown acts on (\ ` * _ { } [ ] ( ) < > ! # @ | ~ & :) backslash-escaped
 * (CommonMark §2.4), so text from a result file (an engine, a header, a
 * method) opens no link, image, emphasis, HTML tag, entity, table cell,
 * autolink or @mention. For text outside code spans. */
void kgl_md_put(const char *s, FILE *f);

/* Output formats of the end-of-run table. */
typedef enum kgl_table_format {
  KGL_TABLE_TEXT = 0,
  KGL_TABLE_MARKDOWN = 1
} kgl_table_format;

/*
 * kgl_result_print — the end-of-run report: the target and set-up line,
 * one row per class with traffic and the overall row (requests, rps,
 * mismatches, errors, p50/p99/p99.9/max), mismatch kinds, socket errors by
 * kind, the open-loop rate line, the samples, the thresholds. Text for a
 * terminal or markdown for a pull-request comment.
 */
void kgl_result_print(const kgl_result *r, FILE *f, kgl_table_format fmt);

/* ---- thresholds ---------------------------------------------------------
 * Grammar: [CLASS "."] METRIC OP NUMBER [UNIT]
 *   CLASS  valid | invalid | missing | expired   (absent: all traffic)
 *   METRIC p50 p90 p99 p99.9 p99.99 max mean min (latency; UNIT us|ms|s,
 *          required: no default) | rps | requests | mismatches | errors (a
 *          count, or with UNIT % a share of requests)
 *   OP     < <= > >= == !=
 * Examples: p99<50ms  valid.p99.9<100ms  mismatches==0  errors<0.1%
 *           rps>=1000
 */
typedef enum kgl_metric {
  KGL_M_P50 = 0,
  KGL_M_P90 = 1,
  KGL_M_P99 = 2,
  KGL_M_P999 = 3,
  KGL_M_P9999 = 4,
  KGL_M_MAX = 5,
  KGL_M_MEAN = 6,
  KGL_M_MIN = 7, /* the latencies end here */
  KGL_M_RPS = 8,
  KGL_M_REQUESTS = 9,
  KGL_M_MISMATCHES = 10,
  KGL_M_ERRORS = 11
} kgl_metric;

typedef enum kgl_op {
  KGL_OP_LT = 0,
  KGL_OP_LE = 1,
  KGL_OP_GT = 2,
  KGL_OP_GE = 3,
  KGL_OP_EQ = 4,
  KGL_OP_NE = 5
} kgl_op;

typedef struct kgl_threshold {
  char expr[96];
  int row;           /* kgl_class, or KGL_ALL */
  int metric;        /* kgl_metric */
  int op;            /* kgl_op */
  double value;      /* in µs for latencies, a fraction for %, else as given */
  int percent;       /* 1 when UNIT was % */
  double unit_scale; /* µs per unit of the expression (latencies) */
} kgl_threshold;

/* kgl_threshold_parse — parse expr. 0, or -1 with a one-line reason. */
int kgl_threshold_parse(const char *expr, kgl_threshold *t, char *why,
                        size_t whycap);

/* kgl_threshold_parse_given — kgl_threshold_parse for a threshold a user
 * gives (--threshold): requests, mismatches and errors without % are
 * counts, and a number that is not whole is refused too (errors<0.1 held
 * only for none). A threshold recorded in a results file is read by
 * kgl_threshold_parse, as it was written. */
int kgl_threshold_parse_given(const char *expr, kgl_threshold *t, char *why,
                              size_t whycap);

/* kgl_threshold_defaults — the thresholds every run is held to, added to
 * th[0..n) (capacity cap) unless one of th already names their metric on
 * the all row (a class's own threshold is one more): mismatches==0 and
 * errors==0 (a load test whose answers are
 * wrong, or missing, has failed). Returns the new count. Callers leave
 * room: at most KGL_MAX_USER_THRESHOLDS of their own. */
#define KGL_MAX_USER_THRESHOLDS (KGL_MAX_THRESHOLDS - 2)
int kgl_threshold_defaults(kgl_threshold *th, int n, int cap);

/* kgl_threshold_eval — evaluate t on r: fills *out (actual value in the
 * expression's own unit, holds). Returns out->holds.
 * A latency compares the histogram's reported value in µs: for p99, the
 * highest value of the bucket holding the 99th-percentile sample
 * (HdrHistogram's definition, within 0.1% of the true value at 3 digits).
 * A class without traffic measures 0 on every metric (and 0% for %). */
int kgl_threshold_eval(const kgl_threshold *t, const kgl_result *r,
                       kgl_threshold_outcome *out);

/* kgl_threshold_format — one line for o into buf (capacity cap, always
 * NUL-terminated when cap > 0): "p99<50ms holds (3.40ms)" or
 * "errors<0.1% VIOLATED (0.52%)", the actual value in the expression's
 * unit. Returns the length snprintf would have written. */
int kgl_threshold_format(const kgl_threshold_outcome *o, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_LOAD_RESULT_H */
