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

/* cli_json_string — write s (len bytes) as a JSON string literal, quotes
 * included, to f. */
void cli_json_string(FILE *f, const char *s, size_t len);

#endif /* KEYGATE_CLI_H */
