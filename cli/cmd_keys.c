/*
 * cmd_keys.c — `keygate keys`: the key lifecycle on the key store (SPEC §2).
 *
 *   keygate keys create --account NAME --name LABEL
 *                       [--expires-in 30d | --expires-at ISO8601]
 *   keygate keys list [--account NAME] [--all]
 *   keygate keys deactivate ID
 *   keygate keys delete ID
 *   keygate keys rotate ID [--grace 24h] [--expires-in D | --expires-at T]
 *   keygate keys seed --valid N --expired M --deactivated K --out FILE
 *
 * Every command takes --db PATH (default $KEYGATE_DB, else keygate.db),
 * --pepper-file FILE (default $KEYGATE_PEPPER_FILE; a peppered store needs
 * it, a plain store refuses it, `seed` making a store peppers it) and
 * --format text|json|tsv. A key is printed once, by create and rotate, only
 * after the store committed it, and then wiped from memory (the stdout
 * buffer too); list shows hints (sk_live_****Ab3x), never keys.
 */
#define _GNU_SOURCE /* getopt_long, fdopen, fsync with -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keygate/keygate.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"
#include "load/outfile.h"
#include "load/redact.h"

/* ---- options ----------------------------------------------------------- */

enum {
  O_HELP = 'h',
  O_DB = 1000,
  O_FORMAT,
  O_ACCOUNT,
  O_NAME,
  O_EXPIRES_IN,
  O_EXPIRES_AT,
  O_ALL,
  O_GRACE,
  O_VALID,
  O_EXPIRED,
  O_DEACTIVATED,
  O_OUT,
  O_PEPPER_FILE,
  O_FORCE,
  O_NO_EXPIRY
};

typedef struct keys_opts {
  const char *cmd; /* "keys create", for messages */
  const char *db;
  cli_format format;
  const char *account, *name, *expires_in, *expires_at, *grace;
  const char *valid, *expired, *deactivated, *out;
  const char *pepper_file; /* --pepper-file, or NULL */
  int all;
  int force;          /* seed: replace an existing --out FILE */
  int no_expiry;      /* rotate: the new key never expires */
  const char *pos[2]; /* positional arguments */
  int npos;
} keys_opts;

#define OPT_COMMON                                                             \
  {"db", required_argument, NULL, O_DB},                                       \
      {"format", required_argument, NULL, O_FORMAT},                           \
      {"pepper-file", required_argument, NULL, O_PEPPER_FILE}, {               \
    "help", no_argument, NULL, O_HELP                                          \
  }
#define OPT_EXPIRY                                                             \
  {"expires-in", required_argument, NULL, O_EXPIRES_IN}, {                     \
    "expires-at", required_argument, NULL, O_EXPIRES_AT                        \
  }

static const struct option CREATE_OPTS[] = {
    OPT_COMMON,
    OPT_EXPIRY,
    {"account", required_argument, NULL, O_ACCOUNT},
    {"name", required_argument, NULL, O_NAME},
    {NULL, 0, NULL, 0}};
static const struct option LIST_OPTS[] = {
    OPT_COMMON,
    {"account", required_argument, NULL, O_ACCOUNT},
    {"all", no_argument, NULL, O_ALL},
    {NULL, 0, NULL, 0}};
static const struct option ID_OPTS[] = {OPT_COMMON, {NULL, 0, NULL, 0}};
static const struct option ROTATE_OPTS[] = {
    OPT_COMMON,
    OPT_EXPIRY,
    {"no-expiry", no_argument, NULL, O_NO_EXPIRY},
    {"grace", required_argument, NULL, O_GRACE},
    {NULL, 0, NULL, 0}};
static const struct option SEED_OPTS[] = {
    OPT_COMMON,
    {"valid", required_argument, NULL, O_VALID},
    {"expired", required_argument, NULL, O_EXPIRED},
    {"deactivated", required_argument, NULL, O_DEACTIVATED},
    {"out", required_argument, NULL, O_OUT},
    {"force", no_argument, NULL, O_FORCE},
    {NULL, 0, NULL, 0}};

/* The verbs of `keygate keys`: synopsis and what each does. `keygate keys
 * VERB --help` prints one, `keygate keys --help` all of them. */
static const struct {
  const char *name, *synopsis, *what;
} VERBS[] = {
    {"create",
     "create --account NAME --name LABEL [--expires-in 30d | --expires-at "
     "ISO8601]",
     "make a key and print it once (keygate keeps only its digest)"},
    {"list", "list [--account NAME] [--all]",
     "list keys by hint (sk_live_****Ab3x); --all includes deleted ones"},
    {"deactivate", "deactivate ID",
     "the key then answers expired_api_key (again: says it already was)"},
    {"delete", "delete ID",
     "the key then answers invalid_api_key (again: says it already was)"},
    {"rotate",
     "rotate ID [--grace 24h] [--expires-in D | --expires-at T | "
     "--no-expiry]",
     "a new key; the old one keeps working for the grace period (0: none);\n"
     "      the new key keeps the old one's expiry unless told otherwise"},
    {"seed", "seed --valid N --expired M --deactivated K --out FILE [--force]",
     "a load-test population over pro accounts seed-NNNN; FILE gets\n"
     "      '<class><TAB><key>' lines, mode 0600; an existing FILE is\n"
     "      refused unless --force (it may hold the only copy of live keys)"},
    {"ack-restore", "ack-restore",
     "accept the store after a restore from an older backup: servers\n"
     "      refuse it (503) until then; keys deleted after the backup was\n"
     "      made answer again, delete them anew"},
};

static void usage_common(FILE *f) {
  fprintf(f, "\n"
             "every command: --db PATH (default $KEYGATE_DB, else keygate.db), "
             "--format text|json|tsv,\n"
             "--pepper-file FILE (default $KEYGATE_PEPPER_FILE): the pepper of "
             "a peppered store;\n"
             "a store seed creates with it is peppered (docs/store.md).\n"
             "Durations: <n>s|m|h|d|w (the unit is required). ISO8601 times "
             "are UTC:\n"
             "2030-01-31T00:00:00Z, at most " CLI_TIME_MAX_STR ".\n"
             "exit: 0 done, 2 usage error or the store refused or failed "
             "(one line on stderr).\n");
}

/* verb NULL: every verb. */
static void usage(FILE *f, const char *verb) {
  if (verb == NULL) {
    fprintf(f, "usage: keygate keys <command> [options]\n\n");
  }
  for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++) {
    if (verb == NULL) {
      fprintf(f, "  %s\n      %s\n", VERBS[i].synopsis, VERBS[i].what);
    } else if (strcmp(verb, VERBS[i].name) == 0) {
      fprintf(f, "usage: keygate keys %s\n\n  %s\n", VERBS[i].synopsis,
              VERBS[i].what);
    }
  }
  usage_common(f);
}

/* Parse argv (argv[0] is the subcommand name) against opts. Returns 0, -1
 * after --help (exit 0), or an exit code after printing an error. */
static int parse_opts(int argc, char **argv, const struct option *longopts,
                      keys_opts *o) {
  o->db = cli_db_path(NULL, "keygate.db");
  o->format = CLI_FMT_TEXT;
  opterr = 0;
  optind = 0; /* glibc: start afresh */
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case O_HELP:
      usage(stdout, o->cmd + strlen("keys "));
      return -1;
    case O_DB:
      o->db = optarg;
      break;
    case O_FORMAT:
      if (cli_parse_format(o->cmd, optarg, &o->format) != 0) {
        return CLI_EXIT_USAGE;
      }
      break;
    case O_ACCOUNT:
      o->account = optarg;
      break;
    case O_NAME:
      o->name = optarg;
      break;
    case O_EXPIRES_IN:
      o->expires_in = optarg;
      break;
    case O_EXPIRES_AT:
      o->expires_at = optarg;
      break;
    case O_ALL:
      o->all = 1;
      break;
    case O_GRACE:
      o->grace = optarg;
      break;
    case O_VALID:
      o->valid = optarg;
      break;
    case O_EXPIRED:
      o->expired = optarg;
      break;
    case O_DEACTIVATED:
      o->deactivated = optarg;
      break;
    case O_OUT:
      o->out = optarg;
      break;
    case O_FORCE:
      o->force = 1;
      break;
    case O_NO_EXPIRY:
      o->no_expiry = 1;
      break;
    case O_PEPPER_FILE:
      o->pepper_file = optarg;
      break;
    default: /* ':' for a missing value, '?' for an unknown option */
      return cli_getopt_error(o->cmd, argv, c);
    }
  }
  for (int i = optind; i < argc; i++) {
    if (o->npos == 2) {
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

/* Exactly `want` positional arguments, named `what` in the message. */
static int want_args(const keys_opts *o, int want, const char *what) {
  return cli_want_args(o->cmd, o->pos, o->npos, want, what);
}

/* Parse a key id argument ("key_" + 11 base62). */
static int parse_id(const keys_opts *o, const char *s, uint64_t *id) {
  if (kg_key_id_parse(s, strlen(s), id) != KG_OK) {
    return cli_error(CLI_EXIT_USAGE, o->cmd,
                     "'%s' is not a key id (they look like key_0A1b2C3d4E5; "
                     "see 'keygate keys list')",
                     s);
  }
  return 0;
}

/* The expiry of --expires-in / --expires-at as Unix seconds, 0 for none. */
static int parse_expiry(const keys_opts *o, int64_t now, int64_t *out) {
  *out = 0;
  if (o->expires_in != NULL && o->expires_at != NULL) {
    return cli_error(CLI_EXIT_USAGE, o->cmd,
                     "give --expires-in or --expires-at, not both");
  }
  if (o->expires_in != NULL) {
    int64_t d;
    const int rc = cli_parse_duration(o->expires_in, &d);
    if (rc != 0) {
      return cli_duration_error(o->cmd, "--expires-in", o->expires_in, rc, "");
    }
    if (d > CLI_TIME_MAX - now) {
      return cli_error(CLI_EXIT_USAGE, o->cmd,
                       "--expires-in %s ends after " CLI_TIME_MAX_STR
                       ", the latest expiry keygate keeps; give a shorter "
                       "duration",
                       o->expires_in);
    }
    *out = now + d;
  } else if (o->expires_at != NULL) {
    if (cli_parse_iso8601(o->expires_at, out) != 0) {
      return cli_error(CLI_EXIT_USAGE, o->cmd,
                       "bad time '%s' for --expires-at; use UTC ISO 8601 "
                       "like 2030-01-31T00:00:00Z, at most " CLI_TIME_MAX_STR,
                       o->expires_at);
    }
    if (*out <= now) {
      return cli_error(CLI_EXIT_USAGE, o->cmd,
                       "--expires-at %s is not in the future", o->expires_at);
    }
  }
  return 0;
}

/* Open the store (see cli_store_open); prints the error. */
static int open_store(const keys_opts *o, unsigned flags, kg_store **s) {
  return cli_store_open(o->cmd, o->db, flags, o->pepper_file, s);
}

/* ---- printing ---------------------------------------------------------- */

static void print_time_json(FILE *f, int64_t t) {
  char buf[32];
  if (t == 0) {
    fputs("null", f);
  } else {
    fprintf(f, "\"%s\"", cli_format_iso8601(t, buf, sizeof buf));
  }
}

static void print_id_json(FILE *f, uint64_t id) {
  char buf[KG_KEY_ID_STR_LEN];
  if (id == 0) {
    fputs("null", f);
  } else {
    kg_key_id_format(id, buf);
    fprintf(f, "\"%s\"", buf);
  }
}

/* "never" or the ISO time (text and tsv show "never"/"" respectively). */
static const char *time_or(int64_t t, const char *none, char *buf, size_t cap) {
  return t == 0 ? none : cli_format_iso8601(t, buf, cap);
}

/* One key's public facts as a JSON object (no newline); changed 0 or 1
 * adds "changed" (deactivate, delete), -1 leaves it out. */
static void key_json(FILE *f, const kg_store_key_info *k, int64_t now,
                     int changed) {
  fputs("{\"id\":", f);
  print_id_json(f, k->id);
  fputs(",\"account\":", f);
  cli_json_string(f, k->account, strlen(k->account));
  fputs(",\"name\":", f);
  cli_json_string(f, k->name, strlen(k->name));
  fputs(",\"hint\":", f);
  cli_json_string(f, k->hint, strlen(k->hint));
  fprintf(f,
          ",\"status\":\"%s\",\"created\":", kg_store_key_state_name(k, now));
  print_time_json(f, k->created);
  fputs(",\"expires_at\":", f);
  print_time_json(f, k->expires_at);
  fputs(",\"replaces\":", f);
  print_id_json(f, k->replaces);
  fputs(",\"replaced_by\":", f);
  print_id_json(f, k->replaced_by);
  if (changed >= 0) {
    fprintf(f, ",\"changed\":%s", changed ? "true" : "false");
  }
  fputs("}", f);
}

/* One key as a tsv row: id account name hint status created expires. */
static void key_tsv(FILE *f, const kg_store_key_info *k, int64_t now) {
  char id[KG_KEY_ID_STR_LEN], c[32], e[32];
  kg_key_id_format(k->id, id);
  fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, k->account, k->name, k->hint,
          kg_store_key_state_name(k, now),
          cli_format_iso8601(k->created, c, sizeof c),
          time_or(k->expires_at, "", e, sizeof e));
}

/* Column widths for text: the account and name columns vary. */
typedef struct widths {
  int account, name;
  size_t rows;
} widths;

static int measure_key(const kg_store_key_info *k, void *ctx) {
  widths *w = ctx;
  const int a = (int)strlen(k->account), n = (int)strlen(k->name);
  w->account = a > w->account ? a : w->account;
  w->name = n > w->name ? n : w->name;
  w->rows++;
  return 0;
}

typedef struct list_ctx {
  cli_format format;
  widths w;
  int64_t now;
  size_t printed;
} list_ctx;

static void key_text(const kg_store_key_info *k, const list_ctx *l) {
  char id[KG_KEY_ID_STR_LEN], c[32], e[32];
  kg_key_id_format(k->id, id);
  printf("%-15s  %-*s  %-*s  %-16s  %-11s  %-20s  %s\n", id, l->w.account,
         k->account, l->w.name, k->name, k->hint,
         kg_store_key_state_name(k, l->now),
         cli_format_iso8601(k->created, c, sizeof c),
         time_or(k->expires_at, "never", e, sizeof e));
}

static int print_key(const kg_store_key_info *k, void *ctx) {
  list_ctx *l = ctx;
  switch (l->format) {
  case CLI_FMT_JSON:
    fputs(l->printed == 0 ? "[\n" : ",\n", stdout);
    key_json(stdout, k, l->now, -1);
    break;
  case CLI_FMT_TSV:
    key_tsv(stdout, k, l->now);
    break;
  case CLI_FMT_TEXT:
    key_text(k, l);
    break;
  }
  l->printed++;
  return 0;
}

/* Print a new key (create, rotate) in the chosen format. old is the key
 * it replaced, or NULL. */
static void print_new_key(const keys_opts *o, const kg_new_key *k,
                          const kg_store_key_info *old) {
  char id[KG_KEY_ID_STR_LEN], e[32];
  kg_key_id_format(k->info.id, id);
  switch (o->format) {
  case CLI_FMT_JSON:
    printf("{\"id\":\"%s\",\"key\":\"%.*s\",\"account\":", id, (int)k->key_len,
           k->key);
    cli_json_string(stdout, k->info.account, strlen(k->info.account));
    fputs(",\"name\":", stdout);
    cli_json_string(stdout, k->info.name, strlen(k->info.name));
    fputs(",\"hint\":", stdout);
    cli_json_string(stdout, k->info.hint, strlen(k->info.hint));
    fputs(",\"expires_at\":", stdout);
    print_time_json(stdout, k->info.expires_at);
    if (old != NULL) {
      fputs(",\"replaces\":", stdout);
      print_id_json(stdout, old->id);
      fputs(",\"old_expires_at\":", stdout);
      print_time_json(stdout, old->expires_at);
    }
    fputs("}\n", stdout);
    break;
  case CLI_FMT_TSV:
    printf("%s\t%.*s\t%s\t%s\t%s\n", id, (int)k->key_len, k->key,
           k->info.account, k->info.name,
           time_or(k->info.expires_at, "", e, sizeof e));
    break;
  case CLI_FMT_TEXT:
    printf("%.*s\n", (int)k->key_len, k->key);
    break;
  }
}

/* ---- keys create / rotate ---------------------------------------------- */

/* stdout's buffer while a key is printed, so it can be wiped afterwards. */
static char key_stdout_buf[BUFSIZ];

/* Print the new key, flush, and wipe every copy. Returns an exit code. */
static int show_key_once(const keys_opts *o, kg_new_key *k,
                         const kg_store_key_info *old) {
  print_new_key(o, k, old);
  const int failed = fflush(stdout) != 0 || ferror(stdout);
  const int saved = errno;
  char id[KG_KEY_ID_STR_LEN];
  kg_key_id_format(k->info.id, id);
  OPENSSL_cleanse(key_stdout_buf, sizeof key_stdout_buf);
  kg_store_new_key_wipe(k);
  if (failed) {
    return cli_error(CLI_EXIT_TROUBLE, o->cmd,
                     "could not write the key to stdout (%s); key %s exists "
                     "but nobody has it: delete it with 'keygate keys delete "
                     "%s'",
                     strerror(saved), id, id);
  }
  return CLI_EXIT_OK;
}

static int keys_create(int argc, char **argv) {
  keys_opts o = {.cmd = "keys create"};
  int rc = parse_opts(argc, argv, CREATE_OPTS, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  char err[KG_STORE_ERR_MAX];
  if ((rc = want_args(&o, 0, "no arguments")) != 0) {
    return rc;
  }
  if (o.account == NULL || o.name == NULL) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "give --account NAME and --name LABEL (one key per "
                     "integration, e.g. --name ci)");
  }
  if (kg_store_key_name_check(o.name, err, sizeof err) != 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd, "--name: %s", err);
  }
  const int64_t now = (int64_t)time(NULL);
  int64_t expires_at;
  if ((rc = parse_expiry(&o, now, &expires_at)) != 0) {
    return rc;
  }
  /* Before any output: stdout buffers into memory we wipe. */
  setvbuf(stdout, key_stdout_buf, _IOFBF, sizeof key_stdout_buf);
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  kg_new_key k;
  if (kg_store_key_create(s, o.account, o.name, expires_at, &k, err,
                          sizeof err) != 0) {
    kg_store_close(s);
    return cli_store_error(o.cmd, o.db, err);
  }
  kg_store_close(s);
  char id[KG_KEY_ID_STR_LEN];
  kg_key_id_format(k.info.id, id);
  rc = show_key_once(&o, &k, NULL);
  if (rc == CLI_EXIT_OK && o.format == CLI_FMT_TEXT) {
    fprintf(stderr,
            "keygate keys create: key %s for account %s; this is the only "
            "time it is shown, store it now\n",
            id, o.account);
  }
  return rc;
}

/* inherit_expiry — the expiry a rotated key keeps when rotate is given none:
 * the old key's, absolute (rotation never extends a key's life: a key made
 * to last 90 days stays a 90-day key). An old key already expired is
 * refused: its expiry would make the new key dead at birth. Returns 0 with
 * *expires_at set, or an exit code after one line. */
static int inherit_expiry(const keys_opts *o, kg_store *s, uint64_t id,
                          int64_t now, kg_store_key_info *old,
                          int64_t *expires_at) {
  char err[KG_STORE_ERR_MAX];
  if (kg_store_key_get(s, id, old, err, sizeof err) != 0) {
    return cli_store_error(o->cmd, o->db, err);
  }
  if (old->status == KG_REC_ACTIVE && old->expires_at != 0 &&
      old->expires_at <= now) {
    char ids[KG_KEY_ID_STR_LEN], when[32];
    kg_key_id_format(old->id, ids);
    return cli_error(CLI_EXIT_USAGE, o->cmd,
                     "key %s expired at %s, and the new key would keep that "
                     "expiry: give --expires-in D, --expires-at T or "
                     "--no-expiry",
                     ids,
                     cli_format_iso8601(old->expires_at, when, sizeof when));
  }
  *expires_at = old->expires_at;
  return 0;
}

static int keys_rotate(int argc, char **argv) {
  keys_opts o = {.cmd = "keys rotate"};
  int rc = parse_opts(argc, argv, ROTATE_OPTS, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  uint64_t id;
  if ((rc = want_args(&o, 1, "the id of the key to rotate")) != 0 ||
      (rc = parse_id(&o, o.pos[0], &id)) != 0) {
    return rc;
  }
  int64_t grace = 86400;
  /* 0 is a valid grace (the old key stops now) and needs no unit; other
   * durations are positive and carry theirs. */
  if (o.grace != NULL && strcmp(o.grace, "0") == 0) {
    grace = 0;
  } else if (o.grace != NULL &&
             (rc = cli_parse_duration(o.grace, &grace)) != 0) {
    return cli_duration_error(o.cmd, "--grace", o.grace, rc, "0 or ");
  }
  const int64_t now = (int64_t)time(NULL);
  if (grace > CLI_TIME_MAX - now) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "--grace %s ends after " CLI_TIME_MAX_STR
                     ", the latest expiry keygate keeps; give a shorter "
                     "grace",
                     o.grace);
  }
  int64_t expires_at;
  if ((rc = parse_expiry(&o, now, &expires_at)) != 0) {
    return rc;
  }
  const int expiry_given = o.expires_in != NULL || o.expires_at != NULL;
  if (o.no_expiry && expiry_given) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "give --no-expiry or --expires-in/--expires-at, not both");
  }
  setvbuf(stdout, key_stdout_buf, _IOFBF, sizeof key_stdout_buf);
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  kg_store_key_info before;
  if (!expiry_given && !o.no_expiry &&
      (rc = inherit_expiry(&o, s, id, now, &before, &expires_at)) != 0) {
    kg_store_close(s);
    return rc;
  }
  kg_new_key k;
  kg_store_key_info old;
  if (kg_store_key_rotate(s, id, grace, expires_at, &k, &old, err,
                          sizeof err) != 0) {
    kg_store_close(s);
    return cli_store_error(o.cmd, o.db, err);
  }
  kg_store_close(s);
  char new_id[KG_KEY_ID_STR_LEN], old_id[KG_KEY_ID_STR_LEN], when[32],
      until[32];
  kg_key_id_format(k.info.id, new_id);
  kg_key_id_format(old.id, old_id);
  const int64_t new_expiry = k.info.expires_at;
  rc = show_key_once(&o, &k, &old);
  if (rc == CLI_EXIT_OK && o.format == CLI_FMT_TEXT) {
    /* the old key's end as it is: already past (an expired key rotated),
     * now (--grace 0), or later */
    cli_format_iso8601(old.expires_at, when, sizeof when);
    char old_end[96];
    if (old.expires_at < now) {
      snprintf(old_end, sizeof old_end, "which had already expired at %s",
               when);
    } else if (grace == 0) {
      snprintf(old_end, sizeof old_end, "which stops working now");
    } else {
      snprintf(old_end, sizeof old_end, "which keeps working until %s", when);
    }
    fprintf(
        stderr,
        "keygate keys rotate: key %s replaces %s, %s; the new key %s%s%s%s; "
        "this is the only time the new key is shown, store it now\n",
        new_id, old_id, old_end,
        new_expiry == 0 ? "never expires" : "expires at ",
        new_expiry == 0 ? ""
                        : cli_format_iso8601(new_expiry, until, sizeof until),
        expiry_given || o.no_expiry ? "" : " (the old key's expiry",
        expiry_given || o.no_expiry
            ? ""
            : "; --expires-in, --expires-at or --no-expiry change it)");
  }
  return rc;
}

/* ---- keys list / deactivate / delete ------------------------------------ */

static int keys_list(int argc, char **argv) {
  keys_opts o = {.cmd = "keys list"};
  int rc = parse_opts(argc, argv, LIST_OPTS, &o);
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
  list_ctx l = {.format = o.format, .now = (int64_t)time(NULL)};
  l.w.account = (int)strlen("ACCOUNT");
  l.w.name = (int)strlen("NAME");
  if (o.format == CLI_FMT_TEXT &&
      kg_store_key_each(s, o.account, o.all, measure_key, &l.w, err,
                        sizeof err) != 0) {
    kg_store_close(s);
    return cli_store_error(o.cmd, o.db, err);
  }
  if (o.format == CLI_FMT_TEXT) {
    printf("%-15s  %-*s  %-*s  %-16s  %-11s  %-20s  %s\n", "ID", l.w.account,
           "ACCOUNT", l.w.name, "NAME", "HINT", "STATUS", "CREATED", "EXPIRES");
  }
  rc = kg_store_key_each(s, o.account, o.all, print_key, &l, err, sizeof err);
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

/* deactivate and delete: one id in, the key's new state out. */
static int keys_set_status(int argc, char **argv, const char *cmd,
                           kg_record_status status) {
  keys_opts o = {.cmd = cmd};
  int rc = parse_opts(argc, argv, ID_OPTS, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  uint64_t id;
  if ((rc = want_args(&o, 1, "the id of the key (see 'keygate keys list')")) !=
          0 ||
      (rc = parse_id(&o, o.pos[0], &id)) != 0) {
    return rc;
  }
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  kg_store_key_info k;
  /* The state before, so that a second deactivate or delete says the key
   * already was so (the store writes nothing then). */
  rc = kg_store_key_get(s, id, &k, err, sizeof err);
  const int already = rc == 0 && k.status == status;
  if (rc == 0) {
    rc = status == KG_REC_DELETED
             ? kg_store_key_delete(s, id, &k, err, sizeof err)
             : kg_store_key_deactivate(s, id, &k, err, sizeof err);
  }
  kg_store_close(s);
  if (rc != 0) {
    return cli_store_error(o.cmd, o.db, err);
  }
  const int64_t now = (int64_t)time(NULL);
  char ids[KG_KEY_ID_STR_LEN];
  kg_key_id_format(k.id, ids);
  const char *word = status == KG_REC_DELETED ? "deleted" : "deactivated";
  const char *answer =
      status == KG_REC_DELETED ? "invalid_api_key" : "expired_api_key";
  switch (o.format) {
  case CLI_FMT_JSON:
    key_json(stdout, &k, now, !already);
    fputc('\n', stdout);
    break;
  case CLI_FMT_TSV:
    key_tsv(stdout, &k, now);
    break;
  case CLI_FMT_TEXT:
    if (already) {
      printf("%s (%s, account %s, name %s) was already %s: it answers %s; "
             "nothing changed\n",
             ids, k.hint, k.account, k.name, word, answer);
    } else {
      printf("%s %s (%s, account %s, name %s): it now answers %s\n", word, ids,
             k.hint, k.account, k.name, answer);
    }
    break;
  }
  return CLI_EXIT_OK;
}

static int keys_deactivate(int argc, char **argv) {
  return keys_set_status(argc, argv, "keys deactivate", KG_REC_DEACTIVATED);
}

static int keys_delete(int argc, char **argv) {
  return keys_set_status(argc, argv, "keys delete", KG_REC_DELETED);
}

/* ---- keys seed --------------------------------------------------------- */

/* 1 when a component of path holds an sk_live_ or sk_test_ key, as the
 * error lines' mask finds one (kgl_holds_key): a folder named
 * sk_live_exports is no key. */
static int path_holds_key(const char *path) {
  char part[PATH_MAX];
  for (const char *p = path;;) {
    const size_t n = strcspn(p, "/");
    if (n >= sizeof part) {
      return 1; /* no file system names a component that long */
    }
    memcpy(part, p, n);
    part[n] = '\0';
    if (kgl_holds_key(part)) {
      return 1;
    }
    if (p[n] == '\0') {
      return 0;
    }
    p += n + 1;
  }
}

/* A non-negative count for option `name`. */
static int parse_count(const keys_opts *o, const char *name, const char *s,
                       size_t *out) {
  *out = 0;
  if (s == NULL) {
    return 0;
  }
  char *end;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 ||
      v > KG_INDEX_MAX_KEYS) {
    return cli_error(CLI_EXIT_USAGE, o->cmd,
                     "--%s must be a whole number from 0 to %u, not '%s'", name,
                     KG_INDEX_MAX_KEYS, s);
  }
  *out = (size_t)v;
  return 0;
}

typedef struct seed_sink {
  FILE *f;
  const char *path; /* the temporary file's */
  int failed;       /* errno of the first write error */
} seed_sink;

/* The signal (SIGINT, SIGTERM) that asked a seed to stop, 0 while none
 * did: the next key line aborts the seed (the store rolls back), the
 * temporary file of plaintext keys is removed, and the program dies of the
 * signal (seed_stop). */
static volatile sig_atomic_t g_seed_signal;

static void on_seed_signal(int sig) {
  if (g_seed_signal != 0) {
    /* a second one: go now (the temporary file may stay behind) */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_seed_signal = sig;
}

/* seed_catch — catch SIGINT and SIGTERM for the seed (on 1) or put back
 * what was there (on 0). */
static void seed_catch(int on) {
  static struct sigaction old_int, old_term;
  if (on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_seed_signal;
    sa.sa_flags = SA_RESTART; /* the writes go on until the next line */
    sigemptyset(&sa.sa_mask);
    g_seed_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  } else {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
  }
}

/* seed_stop — after a signal: one line, then die of it (as the shell
 * reports a program ^C stopped: 130, 143). */
static int seed_stop(const keys_opts *o, int committed) {
  const int sig = g_seed_signal;
  seed_catch(0);
  fprintf(stderr, "keygate %s: interrupted by %s: %s\n", o->cmd,
          sig == SIGINT ? "SIGINT" : "SIGTERM",
          committed ? "the keys were already seeded and written"
                    : "nothing was seeded, and the temporary key file is "
                      "removed");
  fflush(stderr);
  signal(sig, SIG_DFL);
  raise(sig);
  return CLI_EXIT_SIGNAL(sig); /* if the signal is blocked */
}

/* fsync the directory holding path, so a file created or renamed in it is
 * durable: 0, or -1 with errno when the sync itself fails. A directory this
 * process cannot open (write and search, no read permission: review 89
 * saw a seed refused for it) or a file system that cannot sync one
 * (EINVAL) is no error: the name is as durable as the system makes it. */
static int sync_dir_of(const char *path) {
  char copy[PATH_MAX];
  snprintf(copy, sizeof copy, "%s", path);
  const int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
  const int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int write_seed_line(kg_seed_class c, const char *key, size_t len,
                           void *ctx) {
  seed_sink *sink = ctx;
  if (g_seed_signal != 0) {
    return 1; /* the whole seed rolls back */
  }
  if (key == NULL) { /* before the commit: every line, and the file's
                      * name, on disk */
    if (fflush(sink->f) != 0 || fsync(fileno(sink->f)) != 0 ||
        sync_dir_of(sink->path) != 0) {
      sink->failed = errno != 0 ? errno : EIO;
      return 1;
    }
    return 0;
  }
  if (fprintf(sink->f, "%s\t%.*s\n", kg_seed_class_name(c), (int)len, key) <
      0) {
    sink->failed = errno != 0 ? errno : EIO;
    return 1;
  }
  return 0;
}

/* Seed into the store and the temporary file f, which is durable before
 * the store commits (a kill between the two leaves the keys in f, never
 * only in the store). Returns 0, or an exit code after printing. */
static int seed_into(const keys_opts *o, const kg_seed_counts *counts, FILE *f,
                     const char *tmp, kg_seed_result *res) {
  kg_store *s;
  int rc = open_store(o, KG_STORE_CREATE, &s);
  if (rc != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  seed_sink sink = {.f = f, .path = tmp};
  rc = kg_store_seed(s, counts, write_seed_line, &sink, res, err, sizeof err);
  kg_store_close(s);
  if (rc != 0) {
    if (g_seed_signal != 0) {
      return -1; /* keys_seed removes the file and says so */
    }
    if (sink.failed != 0) {
      return cli_error(CLI_EXIT_TROUBLE, o->cmd,
                       "cannot write %s: %s; nothing was seeded", o->out,
                       strerror(sink.failed));
    }
    return cli_store_error(o->cmd, o->db, err);
  }
  return 0; /* write_seed_line made the file durable before the commit */
}

static int keys_seed(int argc, char **argv) {
  keys_opts o = {.cmd = "keys seed"};
  int rc = parse_opts(argc, argv, SEED_OPTS, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  kg_seed_counts counts;
  if ((rc = want_args(&o, 0, "no arguments")) != 0 ||
      (rc = parse_count(&o, "valid", o.valid, &counts.valid)) != 0 ||
      (rc = parse_count(&o, "expired", o.expired, &counts.expired)) != 0 ||
      (rc = parse_count(&o, "deactivated", o.deactivated,
                        &counts.deactivated)) != 0) {
    return rc;
  }
  if (o.out == NULL) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "give --out FILE for the '<class><TAB><key>' lines");
  }
  /* The keys go to a file of mode 0600, never to a terminal or a pipe:
   * "-" is not stdout here (review 78: it made a file named "-"). A path
   * that holds a key was a key pasted in the wrong place: the line that
   * names the file would print it (cli_error masks it in the refusal). */
  if (strcmp(o.out, "-") == 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "--out - : the keys go to a file of mode 0600, not to "
                     "stdout; give a file path");
  }
  if (path_holds_key(o.out)) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "--out %s looks like a key, not a file path", o.out);
  }
  const size_t total = counts.valid + counts.expired + counts.deactivated;
  if (total == 0 || total > KG_INDEX_MAX_KEYS) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "give --valid, --expired and --deactivated counts adding "
                     "up to 1..%u keys",
                     KG_INDEX_MAX_KEYS);
  }
  /* --out naming the store (or the pepper) would rename keys over it; one
   * of SQLite's files beside the store (PATH-wal, PATH-shm,
   * PATH-journal) would have the store read key lines as its pages */
  const char *pepper =
      o.pepper_file != NULL ? o.pepper_file : getenv("KEYGATE_PEPPER_FILE");
  static const char *const beside[] = {"-wal", "-shm", "-journal"};
  char side[6][PATH_MAX + 16];
  char real[PATH_MAX];
  /* SQLite names them after the file a symbolic link --db leads to
   * (review 74), and after --db as given where it is no link */
  const char *base[2] = {o.db, realpath(o.db, real) != NULL ? real : o.db};
  kgl_named_path in[8] = {{"--db", o.db}, {"--pepper-file", pepper}};
  for (size_t i = 0; i < 6; i++) {
    snprintf(side[i], sizeof side[i], "%s%s", base[i / 3], beside[i % 3]);
    in[2 + i] = (kgl_named_path){"the store's own", side[i]};
  }
  const kgl_named_path out = {"--out", o.out};
  char why[PATH_MAX * 4 + 128];
  if (kgl_out_distinct(in, 8, &out, 1, why, sizeof why) != 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd, "%s", why);
  }
  struct stat sb;
  if (stat(o.out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    return cli_error(CLI_EXIT_USAGE, o.cmd, "--out %s is a directory", o.out);
  }
  /* The file may hold the only copy of live keys: replacing it is asked
   * for, never done by surprise. (rename below replaces a file that
   * appears meanwhile; --force is about the file the operator named.) */
  if (!o.force && lstat(o.out, &sb) == 0) {
    return cli_error(CLI_EXIT_USAGE, o.cmd,
                     "--out %s exists and may hold the only copy of live "
                     "keys; give another path, or --force to replace it",
                     o.out);
  }
  /* The keys go to a new file that is 0600 from its creation and becomes
   * FILE only after the store committed them. */
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", o.out, (long)getpid()) >=
      (int)sizeof tmp) {
    return cli_error(CLI_EXIT_USAGE, o.cmd, "--out path is too long");
  }
  const int fd =
      open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return cli_error(CLI_EXIT_TROUBLE, o.cmd, "cannot create %s: %s", tmp,
                     strerror(errno));
  }
  (void)fchmod(fd, 0600); /* exactly 0600, whatever the umask */
  FILE *f = fdopen(fd, "w");
  static char buf[1 << 16]; /* stdio's buffer, wiped after */
  if (f == NULL) {
    close(fd);
    unlink(tmp);
    return cli_error(CLI_EXIT_TROUBLE, o.cmd, "cannot write %s: %s", tmp,
                     strerror(errno));
  }
  setvbuf(f, buf, _IOFBF, sizeof buf);
  kg_seed_result res = {0};
  seed_catch(1);
  rc = seed_into(&o, &counts, f, tmp, &res);
  const int closed = fclose(f);
  OPENSSL_cleanse(buf, sizeof buf);
  if (g_seed_signal != 0 && rc != 0 && res.keys == 0) {
    unlink(tmp); /* rolled back: the lines name no stored key */
    return seed_stop(&o, 0);
  }
  if (rc == 0 && closed != 0) {
    rc = cli_error(CLI_EXIT_TROUBLE, o.cmd,
                   "seeded %zu keys but cannot finish writing %s: %s", res.keys,
                   tmp, strerror(errno));
  }
  if (rc != 0) {
    seed_catch(0);
    if (res.keys == 0) {
      unlink(tmp); /* nothing committed: the lines name no stored key */
    }
    return rc;
  }
  if (rename(tmp, o.out) != 0) {
    seed_catch(0);
    return cli_error(CLI_EXIT_TROUBLE, o.cmd,
                     "seeded %zu keys, but cannot rename %s to %s: %s; the "
                     "keys are in %s",
                     res.keys, tmp, o.out, strerror(errno), tmp);
  }
  (void)sync_dir_of(o.out); /* the rename's: the keys are durable already */
  switch (o.format) {
  case CLI_FMT_JSON:
    printf("{\"keys\":%zu,\"valid\":%zu,\"expired\":%zu,\"deactivated\":%zu,"
           "\"accounts\":%zu,\"first_account\":\"seed-%04u\","
           "\"last_account\":\"seed-%04u\",\"out\":",
           res.keys, counts.valid, counts.expired, counts.deactivated,
           res.accounts, res.first, res.last);
    cli_json_string(stdout, o.out, strlen(o.out));
    fputs("}\n", stdout);
    break;
  case CLI_FMT_TSV:
    printf("%zu\t%zu\t%zu\t%zu\t%zu\tseed-%04u\tseed-%04u\t%s\n", res.keys,
           counts.valid, counts.expired, counts.deactivated, res.accounts,
           res.first, res.last, o.out);
    break;
  case CLI_FMT_TEXT:
    if (res.accounts == 1) {
      printf("seeded %zu key%s (%zu valid, %zu expired, %zu deactivated) in "
             "1 pro account seed-%04u; keys in %s (mode 0600)\n",
             res.keys, res.keys == 1 ? "" : "s", counts.valid, counts.expired,
             counts.deactivated, res.first, o.out);
    } else {
      printf("seeded %zu keys (%zu valid, %zu expired, %zu deactivated) over "
             "%zu pro accounts seed-%04u..seed-%04u; keys in %s (mode 0600)\n",
             res.keys, counts.valid, counts.expired, counts.deactivated,
             res.accounts, res.first, res.last, o.out);
    }
    break;
  }
  if (g_seed_signal != 0) {
    /* too late to stop: the store had committed; it is all written */
    fflush(stdout);
    return seed_stop(&o, 1);
  }
  seed_catch(0);
  return CLI_EXIT_OK;
}

/* ---- keys ack-restore -------------------------------------------------- */

/* A server that saw the store's change sequence go backwards (an older
 * backup put back) refuses it until this runs: a new epoch tells every
 * server that the store as it is now is the operator's choice. */
static int keys_ack_restore(int argc, char **argv) {
  keys_opts o = {.cmd = "keys ack-restore"};
  int rc = parse_opts(argc, argv, ID_OPTS, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  if ((rc = want_args(&o, 0, "nothing")) != 0) {
    return rc;
  }
  kg_store *s;
  if ((rc = open_store(&o, 0, &s)) != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  int64_t seq = 0;
  rc = kg_store_ack_restore(s, &seq, err, sizeof err);
  kg_store_close(s);
  if (rc != 0) {
    return cli_store_error(o.cmd, o.db, err);
  }
  switch (o.format) {
  case CLI_FMT_JSON:
    fputs("{\"db\":", stdout);
    cli_json_string(stdout, o.db, strlen(o.db));
    printf(",\"seq\":%lld}\n", (long long)seq);
    break;
  case CLI_FMT_TSV:
    printf("%s\t%lld\n", o.db, (long long)seq);
    break;
  case CLI_FMT_TEXT:
    printf("accepted %s as it is now (change sequence %lld); servers load it "
           "within a second. Keys deleted after its backup was made answer "
           "again: check 'keygate keys list' and delete them anew\n",
           o.db, (long long)seq);
    break;
  }
  return CLI_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} SUBCOMMANDS[] = {
    {"create", keys_create},           {"list", keys_list},
    {"deactivate", keys_deactivate},   {"delete", keys_delete},
    {"rotate", keys_rotate},           {"seed", keys_seed},
    {"ack-restore", keys_ack_restore},
};

int cmd_keys(int argc, char **argv) {
  if (argc < 2) {
    return cli_error(CLI_EXIT_USAGE, "keys",
                     "give a command: create, list, deactivate, delete, "
                     "rotate, seed or ack-restore");
  }
  const char *sub = argv[1];
  if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
      strcmp(sub, "help") == 0) {
    /* "keys help VERB" is "keys VERB --help" */
    for (size_t i = 0; argc == 3 && i < sizeof VERBS / sizeof VERBS[0]; i++) {
      if (strcmp(argv[2], VERBS[i].name) == 0) {
        usage(stdout, VERBS[i].name);
        return CLI_EXIT_OK;
      }
    }
    if (argc > 2) {
      return cli_error(CLI_EXIT_USAGE, "keys",
                       "unknown command '%s'; see 'keygate keys --help'",
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
  return cli_error(CLI_EXIT_USAGE, "keys",
                   "unknown command '%s'; see 'keygate keys --help'", sub);
}
