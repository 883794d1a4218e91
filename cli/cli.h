/*
 * cli/cli.h — what the subcommands of the `keygate` program share.
 *
 * Each subcommand lives in its own file, cmd_<name>.c, and is thin over the
 * libraries. Conventions: exit 0 on success, 1 on a runtime failure (missing
 * file, unreachable server, refused operation), 2 on a usage error; every
 * failure prints exactly one line on stderr, "keygate <cmd>: <what>", that
 * names what is wrong and what to do. No key ever reaches stderr.
 */
#ifndef KEYGATE_CLI_H
#define KEYGATE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

typedef struct cli_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
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
 * cli_parse_iso8601 — parse "YYYY-MM-DDTHH:MM:SSZ" (UTC only, also with a
 * "+00:00" offset) into Unix seconds. Returns 0 on success, -1 otherwise.
 */
int cli_parse_iso8601(const char *s, int64_t *out);

/* cli_format_iso8601 — write t as "YYYY-MM-DDTHH:MM:SSZ" into out (cap >=
 * 21). Returns out. */
char *cli_format_iso8601(int64_t t, char *out, size_t cap);

/*
 * cli_parse_duration — parse a positive duration "<n>s|m|h|d|w" (also a
 * bare number of seconds) into seconds. Returns 0, or -1 on a bad or
 * overflowing value.
 */
int cli_parse_duration(const char *s, int64_t *out);

/*
 * cli_parse_interval — parse a time span of the load tools, "250ms", "2s",
 * "1.5m", "1h" (a decimal number and its unit; "0" alone is allowed), into
 * seconds. A number without a unit is refused. Returns 0, or -1.
 */
int cli_parse_interval(const char *s, double *out);

/* One "--name VALUE" flag of a command and where its value goes. */
typedef struct cli_flag {
  const char *name;   /* "--db" */
  const char **value; /* set to the argument that follows the flag */
} cli_flag;

/*
 * cli_parse_flags — read argv[1..argc) as "--name VALUE" pairs of flags
 * (a later flag overrides an earlier one). Returns 0; -1 when --help or -h
 * was given (the caller prints its usage and exits 0); or, after one usage
 * line on stderr for an unknown flag or a flag without its value,
 * usage_code.
 */
int cli_parse_flags(const char *cmd, int argc, char **argv,
                    const cli_flag *flags, size_t nflags, int usage_code);

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
 * returns CLI_EXIT_FAIL (CLI_EXIT_USAGE for an empty --pepper-file). The
 * caller wipes out with kg_pepper_wipe once its stores are open.
 */
int cli_pepper_read(const char *cmd, const char *flag, kg_pepper *out,
                    const kg_pepper **use);
#endif

#endif /* KEYGATE_CLI_H */
