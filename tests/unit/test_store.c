/*
 * tests/unit/test_store.c — the key store (SPEC §2) through its API:
 * opening and the schema, accounts and tier limits, the key lifecycle,
 * seeding, change detection, and the loader — every store is loaded into
 * the core index and its keys are decided with kg_decide_key.
 *
 * Each test gets a fresh database in its own temporary directory.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "keygate/keygate.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"
#include "scratch.h"

typedef struct fixture {
  char dir[SCRATCH_DIR_MAX];
  char path[96];
  kg_store *s;
  char err[KG_STORE_ERR_MAX];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(scratch_make(f->dir, "kgstore"), 0);
  snprintf(f->path, sizeof f->path, "%s/keys.db", f->dir);
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_CREATE, &f->s, f->err, sizeof f->err), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  kg_store_close(f->s);
  const int rc = scratch_remove(f->dir);
  free(f);
  return rc;
}

/* ---- helpers ----------------------------------------------------------- */

static void make_account(fixture *f, const char *name, kg_tier tier) {
  assert_int_equal(
      kg_store_account_create(f->s, name, tier, NULL, f->err, sizeof f->err),
      0);
}

/* Create a key and keep it (the test needs it to decide requests). */
static void make_key(fixture *f, const char *account, const char *name,
                     int64_t expires_at, kg_new_key *k) {
  const int rc = kg_store_key_create(f->s, account, name, expires_at, k, f->err,
                                     sizeof f->err);
  if (rc != 0) {
    fail_msg("kg_store_key_create: %s", f->err);
  }
}

/* checker_over — a checker of the store's strict sk_live_ keys over snap's
 * index; returns its digester (the caller frees it after the checks). */
static kg_digester *checker_over(const kg_snapshot *snap, kg_checker *c) {
  kg_digester *dg = NULL;
  assert_int_equal(kg_key_policy_init(&c->policy, KG_KEY_STRICT, "sk_live_", 8),
                   KG_OK);
  assert_int_equal(kg_digester_new(NULL, 0, &dg), KG_OK);
  c->digester = dg;
  c->index = kg_snapshot_index(snap);
  return dg;
}

/* Load the store and decide key (len) at time now. */
static kg_status decide(fixture *f, const char *key, size_t len, int64_t now,
                        kg_decision *d) {
  kg_snapshot *snap;
  if (kg_store_load(f->s, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  kg_checker c;
  kg_digester *dg = checker_over(snap, &c);
  kg_decision tmp;
  if (d == NULL) {
    d = &tmp;
  }
  const kg_status st = kg_decide_key(&c, key, len, now, d);
  kg_digester_free(dg);
  kg_snapshot_free(snap);
  return st;
}

static kg_status decide_new(fixture *f, const kg_new_key *k, int64_t now) {
  return decide(f, k->key, k->key_len, now, NULL);
}

static unsigned account_keys(fixture *f, const char *name) {
  kg_store_account_info a;
  assert_int_equal(kg_store_account_get(f->s, name, &a, f->err, sizeof f->err),
                   0);
  return a.keys;
}

/* Run SQL on the database through a second, raw connection. */
static void raw_sql(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    fail_msg("%s: %s", sql, msg);
  }
  sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  const int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* ---- opening and the schema ------------------------------------------- */

static void open_missing_store_says_it_is_missing(void **state) {
  fixture *f = *state;
  char path[128];
  kg_store *s = (kg_store *)1;
  snprintf(path, sizeof path, "%s/absent.db", f->dir);
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  assert_null(s);
  assert_non_null(strstr(f->err, "no key store at"));
  /* what is wrong, not what to run: the CLI or the module says that */
  assert_null(strstr(f->err, "keygate "));
  assert_int_equal(access(path, F_OK), -1); /* not created by a look */
  assert_int_equal(
      kg_store_open(path, KG_STORE_READONLY, &s, f->err, sizeof f->err), -1);
}

/* A line longer than the caller's buffer (a long path) ends in "..." where
 * it was cut, so a reader sees the end is missing. */
static void a_line_cut_short_says_so(void **state) {
  fixture *f = *state;
  char path[700];
  int n = snprintf(path, sizeof path, "%s/", f->dir);
  memset(path + n, 'a', sizeof path - (size_t)n - 1);
  path[sizeof path - 1] = '\0';
  kg_store *s = NULL;
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  assert_int_equal(strlen(f->err), sizeof f->err - 1);
  assert_string_equal(f->err + sizeof f->err - 4, "...");
  /* a line that fits is whole */
  char small[64];
  assert_int_equal(kg_store_open("", 0, &s, small, sizeof small), -1);
  assert_string_equal(small, "no database path given");
}

static void new_store_is_wal_with_current_schema(void **state) {
  fixture *f = *state;
  assert_int_equal(raw_int(f->path, "PRAGMA user_version"),
                   KG_STORE_SCHEMA_VERSION);
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_string_equal(kg_store_digest_name(f->s), "sha256");
  assert_string_equal(kg_store_path(f->s), f->path);
}

static void reopening_keeps_the_data(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_store_close(f->s);
  assert_int_equal(kg_store_open(f->path, 0, &f->s, f->err, sizeof f->err), 0);
  assert_int_equal(account_keys(f, "acme"), 0);
}

static void foreign_database_is_refused(void **state) {
  fixture *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  raw_sql(path, "CREATE TABLE users (id INTEGER)");
  kg_store *s;
  assert_int_equal(
      kg_store_open(path, KG_STORE_CREATE, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "not a keygate store"));
  assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"), 1);
}

static void file_that_is_not_sqlite_is_refused(void **state) {
  fixture *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("this is not a database, not even close; just some bytes\n", fp);
  fclose(fp);
  kg_store *s;
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "not a keygate store"));
}

static void empty_file_without_create_is_refused(void **state) {
  fixture *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fclose(fp);
  kg_store *s;
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "holds no key store"));
}

static void newer_schema_is_refused(void **state) {
  fixture *f = *state;
  kg_store_close(f->s);
  f->s = NULL;
  raw_sql(f->path, "PRAGMA user_version = 99");
  kg_store *s;
  assert_int_equal(kg_store_open(f->path, 0, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "newer than this keygate"));
}

/* A store marked peppered is opened with its pepper only (the pepper's
 * own tests: test_store_pepper.c). */
static void peppered_store_refuses_an_open_without_its_pepper(void **state) {
  fixture *f = *state;
  raw_sql(f->path, "UPDATE meta SET value = 'hmac-sha256' WHERE name = "
                   "'digest'");
  kg_store *s;
  assert_int_equal(kg_store_open(f->path, 0, &s, f->err, sizeof f->err), -1);
  char want[256];
  snprintf(want, sizeof want,
           "%s is peppered (HMAC-SHA-256) and no pepper was given", f->path);
  assert_string_equal(f->err, want);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_PEPPER_NEEDED);
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "is peppered"));
}

/* ---- the kinds of errors ------------------------------------------------ */

/* The last error was of kind `want` with exactly the line `line` (f->err);
 * then an unrelated error (an empty path) is KG_STORE_E_OTHER again. */
static void kind_is(fixture *f, kg_store_error_kind want, const char *line) {
  if (kg_store_last_error_kind() != want) {
    fail_msg("'%s': kind %d, not %d", f->err, (int)kg_store_last_error_kind(),
             (int)want);
  }
  assert_string_equal(f->err, line);
  /* what is wrong, never what to run or set: that is the face's (no
   * command, flag, variable or directive) */
  assert_null(strstr(f->err, "'keygate"));
  assert_null(strstr(f->err, "--"));
  assert_null(strstr(f->err, "KEYGATE_"));
  assert_null(strstr(f->err, "keygate_"));
  kg_store *s;
  char err[KG_STORE_ERR_MAX];
  assert_int_equal(kg_store_open("", 0, &s, err, sizeof err), -1);
  assert_string_equal(err, "no database path given");
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_OTHER);
}

/* The store sets each kind where it makes that line (the pepper's kinds:
 * test_store_pepper.c), and every other line is KG_STORE_E_OTHER. */
static void every_error_kind_is_set_with_its_line(void **state) {
  fixture *f = *state;
  char path[128], line[512];
  kg_store *s;
  /* NO_STORE: no file; an empty file */
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line, "no key store at %s", path);
  kind_is(f, KG_STORE_E_NO_STORE, line);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(
      kg_store_open(path, KG_STORE_READONLY, &s, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line, "%s holds no key store", path);
  kind_is(f, KG_STORE_E_NO_STORE, line);
  /* a missing folder is no NO_STORE: making the store would fail too, and
   * the line names the folder */
  char deep[160];
  snprintf(deep, sizeof deep, "%s/none/keys.db", f->dir);
  assert_int_equal(kg_store_open(deep, 0, &s, f->err, sizeof f->err), -1);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_OTHER);
  /* NOT_A_STORE: not SQLite; another program's database */
  fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("this is not a database, not even close; just some bytes\n", fp);
  fclose(fp);
  assert_int_equal(kg_store_open(path, 0, &s, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line,
           "%s is not a keygate store (not an SQLite database)", path);
  kind_is(f, KG_STORE_E_NOT_A_STORE, line);
  unlink(path);
  raw_sql(path, "CREATE TABLE users (id INTEGER)");
  assert_int_equal(
      kg_store_open(path, KG_STORE_CREATE, &s, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line,
           "%s is not a keygate store (it holds other tables)", path);
  kind_is(f, KG_STORE_E_NOT_A_STORE, line);
  /* NO_ACCOUNT, NO_KEY */
  kg_store_account_info a;
  assert_int_equal(
      kg_store_account_get(f->s, "nobody", &a, f->err, sizeof f->err), -1);
  kind_is(f, KG_STORE_E_NO_ACCOUNT, "no account named nobody");
  kg_store_key_info info;
  char ids[KG_KEY_ID_STR_LEN];
  kg_key_id_format(1, ids);
  assert_int_equal(kg_store_key_get(f->s, 1, &info, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line, "no key %s in %s", ids, f->path);
  kind_is(f, KG_STORE_E_NO_KEY, line);
  /* KEY_GONE: rotating a deactivated or a deleted key */
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key k, tmp;
  make_key(f, "acme", "ci", 0, &k);
  kg_key_id_format(k.info.id, ids);
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 3600, 0, &tmp, &info,
                                       f->err, sizeof f->err),
                   -1);
  snprintf(line, sizeof line, "key %s is deactivated", ids);
  kind_is(f, KG_STORE_E_KEY_GONE, line);
  assert_int_equal(
      kg_store_key_delete(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 3600, 0, &tmp, &info,
                                       f->err, sizeof f->err),
                   -1);
  snprintf(line, sizeof line, "key %s is deleted", ids);
  kind_is(f, KG_STORE_E_KEY_GONE, line);
  /* a line about a deleted key that is no KEY_GONE: no new key helps */
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, NULL, f->err, sizeof f->err),
      -1);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_OTHER);
  /* NEEDS_MIGRATION: an older schema, opened read-only */
  kg_store_close(f->s);
  f->s = NULL;
  raw_sql(f->path, "PRAGMA user_version = 1");
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &s, f->err, sizeof f->err), -1);
  snprintf(line, sizeof line,
           "%s has schema version 1, older than %d, and a read-only open "
           "does not migrate it",
           f->path, KG_STORE_SCHEMA_VERSION);
  kind_is(f, KG_STORE_E_NEEDS_MIGRATION, line);
  /* a success leaves the kind as it was (it is read right after a -1);
   * the next error sets it, whatever it was (the schema is version 2
   * already: put its number back) */
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
           KG_STORE_SCHEMA_VERSION);
  raw_sql(f->path, sql);
  assert_int_equal(kg_store_open(f->path, 0, &f->s, f->err, sizeof f->err), 0);
  assert_int_equal(
      kg_store_account_get(f->s, "nobody", &a, f->err, sizeof f->err), -1);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_NO_ACCOUNT);
  assert_int_equal(
      kg_store_account_get(f->s, "acme", &a, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_NO_ACCOUNT);
  assert_int_equal(kg_store_account_create(f->s, "acme", KG_TIER_PRO, NULL,
                                           f->err, sizeof f->err),
                   -1);
  assert_string_equal(f->err, "account acme already exists");
  assert_int_equal(kg_store_last_error_kind(), KG_STORE_E_OTHER);
  kg_store_new_key_wipe(&k);
  unlink(path);
}

static void read_only_store_refuses_writes(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_store *ro;
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &ro, f->err, sizeof f->err), 0);
  kg_new_key k;
  assert_int_equal(
      kg_store_key_create(ro, "acme", "ci", 0, &k, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "read-only"));
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(ro, &snap, f->err, sizeof f->err), 0);
  kg_snapshot_free(snap);
  kg_store_close(ro);
  assert_int_equal(kg_store_open(f->path, KG_STORE_READONLY | KG_STORE_CREATE,
                                 &ro, f->err, sizeof f->err),
                   -1);
}

/* ---- names and tiers --------------------------------------------------- */

static void account_names_are_checked(void **state) {
  (void)state;
  static const struct {
    const char *name;
    int ok;
  } CASES[] = {
      {"acme", 0},
      {"Acme-2.prod_x", 0},
      {"0day", 0},
      {"", -1},
      {"-acme", -1},
      {".acme", -1},
      {"ac me", -1},
      {"ac/me", -1},
      {"acm\xc3\xa9", -1},
      {"a234567890123456789012345678901234567890123456789012345678901234", 0},
      {"a2345678901234567890123456789012345678901234567890123456789012345", -1},
  };
  char err[KG_STORE_ERR_MAX];
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    assert_int_equal(
        kg_store_account_name_check(CASES[i].name, err, sizeof err),
        CASES[i].ok);
  }
}

static void key_names_are_one_to_64_printable_characters(void **state) {
  (void)state;
  static const struct {
    const char *name;
    int ok;
  } CASES[] = {
      {"ci", 0},
      {"prod server #2 (eu-west)", 0},
      {" ", 0},
      {"", -1},
      {"tab\there", -1},
      {"new\nline", -1},
      {"del\x7f", -1},
      {"caf\xc3\xa9", -1},
      {"x234567890123456789012345678901234567890123456789012345678901234", 0},
      {"x2345678901234567890123456789012345678901234567890123456789012345", -1},
  };
  char err[KG_STORE_ERR_MAX];
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    assert_int_equal(kg_store_key_name_check(CASES[i].name, err, sizeof err),
                     CASES[i].ok);
  }
  assert_int_equal(
      kg_store_key_name_check(
          "x2345678901234567890123456789012345678901234567890123456789012345",
          err, sizeof err),
      -1);
  assert_non_null(strstr(err, "65 characters; at most 64"));
}

static void tiers_parse_and_limit(void **state) {
  (void)state;
  kg_tier t;
  assert_int_equal(kg_store_tier_parse("free", &t), 0);
  assert_int_equal(t, KG_TIER_FREE);
  assert_int_equal(kg_store_tier_parse("pro", &t), 0);
  assert_int_equal(t, KG_TIER_PRO);
  assert_int_equal(kg_store_tier_parse("Pro", &t), -1);
  assert_int_equal(kg_store_tier_parse("enterprise", &t), -1);
  assert_int_equal(kg_store_tier_limit(KG_TIER_FREE), 3);
  assert_int_equal(kg_store_tier_limit(KG_TIER_PRO), 50);
  assert_string_equal(kg_store_tier_name(KG_TIER_PRO), "pro");
}

/* ---- accounts ---------------------------------------------------------- */

static void account_names_are_unique(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  assert_int_equal(kg_store_account_create(f->s, "acme", KG_TIER_PRO, NULL,
                                           f->err, sizeof f->err),
                   -1);
  assert_string_equal(f->err, "account acme already exists");
}

static void unknown_account_is_an_error(void **state) {
  fixture *f = *state;
  kg_new_key k;
  assert_int_equal(
      kg_store_key_create(f->s, "nobody", "ci", 0, &k, f->err, sizeof f->err),
      -1);
  assert_non_null(strstr(f->err, "no account named nobody"));
  kg_store_account_info a;
  assert_int_equal(kg_store_account_set_tier(f->s, "nobody", KG_TIER_PRO, &a,
                                             f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "no account named nobody"));
}

typedef struct name_list {
  char buf[64];
  size_t len;
} name_list;

static int collect_account(const kg_store_account_info *a, void *ctx) {
  name_list *l = ctx;
  const int n =
      snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s,", a->name);
  assert_true(n > 0 && (size_t)n < sizeof l->buf - l->len);
  l->len += (size_t)n;
  return 0;
}

static void accounts_list_by_name(void **state) {
  fixture *f = *state;
  make_account(f, "zeta", KG_TIER_PRO);
  make_account(f, "acme", KG_TIER_FREE);
  make_account(f, "mid", KG_TIER_FREE);
  name_list names = {.len = 0};
  assert_int_equal(kg_store_account_each(f->s, collect_account, &names, f->err,
                                         sizeof f->err),
                   0);
  assert_string_equal(names.buf, "acme,mid,zeta,");
}

/* ---- tier limits ------------------------------------------------------- */

static void free_account_holds_three_keys(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  for (int i = 0; i < 3; i++) {
    make_key(f, "acme", "ci", 0, &k);
  }
  assert_int_equal(
      kg_store_key_create(f->s, "acme", "ci", 0, &k, f->err, sizeof f->err),
      -1);
  assert_string_equal(f->err, "account acme (free tier) already holds 3 "
                              "keys; delete one or upgrade to pro");
  assert_int_equal(k.key_len, 0); /* nothing handed out */
  assert_int_equal(account_keys(f, "acme"), 3);
}

static void pro_account_holds_fifty_keys(void **state) {
  fixture *f = *state;
  make_account(f, "big", KG_TIER_PRO);
  kg_new_key k;
  for (int i = 0; i < 50; i++) {
    make_key(f, "big", "ci", 0, &k);
  }
  assert_int_equal(
      kg_store_key_create(f->s, "big", "ci", 0, &k, f->err, sizeof f->err), -1);
  assert_string_equal(f->err, "account big (pro tier) already holds 50 keys; "
                              "delete one first");
}

static void deleted_keys_do_not_count(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k[3];
  for (int i = 0; i < 3; i++) {
    make_key(f, "acme", "ci", 0, &k[i]);
  }
  assert_int_equal(
      kg_store_key_delete(f->s, k[1].info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(account_keys(f, "acme"), 2);
  kg_new_key more;
  make_key(f, "acme", "ci", 0, &more);
  assert_int_equal(account_keys(f, "acme"), 3);
}

static void deactivated_and_expired_keys_count(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  make_key(f, "acme", "a", 0, &k);
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  make_key(f, "acme", "b", 1, &k); /* expired at the epoch */
  make_key(f, "acme", "c", 0, &k);
  assert_int_equal(account_keys(f, "acme"), 3);
  assert_int_equal(
      kg_store_key_create(f->s, "acme", "d", 0, &k, f->err, sizeof f->err), -1);
}

static void going_down_to_free_keeps_keys_and_refuses_new(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key k[5];
  for (int i = 0; i < 5; i++) {
    make_key(f, "acme", "ci", 0, &k[i]);
  }
  kg_store_account_info a;
  assert_int_equal(kg_store_account_set_tier(f->s, "acme", KG_TIER_FREE, &a,
                                             f->err, sizeof f->err),
                   0);
  assert_int_equal(a.tier, KG_TIER_FREE);
  assert_int_equal(a.keys, 5);
  const int64_t now = (int64_t)time(NULL);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(decide_new(f, &k[i], now), KG_VALID);
  }
  kg_new_key extra;
  assert_int_equal(
      kg_store_key_create(f->s, "acme", "ci", 0, &extra, f->err, sizeof f->err),
      -1);
  assert_string_equal(f->err, "account acme (free tier) already holds 5 keys, "
                              "over its limit of 3; delete 3 or upgrade to "
                              "pro");
  for (int i = 0; i < 2; i++) {
    assert_int_equal(
        kg_store_key_delete(f->s, k[i].info.id, NULL, f->err, sizeof f->err),
        0);
  }
  assert_int_equal(
      kg_store_key_create(f->s, "acme", "ci", 0, &extra, f->err, sizeof f->err),
      -1);
  assert_int_equal(
      kg_store_key_delete(f->s, k[2].info.id, NULL, f->err, sizeof f->err), 0);
  make_key(f, "acme", "ci", 0, &extra);
  assert_int_equal(kg_store_account_set_tier(f->s, "acme", KG_TIER_PRO, &a,
                                             f->err, sizeof f->err),
                   0);
  make_key(f, "acme", "ci", 0, &extra);
}

/* ---- keys -------------------------------------------------------------- */

static void new_key_is_well_formed_and_stored_as_digest(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  make_key(f, "acme", "ci", 0, &k);
  kg_key_policy p;
  assert_int_equal(kg_key_policy_init(&p, KG_KEY_STRICT, "sk_live_", 8), KG_OK);
  assert_int_equal(k.key_len, 46);
  assert_int_equal(kg_key_check(&p, k.key, k.key_len), KG_OK);
  char hint[KG_KEY_HINT_MAX];
  kg_key_hint(&p, k.key, k.key_len, hint, sizeof hint);
  assert_string_equal(k.info.hint, hint);
  assert_memory_equal(hint, "sk_live_****", 12);
  assert_string_equal(k.info.account, "acme");
  assert_string_equal(k.info.name, "ci");
  assert_int_equal(k.info.status, KG_REC_ACTIVE);
  assert_int_not_equal(k.info.id, 0);

  kg_digester *d;
  uint8_t digest[KG_DIGEST_LEN];
  assert_int_equal(kg_digester_new(NULL, 0, &d), KG_OK);
  assert_int_equal(kg_digest(d, k.key, k.key_len, digest), KG_OK);
  kg_digester_free(d);
  kg_store_key_info found;
  int hit = 0;
  assert_int_equal(kg_store_key_find_digest(f->s, digest, &found, &hit, f->err,
                                            sizeof f->err),
                   0);
  assert_int_equal(hit, 1);
  assert_int_equal(found.id, k.info.id);
  assert_string_equal(found.hint, hint);
  assert_int_equal(found.expires_at, 0);
  digest[0] ^= 1;
  assert_int_equal(kg_store_key_find_digest(f->s, digest, &found, &hit, f->err,
                                            sizeof f->err),
                   0);
  assert_int_equal(hit, 0);

  kg_store_new_key_wipe(&k);
  static const kg_new_key ZERO;
  assert_memory_equal(&k, &ZERO, sizeof k);
}

static void key_ids_round_trip_and_unknown_ids_fail(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  make_key(f, "acme", "ci", 0, &k);
  char ids[KG_KEY_ID_STR_LEN];
  assert_int_equal(kg_key_id_format(k.info.id, ids), 15);
  uint64_t back;
  assert_int_equal(kg_key_id_parse(ids, strlen(ids), &back), KG_OK);
  kg_store_key_info info;
  assert_int_equal(kg_store_key_get(f->s, back, &info, f->err, sizeof f->err),
                   0);
  assert_string_equal(info.name, "ci");
  assert_int_equal(
      kg_store_key_get(f->s, back ^ 1, &info, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "no key key_"));
  assert_int_equal(
      kg_store_key_delete(f->s, back ^ 1, &info, f->err, sizeof f->err), -1);
  assert_int_equal(
      kg_store_key_deactivate(f->s, back ^ 1, &info, f->err, sizeof f->err),
      -1);
}

static void bad_key_name_is_refused_before_writing(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  assert_int_equal(
      kg_store_key_create(
          f->s, "acme",
          "x2345678901234567890123456789012345678901234567890123456"
          "789012345",
          0, &k, f->err, sizeof f->err),
      -1);
  assert_int_equal(account_keys(f, "acme"), 0);
}

static void deactivate_then_delete(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k;
  make_key(f, "acme", "ci", 0, &k);
  const int64_t now = (int64_t)time(NULL);
  assert_int_equal(decide_new(f, &k, now), KG_VALID);
  kg_store_key_info info;
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, &info, f->err, sizeof f->err),
      0);
  assert_int_equal(info.status, KG_REC_DEACTIVATED);
  assert_string_equal(kg_store_key_state_name(&info, now), "deactivated");
  kg_decision d;
  assert_int_equal(decide(f, k.key, k.key_len, now, &d), KG_EXPIRED_API_KEY);
  assert_int_equal(d.record.status, KG_REC_DEACTIVATED);
  assert_int_equal(d.record.key_id, k.info.id);
  /* twice is fine */
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, &info, f->err, sizeof f->err),
      0);
  assert_int_equal(
      kg_store_key_delete(f->s, k.info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(info.status, KG_REC_DELETED);
  assert_int_equal(decide(f, k.key, k.key_len, now, &d), KG_INVALID_API_KEY);
  assert_int_equal(d.found, 0); /* deleted keys are not in the index */
  assert_int_equal(
      kg_store_key_delete(f->s, k.info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, &info, f->err, sizeof f->err),
      -1);
  assert_non_null(strstr(f->err, "is deleted"));
  /* the row stays, for audit */
  assert_int_equal(
      kg_store_key_get(f->s, k.info.id, &info, f->err, sizeof f->err), 0);
  assert_string_equal(kg_store_key_state_name(&info, now), "deleted");
}

static void expiry_is_honoured_by_the_index(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  const int64_t now = (int64_t)time(NULL);
  kg_new_key k;
  make_key(f, "acme", "ci", now + 3600, &k);
  assert_int_equal(decide_new(f, &k, now), KG_VALID);
  assert_int_equal(decide_new(f, &k, now + 3599), KG_VALID);
  assert_int_equal(decide_new(f, &k, now + 3600), KG_EXPIRED_API_KEY);
  assert_string_equal(kg_store_key_state_name(&k.info, now + 3600), "expired");
  kg_new_key old;
  make_key(f, "acme", "epoch", 1, &old);
  assert_int_equal(decide_new(f, &old, now), KG_EXPIRED_API_KEY);
}

/* The index keeps an expiry in 41 bits and an account id in 36
 * (keygate/index.h). A key is never created or rotated past the first; a
 * row past it (written by hand, or before the limit) loads as the limit,
 * the same answer for any `now` before it; an account id past the second
 * fails the load, saying why. */
static void expiries_and_account_ids_past_the_index_limits(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  const int64_t now = (int64_t)time(NULL);
  kg_new_key k;
  assert_int_equal(kg_store_key_create(f->s, "acme", "far",
                                       KG_RECORD_EXPIRES_MAX + 1, &k, f->err,
                                       sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "must not be past Unix time 2199023255551"));
  assert_int_equal(account_keys(f, "acme"), 0);
  make_key(f, "acme", "at-limit", KG_RECORD_EXPIRES_MAX, &k);
  assert_int_equal(decide_new(f, &k, now), KG_VALID);
  assert_int_equal(decide_new(f, &k, KG_RECORD_EXPIRES_MAX),
                   KG_EXPIRED_API_KEY);
  kg_new_key next;
  kg_store_key_info old;
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id,
                                       KG_RECORD_EXPIRES_MAX - now + 10, 0,
                                       &next, &old, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "grace period is out of range"));
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 0,
                                       KG_RECORD_EXPIRES_MAX + 1, &next, &old,
                                       f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "must not be past Unix time"));
  /* by hand: the largest expiry SQLite holds */
  raw_sql(f->path, "UPDATE keys SET expires_at = 9223372036854775807");
  kg_decision d;
  assert_int_equal(decide(f, k.key, k.key_len, now, &d), KG_VALID);
  assert_true(d.record.expires_at == KG_RECORD_EXPIRES_MAX);
  assert_int_equal(decide(f, k.key, k.key_len, KG_RECORD_EXPIRES_MAX, &d),
                   KG_EXPIRED_API_KEY);
  /* A refresh meets the row among other changes: it is refused whole,
   * before any is applied (the deactivation of b too), and says why; the
   * snapshot keeps answering as it was. */
  kg_new_key b;
  make_key(f, "acme", "b", 0, &b);
  kg_snapshot *snap = NULL;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  raw_sql(f->path, "PRAGMA foreign_keys = OFF;"
                   " UPDATE meta SET value = CAST(value AS INTEGER) + 1"
                   " WHERE name = 'seq';"
                   " UPDATE keys SET account_id = 68719476736,"
                   " seq = (SELECT CAST(value AS INTEGER) FROM meta"
                   " WHERE name = 'seq') WHERE name = 'at-limit'");
  assert_int_equal(
      kg_store_key_deactivate(f->s, b.info.id, NULL, f->err, sizeof f->err), 0);
  const int64_t seq = kg_snapshot_seq(snap);
  kg_refresh r = KG_REFRESH_UNCHANGED;
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "has account id 68719476736, past "
                                 "68719476735"));
  assert_null(strstr(f->err, b.key));
  assert_null(strstr(f->err, k.key));
  assert_int_equal(kg_snapshot_seq(snap), seq);
  kg_checker c;
  kg_digester *dg = checker_over(snap, &c);
  assert_int_equal(kg_decide_key(&c, b.key, b.key_len, now, &d), KG_VALID);
  kg_digester_free(dg);
  kg_snapshot_free(snap);
  snap = NULL;
  /* and the full load refuses it, naming the key's id, not the key */
  assert_int_not_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_null(snap);
  assert_non_null(strstr(f->err, "is damaged: key key_"));
  assert_non_null(strstr(f->err, "past 68719476735"));
  /* no account is made past the limit */
  raw_sql(f->path, "INSERT INTO accounts (id, name, tier, created)"
                   " VALUES (68719476735, 'last', 'free', 0)");
  assert_int_equal(kg_store_account_create(f->s, "next", KG_TIER_FREE, NULL,
                                           f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "would get an id past 68719476735"));
  kg_store_account_info info;
  assert_int_equal(
      kg_store_account_get(f->s, "next", &info, f->err, sizeof f->err), -1);
  /* nor seeded past it (the whole seed rolled back) */
  kg_seed_counts counts = {.valid = 3};
  kg_seed_result res;
  assert_int_equal(
      kg_store_seed(f->s, &counts, NULL, NULL, &res, f->err, sizeof f->err),
      -1);
  assert_non_null(strstr(f->err, "would get an id past 68719476735"));
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounts"
                                    " WHERE name LIKE 'seed-%'"),
                   0);
  /* and no key is made in an account past it */
  raw_sql(f->path, "INSERT INTO accounts (id, name, tier, created)"
                   " VALUES (68719476736, 'big', 'free', 0)");
  kg_new_key x;
  assert_int_equal(
      kg_store_key_create(f->s, "big", "x", 0, &x, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "account big has id 68719476736"));
  kg_store_new_key_wipe(&b);
  kg_store_new_key_wipe(&k);
}

static void rotation_keeps_the_old_key_for_the_grace(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k[3];
  for (int i = 0; i < 3; i++) {
    make_key(f, "acme", "ci", 0, &k[i]);
  }
  const int64_t now = (int64_t)time(NULL);
  kg_new_key fresh;
  kg_store_key_info old;
  /* a full free account can rotate: the old key stops counting */
  assert_int_equal(kg_store_key_rotate(f->s, k[0].info.id, 3600, 0, &fresh,
                                       &old, f->err, sizeof f->err),
                   0);
  assert_int_equal(fresh.info.replaces, k[0].info.id);
  assert_int_equal(old.replaced_by, fresh.info.id);
  assert_string_equal(fresh.info.name, "ci");
  assert_string_equal(fresh.info.account, "acme");
  assert_true(old.expires_at >= now + 3600 && old.expires_at <= now + 3610);
  assert_string_equal(kg_store_key_state_name(&old, now), "rotated");
  assert_int_equal(account_keys(f, "acme"), 3);
  assert_int_equal(decide_new(f, &fresh, now), KG_VALID);
  assert_int_equal(decide_new(f, &k[0], now), KG_VALID);
  assert_int_equal(decide_new(f, &k[0], old.expires_at), KG_EXPIRED_API_KEY);
  assert_int_equal(decide_new(f, &fresh, old.expires_at + 86400), KG_VALID);
  kg_store_key_info info;
  assert_int_equal(
      kg_store_key_get(f->s, k[0].info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(info.replaced_by, fresh.info.id);
  assert_int_equal(info.expires_at, old.expires_at);
}

static void rotation_never_extends_an_expiry(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  const int64_t now = (int64_t)time(NULL);
  kg_new_key k, fresh;
  make_key(f, "acme", "ci", now + 60, &k);
  kg_store_key_info old;
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 86400, now + 7200,
                                       &fresh, &old, f->err, sizeof f->err),
                   0);
  assert_int_equal(old.expires_at, now + 60);
  assert_int_equal(fresh.info.expires_at, now + 7200);
}

static void rotation_with_zero_grace_expires_the_old_key_now(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k, fresh;
  make_key(f, "acme", "ci", 0, &k);
  kg_store_key_info old;
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 0, 0, &fresh, &old,
                                       f->err, sizeof f->err),
                   0);
  assert_int_equal(decide_new(f, &k, old.expires_at), KG_EXPIRED_API_KEY);
}

static void rotation_refusals(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key a, b, a2, tmp;
  make_key(f, "acme", "a", 0, &a);
  make_key(f, "acme", "b", 0, &b);
  kg_store_key_info old;
  assert_int_equal(kg_store_key_rotate(f->s, a.info.id, 3600, 0, &a2, &old,
                                       f->err, sizeof f->err),
                   0);
  /* already rotated */
  assert_int_equal(kg_store_key_rotate(f->s, a.info.id, 3600, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "was already rotated to"));
  /* the successor cannot rotate while its predecessor is in its grace */
  assert_int_equal(kg_store_key_rotate(f->s, a2.info.id, 3600, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "still in its grace period"));
  assert_int_equal(
      kg_store_key_delete(f->s, a.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_key_rotate(f->s, a2.info.id, 3600, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   0);
  /* deactivated and deleted keys do not rotate */
  assert_int_equal(
      kg_store_key_deactivate(f->s, b.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_key_rotate(f->s, b.info.id, 3600, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "is deactivated"));
  assert_int_equal(
      kg_store_key_delete(f->s, b.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_key_rotate(f->s, b.info.id, 3600, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "is deleted"));
  assert_int_equal(kg_store_key_rotate(f->s, b.info.id, -1, 0, &tmp, &old,
                                       f->err, sizeof f->err),
                   -1);
}

static void deleting_the_successor_counts_the_old_key_again(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  kg_new_key k, fresh;
  make_key(f, "acme", "ci", 0, &k);
  kg_store_key_info old;
  assert_int_equal(kg_store_key_rotate(f->s, k.info.id, 3600, 0, &fresh, &old,
                                       f->err, sizeof f->err),
                   0);
  assert_int_equal(account_keys(f, "acme"), 1);
  assert_int_equal(
      kg_store_key_delete(f->s, fresh.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(account_keys(f, "acme"), 1);
  kg_store_key_info info;
  assert_int_equal(
      kg_store_key_get(f->s, k.info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(info.replaced_by, 0);
}

typedef struct key_list {
  size_t n;
  uint64_t ids[8];
  char names[8][KG_KEY_NAME_MAX + 1];
} key_list;

static int collect_key(const kg_store_key_info *k, void *ctx) {
  key_list *l = ctx;
  if (l->n < 8) {
    l->ids[l->n] = k->id;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", k->name);
  }
  l->n++;
  return 0;
}

static void listing_filters_by_account_and_hides_deleted(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_FREE);
  make_account(f, "beta", KG_TIER_FREE);
  kg_new_key k;
  make_key(f, "acme", "a1", 0, &k);
  make_key(f, "acme", "a2", 0, &k);
  assert_int_equal(
      kg_store_key_delete(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  make_key(f, "beta", "b1", 0, &k);
  key_list l = {0};
  assert_int_equal(
      kg_store_key_each(f->s, NULL, 0, collect_key, &l, f->err, sizeof f->err),
      0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.names[0], "a1");
  assert_string_equal(l.names[1], "b1");
  memset(&l, 0, sizeof l);
  assert_int_equal(kg_store_key_each(f->s, "acme", 1, collect_key, &l, f->err,
                                     sizeof f->err),
                   0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.names[1], "a2");
  assert_int_equal(kg_store_key_each(f->s, "nobody", 0, collect_key, &l, f->err,
                                     sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "no account named nobody"));
}

/* ---- the loader -------------------------------------------------------- */

static void empty_store_loads_and_misses(void **state) {
  fixture *f = *state;
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_int_equal(kg_index_count(kg_snapshot_index(snap)), 0);
  assert_null(kg_snapshot_account(snap, 1));
  kg_snapshot_free(snap);
  assert_int_equal(decide(f, "sk_live_0000000000000000000000000000000000000000",
                          46, (int64_t)time(NULL), NULL),
                   KG_INVALID_API_KEY);
}

static void loader_indexes_every_key_but_deleted_ones(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  make_account(f, "beta", KG_TIER_FREE);
  const int64_t now = (int64_t)time(NULL);
  kg_new_key active, expiring, deact, deleted, other;
  make_key(f, "acme", "active", 0, &active);
  make_key(f, "acme", "expiring", now + 100, &expiring);
  make_key(f, "acme", "deact", 0, &deact);
  make_key(f, "acme", "deleted", 0, &deleted);
  make_key(f, "beta", "other", 0, &other);
  assert_int_equal(
      kg_store_key_deactivate(f->s, deact.info.id, NULL, f->err, sizeof f->err),
      0);
  assert_int_equal(
      kg_store_key_delete(f->s, deleted.info.id, NULL, f->err, sizeof f->err),
      0);

  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  const kg_index *idx = kg_snapshot_index(snap);
  assert_int_equal(kg_index_count(idx), 4);
  kg_digester *d;
  assert_int_equal(kg_digester_new(NULL, 0, &d), KG_OK);
  const struct {
    const kg_new_key *k;
    int hit;
    uint32_t status;
    int64_t expires_at;
    const char *account;
  } CASES[] = {
      {&active, 1, KG_REC_ACTIVE, 0, "acme"},
      {&expiring, 1, KG_REC_ACTIVE, now + 100, "acme"},
      {&deact, 1, KG_REC_DEACTIVATED, 0, "acme"},
      {&deleted, 0, 0, 0, NULL},
      {&other, 1, KG_REC_ACTIVE, 0, "beta"},
  };
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    uint8_t digest[KG_DIGEST_LEN];
    kg_record r;
    assert_int_equal(kg_digest(d, CASES[i].k->key, CASES[i].k->key_len, digest),
                     KG_OK);
    assert_int_equal(kg_index_lookup(idx, digest, &r), CASES[i].hit);
    if (!CASES[i].hit) {
      continue;
    }
    assert_memory_equal(r.digest, digest, KG_DIGEST_LEN);
    assert_int_equal(r.key_id, CASES[i].k->info.id);
    assert_int_equal(r.status, CASES[i].status);
    assert_int_equal(r.expires_at, CASES[i].expires_at);
    assert_int_equal(r.account_id, CASES[i].k->info.account_id);
    assert_string_equal(kg_snapshot_account(snap, r.account_id),
                        CASES[i].account);
  }
  kg_digester_free(d);
  assert_null(kg_snapshot_account(snap, 999));
  kg_snapshot_free(snap);

  assert_int_equal(decide_new(f, &active, now), KG_VALID);
  assert_int_equal(decide_new(f, &expiring, now + 100), KG_EXPIRED_API_KEY);
  assert_int_equal(decide_new(f, &deact, now), KG_EXPIRED_API_KEY);
  assert_int_equal(decide_new(f, &deleted, now), KG_INVALID_API_KEY);
}

static void changes_are_noticed_across_connections(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_store *reader;
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &reader, f->err, sizeof f->err),
      0);
  int changed = -1;
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 1); /* never loaded */
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(reader, &snap, f->err, sizeof f->err), 0);
  kg_snapshot_free(snap);
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 0);
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 0);

  kg_new_key k;
  make_key(f, "acme", "ci", 0, &k); /* another connection writes */
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 1);
  assert_int_equal(kg_store_load(reader, &snap, f->err, sizeof f->err), 0);
  assert_int_equal(kg_index_count(kg_snapshot_index(snap)), 1);
  kg_snapshot_free(snap);
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 0);

  assert_int_equal(
      kg_store_key_deactivate(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                   0);
  assert_int_equal(changed, 1);
  kg_store_close(reader);

  /* the writer's own commits count too */
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  kg_snapshot_free(snap);
  assert_int_equal(kg_store_changed(f->s, &changed, f->err, sizeof f->err), 0);
  assert_int_equal(changed, 0);
  assert_int_equal(
      kg_store_key_delete(f->s, k.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_changed(f->s, &changed, f->err, sizeof f->err), 0);
  assert_int_equal(changed, 1);
}

/* ---- the change sequence and incremental refresh ----------------------- */

static int64_t meta_seq(fixture *f) {
  return raw_int(f->path,
                 "SELECT CAST(value AS INTEGER) FROM meta WHERE name = 'seq'");
}

static void a_version_1_store_is_migrated_to_the_sequence(void **state) {
  fixture *f = *state;
  kg_store_close(f->s);
  f->s = NULL;
  unlink(f->path);
  raw_sql(f->path,
          "PRAGMA journal_mode = WAL;"
          "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
          " WITHOUT ROWID;"
          "INSERT INTO meta VALUES ('digest', 'sha256');"
          "CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT NOT NULL"
          " UNIQUE, tier TEXT NOT NULL, created INTEGER NOT NULL);"
          "CREATE TABLE keys (id INTEGER PRIMARY KEY, account_id INTEGER NOT"
          " NULL, digest BLOB NOT NULL UNIQUE, hint TEXT NOT NULL, name TEXT"
          " NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
          " expires_at INTEGER, status TEXT NOT NULL, replaces INTEGER);"
          "INSERT INTO accounts VALUES (1, 'acme', 'pro', 0);"
          "INSERT INTO keys VALUES (7, 1, zeroblob(32), 'h', 'n', 0, 0, NULL,"
          " 'active', NULL);"
          "PRAGMA user_version = 1;");
  /* a read-only open (the server) asks for a read-write one first */
  kg_store *ro;
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &ro, f->err, sizeof f->err),
      -1);
  assert_non_null(strstr(f->err, "older than 3"));
  assert_int_equal(kg_store_open(f->path, 0, &f->s, f->err, sizeof f->err), 0);
  assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 3);
  assert_int_equal(meta_seq(f), 0);
  /* version 3: the history starts at the sequence the store is at */
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history"), 1);
  assert_int_equal(
      raw_int(f->path, "SELECT count(*) FROM history WHERE seq = 0"), 1);
  assert_int_equal(raw_int(f->path, "SELECT seq FROM keys WHERE id = 7"), 0);
  assert_int_equal(
      raw_int(f->path, "SELECT length(value) FROM meta WHERE name = 'epoch'"),
      16);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_int_equal(kg_snapshot_seq(snap), 0);
  assert_int_equal(kg_index_count(kg_snapshot_index(snap)), 1);
  kg_snapshot_free(snap);
}

static void every_key_write_bumps_the_sequence_once(void **state) {
  fixture *f = *state;
  assert_int_equal(meta_seq(f), 0);
  make_account(f, "acme", KG_TIER_PRO); /* not a key write */
  assert_int_equal(meta_seq(f), 0);
  kg_new_key a, b;
  make_key(f, "acme", "a", 0, &a);
  assert_int_equal(meta_seq(f), 1);
  make_key(f, "acme", "b", 0, &b);
  assert_int_equal(meta_seq(f), 2);
  assert_int_equal(
      kg_store_key_deactivate(f->s, a.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(meta_seq(f), 3);
  assert_int_equal(
      kg_store_key_deactivate(f->s, a.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(meta_seq(f), 3); /* nothing written */
  assert_int_equal(
      kg_store_key_delete(f->s, a.info.id, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(meta_seq(f), 4);
  kg_new_key c;
  /* rotation writes two rows in one transaction: one sequence */
  assert_int_equal(kg_store_key_rotate(f->s, b.info.id, 60, 0, &c, NULL, f->err,
                                       sizeof f->err),
                   0);
  assert_int_equal(meta_seq(f), 5);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM keys WHERE seq = 5");
  assert_int_equal(raw_int(f->path, sql), 2);
  const kg_seed_counts counts = {.valid = 3};
  assert_int_equal(
      kg_store_seed(f->s, &counts, NULL, NULL, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(meta_seq(f), 6);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM keys WHERE seq = 6"),
                   3);
}

/* The answers of two snapshots for every key of a list agree. */
static void same_answers(const kg_snapshot *a, const kg_snapshot *b,
                         const uint8_t (*digests)[KG_DIGEST_LEN], size_t n) {
  assert_int_equal(kg_index_count(kg_snapshot_index(a)),
                   kg_index_count(kg_snapshot_index(b)));
  for (size_t i = 0; i < n; i++) {
    kg_record ra, rb;
    const int ha = kg_index_lookup(kg_snapshot_index(a), digests[i], &ra);
    const int hb = kg_index_lookup(kg_snapshot_index(b), digests[i], &rb);
    assert_int_equal(ha, hb);
    assert_memory_equal(&ra, &rb, sizeof ra);
    if (ha) {
      const char *na = kg_snapshot_account(a, ra.account_id);
      const char *nb = kg_snapshot_account(b, rb.account_id);
      assert_non_null(na);
      assert_non_null(nb);
      assert_string_equal(na, nb);
    }
  }
}

/* Random streams of creates (new accounts too), deactivations, deletions
 * and rotations; after each batch, a snapshot kept up to date by
 * kg_store_refresh (through a reader's connection, as the server's) answers
 * every key ever made exactly as a full load does. */
static void
incremental_refresh_matches_a_full_load_on_random_streams(void **state) {
  fixture *f = *state;
  enum { MAXKEYS = 400 };
  static uint8_t digests[MAXKEYS][KG_DIGEST_LEN];
  static uint64_t ids[MAXKEYS];
  size_t nkeys = 0;
  kg_digester *dg;
  assert_int_equal(kg_digester_new(NULL, 0, &dg), KG_OK);
  make_account(f, "acct-0", KG_TIER_PRO);
  unsigned naccounts = 1;
  kg_store *reader;
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &reader, f->err, sizeof f->err),
      0);
  kg_snapshot *inc;
  assert_int_equal(kg_store_load(reader, &inc, f->err, sizeof f->err), 0);
  uint64_t x = 0x2545F4914F6CDD1Du;
  size_t applied = 0;
  for (int batch = 0; batch < 40; batch++) {
    const int ops = 1 + (int)(x % 12);
    for (int op = 0; op < ops && nkeys < MAXKEYS; op++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const unsigned what = (unsigned)(x >> 32) % 10;
      const size_t pick = nkeys > 0 ? (size_t)(x >> 8) % nkeys : 0;
      if (what < 5 || nkeys == 0) {
        char acct[32];
        if (what == 0) {
          snprintf(acct, sizeof acct, "acct-%u", naccounts++);
          make_account(f, acct, KG_TIER_PRO);
        } else {
          snprintf(acct, sizeof acct, "acct-%u",
                   (unsigned)(x >> 16) % naccounts);
        }
        kg_new_key k;
        if (kg_store_key_create(f->s, acct, "k", what == 4 ? 2000000000 : 0, &k,
                                f->err, sizeof f->err) != 0) {
          continue; /* the account is full */
        }
        assert_int_equal(kg_digest(dg, k.key, k.key_len, digests[nkeys]),
                         KG_OK);
        ids[nkeys++] = k.info.id;
        kg_store_new_key_wipe(&k);
      } else if (what < 7) {
        (void)kg_store_key_deactivate(f->s, ids[pick], NULL, f->err,
                                      sizeof f->err);
      } else if (what < 9) {
        (void)kg_store_key_delete(f->s, ids[pick], NULL, f->err, sizeof f->err);
      } else {
        kg_new_key k;
        if (kg_store_key_rotate(f->s, ids[pick], 3600, 0, &k, NULL, f->err,
                                sizeof f->err) == 0) {
          assert_int_equal(kg_digest(dg, k.key, k.key_len, digests[nkeys]),
                           KG_OK);
          ids[nkeys++] = k.info.id;
          kg_store_new_key_wipe(&k);
        }
      }
    }
    kg_refresh r;
    size_t rows = 0;
    assert_int_equal(
        kg_store_refresh(reader, inc, &r, &rows, f->err, sizeof f->err), 0);
    assert_true(r == KG_REFRESH_APPLIED || r == KG_REFRESH_UNCHANGED);
    applied += rows;
    kg_snapshot *full;
    assert_int_equal(kg_store_load(f->s, &full, f->err, sizeof f->err), 0);
    assert_int_equal(kg_snapshot_seq(inc), kg_snapshot_seq(full));
    same_answers(inc, full, (const uint8_t(*)[KG_DIGEST_LEN])digests, nkeys);
    kg_snapshot_free(full);
  }
  assert_true(nkeys > 100);
  assert_true(applied > 100);
  kg_refresh r;
  assert_int_equal(
      kg_store_refresh(reader, inc, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_UNCHANGED);
  kg_snapshot_free(inc);
  kg_store_close(reader);
  kg_digester_free(dg);
}

/* The history's mark (schema 3): each key write draws one for its
 * sequence; a refresh refuses a store whose mark of the snapshot's
 * sequence is not the snapshot's, at that sequence or past it (a backup
 * put back and written to since). */
static void refresh_reports_another_history_by_its_mark(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key a;
  make_key(f, "acme", "a", 0, &a);
  make_key(f, "acme", "b", 0, &a);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM history"), 3);
  assert_int_equal(raw_int(f->path, "SELECT count(DISTINCT mark) FROM history"),
                   3);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_int_equal(kg_snapshot_seq(snap), 2);
  const uint64_t m2 = kg_snapshot_mark(snap);
  assert_true(m2 != 0);
  assert_int_equal(m2, (uint64_t)raw_int(f->path, "SELECT mark FROM history"
                                                  " WHERE seq = 2"));
  const int64_t at[3] = {2, 99, 1};
  uint64_t m[3] = {0, 7, 0};
  assert_int_equal(kg_store_marks(f->s, at, m, 3, f->err, sizeof f->err), 0);
  assert_int_equal(m[0], m2);
  assert_int_equal(m[1], 0); /* no such sequence */
  assert_int_equal(m[2], (uint64_t)raw_int(f->path, "SELECT mark FROM history"
                                                    " WHERE seq = 1"));
  assert_int_equal(kg_store_marks(f->s, NULL, NULL, 0, f->err, sizeof f->err),
                   0);
  assert_int_equal(kg_store_marks(f->s, NULL, m, 1, f->err, sizeof f->err), -1);
  kg_refresh r;
  /* another history at the same sequence */
  raw_sql(f->path, "UPDATE history SET mark = mark + 1 WHERE seq = 2");
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_BACKWARDS);
  assert_int_equal(kg_snapshot_seq(snap), 2); /* untouched */
  assert_int_equal(kg_snapshot_mark(snap), m2);
  raw_sql(f->path, "UPDATE history SET mark = mark - 1 WHERE seq = 2");
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_UNCHANGED);
  /* one write on: applied, and the snapshot takes the new mark */
  make_key(f, "acme", "c", 0, &a);
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_APPLIED);
  assert_int_equal(kg_snapshot_seq(snap), 3);
  assert_int_equal(kg_snapshot_mark(snap),
                   (uint64_t)raw_int(f->path, "SELECT mark FROM history"
                                              " WHERE seq = 3"));
  /* another history past the snapshot's sequence: its mark of 3 differs */
  raw_sql(f->path, "UPDATE history SET mark = mark + 1 WHERE seq = 3");
  make_key(f, "acme", "d", 0, &a);
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_BACKWARDS);
  assert_int_equal(kg_snapshot_seq(snap), 3);
  /* and one without the snapshot's sequence at all */
  raw_sql(f->path, "UPDATE history SET mark = mark - 1 WHERE seq = 3");
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_APPLIED);
  make_key(f, "acme", "e", 0, &a);
  raw_sql(f->path, "DELETE FROM history WHERE seq = 4");
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_BACKWARDS);
  kg_snapshot_free(snap);
}

static void
refresh_reports_a_sequence_gone_backwards_and_a_new_epoch(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key a;
  make_key(f, "acme", "a", 0, &a);
  make_key(f, "acme", "b", 0, &a);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_int_equal(kg_snapshot_seq(snap), 2);
  const uint64_t epoch = kg_snapshot_epoch(snap);
  raw_sql(f->path, "UPDATE meta SET value = '1' WHERE name = 'seq'");
  kg_refresh r;
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_BACKWARDS);
  assert_int_equal(kg_snapshot_seq(snap), 2); /* untouched */
  int64_t seq = 0;
  assert_int_equal(kg_store_ack_restore(f->s, &seq, f->err, sizeof f->err), 0);
  assert_int_equal(seq, 2);
  assert_int_equal(
      kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err), 0);
  assert_int_equal(r, KG_REFRESH_FULL);
  kg_snapshot_free(snap);
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_true(kg_snapshot_epoch(snap) != epoch);
  kg_snapshot_free(snap);
}

/* Each ack-restore records the epoch it replaced, the newest last, the
 * last KG_STORE_LEFT_EPOCHS_MAX kept; a list that is not one is a damaged
 * store, never read as fewer epochs (a server would serve a backup of a
 * forgotten one). */
static void ack_restore_records_the_epochs_left(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key a;
  make_key(f, "acme", "a", 0, &a);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  size_t n = 99;
  assert_null(kg_snapshot_left_epochs(snap, &n));
  assert_int_equal(n, 0);
  uint64_t epochs[KG_STORE_LEFT_EPOCHS_MAX + 3];
  const size_t rounds = sizeof epochs / sizeof epochs[0];
  for (size_t i = 0; i < rounds; i++) {
    epochs[i] = kg_snapshot_epoch(snap);
    kg_snapshot_free(snap);
    int64_t seq = 0;
    assert_int_equal(kg_store_ack_restore(f->s, &seq, f->err, sizeof f->err),
                     0);
    assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
    const uint64_t *left = kg_snapshot_left_epochs(snap, &n);
    const size_t want =
        i + 1 < KG_STORE_LEFT_EPOCHS_MAX ? i + 1 : KG_STORE_LEFT_EPOCHS_MAX;
    assert_int_equal(n, want);
    for (size_t j = 0; j < n; j++) { /* the newest last */
      assert_true(left[j] == epochs[i + 1 - n + j]);
    }
    assert_true(kg_snapshot_epoch(snap) != epochs[i]);
  }
  kg_snapshot_free(snap);
  /* Damaged: refused by a load, by every open (so `keys list` says it), and
   * by ack-restore, which writes nothing then (review 74: it appended to a
   * damaged list, and wrote " E" after an empty one, which it then
   * refused). */
  const char *bad[] = {"'abc  def'",
                       "'abc '",
                       "' abc'",
                       "'xyz'",
                       "'0123456789abcdef0'",
                       "'12,34'",
                       "x'00'",
                       "'ab' || char(0) || ' cd'",
                       "x'6162'"};
  const int64_t seq_before =
      raw_int(f->path, "SELECT value FROM meta WHERE name = 'seq'");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value = %s WHERE name = 'left_epochs'", bad[i]);
    raw_sql(f->path, sql);
    snap = NULL;
    assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), -1);
    assert_null(snap);
    assert_non_null(strstr(f->err, "left_epochs is not a list of epochs"));
    kg_store *other = NULL;
    assert_int_equal(kg_store_open(f->path, KG_STORE_READONLY, &other, f->err,
                                   sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "left_epochs is not a list of epochs"));
    int64_t seq = 0;
    assert_int_equal(kg_store_ack_restore(f->s, &seq, f->err, sizeof f->err),
                     -1);
    assert_non_null(strstr(f->err, "left_epochs is not a list of epochs"));
  }
  assert_int_equal(
      raw_int(f->path, "SELECT value FROM meta WHERE name = 'seq'"),
      seq_before); /* nothing written */
  raw_sql(f->path,
          "UPDATE meta SET value = '0A ff' WHERE name = 'left_epochs'");
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  const uint64_t *left = kg_snapshot_left_epochs(snap, &n);
  assert_int_equal(n, 2);
  assert_true(left[0] == 0x0a && left[1] == 0xff);
  kg_snapshot_free(snap);
  /* an empty list is none, and ack-restore writes the list anew as it
   * reads it: one epoch, no space before it */
  raw_sql(f->path, "UPDATE meta SET value = '' WHERE name = 'left_epochs'");
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  assert_null(kg_snapshot_left_epochs(snap, &n));
  const uint64_t before = kg_snapshot_epoch(snap);
  kg_snapshot_free(snap);
  int64_t seq = 0;
  assert_int_equal(kg_store_ack_restore(f->s, &seq, f->err, sizeof f->err), 0);
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  left = kg_snapshot_left_epochs(snap, &n);
  assert_int_equal(n, 1);
  assert_true(left[0] == before);
  kg_snapshot_free(snap);
  assert_int_equal(raw_int(f->path, "SELECT length(value) FROM meta"
                                    " WHERE name = 'left_epochs'"),
                   16);
}

/* Overwrite the file at path with n bytes of `byte`, or cut it to n. */
static void damage(const char *path, long n, int byte) {
  if (byte < 0) {
    assert_int_equal(truncate(path, n), 0);
    return;
  }
  FILE *fp = fopen(path, "r+");
  assert_non_null(fp);
  for (long i = 0; i < n; i++) {
    fputc(byte, fp);
  }
  fclose(fp);
}

static void
check_file_sees_replaced_truncated_and_overwritten_stores(void **state) {
  fixture *f = *state;
  make_account(f, "acme", KG_TIER_PRO);
  kg_new_key a;
  make_key(f, "acme", "a", 0, &a);
  kg_store *reader;
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &reader, f->err, sizeof f->err),
      0);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(reader, &snap, f->err, sizeof f->err), 0);
  kg_snapshot_free(snap);
  int moved = -1;
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   0);
  assert_int_equal(moved, 0);

  /* a copy renamed over the path: moved */
  char other[128];
  snprintf(other, sizeof other, "%s/other.db", f->dir);
  char sql[200];
  snprintf(sql, sizeof sql, "VACUUM INTO '%s'", other);
  raw_sql(f->path, sql);
  assert_int_equal(rename(other, f->path), 0);
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   0);
  assert_int_equal(moved, 1);
  kg_store_close(reader);
  kg_store_close(f->s);
  f->s = NULL;

  /* deleted: gone */
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_READONLY, &reader, f->err, sizeof f->err),
      0);
  assert_int_equal(kg_store_load(reader, &snap, f->err, sizeof f->err), 0);
  kg_snapshot_free(snap);
  assert_int_equal(rename(f->path, other), 0);
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "is gone"));
  assert_int_equal(rename(other, f->path), 0);
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   0);
  assert_int_equal(moved, 0);

  /* truncated in place, then overwritten in place */
  raw_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  damage(f->path, 4096 + 100, -1);
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "truncated"));
  damage(f->path, 0, -1);
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "truncated"));
  damage(f->path, 300, 'x');
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "no longer an SQLite database"));
  kg_store_close(reader);
}

/* ---- seeding ----------------------------------------------------------- */

typedef struct seeded {
  size_t n;
  kg_seed_class cls[200];
  char key[200][KG_KEY_MAX_LEN + 1];
  size_t abort_at;      /* return 1 at this key (0: never) */
  int abort_durable;    /* return 1 when asked to make the keys durable */
  size_t durable;       /* the calls that asked it (key NULL) */
  size_t durable_after; /* keys handed over before the first of them */
} seeded;

static int collect_seed(kg_seed_class c, const char *key, size_t len,
                        void *ctx) {
  seeded *sd = ctx;
  if (key == NULL) { /* the last call, before the commit */
    assert_int_equal(len, 0);
    if (sd->durable++ == 0) {
      sd->durable_after = sd->n;
    }
    return sd->abort_durable;
  }
  if (sd->abort_at != 0 && sd->n + 1 == sd->abort_at) {
    return 1;
  }
  assert_true(sd->n < 200 && len <= KG_KEY_MAX_LEN);
  sd->cls[sd->n] = c;
  memcpy(sd->key[sd->n], key, len);
  sd->key[sd->n][len] = '\0';
  sd->n++;
  return 0;
}

static void seed_makes_every_class_over_pro_accounts(void **state) {
  fixture *f = *state;
  static seeded sd;
  memset(&sd, 0, sizeof sd);
  const kg_seed_counts counts = {.valid = 80, .expired = 30, .deactivated = 11};
  kg_seed_result res;
  assert_int_equal(kg_store_seed(f->s, &counts, collect_seed, &sd, &res, f->err,
                                 sizeof f->err),
                   0);
  assert_int_equal(res.keys, 121);
  assert_int_equal(sd.n, 121);
  /* asked once, after every key, to make them durable */
  assert_int_equal(sd.durable, 1);
  assert_int_equal(sd.durable_after, 121);
  assert_int_equal(res.accounts, 3); /* 50 + 50 + 21 */
  assert_int_equal(res.first, 1);
  assert_int_equal(res.last, 3);
  kg_store_account_info a;
  assert_int_equal(
      kg_store_account_get(f->s, "seed-0001", &a, f->err, sizeof f->err), 0);
  assert_int_equal(a.tier, KG_TIER_PRO);
  assert_int_equal(a.keys, 50);
  assert_int_equal(
      kg_store_account_get(f->s, "seed-0003", &a, f->err, sizeof f->err), 0);
  assert_int_equal(a.keys, 21);

  size_t per_class[3] = {0, 0, 0};
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  kg_checker c;
  kg_digester *dg = checker_over(snap, &c);
  assert_int_equal(kg_index_count(c.index), 121);
  const int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < sd.n; i++) {
    kg_decision d;
    const kg_status want =
        sd.cls[i] == KG_SEED_VALID ? KG_VALID : KG_EXPIRED_API_KEY;
    assert_int_equal(kg_decide_key(&c, sd.key[i], strlen(sd.key[i]), now, &d),
                     want);
    if (sd.cls[i] == KG_SEED_EXPIRED) {
      assert_true(d.record.expires_at != 0 && d.record.expires_at < now);
    }
    if (sd.cls[i] == KG_SEED_DEACTIVATED) {
      assert_int_equal(d.record.status, KG_REC_DEACTIVATED);
    }
    per_class[sd.cls[i]]++;
  }
  kg_digester_free(dg);
  kg_snapshot_free(snap);
  assert_int_equal(per_class[KG_SEED_VALID], 80);
  assert_int_equal(per_class[KG_SEED_EXPIRED], 30);
  assert_int_equal(per_class[KG_SEED_DEACTIVATED], 11);

  /* a second seed continues the numbering */
  const kg_seed_counts more = {.valid = 1};
  assert_int_equal(
      kg_store_seed(f->s, &more, NULL, NULL, &res, f->err, sizeof f->err), 0);
  assert_int_equal(res.first, 4);
  assert_int_equal(res.last, 4);
}

static void seed_aborted_by_its_writer_leaves_nothing(void **state) {
  fixture *f = *state;
  static seeded sd;
  memset(&sd, 0, sizeof sd);
  sd.abort_at = 60;
  const kg_seed_counts counts = {.valid = 100};
  kg_seed_result res;
  assert_int_equal(kg_store_seed(f->s, &counts, collect_seed, &sd, &res, f->err,
                                 sizeof f->err),
                   -1);
  assert_int_equal(res.keys, 0);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM keys"), 0);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounts"), 0);
  assert_int_equal(sd.durable, 0); /* never asked: nothing to keep */
  /* a writer that cannot make its keys durable: nothing is committed */
  memset(&sd, 0, sizeof sd);
  sd.abort_durable = 1;
  assert_int_equal(kg_store_seed(f->s, &counts, collect_seed, &sd, &res, f->err,
                                 sizeof f->err),
                   -1);
  assert_int_equal(sd.n, 100);
  assert_int_equal(sd.durable, 1);
  assert_int_equal(res.keys, 0);
  assert_non_null(strstr(f->err, "durable"));
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM keys"), 0);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM accounts"), 0);
  const kg_seed_counts none = {0};
  assert_int_equal(
      kg_store_seed(f->s, &none, NULL, NULL, &res, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "nothing to seed"));
}

/* SQL function clash_once(name): 1 the first time it sees 'valid-70', then
 * 0; registered on every connection opened after sqlite3_auto_extension. */
static int clash_calls;
static void clash_once(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  const unsigned char *name = sqlite3_value_text(argv[0]);
  const int hit = name != NULL && strcmp((const char *)name, "valid-70") == 0;
  clash_calls += hit;
  sqlite3_result_int(cx, hit && clash_calls == 1);
}

static int register_clash_once(sqlite3 *db, char **msg,
                               const struct sqlite3_api_routines *api) {
  (void)msg;
  (void)api;
  return sqlite3_create_function(db, "clash_once", 1, SQLITE_UTF8, NULL,
                                 clash_once, NULL, NULL);
}

static void seed_rows_go_in_id_order_and_survive_a_clash(void **state) {
  fixture *f = *state;
  static seeded sd;
  memset(&sd, 0, sizeof sd);
  /* Key valid-70 (in the second statement of 64 rows) meets a row that
   * took its id just before it: the statement is undone and its rows go
   * again one at a time, valid-70 with a new id. */
  raw_sql(f->path,
          "CREATE TRIGGER clash BEFORE INSERT ON keys"
          " WHEN clash_once(NEW.name) BEGIN"
          " INSERT INTO keys (id, account_id, digest, hint, name, created,"
          "  updated, status) VALUES (NEW.id, NEW.account_id,"
          "  randomblob(32), 'x', 'clash', 0, 0, 'active');"
          " END");
  clash_calls = 0;
  kg_store_close(f->s);
  typedef void (*entry_fn)(void);
  assert_int_equal(sqlite3_auto_extension((entry_fn)register_clash_once),
                   SQLITE_OK);
  assert_int_equal(kg_store_open(f->path, 0, &f->s, f->err, sizeof f->err), 0);
  const kg_seed_counts counts = {.valid = 200};
  kg_seed_result res;
  const int rc = kg_store_seed(f->s, &counts, collect_seed, &sd, &res, f->err,
                               sizeof f->err);
  sqlite3_cancel_auto_extension((entry_fn)register_clash_once);
  assert_int_equal(rc, 0);
  assert_int_equal(clash_calls, 2); /* in the statement, then alone */
  assert_int_equal(res.keys, 200);
  assert_int_equal(sd.n, 200);
  assert_int_equal(raw_int(f->path, "SELECT count(*) FROM keys"), 200);
  assert_int_equal(
      raw_int(f->path, "SELECT count(*) FROM keys WHERE name = 'clash'"), 0);
  /* Every other row went in the order of its (signed) rowid: valid-N is the
   * N-th smallest id; only valid-70, with its new id, may be out of place.
   * Rows sorted as unsigned ids put the negative ones after. */
  raw_sql(f->path, "DROP TRIGGER clash");
  assert_int_equal(raw_int(f->path,
                           "SELECT count(*) FROM (SELECT name, row_number()"
                           " OVER (ORDER BY id) AS r FROM keys"
                           " WHERE name != 'valid-70')"
                           " WHERE name != 'valid-' || (r + (r >= 70))"),
                   0);
  kg_snapshot *snap;
  assert_int_equal(kg_store_load(f->s, &snap, f->err, sizeof f->err), 0);
  kg_checker c;
  kg_digester *dg = checker_over(snap, &c);
  assert_int_equal(kg_index_count(c.index), 200);
  const int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; i < sd.n; i++) {
    kg_decision d;
    assert_int_equal(kg_decide_key(&c, sd.key[i], strlen(sd.key[i]), now, &d),
                     KG_VALID);
  }
  kg_digester_free(dg);
  kg_snapshot_free(snap);
}

static void seed_class_names(void **state) {
  (void)state;
  assert_string_equal(kg_seed_class_name(KG_SEED_VALID), "valid");
  assert_string_equal(kg_seed_class_name(KG_SEED_EXPIRED), "expired");
  assert_string_equal(kg_seed_class_name(KG_SEED_DEACTIVATED), "deactivated");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(open_missing_store_says_it_is_missing),
      T(a_line_cut_short_says_so),
      T(new_store_is_wal_with_current_schema),
      T(reopening_keeps_the_data),
      T(foreign_database_is_refused),
      T(file_that_is_not_sqlite_is_refused),
      T(empty_file_without_create_is_refused),
      T(newer_schema_is_refused),
      T(peppered_store_refuses_an_open_without_its_pepper),
      T(every_error_kind_is_set_with_its_line),
      T(read_only_store_refuses_writes),
      cmocka_unit_test(account_names_are_checked),
      cmocka_unit_test(key_names_are_one_to_64_printable_characters),
      cmocka_unit_test(tiers_parse_and_limit),
      T(account_names_are_unique),
      T(unknown_account_is_an_error),
      T(accounts_list_by_name),
      T(free_account_holds_three_keys),
      T(pro_account_holds_fifty_keys),
      T(deleted_keys_do_not_count),
      T(deactivated_and_expired_keys_count),
      T(going_down_to_free_keeps_keys_and_refuses_new),
      T(new_key_is_well_formed_and_stored_as_digest),
      T(key_ids_round_trip_and_unknown_ids_fail),
      T(bad_key_name_is_refused_before_writing),
      T(deactivate_then_delete),
      T(expiry_is_honoured_by_the_index),
      T(expiries_and_account_ids_past_the_index_limits),
      T(rotation_keeps_the_old_key_for_the_grace),
      T(rotation_never_extends_an_expiry),
      T(rotation_with_zero_grace_expires_the_old_key_now),
      T(rotation_refusals),
      T(deleting_the_successor_counts_the_old_key_again),
      T(listing_filters_by_account_and_hides_deleted),
      T(empty_store_loads_and_misses),
      T(loader_indexes_every_key_but_deleted_ones),
      T(changes_are_noticed_across_connections),
      T(a_version_1_store_is_migrated_to_the_sequence),
      T(every_key_write_bumps_the_sequence_once),
      T(incremental_refresh_matches_a_full_load_on_random_streams),
      T(refresh_reports_another_history_by_its_mark),
      T(refresh_reports_a_sequence_gone_backwards_and_a_new_epoch),
      T(ack_restore_records_the_epochs_left),
      T(check_file_sees_replaced_truncated_and_overwritten_stores),
      T(seed_makes_every_class_over_pro_accounts),
      T(seed_aborted_by_its_writer_leaves_nothing),
      T(seed_rows_go_in_id_order_and_survive_a_clash),
      cmocka_unit_test(seed_class_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
