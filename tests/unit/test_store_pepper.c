/*
 * tests/unit/test_store_pepper.c — the peppered key store (SPEC §1.3,
 * docs/store.md "The pepper"): the pepper file's format, a store marked
 * peppered at creation with a check value (never the pepper), keys
 * digested HMAC-SHA-256(pepper, key), and every open or load refused
 * without the right pepper, or with a pepper on a plain store.
 *
 * Expected digests and check values are computed here with OpenSSL's
 * one-shot HMAC() and SHA256(), not with the core's digester.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "keygate/keygate.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"
#include "scratch.h"

#define CHECK_LABEL "keygate pepper check v1"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct fixture {
  char dir[SCRATCH_DIR_MAX];
  char path[96];
  kg_pepper pepper, other;
  char err[KG_STORE_ERR_MAX];
} fixture;

/* A 32..64-byte pepper of random-looking bytes, seeded by `seed`. */
static void make_pepper(kg_pepper *p, size_t len, unsigned seed) {
  memset(p, 0, sizeof *p);
  for (size_t i = 0; i < len; i++) {
    p->bytes[i] = (unsigned char)((i * 131u + seed * 29u + 7u) & 0xff);
  }
  p->len = len;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(scratch_make(f->dir, "kgpep"), 0);
  snprintf(f->path, sizeof f->path, "%s/keys.db", f->dir);
  make_pepper(&f->pepper, 32, 1);
  make_pepper(&f->other, 32, 2);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  const int rc = scratch_remove(f->dir);
  free(f);
  return rc;
}

/* ---- helpers ----------------------------------------------------------- */

static kg_store *open_ok(fixture *f, unsigned flags, const kg_pepper *p) {
  kg_store *s = NULL;
  if (kg_store_open_peppered(f->path, flags, p, &s, f->err, sizeof f->err) !=
      0) {
    fail_msg("kg_store_open_peppered: %s", f->err);
  }
  return s;
}

/* Open must fail with `want` in its one error line, an error of kind
 * `kind` (kg_store_last_error_kind). */
static void open_refused(fixture *f, unsigned flags, const kg_pepper *p,
                         const char *want, kg_store_error_kind kind) {
  kg_store *s = (kg_store *)1;
  assert_int_equal(
      kg_store_open_peppered(f->path, flags, p, &s, f->err, sizeof f->err), -1);
  assert_null(s);
  if (strstr(f->err, want) == NULL) {
    fail_msg("error '%s' lacks '%s'", f->err, want);
  }
  if (kg_store_last_error_kind() != kind) {
    fail_msg("error '%s': kind %d, not %d", f->err,
             (int)kg_store_last_error_kind(), (int)kind);
  }
  assert_null(strchr(f->err, '\n'));
}

/* f->err is exactly "<the store's path><rest>", and names no face: no
 * flag, variable or directive (the CLI and the module add those). */
static void line_is(const fixture *f, const char *rest) {
  char want[KG_STORE_ERR_MAX];
  snprintf(want, sizeof want, "%s%s", f->path, rest);
  assert_string_equal(f->err, want);
  assert_null(strstr(f->err, "--pepper-file"));
  assert_null(strstr(f->err, "KEYGATE_PEPPER_FILE"));
  assert_null(strstr(f->err, "keygate_pepper_file"));
}

/* The store's three pepper lines, after its path. */
#define NEEDED " is peppered (HMAC-SHA-256) and no pepper was given"
#define WRONG                                                                  \
  " was made with another pepper (the one given does not match its check "     \
  "value); nothing was read or written"
#define UNWANTED                                                               \
  " is a plain store (SHA-256, made without a pepper), and a pepper was "      \
  "given: a store's keys are digested one way"

/* A peppered store with account acme (pro) and one key, closed. */
static void make_peppered_store(fixture *f, kg_new_key *k) {
  kg_store *s = open_ok(f, KG_STORE_CREATE, &f->pepper);
  assert_int_equal(kg_store_account_create(s, "acme", KG_TIER_PRO, NULL, f->err,
                                           sizeof f->err),
                   0);
  if (k != NULL &&
      kg_store_key_create(s, "acme", "ci", 0, k, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_key_create: %s", f->err);
  }
  kg_store_close(s);
}

static void hmac(const kg_pepper *p, const void *msg, size_t len,
                 unsigned char out[32]) {
  unsigned int olen = 0;
  assert_non_null(
      HMAC(EVP_sha256(), p->bytes, (int)p->len, msg, len, out, &olen));
  assert_int_equal(olen, 32);
}

static void hex(const unsigned char *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  }
}

static char *meta(const char *path, const char *name) {
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT value FROM meta WHERE name = ?1",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  char *v = NULL;
  if (sqlite3_step(st) == SQLITE_ROW) {
    v = strdup((const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void raw_sql(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fail_msg("%s: %s", sql, msg);
  }
  sqlite3_close(db);
}

/* Whether the bytes needle[0..n) occur in the file at path (absent: 0). */
static int file_holds(const char *path, const unsigned char *needle, size_t n) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    return 0;
  }
  size_t cap = 1 << 20, len = 0;
  unsigned char *buf = malloc(cap);
  assert_non_null(buf);
  size_t r;
  while ((r = fread(buf + len, 1, cap - len, fp)) > 0) {
    len += r;
    if (len == cap) {
      cap *= 2;
      unsigned char *bigger = realloc(buf, cap);
      assert_non_null(bigger);
      buf = bigger;
    }
  }
  fclose(fp);
  int found = 0;
  for (size_t i = 0; n <= len && i + n <= len && !found; i++) {
    found = memcmp(buf + i, needle, n) == 0;
  }
  free(buf);
  return found;
}

/* Decide key k against a loaded snapshot of s with a digester made from
 * pepper p (NULL: plain SHA-256). */
static kg_status decide(fixture *f, kg_store *s, const kg_pepper *p,
                        const kg_new_key *k) {
  kg_snapshot *snap;
  if (kg_store_load(s, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  kg_checker c;
  kg_digester *dg = NULL;
  assert_int_equal(kg_key_policy_init(&c.policy, KG_KEY_STRICT, "sk_live_", 8),
                   KG_OK);
  assert_int_equal(
      kg_digester_new(p != NULL ? p->bytes : NULL, p != NULL ? p->len : 0, &dg),
      KG_OK);
  c.digester = dg;
  c.index = kg_snapshot_index(snap);
  kg_decision d;
  const kg_status st = kg_decide_key(&c, k->key, k->key_len, time(NULL), &d);
  kg_digester_free(dg);
  kg_snapshot_free(snap);
  return st;
}

/* Write bytes to dir/name with mode; returns the path (static buffer). */
static const char *write_file(fixture *f, const char *name, const void *b,
                              size_t n, mode_t mode) {
  static char path[160];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  unlink(path);
  const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, b, n), (ssize_t)n);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
  return path;
}

/* ---- the pepper file --------------------------------------------------- */

static void
pepper_file_is_its_bytes_without_one_trailing_newline(void **state) {
  fixture *f = *state;
  kg_pepper p;
  char line[80];
  /* 64 characters and a newline: the newline is not part of it. */
  snprintf(line, sizeof line, "%s\n", HEX64);
  const char *path = write_file(f, "p", line, 65, 0600);
  assert_int_equal(kg_pepper_read_file(path, &p, f->err, sizeof f->err), 0);
  assert_int_equal(p.len, 64);
  assert_memory_equal(p.bytes, HEX64, 64);
  /* The same without the newline reads the same. */
  path = write_file(f, "p", HEX64, 64, 0400);
  assert_int_equal(kg_pepper_read_file(path, &p, f->err, sizeof f->err), 0);
  assert_int_equal(p.len, 64);
  /* Raw bytes, NULs and all, 32 of them, are taken as they are; only one
   * newline goes. */
  unsigned char raw[34];
  for (size_t i = 0; i < 32; i++) {
    raw[i] = (unsigned char)(i * 37u);
  }
  raw[32] = '\n';
  raw[33] = '\n';
  path = write_file(f, "p", raw, 34, 0600);
  assert_int_equal(kg_pepper_read_file(path, &p, f->err, sizeof f->err), 0);
  assert_int_equal(p.len, 33);
  assert_memory_equal(p.bytes, raw, 33);
  kg_pepper_wipe(&p);
  assert_int_equal(p.len, 0);
}

static void pepper_file_refusals_name_the_fix(void **state) {
  fixture *f = *state;
  const struct {
    const char *name;
    const char *bytes;
    size_t len;
    mode_t mode;
    const char *want;
  } CASES[] = {
      {"short", "0123456789abcdef0123456789abcde\n", 32, 0600,
       "holds 31 bytes"},
      {"empty", "", 0, 0600, "holds 0 bytes"},
      {"long", HEX64 "a", 65, 0600, "more than 64 bytes"},
      {"long-nl", HEX64 "a\n", 66, 0600, "more than 64 bytes"},
      {"group", HEX64, 64, 0640, "chmod 600"},
      {"other", HEX64, 64, 0604, "mode 0604"},
      {"gwrite", HEX64, 64, 0620, "open to group or others"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    const char *path = write_file(f, CASES[i].name, CASES[i].bytes,
                                  CASES[i].len, CASES[i].mode);
    kg_pepper p;
    memset(&p, 0xAA, sizeof p);
    assert_int_equal(kg_pepper_read_file(path, &p, f->err, sizeof f->err), -1);
    if (strstr(f->err, CASES[i].want) == NULL || strstr(f->err, path) == NULL) {
      fail_msg("%s: '%s' lacks '%s' or the path", CASES[i].name, f->err,
               CASES[i].want);
    }
    /* No byte of the file in the line, and nothing left in *out. */
    assert_null(strstr(f->err, "0123456789abcdef"));
    assert_int_equal(p.len, 0);
    assert_int_equal(p.bytes[0], 0);
  }
  kg_pepper p;
  assert_int_equal(kg_pepper_read_file(f->dir, &p, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "not a regular file"));
  char missing[128];
  snprintf(missing, sizeof missing, "%s/absent", f->dir);
  assert_int_equal(kg_pepper_read_file(missing, &p, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "No such file"));
}

/* ---- the marking ------------------------------------------------------- */

static void
store_made_with_a_pepper_keeps_a_check_value_not_the_pepper(void **state) {
  fixture *f = *state;
  kg_new_key k;
  make_peppered_store(f, &k);
  kg_store_new_key_wipe(&k);
  char *digest = meta(f->path, "digest");
  char *check = meta(f->path, "pepper_check");
  assert_string_equal(digest, "hmac-sha256");
  unsigned char want[32];
  char want_hex[65];
  hmac(&f->pepper, CHECK_LABEL, strlen(CHECK_LABEL), want);
  hex(want, 32, want_hex);
  assert_string_equal(check, want_hex);
  free(digest);
  free(check);
  /* The pepper is in no file of the store, neither are its halves. */
  static const char *const SUFFIX[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[128];
    snprintf(p, sizeof p, "%s%s", f->path, SUFFIX[i]);
    assert_false(file_holds(p, f->pepper.bytes, f->pepper.len));
    assert_false(file_holds(p, f->pepper.bytes, 16));
    assert_false(file_holds(p, f->pepper.bytes + 16, 16));
  }
  kg_store *s = open_ok(f, KG_STORE_READONLY, &f->pepper);
  assert_string_equal(kg_store_digest_name(s), "hmac-sha256");
  assert_int_equal(kg_store_peppered(s), 1);
  kg_store_close(s);
}

static void peppered_store_digests_keys_with_hmac(void **state) {
  fixture *f = *state;
  kg_new_key k;
  make_peppered_store(f, &k);
  kg_store *s = open_ok(f, 0, &f->pepper);
  unsigned char want[32], plain[32];
  hmac(&f->pepper, k.key, k.key_len, want);
  SHA256((const unsigned char *)k.key, k.key_len, plain);
  kg_store_key_info info;
  int found = 0;
  assert_int_equal(
      kg_store_key_find_digest(s, want, &info, &found, f->err, sizeof f->err),
      0);
  assert_int_equal(found, 1);
  assert_true(info.id == k.info.id);
  assert_int_equal(
      kg_store_key_find_digest(s, plain, &info, &found, f->err, sizeof f->err),
      0);
  assert_int_equal(found, 0);
  /* Loaded, the key answers through a digester with the same pepper only. */
  assert_int_equal(decide(f, s, &f->pepper, &k), KG_VALID);
  assert_int_equal(decide(f, s, NULL, &k), KG_INVALID_API_KEY);
  assert_int_equal(decide(f, s, &f->other, &k), KG_INVALID_API_KEY);
  kg_store_close(s);
  kg_store_new_key_wipe(&k);
}

static void peppered_store_refuses_no_pepper_and_another_pepper(void **state) {
  fixture *f = *state;
  make_peppered_store(f, NULL);
  const unsigned MODES[] = {0, KG_STORE_READONLY, KG_STORE_CREATE};
  for (size_t i = 0; i < 3; i++) {
    open_refused(f, MODES[i], NULL, NEEDED, KG_STORE_E_PEPPER_NEEDED);
    line_is(f, NEEDED);
    open_refused(f, MODES[i], &f->other, WRONG, KG_STORE_E_PEPPER_WRONG);
    line_is(f, WRONG);
  }
  /* The same bytes and one more are another pepper too. (Not a NUL: HMAC
   * pads its key with zeros, so K and K || 0x00 are the same key.) */
  kg_pepper longer = f->pepper;
  longer.bytes[32] = 'x';
  longer.len = 33;
  open_refused(f, 0, &longer, WRONG, KG_STORE_E_PEPPER_WRONG);
  /* kg_store_open is the open without a pepper. */
  kg_store *s;
  assert_int_equal(kg_store_open(f->path, 0, &s, f->err, sizeof f->err), -1);
  line_is(f, NEEDED);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_NEEDED);
  /* Nothing was written by the refusals: the right pepper still opens it,
   * with its one account. */
  s = open_ok(f, 0, &f->pepper);
  kg_store_account_info a;
  assert_int_equal(kg_store_account_get(s, "acme", &a, f->err, sizeof f->err),
                   0);
  kg_store_close(s);
}

static void plain_store_refuses_a_pepper(void **state) {
  fixture *f = *state;
  kg_store *s = open_ok(f, KG_STORE_CREATE, NULL);
  assert_int_equal(kg_store_peppered(s), 0);
  assert_int_equal(kg_store_account_create(s, "acme", KG_TIER_FREE, NULL,
                                           f->err, sizeof f->err),
                   0);
  kg_store_close(s);
  const unsigned MODES[] = {0, KG_STORE_READONLY, KG_STORE_CREATE};
  for (size_t i = 0; i < 3; i++) {
    open_refused(f, MODES[i], &f->pepper, UNWANTED, KG_STORE_E_PEPPER_UNWANTED);
    line_is(f, UNWANTED);
  }
  char *digest = meta(f->path, "digest");
  assert_string_equal(digest, "sha256");
  free(digest);
  char *check = meta(f->path, "pepper_check");
  assert_null(check);
}

static void pepper_outside_the_bounds_is_refused_before_opening(void **state) {
  fixture *f = *state;
  kg_pepper p;
  make_pepper(&p, 31, 3);
  open_refused(f, KG_STORE_CREATE, &p, "a pepper is 32 to 64 bytes, not 31",
               KG_STORE_E_OTHER);
  assert_int_equal(access(f->path, F_OK), -1); /* nothing made */
  make_pepper(&p, 64, 3);
  p.len = 65;
  open_refused(f, KG_STORE_CREATE, &p, "a pepper is 32 to 64 bytes, not 65",
               KG_STORE_E_OTHER);
  kg_store *s = open_ok(f, KG_STORE_CREATE, &f->pepper);
  assert_int_equal(kg_store_peppered(s), 1);
  kg_store_close(s);
}

static void
a_store_marked_peppered_without_check_value_is_damaged(void **state) {
  fixture *f = *state;
  make_peppered_store(f, NULL);
  raw_sql(f->path, "DELETE FROM meta WHERE name = 'pepper_check'");
  open_refused(f, 0, &f->pepper,
               "is damaged: it is marked peppered but keeps "
               "no pepper check value",
               KG_STORE_E_OTHER);
  raw_sql(f->path, "UPDATE meta SET value = 'sha512' WHERE name = 'digest'");
  open_refused(f, 0, &f->pepper,
               "digest 'sha512', which this keygate cannot "
               "compute",
               KG_STORE_E_OTHER);
}

/* ---- every read checks the marking ------------------------------------ */

static void
a_store_re_marked_under_an_open_reader_is_refused_on_read(void **state) {
  fixture *f = *state;
  kg_new_key k;
  make_peppered_store(f, &k);
  kg_store *ro = open_ok(f, KG_STORE_READONLY, &f->pepper);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(ro, &snap, f->err, sizeof f->err), 0);
  /* Another pepper's check value, written in place. */
  unsigned char other[32];
  char other_hex[65], sql[160];
  hmac(&f->other, CHECK_LABEL, strlen(CHECK_LABEL), other);
  hex(other, 32, other_hex);
  snprintf(sql, sizeof sql,
           "UPDATE meta SET value = '%s' WHERE name = 'pepper_check'",
           other_hex);
  raw_sql(f->path, sql);
  kg_snapshot *again = NULL;
  assert_int_equal(kg_store_load(ro, &again, f->err, sizeof f->err), -1);
  assert_null(again);
  line_is(f, WRONG);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_WRONG);
  kg_refresh r;
  assert_int_equal(kg_store_refresh(ro, snap, &r, NULL, f->err, sizeof f->err),
                   -1);
  line_is(f, WRONG);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_WRONG);
  int64_t seq;
  uint64_t epoch;
  /* an unrelated error between: the kind goes with each line */
  assert_int_equal(kg_store_changed(NULL, NULL, f->err, sizeof f->err), -1);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_OTHER);
  assert_int_equal(kg_store_head(ro, &seq, &epoch, f->err, sizeof f->err), -1);
  line_is(f, WRONG);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_WRONG);
  /* Marked plain in place: refused as a plain store given a pepper. */
  raw_sql(f->path, "UPDATE meta SET value = 'sha256' WHERE name = 'digest'");
  assert_int_equal(kg_store_load(ro, &again, f->err, sizeof f->err), -1);
  line_is(f, UNWANTED);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_UNWANTED);
  kg_snapshot_free(snap);
  kg_store_close(ro);
  kg_store_new_key_wipe(&k);
}

/* ---- seeding ----------------------------------------------------------- */

typedef struct seen {
  fixture *f;
  kg_store *s;
  size_t hmac_found, plain_found, n;
} seen;

static int check_seeded(kg_seed_class c, const char *key, size_t len,
                        void *ctx) {
  (void)c;
  seen *v = ctx;
  if (key == NULL) {
    return 0; /* the last call: nothing written to make durable */
  }
  unsigned char d[32];
  kg_store_key_info info;
  int found = 0;
  hmac(&v->f->pepper, key, len, d);
  assert_int_equal(kg_store_key_find_digest(v->s, d, &info, &found, v->f->err,
                                            sizeof v->f->err),
                   0);
  v->hmac_found += (size_t)found;
  SHA256((const unsigned char *)key, len, d);
  assert_int_equal(kg_store_key_find_digest(v->s, d, &info, &found, v->f->err,
                                            sizeof v->f->err),
                   0);
  v->plain_found += (size_t)found;
  v->n++;
  return 0;
}

static void seed_makes_a_peppered_store_and_hmac_digests(void **state) {
  fixture *f = *state;
  kg_store *s = open_ok(f, KG_STORE_CREATE, &f->pepper);
  seen v = {.f = f, .s = s};
  const kg_seed_counts counts = {.valid = 60, .expired = 5, .deactivated = 5};
  kg_seed_result res;
  assert_int_equal(
      kg_store_seed(s, &counts, check_seeded, &v, &res, f->err, sizeof f->err),
      0);
  assert_int_equal(v.n, 70);
  assert_int_equal(v.hmac_found, 70);
  assert_int_equal(v.plain_found, 0);
  kg_store_close(s);
  char *digest = meta(f->path, "digest");
  assert_string_equal(digest, "hmac-sha256");
  free(digest);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(pepper_file_is_its_bytes_without_one_trailing_newline),
      T(pepper_file_refusals_name_the_fix),
      T(store_made_with_a_pepper_keeps_a_check_value_not_the_pepper),
      T(peppered_store_digests_keys_with_hmac),
      T(peppered_store_refuses_no_pepper_and_another_pepper),
      T(plain_store_refuses_a_pepper),
      T(pepper_outside_the_bounds_is_refused_before_opening),
      T(a_store_marked_peppered_without_check_value_is_damaged),
      T(a_store_re_marked_under_an_open_reader_is_refused_on_read),
      T(seed_makes_a_peppered_store_and_hmac_digests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
