/*
 * cli/cmd_probe.c — `keygate probe`: check a deployed API against the
 * authentication contract, case by case (load/probe.h, docs/probe.md).
 *
 * Keys come from a file (--key-file, its first line) or the environment
 * (KEYGATE_PROBE_KEY, KEYGATE_PROBE_EXPIRED_KEY), so they stay out of `ps`
 * and shell history; --key KEY works too, and its argument is overwritten
 * in argv as soon as it is read (a process listing taken later shows
 * x's; one taken before still shows the key, hence the other two ways).
 *
 * --json is checked before the run (kgl_out_check) and written whole at
 * its end (kgl_out): a run that ends in exit 2 before a report leaves no
 * file.
 *
 * Exit codes: 0 nothing deviates; 1 at least one case deviates; 2 a usage
 * error, a target that cannot be reached, one that speaks only HTTP/2, or
 * every case selected skipped (nothing could be checked, so neither 0 nor
 * 1 would be true).
 */
#define _GNU_SOURCE /* getopt_long with -std=c11 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "load/outfile.h"
#include "load/probe.h"

#define CMD "probe"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: keygate probe URL (--key-file FILE | --key KEY) [options]\n"
      "       keygate probe --list [--only CASE,...]\n"
      "\n"
      "Send one request per case (header forms, scheme case, whitespace,\n"
      "empty, wrong, expired and ambiguous keys, keys in the URL) and check\n"
      "each answer against the contract: status, error.code,\n"
      "WWW-Authenticate, Cache-Control, Content-Type, X-Request-Id, and no\n"
      "echo of the key. One request per connection, --interval apart.\n"
      "\n"
      "keys (first line of a file; or the environment; --key is seen by ps):\n"
      "  --key-file FILE          the valid key (else $KEYGATE_PROBE_KEY)\n"
      "  --key KEY                the valid key on the command line\n"
      "  --expired-key-file FILE  an expired or deactivated key (else\n"
      "                           $KEYGATE_PROBE_EXPIRED_KEY); without one\n"
      "                           the expired cases are skipped\n"
      "  --expired-key KEY        the same, on the command line\n"
      "  --prefix P               the keys' prefix (default sk_live_)\n"
      "  --policy strict|prefix   the keys' format (default strict: see\n"
      "                           docs/contract.md §3; checksum checked\n"
      "                           before any request)\n"
      "cases:\n"
      "  --only LIST              cases or groups, comma-separated\n"
      "  --list                   print the cases with their rationale\n"
      "connection:\n"
      "  --interval D             between two cases (default 100ms)\n"
      "  --timeout D              a case's deadline: connect, send and the\n"
      "                           whole answer (default 5s)\n"
      "  -k, --insecure           do not verify the server's certificate\n"
      "  --cacert FILE            verify it against this CA file\n"
      "output:\n"
      "  --json FILE              the report as JSON ('-': stdout, and the\n"
      "                           table to stderr)\n"
      "  -q, --quiet              no table; one line on stderr says how\n"
      "                           many cases deviate, if any\n"
      "\n"
      "exit: 0 nothing deviates, 1 a case deviates, 2 usage error, target\n"
      "unreachable, HTTP/2 only, or every case skipped. Keys are never\n"
      "printed: sk_live_****Ab3x.\n");
}

enum {
  O_KEY = 1000,
  O_KEY_FILE,
  O_EXPIRED_KEY,
  O_EXPIRED_KEY_FILE,
  O_PREFIX,
  O_POLICY,
  O_ONLY,
  O_LIST,
  O_INTERVAL,
  O_TIMEOUT,
  O_CACERT,
  O_JSON
};

static const struct option LONGOPTS[] = {
    {"help", no_argument, NULL, 'h'},
    {"key", required_argument, NULL, O_KEY},
    {"key-file", required_argument, NULL, O_KEY_FILE},
    {"expired-key", required_argument, NULL, O_EXPIRED_KEY},
    {"expired-key-file", required_argument, NULL, O_EXPIRED_KEY_FILE},
    {"prefix", required_argument, NULL, O_PREFIX},
    {"policy", required_argument, NULL, O_POLICY},
    {"only", required_argument, NULL, O_ONLY},
    {"list", no_argument, NULL, O_LIST},
    {"interval", required_argument, NULL, O_INTERVAL},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"insecure", no_argument, NULL, 'k'},
    {"cacert", required_argument, NULL, O_CACERT},
    {"json", required_argument, NULL, O_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {NULL, 0, NULL, 0}};

/* Where a key comes from. */
typedef struct key_src {
  char value[KG_KEY_MAX_LEN + 2];
  size_t len;
  const char *file;
  int given; /* on the command line */
} key_src;

typedef struct probe_args {
  key_src key, expired;
  const char *prefix;
  kg_key_kind policy;
  const char *only;
  const char *json;
  const char *url;
  int list, quiet, insecure;
  const char *cacert;
  double interval_s, timeout_s;
  unsigned char *selected;
} probe_args;

/* key_both — the usage line for a key given both as a flag and as a file
 * (docs/probe.md: a usage error; a repeated flag or file overrides, as
 * every repeated option does, docs/cli.md). */
static int key_both(const char *opt, const char *file_opt) {
  return cli_error(CLI_EXIT_USAGE, CMD,
                   "%s and %s both give the %s key: give one of them", opt,
                   file_opt, strcmp(opt, "--key") == 0 ? "valid" : "expired");
}

/* Copy a key from argv and overwrite the argument; a later one overrides
 * an earlier one. */
static int key_from_arg(key_src *k, const char *opt, const char *file_opt,
                        char *arg) {
  const size_t n = strlen(arg);
  if (k->file != NULL) {
    return key_both(opt, file_opt);
  }
  OPENSSL_cleanse(k->value, sizeof k->value);
  k->len = 0;
  if (n == 0 || n > KG_KEY_MAX_LEN) {
    return cli_error(CLI_EXIT_USAGE, CMD, "%s: want a key of 1 to %d bytes",
                     opt, KG_KEY_MAX_LEN);
  }
  memcpy(k->value, arg, n);
  k->len = n;
  k->given = 1;
  memset(arg, 'x', n);
  return 0;
}

/* The first line of path, without its line end and surrounding blanks.
 * Read as bytes, not as a C string: a NUL after the key (fgets stops
 * nowhere for it, and strcspn stopped there) is refused, as `keygate load`
 * refuses a NUL in a key file's line; so is a UTF-8 byte-order mark, named
 * (not "a byte a key cannot hold"). */
static int key_from_file(key_src *k, const char *opt) {
  FILE *f = fopen(k->file, "r");
  if (f == NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD, "%s %s: %s", opt, k->file,
                     strerror(errno));
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "%s %s is a directory; give the file that holds the key",
                     opt, k->file);
  }
  char line[KG_KEY_MAX_LEN + 64];
  const size_t got = fread(line, 1, sizeof line, f);
  const int rerr = ferror(f) ? errno : 0;
  fclose(f);
  if (rerr != 0) {
    OPENSSL_cleanse(line, sizeof line);
    return cli_error(CLI_EXIT_USAGE, CMD, "%s %s: cannot read it: %s", opt,
                     k->file, strerror(rerr));
  }
  const char *lf = memchr(line, '\n', got);
  const size_t end = lf != NULL ? (size_t)(lf - line) : got; /* the line */
  const char *cr = memchr(line, '\r', end);
  size_t n = cr != NULL ? (size_t)(cr - line) : end;
  const int nul = memchr(line, '\0', end) != NULL;
  const int bom = n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0;
  size_t b = 0;
  while (b < n && (line[b] == ' ' || line[b] == '\t')) {
    b++;
  }
  while (n > b && (line[n - 1] == ' ' || line[n - 1] == '\t')) {
    n--;
  }
  const int ok = !nul && !bom && n > b && n - b <= KG_KEY_MAX_LEN;
  if (ok) {
    memcpy(k->value, line + b, n - b);
    k->len = n - b;
  }
  OPENSSL_cleanse(line, sizeof line);
  if (nul) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "%s %s: a NUL byte in the first line: write the key "
                     "alone on it, as plain text (UTF-16 is not)",
                     opt, k->file);
  }
  if (bom) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "%s %s: the file starts with a byte-order mark: save it "
                     "as plain UTF-8 (or ASCII) without one",
                     opt, k->file);
  }
  if (!ok) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "%s %s: the first line must hold the key (1 to %d "
                     "bytes)",
                     opt, k->file, KG_KEY_MAX_LEN);
  }
  return 0;
}

static int key_from_env(key_src *k, const char *var) {
  const char *v = getenv(var);
  if (v == NULL || v[0] == '\0') {
    return 0;
  }
  const size_t n = strlen(v);
  if (n > KG_KEY_MAX_LEN) {
    return cli_error(CLI_EXIT_USAGE, CMD, "$%s: longer than a key (%d bytes)",
                     var, KG_KEY_MAX_LEN);
  }
  memcpy(k->value, v, n);
  k->len = n;
  return 0;
}

/* --only: case names or group names; sets a->selected. */
static int parse_only(probe_args *a) {
  size_t n;
  const kgl_probe_case *cases = kgl_probe_cases(&n);
  a->selected = calloc(n, 1);
  if (a->selected == NULL) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "out of memory");
  }
  const char *p = a->only;
  for (;;) {
    const size_t len = strcspn(p, ",");
    int hit = 0;
    for (size_t i = 0; i < n; i++) {
      if ((strlen(cases[i].name) == len &&
           memcmp(cases[i].name, p, len) == 0) ||
          (strlen(cases[i].group) == len &&
           memcmp(cases[i].group, p, len) == 0)) {
        a->selected[i] = 1;
        hit = 1;
      }
    }
    if (!hit) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--only: '%.*s' is no case or group; 'keygate probe "
                       "--list' names them",
                       (int)len, p);
    }
    if (p[len] == '\0') {
      return 0;
    }
    p += len + 1;
  }
}

static int one_option(probe_args *a, int c, char **argv) {
  switch (c) {
  case 'h':
    usage(stdout);
    return -1;
  case O_KEY:
    return key_from_arg(&a->key, "--key", "--key-file", optarg);
  case O_EXPIRED_KEY:
    return key_from_arg(&a->expired, "--expired-key", "--expired-key-file",
                        optarg);
  case O_KEY_FILE:
  case O_EXPIRED_KEY_FILE: {
    key_src *k = c == O_KEY_FILE ? &a->key : &a->expired;
    if (k->given) {
      return c == O_KEY_FILE ? key_both("--key", "--key-file")
                             : key_both("--expired-key", "--expired-key-file");
    }
    k->file = optarg; /* a later one overrides an earlier one */
    return 0;
  }
  case O_PREFIX:
    a->prefix = optarg;
    return 0;
  case O_POLICY:
    if (kg_key_kind_parse(optarg, strlen(optarg), &a->policy) != KG_OK) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--policy must be strict or prefix, not '%s'", optarg);
    }
    return 0;
  case O_ONLY:
    a->only = optarg;
    return 0;
  case O_LIST:
    a->list = 1;
    return 0;
  case O_INTERVAL:
    if (cli_parse_interval(optarg, &a->interval_s) != 0 || a->interval_s > 60) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--interval '%s': want 0 to 60s with its unit: 100ms, "
                       "1s",
                       optarg);
    }
    return 0;
  case O_TIMEOUT:
    if (cli_parse_interval(optarg, &a->timeout_s) != 0 || a->timeout_s < 0.01 ||
        a->timeout_s > 60) {
      return cli_error(CLI_EXIT_USAGE, CMD,
                       "--timeout '%s': want 10ms to 60s with its unit: 5s",
                       optarg);
    }
    return 0;
  case 'k':
    a->insecure = 1;
    return 0;
  case O_CACERT:
    a->cacert = optarg;
    return 0;
  case O_JSON:
    a->json = optarg;
    return 0;
  case 'q':
    a->quiet = 1;
    return 0;
  default:
    return cli_getopt_error(CMD, argv, c);
  }
}

static int parse_args(probe_args *a, int argc, char **argv) {
  a->prefix = "sk_live_";
  a->policy = KG_KEY_STRICT;
  a->interval_s = 0.1;
  a->timeout_s = 5;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":hkq", LONGOPTS, NULL)) != -1) {
    const int rc = one_option(a, c, argv);
    if (rc != 0) {
      return rc;
    }
  }
  if (a->only != NULL) {
    const int rc = parse_only(a);
    if (rc != 0) {
      return rc;
    }
  }
  if (a->list) {
    return 0;
  }
  if (argc - optind != 1) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     argc - optind == 0
                         ? "give the URL to probe, e.g. keygate probe "
                           "https://api.example.com/v1/items --key-file key"
                         : "one URL only; options go before or after it");
  }
  a->url = argv[optind];
  if (a->insecure && a->cacert != NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--insecure and --cacert exclude each other");
  }
  int rc = 0;
  if (a->key.file != NULL) {
    rc = key_from_file(&a->key, "--key-file");
  } else if (!a->key.given) {
    rc = key_from_env(&a->key, "KEYGATE_PROBE_KEY");
  }
  if (rc == 0 && a->expired.file != NULL) {
    rc = key_from_file(&a->expired, "--expired-key-file");
  } else if (rc == 0 && !a->expired.given) {
    rc = key_from_env(&a->expired, "KEYGATE_PROBE_EXPIRED_KEY");
  }
  if (rc != 0) {
    return rc;
  }
  if (a->key.len == 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "give a valid key: --key-file FILE, KEYGATE_PROBE_KEY "
                     "in the environment, or --key KEY");
  }
  char why[CLI_WHY_MAX];
  const kgl_named_path in[] = {{"--key-file", a->key.file},
                               {"--expired-key-file", a->expired.file},
                               {"--cacert", a->cacert}};
  const kgl_named_path out = {"--json", a->json};
  if (kgl_out_distinct(in, 3, &out, 1, why, sizeof why) != 0) {
    return cli_error(CLI_EXIT_USAGE, CMD, "%s", why);
  }
  if (a->json != NULL && kgl_out_check(a->json, why, sizeof why) != 0) {
    return cli_error(CLI_EXIT_USAGE, CMD, "--json %s", why);
  }
  return 0;
}

/* The first skipped case's reason (the probe's own words, never the
 * server's), for the line that says nothing was checked. */
static const char *first_skip_reason(const kgl_probe_report *rep) {
  for (size_t i = 0; i < rep->n; i++) {
    if (rep->selected[i] && rep->out[i].verdict == KGL_PROBE_SKIPPED &&
        rep->out[i].notes[0] != '\0') {
      return rep->out[i].notes;
    }
  }
  return "see the table";
}

static int probe(probe_args *a) {
  kgl_probe_keys *keys = calloc(1, sizeof *keys);
  if (keys == NULL) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "out of memory");
  }
  char why[CLI_WHY_MAX];
  /* the keys' format is checked offline, before any request: a mistyped
   * key would make every valid-key case blame the server */
  if (kgl_probe_keys_init(keys, a->prefix, a->key.value, a->key.len,
                          a->expired.value, a->expired.len, why,
                          sizeof why) != 0 ||
      kgl_probe_key_check(keys, a->policy, "valid", why, sizeof why) != 0 ||
      kgl_probe_key_check(keys, a->policy, "expired", why, sizeof why) != 0) {
    OPENSSL_cleanse(keys, sizeof *keys);
    free(keys);
    return cli_error(CLI_EXIT_USAGE, CMD, "%s", why);
  }
  kgl_probe_options o;
  memset(&o, 0, sizeof o);
  o.url = a->url;
  o.keys = keys;
  o.interval_s = a->interval_s;
  o.timeout_s = a->timeout_s;
  o.insecure = a->insecure;
  o.cacert = a->cacert;
  o.selected = a->selected;
  kgl_probe_report rep;
  const int rc = kgl_probe_run(&o, &rep, why, sizeof why);
  int exit_code;
  if (rc < 0) {
    exit_code = cli_error(CLI_EXIT_USAGE, CMD, "%s", why);
  } else {
    if (!a->quiet) {
      /* with --json - the JSON owns standard output: the table goes to
       * standard error, as keygate load's does */
      FILE *tf = a->json != NULL && strcmp(a->json, "-") == 0 ? stderr : stdout;
      kgl_probe_print(&rep, tf); /* flushed by cli_stdout_check */
    }
    /* 1: HTTP/2 only; 2: the target lost midway, the cases judged before
     * reported: exit 2 either way, as for a target never reached */
    exit_code = rep.deviation > 0 ? CLI_EXIT_NO : CLI_EXIT_OK;
    if (rc > 0) {
      exit_code = cli_error(CLI_EXIT_USAGE, CMD, "%s", why);
    } else if (rep.pass + rep.deviation == 0) {
      /* every case selected was skipped: "nothing deviates" (0) would be
       * a pass of nothing, as for an HTTP/2-only target */
      exit_code =
          cli_error(CLI_EXIT_USAGE, CMD,
                    "nothing was checked: the %zu case%s selected "
                    "%s skipped (%s)",
                    rep.skipped, rep.skipped == 1 ? "" : "s",
                    rep.skipped == 1 ? "was" : "were", first_skip_reason(&rep));
    }
    char jwhy[512];
    if (a->json != NULL &&
        kgl_probe_write_json(&rep, &o, a->json, jwhy, sizeof jwhy) != 0) {
      exit_code = cli_error(CLI_EXIT_USAGE, CMD, "%s", jwhy);
    }
    /* the verdict is 1 only when the table saying so got out (an exit 2
     * said its one line already: cli_stdout_check adds none) */
    exit_code = cli_stdout_check(CMD, exit_code);
    if (a->quiet && exit_code == CLI_EXIT_NO) {
      /* -q drops the table, not the verdict: one line says how many, as
       * load -q still names each threshold violated */
      cli_error(CLI_EXIT_NO, CMD,
                "%zu of %zu cases deviate from the contract; %s", rep.deviation,
                rep.pass + rep.deviation + rep.skipped,
                a->json != NULL ? "the JSON report says which"
                                : "run without -q (or with --json FILE) "
                                  "to see which");
    }
  }
  kgl_probe_report_free(&rep);
  OPENSSL_cleanse(keys, sizeof *keys);
  free(keys);
  return exit_code;
}

int cmd_probe(int argc, char **argv) {
  probe_args a;
  memset(&a, 0, sizeof a);
  int rc = parse_args(&a, argc, argv);
  if (rc == 0) {
    if (a.list) {
      kgl_probe_list(a.selected, stdout);
      rc = cli_stdout_check(CMD, CLI_EXIT_OK);
    } else {
      rc = probe(&a);
    }
  } else if (rc < 0) {
    rc = CLI_EXIT_OK;
  }
  OPENSSL_cleanse(&a.key, sizeof a.key);
  OPENSSL_cleanse(&a.expired, sizeof a.expired);
  free(a.selected);
  return rc;
}
