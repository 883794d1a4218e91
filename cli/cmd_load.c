/*
 * cli/cmd_load.c — `keygate load`: mixed valid, invalid, missing and
 * expired credentials at any server, every response verified, latency per
 * class, thresholds that set the exit code (docs/load.md).
 *
 * Exit codes, as grep and diff have them: 0 every threshold holds; 1 one is
 * violated (each named); 2 a usage error or a run that could not happen
 * (unreachable target, untrusted certificate, unreadable key file); 130
 * or 143 a run stopped by SIGINT or SIGTERM (it says so, and its results
 * are still written, marked interrupted).
 * Every run is held to mismatches==0 and errors==0, each unless a
 * --threshold names its metric on the all row (kgl_threshold_defaults): a
 * load test whose answers are wrong, or missing, has failed.
 */
#define _GNU_SOURCE /* getopt_long with -std=c11 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "load/html.h"
#include "load/load.h"
#include "load/outfile.h"
#include "load/redact.h"
#include "load/result.h"

#define CMD "load"

/* The longest --duration and --warmup: 30 days (their sum in ns stays far
 * inside an int64_t). */
#define DURATION_MAX_S (30.0 * 24 * 3600)

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: keygate load URL [--keys FILE] [options]\n"
      "\n"
      "Fire mixed valid, invalid, missing and expired API keys at URL and\n"
      "verify every response against the contract (status, error.code,\n"
      "WWW-Authenticate, X-Request-Id).\n"
      "\n"
      "traffic:\n"
      "  --keys FILE            <class><TAB><key> lines, as 'keygate keys "
      "seed\n"
      "                         --out FILE' writes (valid, expired, "
      "deactivated)\n"
      "  --mix SPEC             class weights (default "
      "valid=70,invalid=15,missing=10,expired=5)\n"
      "  --header MODE          bearer | x-api-key | mixed (default mixed)\n"
      "  --method M             request method (default GET)\n"
      "  --expect CLASS=STATUS[:code]\n"
      "                         override an expectation (repeatable)\n"
      "load:\n"
      "  -c, --connections N    connections in all (default 64)\n"
      "  -t, --threads T        threads, one event loop each (default 1)\n"
      "  -R, --rate R           open loop: R requests/s over all threads,\n"
      "                         latency from each request's scheduled time\n"
      "  -d, --duration D       how long to send (default 10s; a number and\n"
      "                         its unit, ms, s, m, h, d or w; at most 720h);\n"
      "                         open loop: what was due in it is still owed,\n"
      "                         the run ends at most --timeout after it\n"
      "  -n, --requests N       send N requests instead of a duration\n"
      "  --warmup D             send, verify, but do not measure for D first\n"
      "  --timeout D            a response slower than D is an error (5s);\n"
      "                         open loop: D counts from the due time\n"
      "  --seed S               the traffic's random seed (default 0)\n"
      "protocol:\n"
      "  --http2                HTTP/2 only (h2c with prior knowledge on "
      "http://)\n"
      "  --http1.1              HTTP/1.1 only (https:// offers h2 by default)\n"
      "  --streams M            HTTP/2 streams per connection (default 10)\n"
      "  --engine E             native (default) | curl\n"
      "  -k, --insecure         do not verify the server's certificate\n"
      "  --cacert FILE          verify it against this CA file\n"
      "output:\n"
      "  --threshold EXPR       e.g. p99<50ms valid.p99.9<100ms mismatches==0\n"
      "                         errors<0.1%% rps>=1000 (repeatable; also\n"
      "                         mismatches==0 and errors==0, each unless one\n"
      "                         names that metric on the all row)\n"
      "  --json FILE            the whole result, histograms included\n"
      "  --html FILE            a self-contained HTML report of the run\n"
      "                         (either as '-': standard output, and the\n"
      "                         table to standard error)\n"
      "  -q, --quiet            no progress line and no table\n"
      "\n"
      "exit: 0 every threshold holds, 1 one is violated, 2 usage error or the\n"
      "run could not happen, 130 (SIGINT) or 143 (SIGTERM) the run was cut\n"
      "short. Keys are never printed: sk_live_****Ab3x.\n");
}

static int parse_count(const char *s, long long lo, long long hi,
                       long long *out) {
  char *end = NULL;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  /* ERANGE: strtoll clamps, and a clamped value is not what was asked */
  if (end == s || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
    return -1;
  }
  *out = v;
  return 0;
}

/* parse_seed — decimal digits only, 0..2^64-1 (the JSON keeps seeds above
 * 2^63 as text); -1 for anything else, a value beyond included (strtoull
 * would clamp it, or wrap a '-'). */
static int parse_seed(const char *s, uint64_t *out) {
  if (*s < '0' || *s > '9') {
    return -1;
  }
  char *end = NULL;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (*end != '\0' || errno == ERANGE) {
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

/* "valid=70,invalid=15": classes not named get 0. */
static int parse_mix(const char *s, int mix[KGL_NCLASS]) {
  int seen[KGL_NCLASS] = {0};
  for (int c = 0; c < KGL_NCLASS; c++) {
    mix[c] = 0;
  }
  const char *p = s;
  while (*p != '\0') {
    const char *eq = strchr(p, '=');
    const size_t item = strcspn(p, ",");
    if (eq == NULL || eq > p + item) {
      return -1;
    }
    kgl_class c;
    if (kgl_class_parse(p, (size_t)(eq - p), &c) != 0 || seen[c]) {
      return -1;
    }
    char num[16];
    const size_t nl = (size_t)(p + item - eq - 1);
    if (nl == 0 || nl >= sizeof num) {
      return -1;
    }
    memcpy(num, eq + 1, nl);
    num[nl] = '\0';
    long long w;
    if (parse_count(num, 0, 1000000, &w) != 0) {
      return -1;
    }
    mix[c] = (int)w;
    seen[c] = 1;
    p += item;
    if (*p == ',') {
      p++;
      if (*p == '\0') {
        return -1;
      }
    }
  }
  return 0;
}

enum {
  O_KEYS = 1000,
  O_MIX,
  O_HEADER,
  O_METHOD,
  O_EXPECT,
  O_WARMUP,
  O_TIMEOUT,
  O_SEED,
  O_HTTP2,
  O_HTTP11,
  O_STREAMS,
  O_ENGINE,
  O_CACERT,
  O_THRESHOLD,
  O_JSON,
  O_HTML
};

static const struct option LONGOPTS[] = {
    {"help", no_argument, NULL, 'h'},
    {"keys", required_argument, NULL, O_KEYS},
    {"mix", required_argument, NULL, O_MIX},
    {"header", required_argument, NULL, O_HEADER},
    {"method", required_argument, NULL, O_METHOD},
    {"expect", required_argument, NULL, O_EXPECT},
    {"connections", required_argument, NULL, 'c'},
    {"threads", required_argument, NULL, 't'},
    {"rate", required_argument, NULL, 'R'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"seed", required_argument, NULL, O_SEED},
    {"http2", no_argument, NULL, O_HTTP2},
    {"http1.1", no_argument, NULL, O_HTTP11},
    {"streams", required_argument, NULL, O_STREAMS},
    {"engine", required_argument, NULL, O_ENGINE},
    {"insecure", no_argument, NULL, 'k'},
    {"cacert", required_argument, NULL, O_CACERT},
    {"threshold", required_argument, NULL, O_THRESHOLD},
    {"json", required_argument, NULL, O_JSON},
    {"html", required_argument, NULL, O_HTML},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0}};

typedef struct load_args {
  kgl_options o;
  kgl_threshold th[KGL_MAX_THRESHOLDS];
  int nth;
  const char *json;
  const char *html;
  int quiet;
  int duration_given, requests_given;
} load_args;

/* bad — the option refused, its value echoed masked (kgl_redact_arg: a key
 * or a key body typed into the wrong option never reaches the terminal),
 * and what it wants (which may quote the value: masked too). */
static int bad(const char *opt, const char *val, const char *want) {
  char v[256], w[512];
  kgl_redact_arg(val, strlen(val), v, sizeof v);
  kgl_redact_arg(want, strlen(want), w, sizeof w);
  return cli_error(CLI_EXIT_USAGE, CMD, "%s '%s': %s", opt, v, w);
}

/* failed — a message of the load library (which may quote the URL or an
 * argument), masked as every report is. */
static int failed(int rc, const char *why) {
  char w[CLI_WHY_MAX]; /* whole: cli_error cuts after its mask */
  kgl_redact_keys(why, strlen(why), w, sizeof w);
  return cli_error(rc, CMD, "%s", w);
}

/* One option; 0, -1 for --help, or CLI_EXIT_USAGE. */
static int one_option(load_args *a, int c, char **argv) {
  kgl_options *o = &a->o;
  long long n;
  double d;
  char why[256];
  switch (c) {
  case 'h':
    usage(stdout);
    return -1;
  case O_KEYS:
    o->keys_path = optarg;
    return 0;
  case O_MIX:
    return parse_mix(optarg, o->mix) == 0
               ? 0
               : bad("--mix", optarg,
                     "want CLASS=WEIGHT,... with classes valid, invalid, "
                     "missing, expired (each once) and weights 0..1000000");
  case O_HEADER:
    if (strcmp(optarg, "bearer") == 0) {
      o->header = KGL_HEADER_BEARER;
    } else if (strcmp(optarg, "x-api-key") == 0) {
      o->header = KGL_HEADER_X_API_KEY;
    } else if (strcmp(optarg, "mixed") == 0) {
      o->header = KGL_HEADER_MIXED;
    } else {
      return bad("--header", optarg, "want bearer, x-api-key or mixed");
    }
    return 0;
  case O_METHOD: {
    const size_t len = strlen(optarg);
    int ok = len > 0 && len < 16;
    for (size_t i = 0; i < len && ok; i++) {
      ok = optarg[i] >= 'A' && optarg[i] <= 'Z';
    }
    if (!ok) {
      return bad("--method", optarg, "want an upper-case method (GET, POST)");
    }
    o->method = optarg;
    return 0;
  }
  case O_EXPECT: {
    kgl_class cls;
    kgl_expect e;
    if (kgl_expect_parse(optarg, strlen(optarg), &cls, &e, why, sizeof why) !=
        0) {
      return bad("--expect", optarg, why);
    }
    o->expect[cls] = e;
    return 0;
  }
  case 'c':
    if (parse_count(optarg, 1, 100000, &n) != 0) {
      return bad("--connections", optarg, "want a number 1..100000");
    }
    o->connections = (int)n;
    return 0;
  case 't':
    if (parse_count(optarg, 1, 256, &n) != 0) {
      return bad("--threads", optarg, "want a number 1..256");
    }
    o->threads = (int)n;
    return 0;
  case 'R': {
    char *end = NULL;
    d = strtod(optarg, &end);
    if (end == optarg || *end != '\0' || !isfinite(d) || d <= 0 || d > 1e8) {
      return bad("--rate", optarg, "want requests per second, > 0");
    }
    if (d < 1e-6) {
      /* a request every 10^6 s at most: the gap in ns must fit an int64_t
       * (1e-13 overflowed it, review 100), and 720h would send nothing */
      return bad("--rate", optarg, "at least 0.000001 (one in 10^6 s)");
    }
    o->rate = d;
    return 0;
  }
  case 'd':
    if (cli_parse_interval(optarg, &d) != 0 &&
        (optarg[0] != '-' || cli_parse_interval(optarg + 1, &d) != 0)) {
      return bad("--duration", optarg,
                 "want a duration with its unit: 500ms, 30s, 2m, 1h");
    }
    if (optarg[0] == '-' || d <= 0) {
      /* "0s" and "-1s" are durations, just not ones a run can last */
      return bad("--duration", optarg,
                 "must be more than zero: 500ms, 30s, 2m, 1h");
    }
    if (d > DURATION_MAX_S) {
      /* in ns it must fit an int64_t: 10000000000s overflowed (review 96) */
      return bad("--duration", optarg, "at most 720h (30 days)");
    }
    o->duration_s = d;
    a->duration_given = 1;
    return 0;
  case 'n':
    if (parse_count(optarg, 1, (long long)1 << 50, &n) != 0) {
      return bad("--requests", optarg, "want a number >= 1");
    }
    o->requests = n;
    a->requests_given = 1;
    return 0;
  case O_WARMUP:
    if (cli_parse_interval(optarg, &d) != 0) {
      return bad("--warmup", optarg, "want a duration with its unit: 2s");
    }
    if (d > DURATION_MAX_S) {
      return bad("--warmup", optarg, "at most 720h (30 days)");
    }
    o->warmup_s = d;
    return 0;
  case O_TIMEOUT:
    if (cli_parse_interval(optarg, &d) != 0 || d < 0.001 || d > 60) {
      return bad("--timeout", optarg, "want a duration from 1ms to 60s");
    }
    o->timeout_s = d;
    return 0;
  case O_SEED:
    if (parse_seed(optarg, &o->seed) != 0) {
      return bad("--seed", optarg, "want a number 0..18446744073709551615");
    }
    return 0;
  case O_HTTP2:
  case O_HTTP11:
    if (o->http != KGL_HTTP_AUTO &&
        o->http != (c == O_HTTP2 ? KGL_HTTP_2 : KGL_HTTP_1)) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--http2 and --http1.1 exclude each other: give one "
                       "(neither: https:// offers both by ALPN)");
    }
    o->http = c == O_HTTP2 ? KGL_HTTP_2 : KGL_HTTP_1;
    return 0;
  case O_STREAMS:
    if (parse_count(optarg, 1, 1000, &n) != 0) {
      return bad("--streams", optarg, "want a number 1..1000");
    }
    o->streams = (int)n;
    return 0;
  case O_ENGINE:
    if (strcmp(optarg, "native") == 0) {
      o->engine = KGL_ENGINE_NATIVE;
    } else if (strcmp(optarg, "curl") == 0) {
      o->engine = KGL_ENGINE_CURL;
    } else {
      return bad("--engine", optarg, "want native or curl");
    }
    return 0;
  case 'k':
    o->insecure = 1;
    return 0;
  case O_CACERT:
    o->cacert = optarg;
    return 0;
  case O_THRESHOLD:
    if (a->nth >= KGL_MAX_USER_THRESHOLDS) {
      return cli_error(CLI_EXIT_USAGE, CMD, "at most %d thresholds",
                       KGL_MAX_USER_THRESHOLDS);
    }
    if (kgl_threshold_parse_given(optarg, &a->th[a->nth], why, sizeof why) !=
        0) {
      return cli_threshold_error(CMD, why);
    }
    a->nth++;
    return 0;
  case O_JSON:
    a->json = optarg;
    return 0;
  case O_HTML:
    a->html = optarg;
    return 0;
  case 'q':
    a->quiet = 1;
    return 0;
  default:
    return cli_getopt_error(CMD, argv, c);
  }
}

static int parse_args(load_args *a, int argc, char **argv) {
  kgl_options_default(&a->o);
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":hc:t:R:d:n:kq", LONGOPTS, NULL)) !=
         -1) {
    const int rc = one_option(a, c, argv);
    if (rc != 0) {
      return rc;
    }
  }
  if (argc - optind != 1) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     argc - optind == 0
                         ? "give the URL to load, e.g. keygate load "
                           "http://127.0.0.1:8080/api/v1/iocs --keys keys.tsv"
                         : "one URL only; options go before or after it");
  }
  a->o.url = argv[optind];
  if (a->duration_given && a->requests_given) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--duration and --requests exclude each other");
  }
  if (a->requests_given) {
    a->o.duration_s = 0;
  }
  if (a->o.insecure && a->o.cacert != NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--insecure and --cacert exclude each other");
  }
  if (a->o.connections < a->o.threads) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--connections (%d) must be at least --threads (%d)",
                     a->o.connections, a->o.threads);
  }
  a->nth = kgl_threshold_defaults(a->th, a->nth, KGL_MAX_THRESHOLDS);
  a->o.progress = !a->quiet && isatty(STDERR_FILENO);
  /* a result that cannot be written is found out before the run, not
   * after it */
  char why[CLI_WHY_MAX];
  if (a->json != NULL && a->html != NULL && strcmp(a->json, "-") == 0 &&
      strcmp(a->html, "-") == 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--json - and --html - both want standard output: give "
                     "one of them a file");
  }
  const kgl_named_path in[] = {{"--keys", a->o.keys_path},
                               {"--cacert", a->o.cacert}};
  const kgl_named_path out[] = {{"--json", a->json}, {"--html", a->html}};
  if (kgl_out_distinct(in, 2, out, 2, why, sizeof why) != 0) {
    return failed(CLI_EXIT_USAGE, why);
  }
  if ((a->json != NULL && kgl_out_check(a->json, why, sizeof why) != 0) ||
      (a->html != NULL && kgl_out_check(a->html, why, sizeof why) != 0)) {
    return failed(CLI_EXIT_USAGE, why);
  }
  if (strcmp(a->o.method, "HEAD") == 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--method HEAD: answers to HEAD carry no body, so the "
                     "error code cannot be verified; use GET");
  }
  return 0;
}

/* unknown_keys_hint — a first hour's most common run: keys seeded into
 * one store while the server reads another. When every measured
 * valid-class request was answered 401 invalid_api_key, one line under
 * the verdict says what that most likely means (the samples alone could
 * be warm-up answers or another class's: review 114). */
static void unknown_keys_hint(const kgl_result *r, const char *keys_path) {
  const int64_t n = r->cls[KGL_VALID].requests;
  if (keys_path != NULL && n > 0 && r->valid_unknown == n) {
    cli_error(0, CMD,
              "every valid key was refused (401 invalid_api_key): the server "
              "knows none of the valid keys in %s; does it read the store "
              "they were seeded into?",
              keys_path);
  }
}

/* mark_cut_warmup — a run stopped (^C, SIGTERM) before its measured start
 * measured nothing, and the engine leaves its planned span, which lies
 * ahead of now: the result says instead that the warm-up was cut, how long
 * it ran, and puts the (empty) measured span at the moment it stopped. */
static void mark_cut_warmup(kgl_result *r) {
  struct timespec ts;
  if (kgl_result_measured(r) || clock_gettime(CLOCK_REALTIME, &ts) != 0) {
    return;
  }
  const int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (r->start_unix_ns <= now) {
    return; /* the warm-up ran whole: the measured span is as planned */
  }
  double done = r->config.warmup_s - (double)(r->start_unix_ns - now) / 1e9;
  r->warmup_cut = 1;
  r->warmup_done_s = done > 0 ? done : 0;
  r->start_unix_ns = now;
  r->end_unix_ns = now;
}

int cmd_load(int argc, char **argv) {
  static load_args a; /* large: the thresholds */
  memset(&a, 0, sizeof a);
  const int prc = parse_args(&a, argc, argv);
  if (prc != 0) {
    return prc < 0 ? CLI_EXIT_OK : prc;
  }
  kgl_result r;
  char why[CLI_WHY_MAX];
  if (kgl_load_run(&a.o, &r, why, sizeof why) != 0) {
    kgl_result_free(&r);
    return failed(CLI_EXIT_USAGE, why);
  }
  mark_cut_warmup(&r);
  int violated = 0;
  for (int i = 0; i < a.nth; i++) {
    violated |= !kgl_threshold_eval(&a.th[i], &r, &r.thresholds[i]);
  }
  /* thresholds say nothing of a run that measured nothing (exit 2 below) */
  r.nthresholds = kgl_result_measured(&r) ? a.nth : 0;
  int rc = violated ? CLI_EXIT_NO : CLI_EXIT_OK;
  char cut[160];
  kgl_result_interruption(&r, cut, sizeof cut);
  if (!kgl_result_measured(&r)) {
    /* no threshold means anything of a run that measured nothing */
    if (r.interrupted) {
      cli_error(CLI_EXIT_USAGE, CMD, "nothing was measured: %s", cut);
    } else if (r.warmup_cut) {
      cli_error(CLI_EXIT_USAGE, CMD,
                "nothing was measured: the run was stopped in its warm-up "
                "(%.1f of %.1f s)",
                r.warmup_done_s, r.config.warmup_s);
    } else {
      cli_error(CLI_EXIT_USAGE, CMD,
                "nothing was measured (no request completed after the "
                "warm-up): run longer, or check the target");
    }
    rc = CLI_EXIT_USAGE;
  }
  if (!a.quiet) {
    /* with --json - or --html - that document owns standard output: the
     * table goes to standard error */
    const int doc_on_stdout = (a.json != NULL && strcmp(a.json, "-") == 0) ||
                              (a.html != NULL && strcmp(a.html, "-") == 0);
    FILE *tf = doc_on_stdout ? stderr : stdout;
    kgl_result_print(&r, tf, KGL_TABLE_TEXT);
    if (fflush(tf) != 0 || ferror(tf)) {
      cli_error(CLI_EXIT_USAGE, CMD, "cannot write the table to %s: %s",
                tf == stdout ? "standard output" : "standard error",
                strerror(errno));
      rc = CLI_EXIT_USAGE;
    }
  }
  if (a.json != NULL &&
      kgl_result_write_json(&r, a.json, why, sizeof why) != 0) {
    failed(CLI_EXIT_USAGE, why);
    rc = CLI_EXIT_USAGE;
  }
  if (a.html != NULL &&
      kgl_html_write_file(&r, NULL, a.html, why, sizeof why) != 0) {
    failed(CLI_EXIT_USAGE, why);
    rc = CLI_EXIT_USAGE;
  }
  /* an exit 2 said its one line: no verdict beside it */
  for (int i = 0; rc != CLI_EXIT_USAGE && i < r.nthresholds; i++) {
    if (!r.thresholds[i].holds) {
      char line[256];
      kgl_threshold_format(&r.thresholds[i], line, sizeof line);
      fprintf(stderr, "keygate load: threshold violated: %s\n", line);
    }
  }
  if (rc == CLI_EXIT_NO) {
    unknown_keys_hint(&r, a.o.keys_path);
  }
  if (r.interrupted) {
    /* a cut run is no verdict: it exits as a shell reports the signal,
     * whatever its thresholds say of the span that ran */
    if (kgl_result_measured(&r)) {
      cli_error(
          0, CMD, "interrupted: %s; the table%s cover only the span that ran",
          cut, a.json != NULL || a.html != NULL ? " and result files" : "");
    }
    rc = CLI_EXIT_SIGNAL(r.interrupted);
  }
  kgl_result_free(&r);
  return rc;
}
