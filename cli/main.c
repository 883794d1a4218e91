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
    {"check", "decide one raw request head read from stdin", cmd_check},
#ifdef KEYGATE_HAVE_STORE
    {"accounts", "create, list and re-tier accounts in the key store",
     cmd_accounts},
    {"keys", "create, list, deactivate, delete, rotate and seed keys",
     cmd_keys},
#endif
#ifdef KEYGATE_HAVE_LOAD
    {"load", "fire mixed key traffic at a server and verify every response",
     cmd_load},
    {"report", "show, merge, check, compare and draw load results", cmd_report},
    {"probe", "check a deployed API against the authentication contract",
     cmd_probe},
#endif
#ifdef KEYGATE_HAVE_SERVE
    {"serve", "run nginx with the keygate module and the reference API",
     cmd_serve},
#endif
};

static void usage(FILE *f) {
  fprintf(f, "usage: keygate <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
    fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  }
  fprintf(f, "\n'keygate <command> --help' shows a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
      strcmp(name, "help") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (strcmp(name, "--version") == 0) {
    printf("keygate %s\n", KEYGATE_VERSION);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
    if (strcmp(name, COMMANDS[i].name) == 0) {
      return COMMANDS[i].run(argc - 1, argv + 1);
    }
  }
  return cli_error(CLI_EXIT_USAGE, "",
                   "unknown command '%s'; run 'keygate --help' for the list",
                   name);
}
