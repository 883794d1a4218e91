/*
 * cli/cmd_report.c — `keygate report`: show, merge, check, compare and draw
 * the JSON results of `keygate load` (docs/load.md, "## keygate report").
 *
 *   show RUN.json [--format table|json|markdown]
 *   merge A.json B.json ... [--out M.json]       (default: standard output)
 *   check RUN.json [--threshold EXPR]...
 *   compare OLD.json NEW.json [--fail-above PCT] [--format table|markdown|json]
 *   html RUN.json [BASELINE.json] --out FILE
 *
 * Exit codes, as `keygate load` has them: 0 success (every threshold holds,
 * no regression beyond --fail-above); 1 a threshold violated or a
 * significant regression; 2 trouble: a usage error, a file that cannot be
 * read, results that cannot be merged. Every failure is one stderr line
 * "keygate report <sub>: ...".
 */
#define _GNU_SOURCE /* getopt_long with -std=c11 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "load/compare.h"
#include "load/html.h"
#include "load/outfile.h"
#include "load/redact.h"
#include "load/result.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: keygate report <subcommand> FILE... [options]\n"
      "\n"
      "Show, merge, check, compare and draw the JSON results of\n"
      "'keygate load --json FILE'.\n"
      "\n"
      "  show RUN.json [--format table|json|markdown]\n"
      "      the end-of-run table again (markdown for a pull request)\n"
      "  merge A.json B.json ... [--out M.json] [--force]\n"
      "      one result of concurrent runs of the same traffic, histograms\n"
      "      merged exactly; refused when the URL, method, header form,\n"
      "      mix or expectations differ or the spans do not overlap\n"
      "      (--force merges anyway); the result goes to standard output\n"
      "      without --out\n"
      "  check RUN.json [--threshold EXPR]...\n"
      "      evaluate thresholds on a (merged) result; without --threshold\n"
      "      the ones the run recorded; and mismatches==0, errors==0 unless\n"
      "      one names that metric on the all row\n"
      "  compare OLD.json NEW.json [--fail-above PCT] [--format "
      "table|markdown|json]\n"
      "      per class old vs new with a verdict (faster, slower, same,\n"
      "      inconclusive) from a rank test of the per-second latencies;\n"
      "      fails when a class is significantly slower by more than PCT\n"
      "      (default %g%%)\n"
      "  html RUN.json [BASELINE.json] --out FILE\n"
      "      one self-contained HTML page (no script); the baseline is\n"
      "      drawn dashed\n"
      "\n"
      "exit: 0 success, 1 a threshold violated or a significant regression,\n"
      "2 usage error or a file that cannot be read or merged.\n",
      KGL_CMP_FAIL_ABOVE);
}

enum { O_FORMAT = 1000, O_OUT, O_THRESHOLD, O_FAIL_ABOVE, O_FORCE };

/* Which options each subcommand takes (bit = option - O_FORMAT). */
typedef struct sub {
  const char *name;
  unsigned options;
  int min_files, max_files;
  const char *files; /* for the usage line */
  int (*run)(const char *cmd, char **files, int nfiles);
} sub;

#define OPT(o) (1u << ((o)-O_FORMAT))

/* In enum order after help: one_option names an option by its index. */
static const struct option LONGOPTS[] = {
    {"help", no_argument, NULL, 'h'},
    {"format", required_argument, NULL, O_FORMAT},
    {"out", required_argument, NULL, O_OUT},
    {"threshold", required_argument, NULL, O_THRESHOLD},
    {"fail-above", required_argument, NULL, O_FAIL_ABOVE},
    {"force", no_argument, NULL, O_FORCE},
    {NULL, 0, NULL, 0}};

typedef struct report_args {
  const char *format;
  const char *out;
  kgl_threshold th[KGL_MAX_THRESHOLDS + 2]; /* and the defaults */
  int nth;
  double fail_above;
  int force; /* merge: skip kgl_result_mergeable's traffic and span tests */
} report_args;

static report_args A;

/* read_one — the result in path, or a one-line refusal (exit 2). */
static int read_one(const char *cmd, const char *path, kgl_result *r) {
  char why[CLI_WHY_MAX];
  if (kgl_result_read_json(path, r, why, sizeof why) != 0) {
    return cli_error(CLI_EXIT_USAGE, cmd, "%s", why);
  }
  return 0;
}

/* read_measured — read_one, and a one-line refusal (exit 2) of a result
 * that measured nothing (kgl_result_measured): no threshold, comparison or
 * merge says anything of it. A run cut short by a signal is read, with a
 * warning line: what it measured is true of its span (a merge of it is
 * marked interrupted too). */
static int read_measured(const char *cmd, const char *path, kgl_result *r) {
  int rc = read_one(cmd, path, r);
  if (rc == 0 && !kgl_result_measured(r)) {
    const int cut = r->warmup_cut;
    kgl_result_free(r);
    rc = cli_error(CLI_EXIT_USAGE, cmd,
                   "%s measured nothing (no request completed after the "
                   "warm-up%s): run the load again",
                   path, cut ? ", which was cut short" : "");
  }
  if (rc == 0 && r->interrupted) {
    /* figures of a cut run are true of the span that ran: used, said */
    char cut[160];
    kgl_result_interruption(r, cut, sizeof cut);
    fprintf(stderr,
            "keygate %s: warning: %s was interrupted (%s): its figures cover "
            "only the span that ran\n",
            cmd, path, cut);
  }
  return rc;
}

/* ---- show ----------------------------------------------------------------
 */

static int run_show(const char *cmd, char **files, int nfiles) {
  (void)nfiles;
  const char *fmt = A.format != NULL ? A.format : "table";
  if (strcmp(fmt, "table") != 0 && strcmp(fmt, "json") != 0 &&
      strcmp(fmt, "markdown") != 0) {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--format '%s': want table, json or markdown", fmt);
  }
  kgl_result r;
  int rc = read_one(cmd, files[0], &r);
  if (rc != 0) {
    return rc;
  }
  char why[CLI_WHY_MAX];
  if (strcmp(fmt, "json") == 0) {
    if (kgl_result_write_json(&r, "-", why, sizeof why) != 0) {
      rc = cli_error(CLI_EXIT_USAGE, cmd, "%s", why);
    }
  } else {
    kgl_result_print(&r, stdout,
                     fmt[0] == 'm' ? KGL_TABLE_MARKDOWN : KGL_TABLE_TEXT);
  }
  kgl_result_free(&r);
  return rc;
}

/* ---- merge ---------------------------------------------------------------
 */

/* What tells one run from another: a run read twice has all of it equal. */
typedef struct run_id {
  int64_t start, end, requests;
  uint64_t seed;
} run_id;

static run_id id_of(const kgl_result *r) {
  run_id id = {r->start_unix_ns, r->end_unix_ns, r->cls[KGL_ALL].requests,
               r->config.seed};
  return id;
}

/* warn_twice — one warning line when ids[i] equals an earlier file's: the
 * same run given twice has its counts added twice. */
static void warn_twice(const char *cmd, char **files, const run_id *ids,
                       int i) {
  for (int j = 0; j < i; j++) {
    if (memcmp(&ids[j], &ids[i], sizeof ids[i]) == 0) {
      fprintf(stderr,
              "keygate %s: warning: %s is the same run as %s (same span, "
              "seed and requests): its counts are added twice\n",
              cmd, files[i], files[j]);
      return;
    }
  }
}

static int run_merge(const char *cmd, char **files, int nfiles) {
  kgl_result acc, next;
  char why[CLI_WHY_MAX];
  run_id *ids = calloc((size_t)nfiles, sizeof *ids);
  if (ids == NULL) {
    return cli_error(CLI_EXIT_USAGE, cmd, "out of memory");
  }
  int rc = read_measured(cmd, files[0], &acc);
  if (rc != 0) {
    free(ids);
    return rc;
  }
  ids[0] = id_of(&acc);
  for (int i = 1; i < nfiles && rc == 0; i++) {
    rc = read_measured(cmd, files[i], &next);
    if (rc != 0) {
      break;
    }
    ids[i] = id_of(&next);
    warn_twice(cmd, files, ids, i);
    if (!A.force && kgl_result_mergeable(&acc, &next, why, sizeof why) != 0) {
      rc = cli_error(CLI_EXIT_USAGE, cmd, "%s: cannot merge with %s: %s",
                     files[i], i == 1 ? files[0] : "the files before it", why);
    } else if (kgl_result_merge(&acc, &next, why, sizeof why) != 0) {
      rc = cli_error(CLI_EXIT_USAGE, cmd, "%s: cannot merge with %s: %s",
                     files[i], files[0], why);
    }
    kgl_result_free(&next);
  }
  if (rc == 0 && kgl_result_write_json(&acc, A.out != NULL ? A.out : "-", why,
                                       sizeof why) != 0) {
    rc = cli_error(CLI_EXIT_USAGE, cmd, "%s", why);
  }
  kgl_result_free(&acc);
  free(ids);
  return rc;
}

/* ---- check ---------------------------------------------------------------
 */

/* thresholds_to_check — --threshold's, else those the run recorded; then
 * mismatches==0 and errors==0 where none of those names its metric on the
 * all row, as
 * `keygate load` holds a run to (kgl_threshold_defaults). A merged file
 * records none: until review 96 it was held to mismatches==0 alone, and
 * passed with every request an error. */
static int thresholds_to_check(const char *cmd, const kgl_result *r) {
  char why[256];
  for (int i = 0; A.nth == 0 && i < r->nthresholds; i++) {
    if (kgl_threshold_parse(r->thresholds[i].expr, &A.th[i], why, sizeof why) !=
        0) {
      return cli_error(CLI_EXIT_USAGE, cmd, "recorded threshold '%s': %s",
                       r->thresholds[i].expr, why);
    }
    if (i + 1 == r->nthresholds) {
      A.nth = r->nthresholds;
    }
  }
  A.nth = kgl_threshold_defaults(A.th, A.nth, KGL_MAX_THRESHOLDS + 2);
  return 0;
}

static int run_check(const char *cmd, char **files, int nfiles) {
  (void)nfiles;
  kgl_result r;
  int rc = read_measured(cmd, files[0], &r);
  if (rc != 0) {
    return rc;
  }
  rc = thresholds_to_check(cmd, &r);
  if (rc != 0) {
    kgl_result_free(&r);
    return rc;
  }
  kgl_threshold_outcome out[KGL_MAX_THRESHOLDS + 2];
  const int n = A.nth; /* A is global: the calls below keep it, said once */
  int violated = 0;
  for (int i = 0; i < n; i++) {
    violated += !kgl_threshold_eval(&A.th[i], &r, &out[i]);
  }
  printf("thresholds: %d of %d hold%s\n", n - violated, n,
         violated ? ", VIOLATED" : "");
  for (int i = 0; i < n; i++) {
    char line[256];
    kgl_threshold_format(&out[i], line, sizeof line);
    printf("  %s\n", line);
  }
  /* a table that did not get out is exit 2 and its one line, whatever it
   * said (the verdict lines follow the table on a terminal) */
  rc = cli_stdout_check(cmd, violated ? CLI_EXIT_NO : CLI_EXIT_OK);
  for (int i = 0; i < n && rc != CLI_EXIT_TROUBLE; i++) {
    if (!out[i].holds) {
      /* the words of the table and of keygate load ("no responses", the
       * value in the expression's unit): kgl_threshold_format */
      char line[256];
      kgl_threshold_format(&out[i], line, sizeof line);
      fprintf(stderr, "keygate %s: threshold violated: %s\n", cmd, line);
    }
  }
  kgl_result_free(&r);
  return rc;
}

/* ---- compare -------------------------------------------------------------
 */

static int run_compare(const char *cmd, char **files, int nfiles) {
  (void)nfiles;
  const char *fmt = A.format != NULL ? A.format : "table";
  kgl_cmp_format cf;
  if (strcmp(fmt, "table") == 0) {
    cf = KGL_CMP_TEXT;
  } else if (strcmp(fmt, "markdown") == 0) {
    cf = KGL_CMP_MARKDOWN;
  } else if (strcmp(fmt, "json") == 0) {
    cf = KGL_CMP_JSON;
  } else {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--format '%s': want table, markdown or json", fmt);
  }
  kgl_result old, new_;
  int rc = read_measured(cmd, files[0], &old);
  if (rc != 0) {
    return rc;
  }
  rc = read_measured(cmd, files[1], &new_);
  if (rc != 0) {
    kgl_result_free(&old);
    return rc;
  }
  static kgl_comparison c;
  if (kgl_compare(&old, &new_, &c) != 0) {
    rc = cli_error(CLI_EXIT_USAGE, cmd, "out of memory");
  } else {
    kgl_compare_print(&c, &old, &new_, A.fail_above, stdout, cf);
    rc = kgl_compare_fails(&c, A.fail_above) ? CLI_EXIT_NO : CLI_EXIT_OK;
  }
  kgl_result_free(&old);
  kgl_result_free(&new_);
  return rc;
}

/* ---- html ----------------------------------------------------------------
 */

static int run_html(const char *cmd, char **files, int nfiles) {
  if (A.out == NULL) {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "give the page's path: --out report.html (- for "
                     "standard output)");
  }
  kgl_result run, base;
  int rc = read_one(cmd, files[0], &run);
  if (rc != 0) {
    return rc;
  }
  if (nfiles > 1) {
    rc = read_one(cmd, files[1], &base);
    if (rc != 0) {
      kgl_result_free(&run);
      return rc;
    }
  }
  char why[CLI_WHY_MAX];
  if (kgl_html_write_file(&run, nfiles > 1 ? &base : NULL, A.out, why,
                          sizeof why) != 0) {
    rc = cli_error(CLI_EXIT_USAGE, cmd, "%s", why);
  }
  kgl_result_free(&run);
  if (nfiles > 1) {
    kgl_result_free(&base);
  }
  return rc;
}

/* ---- dispatch ------------------------------------------------------------
 */

static const sub SUBS[] = {
    {"show", OPT(O_FORMAT), 1, 1, "RUN.json", run_show},
    {"merge", OPT(O_OUT) | OPT(O_FORCE), 2, 1 << 16, "A.json B.json ...",
     run_merge},
    {"check", OPT(O_THRESHOLD), 1, 1, "RUN.json", run_check},
    {"compare", OPT(O_FORMAT) | OPT(O_FAIL_ABOVE), 2, 2, "OLD.json NEW.json",
     run_compare},
    {"html", OPT(O_OUT), 1, 2, "RUN.json [BASELINE.json]", run_html},
};

/* distinct_out — --out names no input file (report html r.json --out
 * r.json would replace the run with its page before anyone read it whole);
 * else one line, CLI_EXIT_USAGE. */
static int distinct_out(const char *cmd, char **files, int nfiles) {
  kgl_named_path *in = calloc((size_t)nfiles, sizeof *in);
  if (in == NULL) {
    return cli_error(CLI_EXIT_USAGE, cmd, "out of memory");
  }
  for (int i = 0; i < nfiles; i++) {
    in[i].what = "the input";
    in[i].path = files[i];
  }
  const kgl_named_path out = {"--out", A.out};
  char why[PATH_MAX * 2 + 128];
  int rc = 0;
  if (kgl_out_distinct(in, (size_t)nfiles, &out, 1, why, sizeof why) != 0) {
    rc = cli_error(CLI_EXIT_USAGE, cmd, "%s", why);
  }
  free(in);
  return rc;
}

/* parse_pct — "10%" or "10" into 10; -1 when not a number 0..1000000. */
static int parse_pct(const char *s, double *out) {
  char *end = NULL;
  const double v = strtod(s, &end);
  if (end == s || (strcmp(end, "%") != 0 && *end != '\0') || !isfinite(v) ||
      v < 0 || v > 1e6) {
    return -1;
  }
  *out = v;
  return 0;
}

/* one_option — 0, -1 for --help, or CLI_EXIT_USAGE. */
static int one_option(const sub *s, const char *cmd, int c, char **argv) {
  char why[256];
  if (c >= O_FORMAT && c <= O_FORCE && !(s->options & OPT(c))) {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--%s does not apply to 'report %s'; see keygate report "
                     "--help",
                     LONGOPTS[c - O_FORMAT + 1].name, s->name);
  }
  switch (c) {
  case 'h':
    usage(stdout);
    return -1;
  case O_FORMAT:
    A.format = optarg;
    return 0;
  case O_OUT:
    A.out = optarg;
    return 0;
  case O_FORCE:
    A.force = 1;
    return 0;
  case O_THRESHOLD:
    if (A.nth >= KGL_MAX_USER_THRESHOLDS) {
      return cli_error(CLI_EXIT_USAGE, cmd, "at most %d thresholds",
                       KGL_MAX_USER_THRESHOLDS);
    }
    if (kgl_threshold_parse_given(optarg, &A.th[A.nth], why, sizeof why) != 0) {
      return cli_threshold_error(cmd, why);
    }
    A.nth++;
    return 0;
  case O_FAIL_ABOVE:
    if (parse_pct(optarg, &A.fail_above) != 0) {
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "--fail-above '%s': want a percentage, e.g. 10%%",
                       optarg);
    }
    return 0;
  default:
    return cli_getopt_error(cmd, argv, c);
  }
}

int cmd_report(int argc, char **argv) {
  if (argc < 2) {
    /* exit 2 is one line, as for every command (docs/cli.md) */
    return cli_error(CLI_EXIT_USAGE, "report",
                     "no subcommand given: show, merge, check, compare or "
                     "html (keygate report --help)");
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const sub *s = NULL;
  for (size_t i = 0; i < sizeof SUBS / sizeof SUBS[0]; i++) {
    if (strcmp(argv[1], SUBS[i].name) == 0) {
      s = &SUBS[i];
    }
  }
  if (s == NULL) {
    return cli_error(CLI_EXIT_USAGE, "report",
                     "unknown subcommand '%s'; want show, merge, check, "
                     "compare or html",
                     argv[1]);
  }
  char cmd[32];
  snprintf(cmd, sizeof cmd, "report %s", s->name);
  memset(&A, 0, sizeof A);
  A.fail_above = KGL_CMP_FAIL_ABOVE;
  argc--;
  argv++;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", LONGOPTS, NULL)) != -1) {
    const int rc = one_option(s, cmd, c, argv);
    if (rc != 0) {
      return rc < 0 ? CLI_EXIT_OK : rc;
    }
  }
  const int nfiles = argc - optind;
  if (nfiles < s->min_files || nfiles > s->max_files) {
    return cli_error(CLI_EXIT_USAGE, cmd, "want %s, got %d file%s", s->files,
                     nfiles, nfiles == 1 ? "" : "s");
  }
  int stdin_seen = 0;
  for (int i = optind; i < argc; i++) {
    if (strcmp(argv[i], "-") == 0 && stdin_seen++) {
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "'-' (standard input) is given twice: it can be read "
                       "once; give the other results as files");
    }
  }
  if (A.out != NULL && distinct_out(cmd, argv + optind, nfiles) != 0) {
    return CLI_EXIT_USAGE;
  }
  /* a regression found is 1 only when the table saying so got out */
  return cli_stdout_check(cmd, s->run(cmd, argv + optind, nfiles));
}
