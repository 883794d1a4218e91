/*
 * cmd_accounts.c — `keygate accounts`: accounts and their tiers in the key
 * store (SPEC §2: a free account holds 3 keys, a pro account 50).
 *
 *   keygate accounts create NAME [--tier free|pro]
 *   keygate accounts set-tier NAME free|pro
 *   keygate accounts list
 *
 * Every command takes --db PATH (default $KEYGATE_DB, else keygate.db),
 * --pepper-file FILE (default $KEYGATE_PEPPER_FILE; a peppered store needs
 * it, a plain store refuses it) and --format text|json|tsv. `accounts
 * create` makes the store when it does not exist yet, peppered when a
 * pepper is given.
 */
#define _GNU_SOURCE /* getopt_long with -std=c11 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"

enum { O_HELP = 'h', O_DB = 1000, O_FORMAT, O_TIER, O_PEPPER_FILE };

typedef struct accounts_opts {
  const char *cmd; /* "accounts create", for messages */
  const char *db;
  cli_format format;
  const char *tier;
  const char *pepper_file; /* --pepper-file, or NULL */
  const char *pos[3];
  int npos;
} accounts_opts;

static const struct option OPTS[] = {
    {"db", required_argument, NULL, O_DB},
    {"format", required_argument, NULL, O_FORMAT},
    {"tier", required_argument, NULL, O_TIER},
    {"pepper-file", required_argument, NULL, O_PEPPER_FILE},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

/* The verbs of `keygate accounts`; `keygate accounts VERB --help` prints
 * one, `keygate accounts --help` all of them. */
static const struct {
  const char *name, *synopsis, *what;
} VERBS[] = {
    {"create", "create NAME [--tier free|pro]",
     "add an account (default free); makes the store when it does not "
     "exist"},
    {"set-tier", "set-tier NAME free|pro",
     "change the tier; going down keeps every key"},
    {"list", "list", "accounts, tiers and key counts"},
};

/* verb NULL: every verb. */
static void usage(FILE *f, const char *verb) {
  if (verb == NULL) {
    fprintf(f, "usage: keygate accounts <command> [options]\n\n");
  }
  for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++) {
    if (verb == NULL) {
      fprintf(f, "  %s\n      %s\n", VERBS[i].synopsis, VERBS[i].what);
    } else if (strcmp(verb, VERBS[i].name) == 0) {
      fprintf(f, "usage: keygate accounts %s\n\n  %s\n", VERBS[i].synopsis,
              VERBS[i].what);
    }
  }
  fprintf(f, "\n"
             "A free account holds 3 keys, a pro account 50 (deleted keys do "
             "not count).\n"
             "NAME: 1-64 of [A-Za-z0-9._-], starting with a letter or digit.\n"
             "every command: --db PATH (default $KEYGATE_DB, else keygate.db), "
             "--format text|json|tsv,\n"
             "--pepper-file FILE (default $KEYGATE_PEPPER_FILE): the pepper of "
             "a peppered store;\n"
             "a store created with it is peppered (docs/store.md).\n"
             "exit: 0 done, 2 usage error or the store refused or failed "
             "(one line on stderr).\n");
}

/* Parse argv (argv[0] is the subcommand). 0, -1 after --help, or an exit
 * code after printing an error. */
static int parse_opts(int argc, char **argv, accounts_opts *o) {
  o->db = cli_db_path(NULL, "keygate.db");
  o->format = CLI_FMT_TEXT;
  opterr = 0;
  optind = 0; /* glibc: start afresh */
  int c;
  while ((c = getopt_long(argc, argv, ":h", OPTS, NULL)) != -1) {
    switch (c) {
    case O_HELP:
      usage(stdout, o->cmd + strlen("accounts "));
      return -1;
    case O_DB:
      o->db = optarg;
      break;
    case O_TIER:
      o->tier = optarg;
      break;
    case O_PEPPER_FILE:
      o->pepper_file = optarg;
      break;
    case O_FORMAT:
      if (cli_parse_format(o->cmd, optarg, &o->format) != 0) {
        return CLI_EXIT_USAGE;
      }
      break;
    default: /* ':' for a missing value, '?' for an unknown option */
      return cli_getopt_error(o->cmd, argv, c);
    }
  }
  for (int i = optind; i < argc; i++) {
    if (o->npos == 3) {
      return cli_error(CLI_EXIT_USAGE, o->cmd,
                       "unexpected argument '%s'; see 'keygate %s --help'",
                       argv[i], o->cmd);
    }
    o->pos[o->npos++] = argv[i];
  }
  if (o->db[0] == '\0') {
    return cli_error(CLI_EXIT_USAGE, o->cmd, "--db needs a path");
  }
  return 0;
}

static int want_args(const accounts_opts *o, int want, const char *what) {
  return cli_want_args(o->cmd, o->pos, o->npos, want, what);
}

/* Open the store (see cli_store_open); prints the error. */
static int open_store(const accounts_opts *o, unsigned flags, kg_store **s) {
  return cli_store_open(o->cmd, o->db, flags, o->pepper_file, s);
}

/* ---- printing ---------------------------------------------------------- */

static void account_json(const kg_store_account_info *a) {
  char t[32];
  printf("{\"id\":%llu,\"name\":", (unsigned long long)a->id);
  cli_json_string(stdout, a->name, strlen(a->name));
  printf(",\"tier\":\"%s\",\"keys\":%u,\"limit\":%u,\"created\":\"%s\"}",
         kg_store_tier_name(a->tier), a->keys, kg_store_tier_limit(a->tier),
         cli_format_iso8601(a->created, t, sizeof t));
}

static void account_tsv(const kg_store_account_info *a) {
  char t[32];
  printf("%s\t%s\t%u\t%u\t%s\n", a->name, kg_store_tier_name(a->tier), a->keys,
         kg_store_tier_limit(a->tier),
         cli_format_iso8601(a->created, t, sizeof t));
}

/* One account, for create and set-tier. */
static void print_account(cli_format format, const kg_store_account_info *a,
                          const char *verb) {
  switch (format) {
  case CLI_FMT_JSON:
    account_json(a);
    fputc('\n', stdout);
    break;
  case CLI_FMT_TSV:
    account_tsv(a);
    break;
  case CLI_FMT_TEXT:
    printf("%s account %s: %s tier, %u of %u keys\n", verb, a->name,
           kg_store_tier_name(a->tier), a->keys, kg_store_tier_limit(a->tier));
    if (a->keys > kg_store_tier_limit(a->tier)) {
      printf("its %u keys keep working; new keys are refused until it holds "
             "fewer than %u\n",
             a->keys, kg_store_tier_limit(a->tier));
    }
    break;
  }
}

typedef struct list_ctx {
  cli_format format;
  int width; /* of the NAME column */
  size_t printed;
} list_ctx;

static int measure(const kg_store_account_info *a, void *ctx) {
  list_ctx *l = ctx;
  const int n = (int)strlen(a->name);
  l->width = n > l->width ? n : l->width;
  return 0;
}

static int print_row(const kg_store_account_info *a, void *ctx) {
  list_ctx *l = ctx;
  char t[32];
  switch (l->format) {
  case CLI_FMT_JSON:
    fputs(l->printed == 0 ? "[\n" : ",\n", stdout);
    account_json(a);
    break;
  case CLI_FMT_TSV:
    account_tsv(a);
    break;
  case CLI_FMT_TEXT:
    printf("%-*s  %-4s  %4u  %5u  %s\n", l->width, a->name,
           kg_store_tier_name(a->tier), a->keys, kg_store_tier_limit(a->tier),
           cli_format_iso8601(a->created, t, sizeof t));
    break;
  }
  l->printed++;
  return 0;
}

/* ---- subcommands ------------------------------------------------------- */

static int accounts_create(int argc, char **argv) {
  accounts_opts o = {.cmd = "accounts create"};
  int rc = parse_opts(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  if ((rc = want_args(&o, 1, "the account NAME")) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  kg_tier tier = KG_TIER_FREE;
  if (o.tier != NULL && kg_store_tier_parse(o.tier, &tier) != 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "--tier must be free or pro, not '%s'", o.tier);
  }
  if (kg_store_account_name_check(o.pos[0], err, sizeof err) != 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd, "%s", err);
  }
  kg_store *s;
  if ((rc = open_store(&o, KG_STORE_CREATE, &s)) != 0) {
    return rc;
  }
  kg_store_account_info a;
  rc = kg_store_account_create(s, o.pos[0], tier, &a, err, sizeof err);
  kg_store_close(s);
  if (rc != 0) {
    return cli_store_error(o.cmd, o.db, err);
  }
  print_account(o.format, &a, "created");
  return CLI_EXIT_OK;
}

static int accounts_set_tier(int argc, char **argv) {
  accounts_opts o = {.cmd = "accounts set-tier"};
  int rc = parse_opts(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  if ((rc = want_args(&o, 2, "the account NAME and a tier, free or pro")) !=
      0) {
    return rc;
  }
  kg_tier tier;
  if (kg_store_tier_parse(o.pos[1], &tier) != 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "the tier must be free or pro, not '%s'", o.pos[1]);
  }
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  kg_store_account_info a;
  rc = kg_store_account_set_tier(s, o.pos[0], tier, &a, err, sizeof err);
  kg_store_close(s);
  if (rc != 0) {
    return cli_store_error(o.cmd, o.db, err);
  }
  print_account(o.format, &a, "updated");
  return CLI_EXIT_OK;
}

static int accounts_list(int argc, char **argv) {
  accounts_opts o = {.cmd = "accounts list"};
  int rc = parse_opts(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  if ((rc = want_args(&o, 0, "no arguments")) != 0) {
    return rc;
  }
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  list_ctx l = {.format = o.format, .width = (int)strlen("NAME")};
  if (o.format == CLI_FMT_TEXT) {
    if (kg_store_account_each(s, measure, &l, err, sizeof err) != 0) {
      kg_store_close(s);
      return cli_store_error(o.cmd, o.db, err);
    }
    printf("%-*s  %-4s  %4s  %5s  %s\n", l.width, "NAME", "TIER", "KEYS",
           "LIMIT", "CREATED");
  }
  rc = kg_store_account_each(s, print_row, &l, err, sizeof err);
  kg_store_close(s);
  if (rc != 0) {
    fflush(stdout);
    return cli_store_error(o.cmd, o.db, err);
  }
  if (o.format == CLI_FMT_JSON) {
    fputs(l.printed == 0 ? "[]\n" : "\n]\n", stdout);
  }
  return CLI_EXIT_OK;
}

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} SUBCOMMANDS[] = {
    {"create", accounts_create},
    {"set-tier", accounts_set_tier},
    {"list", accounts_list},
};

int cmd_accounts(int argc, char **argv) {
  if (argc < 2) {
    return cli_error(CLI_EXIT_USAGE, "accounts",
                     "give a command: create, set-tier or list");
  }
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
      strcmp(sub, "help") == 0) {
    /* "accounts help VERB" is "accounts VERB --help" */
    for (size_t i = 0; argc == 3 && i < sizeof VERBS / sizeof VERBS[0]; i++) {
      if (strcmp(argv[2], VERBS[i].name) == 0) {
        usage(stdout, VERBS[i].name);
        return CLI_EXIT_OK;
      }
    }
    if (argc > 2) {
      return cli_error(CLI_EXIT_USAGE, "accounts",
                       "unknown command '%s'; see 'keygate accounts --help'",
                       argv[2]);
    }
    usage(stdout, NULL);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof SUBCOMMANDS / sizeof SUBCOMMANDS[0]; i++) {
    if (strcmp(sub, SUBCOMMANDS[i].name) == 0) {
      return SUBCOMMANDS[i].run(argc - 1, argv + 1);
    }
  }
  return cli_error(CLI_EXIT_USAGE, "accounts",
                   "unknown command '%s'; see 'keygate accounts --help'", sub);
}
