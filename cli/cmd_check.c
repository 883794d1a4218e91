/*
 * cmd_check.c — `keygate check`: decide one raw request head read from
 * stdin against a keys file or the key store, and print the decision as
 * one JSON object.
 *
 *   keygate check (--keys FILE | --db PATH) [--now ISO8601]
 *                 [--prefix sk_live_] [--policy strict|prefix]
 *                 [--realm api] < request.txt
 *
 * Exit 0 whatever the decision; 1 with one line on stderr for a usage
 * error, an unreadable file or a head that does not parse (the JSON still
 * names the parse error).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "keygate/keygate.h"
#ifdef KEYGATE_HAVE_STORE
#include "keygate/store.h"
#endif

#define CMD "check"
/* check's exit codes are part of its contract (docs/contract.md): 0 for any
 * decision, 1 for everything else, usage errors included, so a script can
 * tell "decided" from "could not decide" with one test. */
#define CHECK_EXIT_USAGE CLI_EXIT_FAIL
#define STDIN_MAX (KG_HEAD_MAX_BYTES + 1) /* one byte past the limit */

typedef struct check_opts {
  const char *keys_file;
  const char *db;
  const char *now;
  const char *prefix;
  const char *policy;
  const char *realm;
} check_opts;

static void usage(FILE *f) {
  fprintf(f,
          "usage: keygate check (--keys FILE | --db PATH) [--now ISO8601]\n"
          "                     [--prefix sk_live_] [--policy strict|prefix]\n"
          "                     [--realm api] < request.txt\n"
          "Reads one raw HTTP request head on stdin and prints the decision "
          "as JSON.\n"
          "FILE holds lines '<status><TAB><key>', status active (or "
          "valid), deactivated or expired: the file 'keygate keys seed "
          "--out' writes.\n");
}

static int parse_args(int argc, char **argv, check_opts *o) {
  memset(o, 0, sizeof *o);
  o->prefix = "sk_live_";
  o->policy = "strict";
  o->realm = KG_DEFAULT_REALM;
  const cli_flag flags[] = {
      {"--keys", &o->keys_file}, {"--db", &o->db},
      {"--now", &o->now},        {"--prefix", &o->prefix},
      {"--policy", &o->policy},  {"--realm", &o->realm},
  };
  int rc = cli_parse_flags(CMD, argc, argv, flags, sizeof flags / sizeof *flags,
                           CHECK_EXIT_USAGE);
  if (rc != 0) {
    if (rc < 0) {
      usage(stdout);
    }
    return rc;
  }
  if ((o->keys_file == NULL) == (o->db == NULL)) {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "give exactly one of --keys FILE or --db PATH");
  }
#ifndef KEYGATE_HAVE_STORE
  if (o->db != NULL) {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "this build has no key store; use --keys FILE");
  }
#endif
  return 0;
}

/* ---- the keys file ---------------------------------------------------- */

static int parse_status(const char *s, size_t len, uint32_t *out) {
  static const struct {
    const char *name;
    uint32_t status;
  } names[] = {{"active", KG_REC_ACTIVE},
               {"valid", KG_REC_ACTIVE}, /* keys seed --out's class name */
               {"deactivated", KG_REC_DEACTIVATED},
               {"expired", KG_REC_EXPIRED}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (len == strlen(names[i].name) && memcmp(s, names[i].name, len) == 0) {
      *out = names[i].status;
      return 0;
    }
  }
  return -1;
}

/* Load FILE into an index; key ids are the 1-based numbers of the key
 * lines. Returns 0, or prints one line and returns 1. */
static int load_keys_file(const char *path, kg_digester *dg, kg_index **out) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return cli_error(CLI_EXIT_FAIL, CMD, "cannot read keys file %s: %s", path,
                     strerror(errno));
  }
  kg_record *recs = NULL;
  size_t n = 0;
  size_t cap = 0;
  char line[KG_KEY_MAX_LEN + 64];
  unsigned long lineno = 0;
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    size_t len = strcspn(line, "\r\n");
    if (line[len] == '\0' && !feof(f)) {
      rc = cli_error(CLI_EXIT_FAIL, CMD, "%s:%lu: line too long", path, lineno);
      break;
    }
    line[len] = '\0';
    if (len == 0 || line[0] == '#') {
      continue;
    }
    char *tab = strchr(line, '\t');
    uint32_t status;
    if (tab == NULL || parse_status(line, (size_t)(tab - line), &status) != 0) {
      rc = cli_error(CLI_EXIT_FAIL, CMD,
                     "%s:%lu: expected '<status><TAB><key>' with status "
                     "active (or valid), deactivated or expired",
                     path, lineno);
      break;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      kg_record *r = realloc(recs, ncap * sizeof *r);
      if (r == NULL) {
        rc = cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
        break;
      }
      recs = r;
      cap = ncap;
    }
    kg_record *r = &recs[n];
    memset(r, 0, sizeof *r);
    /* The key is taken as written: a trailing space would be part of it,
     * and then never match a request, so refuse it here. */
    const char *key = tab + 1;
    size_t klen = strlen(key);
    if (klen == 0 || key[klen - 1] == ' ' || key[klen - 1] == '\t') {
      rc = cli_error(CLI_EXIT_FAIL, CMD,
                     "%s:%lu: empty key, or whitespace after the key", path,
                     lineno);
      break;
    }
    if (kg_digest(dg, key, klen, r->digest) != KG_OK) {
      rc = cli_error(CLI_EXIT_FAIL, CMD, "OpenSSL SHA-256 failed");
      break;
    }
    r->key_id = n + 1;
    r->status = status;
    n++;
  }
  if (rc == 0 && ferror(f)) {
    /* fopen succeeds on a directory; reading it fails here. */
    rc = cli_error(CLI_EXIT_FAIL, CMD, "cannot read keys file %s: %s", path,
                   strerror(errno));
  }
  OPENSSL_cleanse(line, sizeof line);
  fclose(f);
  if (rc == 0) {
    kg_status s = kg_index_build(recs, n, out);
    if (s != KG_OK) {
      rc = cli_error(CLI_EXIT_FAIL, CMD, "cannot index %s: %s", path,
                     kg_status_str(s));
    }
  }
  if (recs != NULL) {
    OPENSSL_cleanse(recs, n * sizeof *recs);
    free(recs);
  }
  return rc;
}

/* ---- stdin ------------------------------------------------------------ */

static size_t read_stdin(char *buf, size_t cap) {
  size_t n = 0;
  while (n < cap) {
    size_t r = fread(buf + n, 1, cap - n, stdin);
    if (r == 0) {
      break;
    }
    n += r;
  }
  return n;
}

/*
 * Parse the head. An input that stops right after a complete field line
 * (a request file saved without its final empty line) is taken as ended.
 */
static kg_status parse_head(char *buf, size_t n, size_t cap, kg_head *head) {
  size_t consumed;
  kg_status s = kg_head_parse(buf, n, head, &consumed);
  if (s == KG_INCOMPLETE && n > 0 && buf[n - 1] == '\n' && n + 2 <= cap) {
    buf[n] = '\r';
    buf[n + 1] = '\n';
    s = kg_head_parse(buf, n + 2, head, &consumed);
  }
  return s;
}

/* ---- output ----------------------------------------------------------- */

static void print_sources(unsigned sources) {
  printf("[");
  const char *sep = "";
  if (sources & KG_SOURCE_AUTHORIZATION) {
    printf("\"authorization\"");
    sep = ",";
  }
  if (sources & KG_SOURCE_X_API_KEY) {
    printf("%s\"x-api-key\"", sep);
  }
  printf("]");
}

static void print_decision(const kg_decision *d, const kg_key_policy *policy,
                           const char *account, const char *realm,
                           const char *request_id) {
  printf("{\"decision\":\"%s\",\"status\":%d,\"detail\":\"%s\"",
         kg_status_str(d->decision), kg_http_status(d->decision),
         kg_status_str(d->detail));
  printf(",\"key_id\":");
  if (d->found) {
    char id[KG_KEY_ID_STR_LEN];
    kg_key_id_format(d->record.key_id, id);
    printf("\"%s\"", id);
  } else {
    printf("null");
  }
  printf(",\"account\":");
  if (account != NULL) {
    cli_json_string(stdout, account, strlen(account));
  } else {
    printf("null");
  }
  printf(",\"key_hint\":");
  char hint[KG_KEY_HINT_MAX];
  if (d->key.len > 0 &&
      kg_key_hint(policy, d->key.ptr, d->key.len, hint, sizeof hint) > 0) {
    cli_json_string(stdout, hint, strlen(hint));
  } else {
    printf("null");
  }
  printf(",\"sources\":");
  print_sources(d->sources);
  printf(",\"request_id\":\"%s\",\"response\":", request_id);
  char resp[KG_RESPONSE_MAX];
  size_t resp_len;
  if (d->decision != KG_VALID &&
      kg_response_render(d->decision, realm, strlen(realm), request_id, resp,
                         sizeof resp, &resp_len) == KG_OK) {
    cli_json_string(stdout, resp, resp_len);
  } else {
    printf("null");
  }
  printf("}\n");
}

/* ---- refusals before authentication ------------------------------------ */

/*
 * SPEC §1.3's precedence holds for a refused head where the request line
 * was read, as the server's bad-request handler keeps it: a key in the URL
 * is api_key_in_query whatever the refusal; for a 400, a key header twice
 * (or two different keys) among the field lines read is ambiguous_api_key.
 * Prints that decision and returns 1; returns 0 when the refusal stands.
 */
static int refused_by_decision(const kg_checker *checker, const kg_head *head,
                               kg_status refusal, const check_opts *o,
                               const char *request_id) {
  if (head->target.ptr == NULL) {
    return 0;
  }
  kg_credential cred;
  kg_credential_extract(&checker->policy, head->fields, head->nfields,
                        head->target, &cred);
  if (cred.outcome != KG_API_KEY_IN_QUERY &&
      (cred.outcome != KG_AMBIGUOUS_API_KEY ||
       kg_refusal_http_status(refusal) != 400)) {
    return 0;
  }
  kg_decision d;
  memset(&d, 0, sizeof d);
  d.decision = cred.outcome;
  d.detail = cred.detail;
  d.sources = cred.sources;
  print_decision(&d, &checker->policy, NULL, o->realm, request_id);
  return 1;
}

/* The JSON for a refused head: the status and code the server answers,
 * why (refusal), where a parse error was found, and the whole response. */
static void print_refusal(const kg_head *head, kg_status parse,
                          kg_status refusal, const char *request_id) {
  printf("{\"decision\":null,\"status\":%d,\"code\":\"%s\","
         "\"refusal\":\"%s\"",
         kg_refusal_http_status(refusal), kg_refusal_code(refusal),
         kg_status_str(refusal));
  if (parse != KG_OK) {
    printf(",\"parse_error\":\"%s\",\"offset\":%zu", kg_status_str(parse),
           head->error_offset);
  }
  printf(",\"request_id\":\"%s\",\"response\":", request_id);
  char resp[KG_RESPONSE_MAX];
  size_t resp_len;
  if (kg_refusal_render(refusal, request_id, resp, sizeof resp, &resp_len) ==
      KG_OK) {
    cli_json_string(stdout, resp, resp_len);
  } else {
    printf("null");
  }
  printf("}\n");
}

/* ---- the command ------------------------------------------------------ */

typedef struct check_state {
  kg_digester *dg;
  kg_index *index; /* from --keys, owned */
#ifdef KEYGATE_HAVE_STORE
  kg_store *store;
  kg_snapshot *snap;
#endif
} check_state;

static void state_free(check_state *st) {
  kg_index_free(st->index);
#ifdef KEYGATE_HAVE_STORE
  kg_snapshot_free(st->snap);
  kg_store_close(st->store);
#endif
  kg_digester_free(st->dg);
}

static int load_keys(const check_opts *o, check_state *st,
                     const kg_index **index) {
  if (o->keys_file != NULL) {
    int rc = load_keys_file(o->keys_file, st->dg, &st->index);
    *index = st->index;
    return rc;
  }
#ifdef KEYGATE_HAVE_STORE
  char err[KG_STORE_ERR_MAX];
  if (kg_store_open(o->db, KG_STORE_READONLY, &st->store, err, sizeof err) !=
          0 ||
      kg_store_load(st->store, &st->snap, err, sizeof err) != 0) {
    return cli_error(CLI_EXIT_FAIL, CMD, "%s", err);
  }
  *index = kg_snapshot_index(st->snap);
  return 0;
#else
  return cli_error(CHECK_EXIT_USAGE, CMD, "this build has no key store");
#endif
}

static const char *account_name(const check_state *st, const kg_decision *d) {
#ifdef KEYGATE_HAVE_STORE
  if (st->snap != NULL && d->found) {
    return kg_snapshot_account(st->snap, d->record.account_id);
  }
#else
  (void)st;
  (void)d;
#endif
  return NULL;
}

int cmd_check(int argc, char **argv) {
  check_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  kg_checker checker;
  kg_key_kind kind;
  if (strcmp(o.policy, "strict") == 0) {
    kind = KG_KEY_STRICT;
  } else if (strcmp(o.policy, "prefix") == 0) {
    kind = KG_KEY_PREFIX;
  } else {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "--policy must be strict or prefix, not '%s'", o.policy);
  }
  if (kg_key_policy_init(&checker.policy, kind, o.prefix, strlen(o.prefix)) !=
      KG_OK) {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "--prefix must be 1 to %d characters of A-Z a-z 0-9 _ -",
                     KG_KEY_PREFIX_MAX);
  }
  size_t rlen = strlen(o.realm);
  char probe[KG_REALM_MAX + 96];
  size_t plen;
  if (kg_www_authenticate(KG_MISSING_API_KEY, o.realm, rlen, probe,
                          sizeof probe, &plen) != KG_OK) {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "--realm must be 1 to %d printable characters without "
                     "'\"' or '\\'",
                     KG_REALM_MAX);
  }
  int64_t now = (int64_t)time(NULL);
  if (o.now != NULL && cli_parse_iso8601(o.now, &now) != 0) {
    return cli_error(CHECK_EXIT_USAGE, CMD,
                     "--now must look like 2026-01-01T00:00:00Z, not '%s'",
                     o.now);
  }

  check_state st;
  memset(&st, 0, sizeof st);
  if (kg_digester_new(NULL, 0, &st.dg) != KG_OK) {
    return cli_error(CLI_EXIT_FAIL, CMD, "OpenSSL SHA-256 is unavailable");
  }
  const kg_index *index = NULL;
  rc = load_keys(&o, &st, &index);
  if (rc != 0) {
    state_free(&st);
    return rc;
  }
  checker.digester = st.dg;
  checker.index = index;

  static char buf[STDIN_MAX + 2];
  size_t n = read_stdin(buf, STDIN_MAX);
  kg_field fields[KG_HEAD_MAX_FIELDS];
  kg_head head;
  memset(&head, 0, sizeof head);
  head.fields = fields;
  head.fields_cap = KG_HEAD_MAX_FIELDS;
  /* Answer as the server does: nginx passes control bytes other than NUL
   * inside values to the module, where they make a malformed key. */
  head.flags = KG_HEAD_CTL_IN_VALUES;
  kg_status ps = parse_head(buf, n, sizeof buf, &head);
  char request_id[KG_REQUEST_ID_LEN + 1];
  if (kg_request_id(request_id) != KG_OK) {
    state_free(&st);
    return cli_error(CLI_EXIT_FAIL, CMD, "the OpenSSL CSPRNG failed");
  }
  if (ps == KG_INCOMPLETE) {
    printf("{\"decision\":null,\"status\":400,\"parse_error\":\"incomplete\","
           "\"offset\":%zu,\"request_id\":\"%s\",\"response\":null}\n",
           head.error_offset, request_id);
    OPENSSL_cleanse(buf, sizeof buf);
    state_free(&st);
    return cli_error(CLI_EXIT_FAIL, CMD,
                     "the request head on stdin is incomplete at byte %zu",
                     head.error_offset);
  }
  /* What the server refuses before authentication: a head that does not
   * parse, or one kg_head_screen refuses (a missing Host, TRACE, ...). */
  kg_status refusal = ps != KG_OK ? ps : kg_head_screen(&head);
  if (refusal != KG_OK &&
      !refused_by_decision(&checker, &head, refusal, &o, request_id)) {
    print_refusal(&head, ps, refusal, request_id);
    OPENSSL_cleanse(buf, sizeof buf);
    state_free(&st);
    if (ps != KG_OK) {
      return cli_error(CLI_EXIT_FAIL, CMD,
                       "the request head on stdin does not parse: %s at byte "
                       "%zu",
                       kg_status_str(ps), head.error_offset);
    }
    return cli_error(CLI_EXIT_FAIL, CMD,
                     "the server refuses this head before authentication: %s",
                     kg_status_str(refusal));
  }
  if (refusal != KG_OK) {
    OPENSSL_cleanse(buf, sizeof buf);
    state_free(&st);
    return CLI_EXIT_OK;
  }
  kg_decision d;
  kg_decide(&checker, head.fields, head.nfields, head.target, now, &d);
  print_decision(&d, &checker.policy, account_name(&st, &d), o.realm,
                 request_id);
  OPENSSL_cleanse(buf, sizeof buf);
  state_free(&st);
  return CLI_EXIT_OK;
}
