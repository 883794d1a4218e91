/*
 * cmd_check.c — `keygate check`: decide a raw request head read from stdin
 * against a keys file or the key store, and print the decision as one JSON
 * line; with --batch, every head of stdin in a row, one JSON line each.
 *
 *   keygate check (--keys FILE | --db PATH [--pepper-file FILE])
 *                 [--now ISO8601] [--fail] [--batch] [--prefix sk_live_]
 *                 [--policy strict|prefix] [--realm api] < request.txt
 *
 * --db defaults to $KEYGATE_DB, --pepper-file to $KEYGATE_PEPPER_FILE. Exit
 * codes (docs/cli.md): 0 every head was answered (whatever the answer), or with
 * --fail every head was let through; 1 with --fail, a head was refused (any
 * decision but valid, or a refusal before authentication); 2 trouble: a usage
 * error, a keys file or store that cannot be read, stdin that ends inside a
 * head.
 */
#define _GNU_SOURCE /* ssize_t, read with -std=c11 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keygate/keygate.h"
#ifdef KEYGATE_HAVE_STORE
#include "keygate/store.h"
#endif

#define CMD "check"
#define STDIN_MAX (KG_HEAD_MAX_BYTES + 1) /* one byte past the limit */

typedef struct check_opts {
  const char *keys_file;
  const char *db;
  const char *now;
  const char *prefix;
  const char *policy;
  const char *realm;
  const char *pepper_file; /* --pepper-file (with --db), or NULL */
  int64_t now_t;           /* --now, or the time at the start */
  int fail;                /* --fail: exit 1 when a head is refused */
  int batch;               /* --batch: every head of stdin */
} check_opts;

static void usage(FILE *f) {
  fprintf(f,
          "usage: keygate check (--keys FILE | --db PATH) [--now ISO8601] "
          "[--fail] [--batch]\n"
          "                     [--prefix sk_live_] [--policy "
          "strict|prefix]\n"
          "                     [--realm api] < request.txt\n"
          "\n"
          "Reads a raw HTTP request head on stdin and prints what the server "
          "answers\n"
          "as one JSON line: the decision, or the refusal before "
          "authentication.\n"
          "\n"
          "  --keys FILE      lines '<status><TAB><key>', status active (or "
          "valid),\n"
          "                   deactivated or expired: the file 'keygate keys "
          "seed --out' writes\n"
          "  --db PATH        the key store (default $KEYGATE_DB)\n"
          "  --pepper-file FILE  the pepper of a peppered store (default\n"
          "                   $KEYGATE_PEPPER_FILE; docs/store.md)\n"
          "  --now ISO8601    decide as at this UTC time, e.g. "
          "2026-01-01T00:00:00Z\n"
          "  --fail           exit 1 when a request is refused (anything but "
          "valid)\n"
          "  --batch          every head on stdin in a row (as pipelined "
          "requests, no\n"
          "                   bodies), one JSON line each; stops after a head "
          "that does\n"
          "                   not parse, as a server closes the connection\n"
          "  --prefix P       the key prefix (default sk_live_)\n"
          "  --policy strict|prefix  the key format (default strict)\n"
          "  --realm R        the WWW-Authenticate realm (default api)\n"
          "\n"
          "exit: 0 answered (with --fail: every request let through), 1 with "
          "--fail a\n"
          "request refused, 2 usage error, unreadable keys or store, or stdin "
          "ending\n"
          "inside a head.\n");
}

static int parse_args(int argc, char **argv, check_opts *o) {
  memset(o, 0, sizeof *o);
  o->prefix = "sk_live_";
  o->policy = "strict";
  o->realm = KG_DEFAULT_REALM;
  const cli_opt opts[] = {
      {"--keys", &o->keys_file, NULL},
      {"--db", &o->db, NULL},
      {"--now", &o->now, NULL},
      {"--prefix", &o->prefix, NULL},
      {"--policy", &o->policy, NULL},
      {"--realm", &o->realm, NULL},
      {"--pepper-file", &o->pepper_file, NULL},
      {"--fail", NULL, &o->fail},
      {"--batch", NULL, &o->batch},
  };
  int rc = cli_parse_opts(CMD, argc, argv, opts, sizeof opts / sizeof *opts,
                          NULL, 0, NULL);
  if (rc != 0) {
    if (rc < 0) {
      usage(stdout);
    }
    return rc;
  }
  /* A flag beats the environment: --keys alone ignores $KEYGATE_DB. */
  if (o->keys_file != NULL && o->db != NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "give --keys FILE or --db PATH, not both");
  }
  if (o->keys_file == NULL) {
    o->db = cli_db_path(o->db, NULL);
  }
  if (o->keys_file == NULL && o->db == NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "give --keys FILE or --db PATH (or set KEYGATE_DB)");
  }
  if (o->db != NULL && o->db[0] == '\0') {
    return cli_error(CLI_EXIT_USAGE, CMD, "--db needs a path");
  }
  if (o->keys_file != NULL && o->pepper_file != NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--pepper-file goes with --db (a peppered store); a "
                     "--keys FILE holds the keys themselves");
  }
#ifndef KEYGATE_HAVE_STORE
  if (o->db != NULL) {
    return cli_error(CLI_EXIT_USAGE, CMD,
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
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot read keys file %s: %s",
                     path, strerror(errno));
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
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "%s:%lu: line too long", path,
                     lineno);
      break;
    }
    line[len] = '\0';
    if (len == 0 || line[0] == '#') {
      continue;
    }
    char *tab = strchr(line, '\t');
    uint32_t status;
    if (tab == NULL || parse_status(line, (size_t)(tab - line), &status) != 0) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD,
                     "%s:%lu: expected '<status><TAB><key>' with status "
                     "active (or valid), deactivated or expired",
                     path, lineno);
      break;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      kg_record *r = realloc(recs, ncap * sizeof *r);
      if (r == NULL) {
        rc = cli_error(CLI_EXIT_TROUBLE, CMD, "out of memory");
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
      rc = cli_error(CLI_EXIT_TROUBLE, CMD,
                     "%s:%lu: empty key, or whitespace after the key", path,
                     lineno);
      break;
    }
    /* A line whose key is not a token68 (a space before it, a third
     * field, a control byte) holds no key any request could present: it
     * would only ever answer key_unknown. Refused here, by line, the key
     * not shown (a review found such lines taken silently). A token68
     * that is malformed under this run's --prefix/--policy stays: one
     * file serves several policies, and such a key's decision says why it
     * fails (key_bad_length, key_bad_prefix, ...). */
    if (!kg_is_token68(key, klen)) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD,
                     "%s:%lu: the key is not a token68 (a space, a tab, a "
                     "control byte or another byte no key holds)",
                     path, lineno);
      break;
    }
    if (kg_digest(dg, key, klen, r->digest) != KG_OK) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "OpenSSL SHA-256 failed");
      break;
    }
    r->key_id = n + 1;
    r->status = status;
    n++;
  }
  if (rc == 0 && ferror(f)) {
    /* fopen succeeds on a directory; reading it fails here. */
    rc = cli_error(CLI_EXIT_TROUBLE, CMD, "cannot read keys file %s: %s", path,
                   strerror(errno));
  }
  OPENSSL_cleanse(line, sizeof line);
  fclose(f);
  if (rc == 0) {
    kg_status s = kg_index_build(recs, n, out);
    if (s != KG_OK) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "cannot index %s: %s", path,
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

/* stdin as a stream of heads: bytes read and not yet decided. */
typedef struct input {
  char buf[STDIN_MAX + 2]; /* +2: the empty line parse_head may add */
  size_t len;
  int eof;
  int error;      /* errno of a failed read, or 0 */
  size_t skipped; /* --batch: the empty lines taken off before this head */
} input;

/* Read more of stdin into in (at most up to STDIN_MAX bytes held).
 * Returns 0, or -1 on a read error. */
static int read_more(input *in) {
  for (;;) {
    const ssize_t r =
        read(STDIN_FILENO, in->buf + in->len, STDIN_MAX - in->len);
    if (r > 0) {
      in->len += (size_t)r;
      return 0;
    }
    if (r == 0) {
      in->eof = 1;
      return 0;
    }
    if (errno != EINTR) {
      in->error = errno;
      in->eof = 1;
      return -1;
    }
  }
}

/*
 * Parse the next head of in, reading stdin as far as it needs. An input
 * that stops right after a complete field line (a request file saved
 * without its final empty line) is taken as ended. Sets *consumed on
 * KG_OK; KG_INCOMPLETE means stdin ended inside the head (or could not be
 * read: in->error).
 */
static kg_status parse_head(input *in, kg_head *head, size_t *consumed) {
  for (;;) {
    kg_status s = in->len > 0 ? kg_head_parse(in->buf, in->len, head, consumed)
                              : KG_INCOMPLETE;
    if (s != KG_INCOMPLETE || in->len >= STDIN_MAX) {
      return s;
    }
    if (!in->eof) {
      (void)read_more(in); /* an error ends the input (in->error) */
      continue;
    }
    if (in->len > 0 && in->buf[in->len - 1] == '\n') {
      in->buf[in->len] = '\r';
      in->buf[in->len + 1] = '\n';
      s = kg_head_parse(in->buf, in->len + 2, head, consumed);
      if (s == KG_OK) {
        *consumed = in->len; /* the added line was never read */
      }
    }
    return s;
  }
}

/* Drop the empty lines before a head (RFC 9112 §2.2: a server ignores
 * at least one before a request line). Returns 0 when a head may follow,
 * -1 at the end of stdin, -2 on a read error. */
static int skip_empty_lines(input *in) {
  in->skipped = 0;
  for (;;) {
    size_t i = 0;
    while (i < in->len && (in->buf[i] == '\r' || in->buf[i] == '\n')) {
      i++;
    }
    if (i > 0) {
      memmove(in->buf, in->buf + i, in->len - i);
      in->len -= i;
      in->skipped += i;
    }
    if (in->len > 0) {
      return 0;
    }
    if (in->eof) {
      return -1;
    }
    if (read_more(in) != 0) {
      return -2;
    }
  }
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
      kg_response_render(d->decision, realm, strlen(realm), request_id,
                         strlen(request_id), resp, sizeof resp,
                         &resp_len) == KG_OK) {
    cli_json_string(stdout, resp, resp_len);
  } else {
    printf("null");
  }
  printf("}\n");
}

/* ---- refusals before authentication ------------------------------------ */

/*
 * A request line the parser refused, read as the server's bad-request
 * handler reads it (ngx_http_keygate_target): after the first word (the
 * whole line when it has one), spaces skipped, up to a last word that
 * starts "HTTP/". Empty lines before it are skipped, as the parser skips
 * them. {NULL, 0} when there is no line.
 */
static kg_span line_target(const char *buf, size_t len) {
  size_t i = 0;
  while (i < len && (buf[i] == '\r' || buf[i] == '\n')) {
    i++;
  }
  size_t end = i;
  while (end < len && buf[end] != '\r' && buf[end] != '\n') {
    end++;
  }
  if (end == i) {
    return (kg_span){NULL, 0};
  }
  size_t p = i;
  while (p < end && buf[p] != ' ') {
    p++;
  }
  if (p == end) {
    p = i; /* one word: the whole line */
  }
  while (p < end && buf[p] == ' ') {
    p++;
  }
  size_t stop = end;
  size_t w = end;
  while (w > p && buf[w - 1] != ' ') {
    w--;
  }
  if (w > p && end - w >= 5 && strncasecmp(buf + w, "HTTP/", 5) == 0) {
    stop = w;
  }
  while (stop > p && buf[stop - 1] == ' ') {
    stop--;
  }
  return (kg_span){buf + p, stop - p};
}

/*
 * SPEC §1.3's precedence holds for a refused head where the request line
 * was read, as the server's bad-request handler keeps it: a key in the URL
 * is api_key_in_query whatever the refusal, and a key header twice (or two
 * different keys) among the field lines read is ambiguous_api_key, also
 * for a 405 or a 501 (review 78: check kept those for a 400 only). A line
 * the parser refused is read as the server reads it (line_target).
 * Prints that decision and returns 1; returns 0 when the refusal stands.
 */
/*
 * The target to decide on, as the server decides: the level kg_target_deep
 * shows a key in (a prefix escaped past SPEC §1.1's two levels), else
 * target itself. *scratch (malloc'd, or NULL) holds that level: the caller
 * cleanses and frees it once the decision is printed. -1: out of memory.
 */
static int deep_target(const kg_key_policy *p, kg_span target, kg_span *out,
                       char **scratch) {
  *out = target;
  *scratch = NULL;
  if (target.ptr == NULL || target.len == 0 ||
      memchr(target.ptr, '%', target.len) == NULL) {
    return 0;
  }
  *scratch = malloc(target.len);
  if (*scratch == NULL) {
    return -1;
  }
  kg_span level;
  if (kg_target_deep(p, target, *scratch, target.len, &level) ==
      KG_URL_KEY_PREFIX) {
    *out = level;
  }
  return 0;
}

/*
 * The first Host line of fields[0..n), when its value holds a key escaped
 * past SPEC §1.1's two levels, is decided on the level that shows it, as
 * the server decides the Host nginx keeps (it then reads as
 * api_key_in_query); a later Host line is decided as sent, as there.
 * *scratch (malloc'd, or NULL; *len its size) holds that level. -1: out of
 * memory.
 */
static int deep_hosts(const kg_key_policy *p, kg_field *fields, size_t n,
                      char **scratch, size_t *len) {
  *scratch = NULL;
  *len = 0;
  for (size_t i = 0; i < n; i++) {
    if (fields[i].name.len != 4 ||
        strncasecmp(fields[i].name.ptr, "host", 4) != 0) {
      continue;
    }
    if (fields[i].value.len == 0) {
      return 0;
    }
    *scratch = malloc(fields[i].value.len);
    if (*scratch == NULL) {
      return -1;
    }
    *len = fields[i].value.len;
    kg_span level;
    if (kg_target_deep(p, fields[i].value, *scratch, *len, &level) ==
        KG_URL_KEY_PREFIX) {
      fields[i].value = level;
    }
    return 0;
  }
  return 0;
}

static void scratch_free(char *scratch, size_t len) {
  if (scratch != NULL) {
    OPENSSL_cleanse(scratch, len);
    free(scratch);
  }
}

static int refused_by_decision(const kg_checker *checker, const kg_head *head,
                               kg_span sent, size_t nread, const check_opts *o,
                               const char *request_id) {
  if (sent.ptr == NULL) {
    return 0;
  }
  kg_span target;
  char *scratch;
  if (deep_target(&checker->policy, sent, &target, &scratch) != 0) {
    target = sent; /* out of memory: the target as sent */
  }
  /* Only the field lines nginx read before it refused (a Host after the
   * line it stops at is never seen). */
  kg_credential cred;
  kg_credential_extract(&checker->policy, head->fields, nread, target, &cred);
  scratch_free(scratch, sent.len);
  if (cred.outcome != KG_API_KEY_IN_QUERY &&
      cred.outcome != KG_AMBIGUOUS_API_KEY) {
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
  if (kg_refusal_render(refusal, request_id, strlen(request_id), resp,
                        sizeof resp, &resp_len) == KG_OK) {
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
  /* A peppered store (--pepper-file, else $KEYGATE_PEPPER_FILE): the store
   * is opened with the pepper (its check value compared) and presented
   * keys are digested HMAC-SHA-256 under it, as the server does. */
  kg_pepper pepper;
  const kg_pepper *use;
  int rc = cli_pepper_read(CMD, o->pepper_file, &pepper, &use);
  if (rc != 0) {
    return rc;
  }
  rc = cli_store_open_as(CMD, o->db, KG_STORE_READONLY, use, &st->store);
  if (rc == 0 && use != NULL) {
    kg_digester_free(st->dg);
    st->dg = NULL;
    if (kg_digester_new(use->bytes, use->len, &st->dg) != KG_OK) {
      rc = cli_error(CLI_EXIT_TROUBLE, CMD, "OpenSSL HMAC-SHA-256 failed");
    }
  }
  kg_pepper_wipe(&pepper);
  if (rc != 0) {
    return rc;
  }
  char err[KG_STORE_ERR_MAX];
  if (kg_store_load(st->store, &st->snap, err, sizeof err) != 0) {
    return cli_store_error(CMD, o->db, err);
  }
  *index = kg_snapshot_index(st->snap);
  return 0;
#else
  return cli_error(CLI_EXIT_USAGE, CMD, "this build has no key store");
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

/* "request N: " before a note, in --batch mode. */
static const char *which(const check_opts *o, unsigned long n, char *buf,
                         size_t cap) {
  if (!o->batch) {
    return "";
  }
  snprintf(buf, cap, "request %lu: ", n);
  return buf;
}

/*
 * Answer the next head of in as the server does and print the JSON line.
 * Sets *refused when the answer is not "valid", *stop when the rest of
 * stdin cannot be read as heads (a head that does not parse: a server
 * closes the connection). Returns CLI_EXIT_OK, or CLI_EXIT_TROUBLE after
 * one line on stderr (stdin ended inside the head, or the CSPRNG failed).
 */
static int check_one(const kg_checker *checker, const check_state *st,
                     const check_opts *o, input *in, unsigned long n,
                     int *refused, int *stop) {
  kg_field fields[KG_HEAD_MAX_FIELDS];
  kg_head head;
  /* Answer as the server does: nginx passes control bytes other than NUL
   * inside values to the module, where they make a malformed key. */
  kg_head_init(&head, fields, KG_HEAD_MAX_FIELDS, KG_HEAD_CTL_IN_VALUES);
  size_t consumed = 0;
  const kg_status ps = parse_head(in, &head, &consumed);
  if (n == 1) {
    /* The empty lines --batch took off before the first head were in
     * nginx's first buffer too (review 85): HTTP/2's 505 counts them. A
     * later head does not start at a buffer's start (docs/contract.md). */
    head.lead += in->skipped;
  }
  char request_id[KG_REQUEST_ID_LEN + 1];
  char nb[32];
  if (kg_request_id(request_id) != KG_OK) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "the OpenSSL CSPRNG failed");
  }
  if (in->error != 0) {
    *stop = 1;
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot read stdin: %s",
                     strerror(in->error));
  }
  if (ps == KG_INCOMPLETE) {
    /* Nothing to answer: a server would wait for the rest. The parser
     * names no offset for a head cut short (review 78: "at byte 0"
     * whatever was read): the offset is where stdin ended. */
    printf("{\"decision\":null,\"status\":400,\"parse_error\":\"incomplete\","
           "\"offset\":%zu,\"request_id\":\"%s\",\"response\":null}\n",
           in->len, request_id);
    *stop = 1;
    if (in->len == 0) {
      return cli_error(CLI_EXIT_TROUBLE, CMD,
                       "%sstdin holds no request head; send one, ended by "
                       "an empty line",
                       which(o, n, nb, sizeof nb));
    }
    return cli_error(CLI_EXIT_TROUBLE, CMD,
                     "%sstdin ends inside the request head, after %zu "
                     "bytes; end it with an empty line",
                     which(o, n, nb, sizeof nb), in->len);
  }
  /* What the server refuses before authentication: a head that does not
   * parse, or one kg_head_screen refuses (a missing Host, TRACE, ...). */
  size_t nread = head.nfields; /* a parse error: the lines before it */
  kg_status refusal = ps != KG_OK ? ps : kg_head_screen_read(&head, &nread);
  /* A head that does not parse, whose request line nginx's buffer cannot
   * hold before a byte its parser refuses (kg_head_screen_line): the
   * server answers 414 before it would see what check's parser refused
   * (review 81: a control byte past 8 KiB, a line over 16 KiB). */
  const kg_status line =
      ps != KG_OK ? kg_head_screen_line(in->buf, in->len) : KG_OK;
  /* line_first: nginx answers other than 400 while reading the line, 414 for a
   * line its buffer cannot hold, 505 for a version (review 82: "GET /
   * HTTP/2" followed by 9000 bytes) */
  const int line_first = line != KG_OK && kg_refusal_http_status(line) != 400;
  if (line_first) {
    refusal = line;
  }
  char *hosts;
  size_t hosts_len;
  if (deep_hosts(&checker->policy, head.fields, head.nfields, &hosts,
                 &hosts_len) != 0) {
    *stop = 1;
    return cli_error(CLI_EXIT_TROUBLE, CMD, "out of memory");
  }
  if (refusal != KG_OK) {
    *refused = 1;
    /* A head that does not parse: its request line read whole, as the
     * module reads it, also where the parser took a target before the
     * byte it refused (review 79: "GET /x sk_live_... HTTP/1.1"). */
    kg_span target = ps != KG_OK ? line_target(in->buf, in->len) : head.target;
    if (!refused_by_decision(checker, &head, target, nread, o, request_id)) {
      print_refusal(&head, ps, refusal, request_id);
      if (line_first && line == KG_E_URI_TOO_LONG) {
        cli_error(CLI_EXIT_OK, CMD,
                  "%sthe request line does not fit %d bytes before the "
                  "byte check refuses (%s at byte %zu): the server answers "
                  "414%s",
                  which(o, n, nb, sizeof nb), KG_HEAD_LINE_MAX,
                  kg_status_str(ps), head.error_offset,
                  o->batch ? " and closes the connection: the rest of stdin "
                             "is not read"
                           : "");
      } else if (line_first) {
        cli_error(CLI_EXIT_OK, CMD,
                  "%sthe server refuses this request line (%s, %d) before "
                  "the byte check refuses (%s at byte %zu)%s",
                  which(o, n, nb, sizeof nb), kg_status_str(line),
                  kg_refusal_http_status(line), kg_status_str(ps),
                  head.error_offset,
                  o->batch ? " and closes the connection: the rest of stdin "
                             "is not read"
                           : "");
      } else if (ps != KG_OK) {
        cli_error(CLI_EXIT_OK, CMD,
                  "%sthe request head does not parse: %s at byte %zu; the "
                  "server answers 400 too, but for what docs/contract.md "
                  "lists as stricter in check%s",
                  which(o, n, nb, sizeof nb), kg_status_str(ps),
                  head.error_offset,
                  o->batch ? " and closes the connection: the rest of stdin "
                             "is not read"
                           : "");
      } else {
        cli_error(CLI_EXIT_OK, CMD,
                  "%sthe server refuses this head before authentication: %s",
                  which(o, n, nb, sizeof nb), kg_status_str(refusal));
      }
    }
  } else {
    /* A key under more encodings than kg_decide decodes is decided on the
     * level that shows it, as the server decides. */
    kg_span target;
    char *scratch;
    if (deep_target(&checker->policy, head.target, &target, &scratch) != 0) {
      scratch_free(hosts, hosts_len);
      *stop = 1;
      return cli_error(CLI_EXIT_TROUBLE, CMD, "out of memory");
    }
    kg_decision d;
    const kg_status decided =
        kg_decide(checker, head.fields, head.nfields, target, o->now_t, &d);
    print_decision(&d, &checker->policy, account_name(st, &d), o->realm,
                   request_id);
    scratch_free(scratch, head.target.len);
    *refused = *refused || decided != KG_VALID;
  }
  scratch_free(hosts, hosts_len);
  if (ps != KG_OK) {
    *stop = 1; /* where the next head starts is unknown */
    return CLI_EXIT_OK;
  }
  OPENSSL_cleanse(in->buf, consumed);
  memmove(in->buf, in->buf + consumed, in->len - consumed);
  in->len -= consumed;
  if (fflush(stdout) != 0) {
    *stop = 1;
    return cli_error(CLI_EXIT_TROUBLE, CMD, "cannot write stdout: %s",
                     strerror(errno));
  }
  return CLI_EXIT_OK;
}

int cmd_check(int argc, char **argv) {
  check_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CLI_EXIT_OK : rc;
  }
  kg_checker checker;
  kg_key_kind kind;
  if (kg_key_kind_parse(o.policy, strlen(o.policy), &kind) != KG_OK) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--policy must be strict or prefix, not '%s'", o.policy);
  }
  if (kg_key_policy_init(&checker.policy, kind, o.prefix, strlen(o.prefix)) !=
      KG_OK) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--prefix must be 1 to %d characters of A-Z a-z 0-9 _ -",
                     KG_KEY_PREFIX_MAX);
  }
  if (kg_realm_check(o.realm, strlen(o.realm)) != KG_OK) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--realm must be 1 to %d printable characters without "
                     "'\"' or '\\'",
                     KG_REALM_MAX);
  }
  o.now_t = (int64_t)time(NULL);
  if (o.now != NULL && cli_parse_iso8601(o.now, &o.now_t) != 0) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--now must look like 2026-01-01T00:00:00Z, not '%s'",
                     o.now);
  }

  check_state st;
  memset(&st, 0, sizeof st);
  if (kg_digester_new(NULL, 0, &st.dg) != KG_OK) {
    return cli_error(CLI_EXIT_TROUBLE, CMD, "OpenSSL SHA-256 is unavailable");
  }
  const kg_index *index = NULL;
  rc = load_keys(&o, &st, &index);
  if (rc != 0) {
    state_free(&st);
    return rc;
  }
  checker.digester = st.dg; /* after load_keys: a pepper may replace it */
  checker.index = index;

  static input in; /* large: a whole head */
  in.len = 0;
  in.eof = 0;
  in.error = 0;
  in.skipped = 0;
  int refused = 0;
  rc = CLI_EXIT_OK;
  for (unsigned long n = 1; rc == CLI_EXIT_OK; n++) {
    if (o.batch) {
      const int more = skip_empty_lines(&in);
      if (more == -1) {
        break;
      }
      if (more == -2) {
        rc = cli_error(CLI_EXIT_TROUBLE, CMD, "cannot read stdin: %s",
                       strerror(in.error));
        break;
      }
    }
    int stop = 0;
    rc = check_one(&checker, &st, &o, &in, n, &refused, &stop);
    if (!o.batch || stop) {
      break;
    }
  }
  OPENSSL_cleanse(&in, sizeof in);
  state_free(&st);
  if (rc == CLI_EXIT_OK && o.fail && refused) {
    rc = CLI_EXIT_NO;
  }
  return rc;
}
