/*
 * cli/util.c — helpers every subcommand shares: the one-line error, UTC
 * ISO 8601 times, durations, JSON string literals, and the pepper of the
 * store commands (see cli.h).
 *
 * Times are converted with the proleptic Gregorian calendar arithmetic of
 * Howard Hinnant's "days_from_civil" / "civil_from_days", so nothing here
 * depends on the process's time zone (no mktime, no TZ).
 */
#define _GNU_SOURCE /* getopt_long with -std=c11 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "load/redact.h"

/* ---- errors ------------------------------------------------------------ */

int cli_error(int code, const char *cmd, const char *fmt, ...) {
  /* Formatted whole (or to 8 KiB), masked, then cut to 1,023 bytes: the
   * redaction sees a key at the cut whole, and drops the run at the cut
   * (kgl_redact_message; review 99: a body cut short showed). */
  char msg[8192];
  va_list ap;
  va_start(ap, fmt);
  /* va_start is above: a known false positive of clang-tidy 14 on glibc's
   * va_list. The NOLINT must sit on the line just before the call. */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  const int want = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (want >= (int)sizeof msg) {
    /* past 8 KiB: the run at that cut may be a key's start, which masks
     * could shrink the line enough to show; it goes */
    size_t n = sizeof msg - 4; /* room for "..." and its NUL (review 101) */
    while (n > 0 && (isalnum((unsigned char)msg[n - 1]) ||
                     strchr("-._~+/=%", msg[n - 1]) != NULL)) {
      n--;
    }
    memcpy(msg + n, "...", 4);
  }
  /* A key pasted where an id, a file or a value belongs is shown as its
   * hint at most (SPEC §1.4, docs/cli.md): the one redaction of keygate's
   * messages (load/redact.h). */
  char shown[1024];
  kgl_redact_message(msg, strlen(msg), shown, sizeof shown);
  if (cmd == NULL || cmd[0] == '\0') {
    fprintf(stderr, "keygate: %s\n", shown);
  } else {
    fprintf(stderr, "keygate %s: %s\n", cmd, shown);
  }
  return code;
}

int cli_stdout_check(const char *cmd, int rc) {
  errno = 0;
  const int flushed = fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !ferror(stdout)) {
    return rc;
  }
  /* once per process: the caller's check and main's see one failure */
  clearerr(stdout);
  if (rc != CLI_EXIT_OK && rc != CLI_EXIT_NO) {
    return rc;
  }
  /* a write that failed before this flush left its stream's error flag,
   * not its errno: the reason is then unknown */
  return cli_error(CLI_EXIT_TROUBLE, cmd, "cannot write to standard output: %s",
                   !flushed && err != 0 ? strerror(err) : "a write failed");
}

int cli_threshold_error(const char *cmd, const char *why) {
  char w[512];
  kgl_redact_arg(why, strlen(why), w, sizeof w);
  return cli_error(CLI_EXIT_USAGE, cmd, "--%s", w);
}

/* ---- calendar ---------------------------------------------------------- */

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400; /* 0..399 */
  const int64_t doy =
      (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;        /* 0..365 */
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
  return era * 146097 + doe - 719468;
}

/* The civil date of z days since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
  static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : DAYS[m - 1];
}

/* Read exactly n decimal digits at s into *out. Returns 0, or -1. */
static int read_digits(const char *s, size_t n, int *out) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int cli_parse_iso8601(const char *s, int64_t *out) {
  /* YYYY-MM-DDTHH:MM:SS then "Z" or "+00:00": 20 or 25 characters. */
  if (s == NULL || out == NULL) {
    return -1;
  }
  const size_t len = strlen(s);
  if (len != 20 && len != 25) {
    return -1;
  }
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':') {
    return -1;
  }
  if (len == 20 ? s[19] != 'Z' : strcmp(s + 19, "+00:00") != 0) {
    return -1;
  }
  int y, mo, d, h, mi, se;
  if (read_digits(s, 4, &y) || read_digits(s + 5, 2, &mo) ||
      read_digits(s + 8, 2, &d) || read_digits(s + 11, 2, &h) ||
      read_digits(s + 14, 2, &mi) || read_digits(s + 17, 2, &se)) {
    return -1;
  }
  /* No leap seconds: Unix time has none either. */
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || se > 59) {
    return -1;
  }
  *out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
         (int64_t)mi * 60 + se;
  return 0;
}

char *cli_format_iso8601(int64_t t, char *out, size_t cap) {
  if (out == NULL || cap == 0) {
    return out;
  }
  int64_t days = t / 86400;
  int64_t secs = t % 86400;
  if (secs < 0) { /* floor division for times before 1970 */
    secs += 86400;
    days -= 1;
  }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  const int n =
      snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
               (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
  if (n < 0 || (size_t)n >= cap) {
    out[0] = '\0'; /* never hand back a truncated time */
  }
  return out;
}

/* ---- durations --------------------------------------------------------- */

int cli_parse_time(const char *s, int64_t *ms) {
  if (s == NULL || ms == NULL || s[0] < '0' || s[0] > '9') {
    return -1; /* no sign, no space, no ".5": a digit first */
  }
  /* The number as an exact fraction num / den: no strtod, so no exponent,
   * hex, inf, locale or rounding. */
  int64_t num = 0;
  int64_t den = 1;
  size_t i = 0;
  int fraction = 0;
  for (; (s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !fraction); i++) {
    if (s[i] == '.') {
      fraction = 1;
      if (s[i + 1] < '0' || s[i + 1] > '9') {
        return -1; /* "5." */
      }
      continue;
    }
    if (num > (INT64_MAX - 9) / 10 || (fraction && den > INT64_MAX / 10)) {
      return -1;
    }
    num = num * 10 + (s[i] - '0');
    den *= fraction ? 10 : 1;
  }
  static const struct {
    const char *name;
    int64_t ms;
  } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
               {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
  if (s[i] == '\0') {
    if (num != 0) {
      return -2; /* "90": 90 what? (Go's "missing unit in duration") */
    }
    *ms = 0;
    return 0;
  }
  for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
    if (strcmp(s + i, units[u].name) == 0) {
      if (num > CLI_TIME_SPAN_MAX_MS / units[u].ms) {
        return -1;
      }
      const int64_t scaled = num * units[u].ms;
      if (scaled % den != 0) {
        return -1; /* a fraction of a millisecond */
      }
      *ms = scaled / den;
      return 0;
    }
  }
  return -1; /* another unit, or two: "30dd", "1h30m" */
}

int cli_parse_interval(const char *s, double *out) {
  int64_t ms;
  if (cli_parse_time(s, &ms) != 0) {
    return -1;
  }
  *out = (double)ms / 1000.0;
  return 0;
}

int cli_parse_duration(const char *s, int64_t *out) {
  int64_t ms;
  const int rc = cli_parse_time(s, &ms);
  if (rc != 0) {
    return rc;
  }
  if (ms == 0 || ms % 1000 != 0) {
    return -1; /* positive, whole seconds */
  }
  *out = ms / 1000;
  return 0;
}

int cli_duration_error(const char *cmd, const char *opt, const char *value,
                       int rc, const char *extra) {
  if (rc == -2) {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "missing unit in duration '%s' for %s; add one of s, m, "
                     "h, d or w (e.g. %sd)",
                     value, opt, value);
  }
  return cli_error(CLI_EXIT_USAGE, cmd,
                   "bad duration '%s' for %s; use %sa number and s, m, h, d "
                   "or w, in whole seconds (e.g. 30d or 1.5h)",
                   value, opt, extra);
}

/* ---- JSON -------------------------------------------------------------- */

void cli_json_string(FILE *f, const char *s, size_t len) {
  static const char HEX[] = "0123456789abcdef";
  fputc('"', f);
  for (size_t i = 0; i < len; i++) {
    const unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      /* RFC 8259 §7: control characters must be escaped; DEL is too, so
       * the output stays printable. Other bytes pass through (UTF-8). */
      if (c < 0x20 || c == 0x7f) {
        fputs("\\u00", f);
        fputc(HEX[c >> 4], f);
        fputc(HEX[c & 15], f);
      } else {
        fputc(c, f);
      }
    }
  }
  fputc('"', f);
}

/* ---- options shared by the table-printing commands -------------------- */

int cli_parse_format(const char *cmd, const char *arg, cli_format *out) {
  if (strcmp(arg, "text") == 0) {
    *out = CLI_FMT_TEXT;
  } else if (strcmp(arg, "json") == 0) {
    *out = CLI_FMT_JSON;
  } else if (strcmp(arg, "tsv") == 0) {
    *out = CLI_FMT_TSV;
  } else {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--format must be text, json or tsv, not '%s'", arg);
  }
  return 0;
}

int cli_getopt_error(const char *cmd, char **argv, int c) {
  if (c == ':') {
    return cli_error(CLI_EXIT_USAGE, cmd, "option %s needs a value",
                     argv[optind - 1]);
  }
  return cli_error(CLI_EXIT_USAGE, cmd,
                   "unknown option '%s'; see 'keygate %s --help'",
                   argv[optind - 1], cmd);
}

int cli_want_args(const char *cmd, const char *const *pos, int npos, int want,
                  const char *what) {
  if (npos < want) {
    return cli_error(CLI_EXIT_USAGE, cmd, "give %s; see 'keygate %s --help'",
                     what, cmd);
  }
  if (npos > want) {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "unexpected argument '%s'; see 'keygate %s --help'",
                     pos[want], cmd);
  }
  return 0;
}

/* ---- the one option parser --------------------------------------------- */

int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts,
                   size_t nopts, const char **pos, int maxpos, int *npos) {
  enum { FIRST = 1000, MAX_OPTS = 64 };
  struct option longopts[MAX_OPTS + 2];
  if (nopts > MAX_OPTS) {
    return cli_error(CLI_EXIT_USAGE, cmd, "internal: too many options");
  }
  for (size_t i = 0; i < nopts; i++) {
    longopts[i].name = opts[i].name + 2; /* past "--" */
    longopts[i].has_arg = opts[i].value != NULL ? required_argument : 0;
    longopts[i].flag = NULL;
    longopts[i].val = FIRST + (int)i;
  }
  longopts[nopts] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[nopts + 1] = (struct option){NULL, 0, NULL, 0};
  if (npos != NULL) {
    *npos = 0;
  }
  opterr = 0;
  optind = 0; /* glibc: start afresh (the keys verbs parse twice) */
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    if (c == 'h') {
      return -1;
    }
    if (c < FIRST || c >= FIRST + (int)nopts) {
      return cli_getopt_error(cmd, argv, c);
    }
    const cli_opt *o = &opts[c - FIRST];
    if (o->value != NULL) {
      *o->value = optarg;
    } else if (o->on != NULL) {
      *o->on = 1;
    }
  }
  for (int i = optind; i < argc; i++) {
    if (npos == NULL || *npos >= maxpos) {
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "unexpected argument '%s'; see 'keygate %s --help'",
                       argv[i], cmd);
    }
    pos[(*npos)++] = argv[i];
  }
  return 0;
}

int cli_parse_flags(const char *cmd, int argc, char **argv,
                    const cli_flag *flags, size_t nflags, int usage_code) {
  cli_opt opts[64];
  if (nflags > sizeof opts / sizeof opts[0]) {
    return cli_error(usage_code, cmd, "internal: too many options");
  }
  for (size_t i = 0; i < nflags; i++) {
    opts[i] = (cli_opt){flags[i].name, flags[i].value, NULL};
  }
  const int rc = cli_parse_opts(cmd, argc, argv, opts, nflags, NULL, 0, NULL);
  return rc > 0 ? usage_code : rc;
}

const char *cli_db_path(const char *flag, const char *dflt) {
  if (flag != NULL) {
    return flag;
  }
  const char *env = getenv("KEYGATE_DB");
  return env != NULL && env[0] != '\0' ? env : dflt;
}

/* ---- the pepper -------------------------------------------------------- */

#ifdef KEYGATE_HAVE_STORE
int cli_pepper_read(const char *cmd, const char *flag, kg_pepper *out,
                    const kg_pepper **use) {
  *use = NULL;
  kg_pepper_wipe(out);
  const char *env = getenv("KEYGATE_PEPPER_FILE");
  const char *path = flag;
  if (flag != NULL && flag[0] == '\0') {
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--pepper-file needs the path of the pepper file");
  }
  if (path == NULL && env != NULL && env[0] != '\0') {
    path = env;
  }
  if (path == NULL) {
    return 0;
  }
  char err[KG_STORE_ERR_MAX];
  if (kg_pepper_read_file(path, out, err, sizeof err) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, cmd, "%s%s",
                     flag == NULL ? "KEYGATE_PEPPER_FILE: " : "", err);
  }
  *use = out;
  return 0;
}

int cli_db_check(const char *cmd, const char *db) {
  struct stat sb;
  if (stat(db, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) {
      const size_t n = strlen(db);
      return cli_error(CLI_EXIT_TROUBLE, cmd,
                       "--db %s is a directory, not a key store file; give "
                       "the path of a file in it, e.g. --db %s%skeygate.db",
                       db, db, n > 0 && db[n - 1] == '/' ? "" : "/");
    }
    return 0;
  }
  const char *slash = strrchr(db, '/');
  if (slash == NULL || slash == db) {
    return 0; /* the working directory, or / itself: they exist */
  }
  char dir[PATH_MAX];
  const size_t dlen = (size_t)(slash - db);
  if (dlen >= sizeof dir) {
    return 0;
  }
  memcpy(dir, db, dlen);
  dir[dlen] = '\0';
  if (stat(dir, &sb) != 0) {
    return cli_error(CLI_EXIT_TROUBLE, cmd,
                     "--db %s: the folder %s does not exist; create it "
                     "(mkdir -p %s) or give another --db path",
                     db, dir, dir);
  }
  if (!S_ISDIR(sb.st_mode)) {
    return cli_error(CLI_EXIT_TROUBLE, cmd,
                     "--db %s: %s is a file, not a folder; give another "
                     "--db path",
                     db, dir);
  }
  return 0;
}

int cli_store_open_as(const char *cmd, const char *db, unsigned flags,
                      const kg_pepper *pepper, kg_store **out) {
  *out = NULL;
  int rc = cli_db_check(cmd, db);
  if (rc != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  if (kg_store_open_peppered(db, flags, pepper, out, err, sizeof err) == 0) {
    return 0;
  }
  return cli_store_error(cmd, db, err);
}

const char *cli_store_fix(kg_store_error_kind kind, const char *db, char *buf,
                          size_t cap) {
  /* The store says what is wrong (store/ names no command, flag or
   * variable) and which kind of error it is; the fix is the command
   * line's, here only. tests/integration/store_errors.sh and
   * store_pepper.sh pin the two together. */
  switch (kind) {
  case KG_STORE_E_NO_STORE: {
    if (db == NULL) {
      return "";
    }
    const int n = snprintf(
        buf, cap, "; create one with 'keygate accounts create NAME --db %s'",
        db);
    return n > 0 && (size_t)n < cap ? buf : "";
  }
  case KG_STORE_E_NOT_A_STORE:
    /* true of every command: only accounts create and keys seed make a
     * store of a path that does not exist, so name the one that does
     * (serve, keys list, check --db would refuse a new path) */
    return "; give --db the path of a keygate store, or make one: 'keygate "
           "accounts create NAME --db NEW.db'";
  case KG_STORE_E_NO_ACCOUNT:
    return "; see 'keygate accounts list'";
  case KG_STORE_E_NO_KEY:
    return "; see 'keygate keys list'";
  case KG_STORE_E_KEY_GONE:
    return "; make a new one with 'keygate keys create'";
  case KG_STORE_E_NEEDS_MIGRATION:
    return "; run any 'keygate keys' command on it once to migrate it";
  case KG_STORE_E_PEPPER_NEEDED:
  case KG_STORE_E_PEPPER_WRONG:
    return "; give the pepper file it was made with (--pepper-file FILE or "
           "KEYGATE_PEPPER_FILE)";
  case KG_STORE_E_PEPPER_UNWANTED:
    return "; give it no pepper (no --pepper-file or KEYGATE_PEPPER_FILE), "
           "or make a new peppered store (docs/store.md)";
  case KG_STORE_E_OTHER:
  default:
    return "";
  }
}

int cli_store_error(const char *cmd, const char *db, const char *err) {
  char buf[PATH_MAX + 96];
  return cli_error(
      CLI_EXIT_TROUBLE, cmd, "%s%s", err,
      cli_store_fix(kg_store_last_error_kind(), db, buf, sizeof buf));
}

int cli_store_open(const char *cmd, const char *db, unsigned flags,
                   const char *pepper_flag, kg_store **out) {
  *out = NULL;
  int rc = cli_db_check(cmd, db);
  if (rc != 0) {
    return rc;
  }
  kg_pepper pepper;
  const kg_pepper *use;
  rc = cli_pepper_read(cmd, pepper_flag, &pepper, &use);
  if (rc != 0) {
    return rc;
  }
  rc = cli_store_open_as(cmd, db, flags, use, out);
  kg_pepper_wipe(&pepper);
  return rc;
}
#endif
