/*
 * cli/cli.h — what the subcommands of the `keygate` program share.
 *
 * Each subcommand lives in its own file, cmd_<name>.c, and is thin over the
 * libraries. Conventions, the same in every subcommand (docs/cli.md):
 *  - one option parser, getopt_long's: "--name value" and "--name=value",
 *    options before or after the arguments, "--" ends them, -h/--help;
 *  - a flag beats the environment ($KEYGATE_DB, $KEYGATE_PEPPER_FILE),
 *    which beats the default;
 *  - exit codes as grep and diff have them: 0 success or a positive
 *    verdict, 1 a negative verdict (a threshold violated, a probe
 *    deviation, a significant regression, a refused request under
 *    `check --fail`), 2 trouble (a usage error, a store that cannot be
 *    opened, a refused operation, a failed write); 128 + the signal's
 *    number for a run cut short by SIGINT or SIGTERM (CLI_EXIT_SIGNAL);
 *  - every failure prints exactly one line on stderr, "keygate <cmd>:
 *    <what>", that names what is wrong and what to do. No key ever
 *    reaches stderr.
 */
#ifndef KEYGATE_CLI_H
#define KEYGATE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_NO 1      /* a negative verdict */
#define CLI_EXIT_TROUBLE 2 /* could not do what was asked */
#define CLI_EXIT_USAGE 2   /* trouble: a usage error */
/* A run stopped by a signal it caught (load's first ^C or SIGTERM): what a
 * shell reports for a program the signal killed, 130 for SIGINT, 143 for
 * SIGTERM, so a script stops as it would for grep. */
#define CLI_EXIT_SIGNAL(sig) (128 + (sig))

/* The room for a library's reason (a `why` buffer) that may name a path
 * the user gave: the whole of it reaches cli_error, which masks a key in
 * it before it cuts the line (review 102: a 512-byte reason cut a key
 * body at its start, and showed it). */
#define CLI_WHY_MAX (4096 * 2 + 512)

/* The latest time keygate stores or prints: 9999-12-31T23:59:59Z (RFC 3339
 * has four-digit years). */
#define CLI_TIME_MAX INT64_C(253402300799)
#define CLI_TIME_MAX_STR "9999-12-31T23:59:59Z"

typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
  int verbs; /* 1: takes a verb (keys create): `keygate help CMD VERB` */
} cli_command;

/* The subcommands, one per cmd_*.c file. */
int cmd_check(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_accounts(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_probe(int argc, char **argv);

/* cli_error — print "keygate <cmd>: <message>\n" on stderr; returns code so
 * a caller can `return cli_error(CLI_EXIT_USAGE, "check", "...")`. */
int cli_error(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * cli_stdout_check — the one check that what a command printed on standard
 * output got there: flushes stdout, and when that or an earlier write to
 * it failed (ferror), prints one line "keygate <cmd>: cannot write to
 * standard output: <reason>" and returns CLI_EXIT_TROUBLE (docs/cli.md: a
 * failed write is exit 2). Returns rc otherwise, and also when rc is not a
 * verdict (0 or 1): a command that already failed has printed its one
 * line. main() calls it after every command; a command calls it itself to
 * name its verb ("report show") or to decide before its verdict lines.
 */
int cli_stdout_check(const char *cmd, int rc);

/* cli_threshold_error — a --threshold the load library refused, as
 * "--threshold 'X': what is wrong" (why names it: "threshold 'X': ..."),
 * masked by kgl_redact_arg (a key body typed there never shows); exit 2. */
int cli_threshold_error(const char *cmd, const char *why);

/*
 * cli_parse_iso8601 — parse "YYYY-MM-DDTHH:MM:SSZ" (UTC only, also with a
 * "+00:00" offset) into Unix seconds. Returns 0 on success, -1 otherwise.
 */
int cli_parse_iso8601(const char *s, int64_t *out);

/* cli_format_iso8601 — write t as "YYYY-MM-DDTHH:MM:SSZ" into out (cap >=
 * 21). Returns out. */
char *cli_format_iso8601(int64_t t, char *out, size_t cap);

/* The longest time span cli_parse_time takes: about 31,700 years. */
#define CLI_TIME_SPAN_MAX_MS INT64_C(1000000000000000)

/*
 * cli_parse_time — the one grammar of every time span keygate takes on its
 * command line: a decimal number (digits, then optionally '.' and digits)
 * and its unit, ms, s, m, h, d or w ("250ms", "30s", "1.5h", "90d"); "0"
 * alone is zero. Into whole milliseconds (*ms). Returns 0; -2 for a
 * non-zero number without a unit ("90" is 90 what? as Go's time package
 * asks); -1 for anything else: a sign or space, an exponent, another unit
 * or two ("1h30m"), a fraction of a millisecond, over
 * CLI_TIME_SPAN_MAX_MS. Each option then says what it allows.
 */
int cli_parse_time(const char *s, int64_t *ms);

/*
 * cli_parse_duration — cli_parse_time for the key lifecycle's durations
 * (--expires-in, --grace): positive and whole seconds, into seconds.
 * Returns 0, -2 for a missing unit, or -1 for any other bad value.
 */
int cli_parse_duration(const char *s, int64_t *out);

/*
 * cli_duration_error — the usage line for a --<opt> value that
 * cli_parse_duration refused with rc; extra (may be "") is added to the
 * units it names ("0 or "). Returns CLI_EXIT_USAGE.
 */
int cli_duration_error(const char *cmd, const char *opt, const char *value,
                       int rc, const char *extra);

/*
 * cli_parse_interval — cli_parse_time for the load tools (--duration,
 * --warmup, --timeout, --interval), into seconds; each caller checks its
 * own bounds. Returns 0, or -1.
 */
int cli_parse_interval(const char *s, double *out);

/*
 * One option of a command for cli_parse_opts: "--name" with a value (value
 * set to it; a later one overrides an earlier one) or a switch (on set to
 * 1). Exactly one of value and on is non-NULL.
 */
typedef struct cli_opt {
  const char *name; /* "--db" */
  const char **value;
  int *on;
} cli_opt;

/*
 * cli_parse_opts — the one option parser of every subcommand: getopt_long
 * over argv[1..argc) (argv[0] is the command's name), so "--db PATH",
 * "--db=PATH", options before and after arguments and "--" all work, and
 * -h/--help everywhere. Up to maxpos arguments go to pos[0..*npos) (pos
 * may be NULL when maxpos is 0). Returns 0; -1 when --help or -h was
 * given (the caller prints its usage and exits 0); or, after one usage
 * line on stderr (unknown option, missing value, unexpected argument),
 * CLI_EXIT_USAGE.
 */
int cli_parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts,
                   size_t nopts, const char **pos, int maxpos, int *npos);

/* One "--name VALUE" flag of a command and where its value goes. */
typedef struct cli_flag {
  const char *name;   /* "--db" */
  const char **value; /* set to the argument that follows the flag */
} cli_flag;

/*
 * cli_parse_flags — cli_parse_opts for a command whose options all take a
 * value and that takes no arguments. Same returns; usage_code is returned
 * for a usage error.
 */
int cli_parse_flags(const char *cmd, int argc, char **argv,
                    const cli_flag *flags, size_t nflags, int usage_code);

/*
 * cli_db_path — the store path of a command: the --db flag when given,
 * else $KEYGATE_DB when set and not empty, else dflt (may be NULL: none).
 */
const char *cli_db_path(const char *flag, const char *dflt);

/* Output formats of the commands that print tables. */
typedef enum cli_format { CLI_FMT_TEXT, CLI_FMT_JSON, CLI_FMT_TSV } cli_format;

/*
 * cli_parse_format — parse a --format value (text, json or tsv) into *out.
 * Returns 0, or prints the usage line for cmd and returns CLI_EXIT_USAGE.
 */
int cli_parse_format(const char *cmd, const char *arg, cli_format *out);

/*
 * cli_getopt_error — the usage line for what getopt_long returned when it
 * did not recognise an option (c == ':' for a missing value, anything else
 * for an unknown option); argv[optind - 1] names it. Returns CLI_EXIT_USAGE.
 */
int cli_getopt_error(const char *cmd, char **argv, int c);

/*
 * cli_want_args — exactly `want` positional arguments of the npos in pos;
 * `what` names them in the message. Returns 0, or prints the usage line and
 * returns CLI_EXIT_USAGE.
 */
int cli_want_args(const char *cmd, const char *const *pos, int npos, int want,
                  const char *what);

/* cli_json_string — write s (len bytes) as a JSON string literal, quotes
 * included, to f. */
void cli_json_string(FILE *f, const char *s, size_t len);

#ifdef KEYGATE_HAVE_STORE
#include "keygate/store.h"

/*
 * cli_pepper_read — the pepper a store command runs with: the file named
 * by its --pepper-file (flag; NULL when not given), else by
 * $KEYGATE_PEPPER_FILE (empty counts as unset), read with
 * kg_pepper_read_file (docs/store.md, "The pepper"). Sets *use to out when
 * a file was named, to NULL when none was (a plain store). Returns 0, or
 * prints one line for cmd (which file, what to do; never a byte of it) and
 * returns CLI_EXIT_TROUBLE. The caller wipes out with kg_pepper_wipe once
 * its stores are open.
 */
int cli_pepper_read(const char *cmd, const char *flag, kg_pepper *out,
                    const kg_pepper **use);

/*
 * cli_db_check — what to do about a --db path that SQLite would only call
 * "unable to open database file": a directory, or a file in a folder that
 * does not exist. Returns 0 when the path is worth handing to the store,
 * else prints one line for cmd and returns CLI_EXIT_TROUBLE.
 */
int cli_db_check(const char *cmd, const char *db);

/*
 * cli_store_open — open the store at db for cmd with flags (KG_STORE_*)
 * and the pepper of pepper_flag or $KEYGATE_PEPPER_FILE. A path that is a
 * directory, or whose folder does not exist, and a file that is not a
 * keygate store each get one line naming what to do. Returns 0, or prints
 * one line and returns CLI_EXIT_TROUBLE.
 */
int cli_store_open(const char *cmd, const char *db, unsigned flags,
                   const char *pepper_flag, kg_store **out);

/* cli_store_open_as — cli_store_open with the pepper given (NULL: a plain
 * store), for a command that has no --pepper-file. */
int cli_store_open_as(const char *cmd, const char *db, unsigned flags,
                      const kg_pepper *pepper, kg_store **out);

/*
 * cli_store_fix — what to do about a store error of kind `kind` (store.h,
 * kg_store_error_kind), on the command line: the store says what is
 * wrong, the CLI names the command, flag or variable that helps ("; see
 * 'keygate accounts list'" after "no account named X", "; create one with
 * 'keygate accounts create NAME --db DB'" after "no key store at DB", ...).
 * Returns the text to print after the store's line, in buf (capacity cap)
 * or a literal, or "" when there is nothing to add. db is the --db path
 * (NULL: none known).
 */
const char *cli_store_fix(kg_store_error_kind kind, const char *db, char *buf,
                          size_t cap);

/* cli_store_error — print err and its fix (cli_store_fix of
 * kg_store_last_error_kind: call it right after the store call that
 * failed) for cmd; returns CLI_EXIT_TROUBLE. */
int cli_store_error(const char *cmd, const char *db, const char *err);
#endif

#endif /* KEYGATE_CLI_H */
