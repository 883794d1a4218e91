/*
 * cli/main.c — the `keygate` program: dispatch to one subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keygate/keygate.h"

/* The subcommand table. A part of keygate that adds a command adds one line
 * here and one cmd_<name>.c file. */
static const cli_command COMMANDS[] = {
    {"check", "decide one raw request head read from stdin", cmd_check, 0},
#ifdef KEYGATE_HAVE_STORE
    {"accounts", "create, list and re-tier accounts in the key store",
     cmd_accounts, 1},
    {"keys", "create, list, deactivate, delete, rotate and seed keys", cmd_keys,
     1},
#endif
    {"load", "fire mixed key traffic at a server and verify every response",
     cmd_load, 0},
    {"report", "show, merge, check, compare and draw load results", cmd_report,
     1},
    {"probe", "check a deployed API against the authentication contract",
     cmd_probe, 0},
#ifdef KEYGATE_HAVE_SERVE
    {"serve", "run nginx with the keygate module and the reference API",
     cmd_serve, 0},
#endif
};

static void usage(FILE *f) {
  fprintf(f, "usage: keygate <command> [options]\n"
             "       keygate help <command> [verb]\n"
             "       keygate version\n\ncommands:\n");
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
    fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  }
  fprintf(f, "  %-10s %s\n  %-10s %s\n", "help", "show a command's options",
          "version", "print keygate's version (also -V, --version)");
  fprintf(f, "\n"
             "'keygate <command> --help' (or 'keygate help <command>') shows a "
             "command's\n"
             "options; 'keygate keys create --help' a verb's. Every command "
             "takes\n"
             "'--name value' and '--name=value', and -h/--help.\n"
             "\n"
             "environment (a flag wins; an empty variable counts as unset):\n"
             "  KEYGATE_DB                 the store of check, serve, accounts "
             "and keys\n"
             "                             (--db)\n"
             "  KEYGATE_PEPPER_FILE        the store's pepper (--pepper-file)\n"
             "  KEYGATE_PROBE_KEY          probe's valid key (--key-file, "
             "--key)\n"
             "  KEYGATE_PROBE_EXPIRED_KEY  probe's expired key "
             "(--expired-key[-file])\n"
             "  KEYGATE_NGINX              the nginx that serve runs "
             "(--nginx)\n"
             "  KEYGATE_NGINX_MODULE       the module serve loads (--module)\n"
             "\n"
             "exit status, the same for every command (as grep and diff have "
             "it):\n"
             "  0  success, or a positive verdict\n"
             "  1  a negative verdict: a threshold violated (load, report "
             "check), a\n"
             "     probe deviation, a significant regression (report compare), "
             "a\n"
             "     refused request under 'check --fail'\n"
             "  2  trouble: a usage error, a store that cannot be opened, a "
             "refused\n"
             "     operation, a failed write; one line on stderr says what to "
             "do\n"
             "  130, 143  stopped by SIGINT, SIGTERM: load reports what it "
             "measured,\n"
             "     marked interrupted; keys seed leaves no key file and dies "
             "of the\n"
             "     signal\n"
             "\n"
             "See keygate(1) and docs/cli.md.\n");
}

static const cli_command *find(const char *name) {
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
    if (strcmp(name, COMMANDS[i].name) == 0) {
      return &COMMANDS[i];
    }
  }
  return NULL;
}

/* `keygate help [CMD [VERB]]`: CMD's (or VERB's) --help. */
static int help(int argc, char **argv) {
  if (argc < 2) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "version") == 0 ||
      strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const cli_command *c = find(argv[1]);
  if (c == NULL) {
    return cli_error(CLI_EXIT_USAGE, "help",
                     "unknown command '%s'; run 'keygate --help' for the list",
                     argv[1]);
  }
  if (argc == 3 && !c->verbs) {
    /* a word the command would not read is an error, not ignored */
    return cli_error(CLI_EXIT_USAGE, "help",
                     "unexpected argument '%s'; %s has no verbs: 'keygate "
                     "help %s'",
                     argv[2], c->name, c->name);
  }
  if (argc > 3) {
    return cli_error(CLI_EXIT_USAGE, "help",
                     "unexpected argument '%s'; give a command and at most "
                     "one of its verbs",
                     argv[3]);
  }
  char opt[] = "--help";
  char *sub[3] = {argv[1], argc == 3 ? argv[2] : opt, opt};
  return c->run(argc == 3 ? 3 : 2, sub);
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    /* exit 2 is one line, as for every command (docs/cli.md) */
    return cli_error(CLI_EXIT_USAGE, "",
                     "no command given (keygate --help lists them)");
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(name, "help") == 0) {
    return help(argc - 1, argv + 1);
  }
  if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 ||
      strcmp(name, "version") == 0) {
    if (argc > 2 &&
        (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
      printf("usage: keygate version (also -V, --version)\n"
             "Prints keygate's version.\n");
      return CLI_EXIT_OK;
    }
    if (argc > 2) {
      return cli_error(CLI_EXIT_USAGE, "version",
                       "unexpected argument '%s'; see 'keygate version --help'",
                       argv[2]);
    }
    printf("keygate %s\n", KEYGATE_VERSION);
    return CLI_EXIT_OK;
  }
  const cli_command *c = find(name);
  if (c != NULL) {
    return c->run(argc - 1, argv + 1);
  }
  return cli_error(CLI_EXIT_USAGE, "",
                   "unknown command '%s'; run 'keygate --help' for the list",
                   name);
}

int main(int argc, char **argv) {
  /* what every command printed on standard output got there, or exit 2
   * (docs/cli.md): a command that checked already, naming its verb, has
   * said so */
  const cli_command *c = argc >= 2 ? find(argv[1]) : NULL;
  return cli_stdout_check(c != NULL ? c->name : "", dispatch(argc, argv));
}
