/*
 * store/src/store.c — opening the store: connection settings, the schema and
 * its migrations, the meta table, change detection, and the SQLite helpers
 * the other files share.
 *
 * Schema versions live in PRAGMA user_version; MIGRATIONS[i] takes a store
 * from version i to i + 1, and every migration a store needs runs in one
 * IMMEDIATE transaction together with the version bump, so a crash leaves
 * the old schema or the new one, never half of it.
 */
#define _GNU_SOURCE /* for strdup with -std=c11 */
#include <errno.h>
#include <fcntl.h> /* AT_FDCWD */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- schema ------------------------------------------------------------ */

/*
 * Version 1. Keys are identified by a random 64-bit id (the INTEGER PRIMARY
 * KEY, so no extra index) and found by digest (UNIQUE: two keys can never
 * share one, which the index build would refuse). `replaces` links a
 * rotated key to its predecessor. Deleted keys keep their row for audit.
 */
static const char *const MIGRATIONS[KG_STORE_SCHEMA_VERSION] = {
    "CREATE TABLE meta (\n"
    "  name  TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO meta (name, value) VALUES ('digest', 'sha256');\n"
    "CREATE TABLE accounts (\n"
    "  id      INTEGER PRIMARY KEY,\n"
    "  name    TEXT NOT NULL UNIQUE,\n"
    "  tier    TEXT NOT NULL CHECK (tier IN ('free', 'pro')),\n"
    "  created INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE keys (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  account_id INTEGER NOT NULL REFERENCES accounts (id),\n"
    "  digest     BLOB NOT NULL UNIQUE\n"
    "             CHECK (typeof(digest) = 'blob' AND length(digest) = 32),\n"
    "  hint       TEXT NOT NULL,\n"
    "  name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),\n"
    "  created    INTEGER NOT NULL,\n"
    "  updated    INTEGER NOT NULL,\n"
    "  expires_at INTEGER,\n"
    "  status     TEXT NOT NULL\n"
    "             CHECK (status IN ('active', 'deactivated', 'deleted')),\n"
    "  replaces   INTEGER REFERENCES keys (id)\n"
    ");\n"
    "CREATE INDEX keys_by_account ON keys (account_id, status);\n"
    "CREATE INDEX keys_by_replaces ON keys (replaces)\n"
    "  WHERE replaces IS NOT NULL;\n",
    /* Version 2: the change sequence (docs/store.md). meta.seq counts
     * write transactions that touched keys; keys.seq is the sequence that
     * last wrote the row (0: before version 2). meta.epoch names this
     * store's history: a copy (a backup) keeps it, `keygate keys
     * ack-restore` draws a new one. */
    "ALTER TABLE keys ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX keys_by_seq ON keys (seq);\n"
    "INSERT INTO meta (name, value) VALUES ('seq', '0');\n"
    "INSERT INTO meta (name, value)\n"
    "  VALUES ('epoch', lower(hex(randomblob(8))));\n",
    /* Version 3: the history (docs/store.md). One row per change
     * sequence, written by the transaction that made it: a random mark,
     * so that two stores that went separate ways from one copy (a backup
     * put back and written to) differ at the first sequence they do not
     * share, even where their sequences are the same. A server compares
     * the mark of the sequence it served with the file's. */
    "CREATE TABLE history (\n"
    "  seq  INTEGER PRIMARY KEY,\n"
    "  mark INTEGER NOT NULL\n"
    ");\n"
    "INSERT INTO history (seq, mark)\n"
    "  SELECT CAST(value AS INTEGER), random() FROM meta WHERE name = "
    "'seq';\n"};

/* ---- helpers shared by the store's files ------------------------------- */

/* The kind of this thread's last error (kg_store_last_error_kind): set
 * with every error line, by store_errf (OTHER) and store_errk. */
static _Thread_local kg_store_error_kind last_kind = KG_STORE_E_OTHER;

kg_store_error_kind kg_store_last_error_kind(void) {
  return last_kind;
}

static void store_verrf(char *err, size_t errcap, const char *fmt, va_list ap) {
  if (err != NULL && errcap > 0) {
    /* The analyzer loses va_start when it inlines a variadic function. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    int n = vsnprintf(err, errcap, fmt, ap);
    /* A line cut short (long paths) says so, not a sentence that stops. */
    if (n >= 0 && (size_t)n >= errcap && errcap > 4) {
      memcpy(err + errcap - 4, "...", 4);
    }
  }
}

int store_errf(char *err, size_t errcap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  last_kind = KG_STORE_E_OTHER;
  store_verrf(err, errcap, fmt, ap);
  va_end(ap);
  return -1;
}

int store_errk(kg_store_error_kind kind, char *err, size_t errcap,
               const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  last_kind = kind;
  store_verrf(err, errcap, fmt, ap);
  va_end(ap);
  return -1;
}

int store_sqlerr(kg_store *s, int rc, const char *what, char *err,
                 size_t errcap) {
  const int primary = rc & 0xff;
  const int sys = s->db != NULL ? sqlite3_system_errno(s->db) : 0;
  if (primary == SQLITE_FULL ||
      ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) &&
       (sys == ENOSPC || sys == EDQUOT))) {
    return store_errf(err, errcap,
                      "the disk holding %s is full (%s); free space and "
                      "retry: nothing was written",
                      s->path, what);
  }
  if ((primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN) &&
      (sys == EACCES || sys == EPERM || sys == EROFS)) {
    return store_errf(err, errcap,
                      "%s: %s: cannot write the store's folder or its -wal "
                      "and -shm files (%s); let this user write them, or "
                      "make the folder writable, and retry",
                      s->path, what, strerror(sys));
  }
  if (primary == SQLITE_IOERR) {
    return store_errf(err, errcap,
                      "%s: %s: the disk reported an I/O error (%s); check "
                      "the disk and the system log, then retry: nothing was "
                      "written",
                      s->path, what, sys != 0 ? strerror(sys) : "no detail");
  }
  if (primary == SQLITE_CORRUPT) {
    return store_errf(err, errcap,
                      "%s is damaged (%s); restore it from a backup", s->path,
                      what);
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return store_errf(err, errcap,
                      "database %s is locked by another process (waited %d "
                      "s); try again when it is free",
                      s->path, KG_STORE_BUSY_TIMEOUT_MS / 1000);
  }
  if (primary == SQLITE_NOTADB) {
    return store_errk(KG_STORE_E_NOT_A_STORE, err, errcap,
                      "%s is not a keygate store (not an SQLite database)",
                      s->path);
  }
  if (rc == SQLITE_READONLY_CANTINIT || rc == SQLITE_READONLY_DIRECTORY ||
      rc == SQLITE_READONLY_CANTLOCK ||
      (primary == SQLITE_READONLY && (sys == EACCES || sys == EPERM))) {
    /* The file may be writable: SQLite keeps PATH-wal and PATH-shm beside
     * it, which reading needs too, and this user cannot make them. */
    return store_errf(err, errcap,
                      "%s: %s: this user (uid %ld) cannot create or write the "
                      "store's -wal and -shm files beside it, which reading "
                      "needs too; let this user write the store's folder "
                      "and those files, and retry",
                      s->path, what, (long)geteuid());
  }
  if (primary == SQLITE_READONLY) {
    return store_errf(err, errcap,
                      "%s: %s: the database is read-only (%s); let this user "
                      "write it, and retry",
                      s->path, what, sqlite3_errstr(rc));
  }
  return store_errf(err, errcap, "%s: %s: %s", s->path, what,
                    s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

int store_exec(kg_store *s, const char *sql, char *err, size_t errcap) {
  const int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    return store_sqlerr(s, rc, "running SQL", err, errcap);
  }
  return 0;
}

int store_begin_write(kg_store *s, char *err, size_t errcap) {
  if (store_require_writable(s, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    return store_sqlerr(s, rc, "starting a write", err, errcap);
  }
  s->txn_seq = 0;
  return 0;
}

int store_seq(kg_store *s, int64_t *seq, char *err, size_t errcap) {
  if (s->txn_seq == 0) {
    sqlite3_stmt *st;
    if (store_exec(s,
                   "UPDATE meta SET value = CAST(value AS INTEGER) + 1"
                   " WHERE name = 'seq';"
                   " INSERT OR REPLACE INTO history (seq, mark)"
                   " SELECT CAST(value AS INTEGER), random() FROM meta"
                   " WHERE name = 'seq'",
                   err, errcap) != 0 ||
        store_prepare(s,
                      "SELECT CAST(value AS INTEGER) FROM meta"
                      " WHERE name = 'seq'",
                      &st, err, errcap) != 0) {
      return -1;
    }
    const int rc = sqlite3_step(st);
    const int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW || v < 1) {
      return store_errf(err, errcap,
                        "%s is damaged: its meta table holds no change "
                        "sequence",
                        s->path);
    }
    s->txn_seq = v;
  }
  *seq = s->txn_seq;
  return 0;
}

int store_commit(kg_store *s, char *err, size_t errcap) {
  const int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  s->txn_seq = 0;
  if (rc != SQLITE_OK) {
    store_sqlerr(s, rc, "committing", err, errcap);
    store_rollback(s);
    return -1;
  }
  s->self_dirty = 1;
  s->wrote = 1;
  return 0;
}

void store_rollback(kg_store *s) {
  s->txn_seq = 0;
  if (!sqlite3_get_autocommit(s->db)) {
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
}

int store_prepare(kg_store *s, const char *sql, sqlite3_stmt **st, char *err,
                  size_t errcap) {
  const int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  if (rc != SQLITE_OK) {
    *st = NULL;
    return store_sqlerr(s, rc, "preparing a query", err, errcap);
  }
  return 0;
}

int store_require_writable(kg_store *s, char *err, size_t errcap) {
  if (s->flags & KG_STORE_READONLY) {
    return store_errf(err, errcap, "%s is open read-only", s->path);
  }
  return 0;
}

int64_t store_now(void) {
  return (int64_t)time(NULL);
}

int store_random_id(uint64_t *out, char *err, size_t errcap) {
  uint64_t id = 0;
  while (id == 0) { /* 0 means "none" (replaces, replaced_by) */
    unsigned char b[8];
    if (RAND_bytes(b, (int)sizeof b) != 1) {
      return store_errf(err, errcap, "the random generator failed");
    }
    for (size_t i = 0; i < sizeof b; i++) {
      id = id << 8 | b[i];
    }
  }
  *out = id;
  return 0;
}

int store_expiry_check(int64_t expires_at, char *err, size_t errcap) {
  if (expires_at < 0) {
    return store_errf(err, errcap, "an expiry must not be before 1970");
  }
  if (expires_at > KG_RECORD_EXPIRES_MAX) {
    return store_errf(err, errcap,
                      "an expiry must not be past Unix time %lld (the year "
                      "71,000; the index keeps 41 bits of it)",
                      (long long)KG_RECORD_EXPIRES_MAX);
  }
  return 0;
}

int store_new_account_check(kg_store *s, const char *name, char *err,
                            size_t errcap) {
  if ((uint64_t)sqlite3_last_insert_rowid(s->db) <= KG_RECORD_ACCOUNT_ID_MAX) {
    return 0;
  }
  return store_errf(err, errcap,
                    "account %s would get an id past %llu, more than the "
                    "index keeps (36 bits)",
                    name, (unsigned long long)KG_RECORD_ACCOUNT_ID_MAX);
}

const char *store_status_word(kg_record_status st) {
  switch (st) {
  case KG_REC_DEACTIVATED:
    return "deactivated";
  case KG_REC_DELETED:
    return "deleted";
  case KG_REC_ACTIVE:
  case KG_REC_EXPIRED:
  default:
    return "active";
  }
}

/* ---- opening ----------------------------------------------------------- */

/* Read one integer from a single-row query (a PRAGMA). */
static int query_int(kg_store *s, const char *sql, const char *what,
                     int64_t *out, char *err, size_t errcap) {
  *out = 0;
  sqlite3_stmt *st;
  if (store_prepare(s, sql, &st, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return store_sqlerr(s, rc, what, err, errcap);
  }
  *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return 0;
}

/* Mark the store being created peppered: meta.digest and the check
 * value (s->pepper_check, computed at open), never the pepper. */
static int mark_peppered(kg_store *s, char *err, size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "INSERT OR REPLACE INTO meta (name, value) VALUES"
                    " ('digest', '" STORE_DIGEST_PEPPERED "'),"
                    " ('pepper_check', ?1)",
                    &st, err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_text(st, 1, s->pepper_check, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "marking the store peppered", err, errcap);
  }
  return 0;
}

/* Bring the schema to KG_STORE_SCHEMA_VERSION in one transaction. */
static int migrate(kg_store *s, char *err, size_t errcap) {
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  int64_t version, tables;
  /* Read again under the write lock: another process may have migrated. */
  if (query_int(s, "PRAGMA user_version", "reading the schema version",
                &version, err, errcap) != 0 ||
      query_int(s, "SELECT count(*) FROM sqlite_master", "reading the schema",
                &tables, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  if (version == 0 && tables > 0) {
    store_rollback(s);
    return store_errk(KG_STORE_E_NOT_A_STORE, err, errcap,
                      "%s is not a keygate store (it holds other tables)",
                      s->path);
  }
  for (int64_t v = version; v < KG_STORE_SCHEMA_VERSION; v++) {
    if (store_exec(s, MIGRATIONS[v], err, errcap) != 0) {
      store_rollback(s);
      return -1;
    }
  }
  /* A store made now with a pepper is peppered from its first commit on,
   * in the same transaction: no process ever sees it plain. A store that
   * existed already keeps its marking (read_meta then refuses a pepper
   * given for a plain store). */
  if (version == 0 && s->create_peppered &&
      mark_peppered(s, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
           KG_STORE_SCHEMA_VERSION);
  if (store_exec(s, sql, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  return store_commit(s, err, errcap);
}

/* Check the schema version: migrate when allowed, else refuse. */
static int check_schema(kg_store *s, char *err, size_t errcap) {
  int64_t version;
  if (query_int(s, "PRAGMA user_version", "reading the schema version",
                &version, err, errcap) != 0) {
    return -1;
  }
  if (version == KG_STORE_SCHEMA_VERSION) {
    return 0;
  }
  /* Another program's database: tables, but not keygate's meta table
   * (every keygate schema has it). Said before anything that would
   * suggest a keygate command, which would refuse it too. */
  int64_t tables, ours;
  if (query_int(s, "SELECT count(*) FROM sqlite_master", "reading the schema",
                &tables, err, errcap) != 0 ||
      query_int(s,
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                "AND name = 'meta'",
                "reading the schema", &ours, err, errcap) != 0) {
    return -1;
  }
  if (tables > 0 && ours == 0) {
    return store_errk(KG_STORE_E_NOT_A_STORE, err, errcap,
                      "%s is not a keygate store (it holds other tables)",
                      s->path);
  }
  if (version > KG_STORE_SCHEMA_VERSION) {
    return store_errf(err, errcap,
                      "%s has schema version %lld, newer than this keygate "
                      "knows (%d); upgrade keygate",
                      s->path, (long long)version, KG_STORE_SCHEMA_VERSION);
  }
  if (version == 0 && !(s->flags & KG_STORE_CREATE)) {
    return store_errk(KG_STORE_E_NO_STORE, err, errcap, "%s holds no key store",
                      s->path);
  }
  if (s->flags & KG_STORE_READONLY) {
    return store_errk(KG_STORE_E_NEEDS_MIGRATION, err, errcap,
                      "%s has schema version %lld, older than %d, and a "
                      "read-only open does not migrate it",
                      s->path, (long long)version, KG_STORE_SCHEMA_VERSION);
  }
  return migrate(s, err, errcap);
}

int store_check_marking(kg_store *s, const char *digest, const char *check,
                        char *err, size_t errcap) {
  const int have_pepper = s->pepper_check[0] != '\0';
  if (strcmp(digest, STORE_DIGEST_PLAIN) == 0) {
    if (have_pepper) {
      return store_errk(KG_STORE_E_PEPPER_UNWANTED, err, errcap,
                        "%s is a plain store (SHA-256, made without a "
                        "pepper), and a pepper was given: a store's keys are "
                        "digested one way",
                        s->path);
    }
    return 0;
  }
  if (strcmp(digest, STORE_DIGEST_PEPPERED) != 0) {
    return store_errf(err, errcap,
                      "%s keeps keys under digest '%s', which this keygate "
                      "cannot compute (it knows sha256 and hmac-sha256)",
                      s->path, digest);
  }
  if (!have_pepper) {
    return store_errk(KG_STORE_E_PEPPER_NEEDED, err, errcap,
                      "%s is peppered (HMAC-SHA-256) and no pepper was given",
                      s->path);
  }
  if (check == NULL || strlen(check) != sizeof s->pepper_check - 1) {
    return store_errf(err, errcap,
                      "%s is damaged: it is marked peppered but keeps no "
                      "pepper check value; restore it from a backup",
                      s->path);
  }
  /* The check value is no secret (it is in the file), but it derives from
   * the pepper: compare it without an early exit anyway. */
  if (CRYPTO_memcmp(check, s->pepper_check, sizeof s->pepper_check - 1) != 0) {
    return store_errk(KG_STORE_E_PEPPER_WRONG, err, errcap,
                      "%s was made with another pepper (the one given does "
                      "not match its check value); nothing was read or "
                      "written",
                      s->path);
  }
  return 0;
}

/* Read meta.digest and meta.pepper_check, and refuse a store this open
 * cannot digest for: another algorithm, a peppered store without its
 * pepper, a plain store with one. */
static int read_meta(kg_store *s, char *err, size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT (SELECT value FROM meta WHERE name = 'digest'),"
                    " (SELECT value FROM meta WHERE name = 'pepper_check')",
                    &st, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return store_sqlerr(s, rc, "reading the meta table", err, errcap);
  }
  const unsigned char *v = sqlite3_column_text(st, 0);
  if (v == NULL) {
    sqlite3_finalize(st);
    return store_errf(err, errcap,
                      "%s is damaged: its meta table names no digest", s->path);
  }
  snprintf(s->digest_name, sizeof s->digest_name, "%s", (const char *)v);
  const unsigned char *check = sqlite3_column_text(st, 1);
  const int ret =
      store_check_marking(s, (const char *)v, (const char *)check, err, errcap);
  sqlite3_finalize(st);
  if (ret != 0) {
    return ret;
  }
  /* a damaged list of left epochs is refused by every open, so that
   * `keys list` shows what a server's load refuses */
  uint64_t left[KG_STORE_LEFT_EPOCHS_MAX];
  size_t n = 0;
  return store_read_left(s, left, &n, err, errcap);
}

/* Make the store's digester (HMAC-SHA-256 under pepper, or SHA-256) and,
 * with a pepper, its check value: the digest of a label that holds spaces,
 * so no key (token68) ever has the same digest. */
static int make_digester(kg_store *s, const kg_pepper *pepper, char *err,
                         size_t errcap) {
  static const char LABEL[] = "keygate pepper check v1";
  if (kg_digester_new(pepper != NULL ? pepper->bytes : NULL,
                      pepper != NULL ? pepper->len : 0,
                      &s->digester) != KG_OK) {
    return store_errf(err, errcap, "cannot set up %s (OpenSSL)",
                      pepper != NULL ? "HMAC-SHA-256" : "SHA-256");
  }
  if (pepper != NULL) {
    uint8_t d[KG_DIGEST_LEN];
    static const char HEX[] = "0123456789abcdef";
    if (kg_digest(s->digester, LABEL, sizeof LABEL - 1, d) != KG_OK) {
      return store_errf(err, errcap, "cannot compute HMAC-SHA-256 (OpenSSL)");
    }
    for (size_t i = 0; i < KG_DIGEST_LEN; i++) {
      s->pepper_check[2 * i] = HEX[d[i] >> 4];
      s->pepper_check[2 * i + 1] = HEX[d[i] & 15];
    }
    s->pepper_check[sizeof s->pepper_check - 1] = '\0';
    OPENSSL_cleanse(d, sizeof d);
  }
  return 0;
}

/* Connection settings: WAL, durable commits, foreign keys. */
static int configure(kg_store *s, char *err, size_t errcap) {
  sqlite3_busy_timeout(s->db, KG_STORE_BUSY_TIMEOUT_MS);
  if (!(s->flags & KG_STORE_READONLY)) {
    sqlite3_stmt *st;
    if (store_prepare(s, "PRAGMA journal_mode = WAL", &st, err, errcap) != 0) {
      return -1;
    }
    const int rc = sqlite3_step(st);
    const unsigned char *mode =
        rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    const int wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
      return store_sqlerr(s, rc, "switching to WAL mode", err, errcap);
    }
    if (!wal) {
      return store_errf(err, errcap, "%s: cannot switch to WAL mode", s->path);
    }
  }
  /* FULL: a commit is on disk (WAL fsync) before COMMIT returns, so a
   * printed key survives power loss too, not only a crash. */
  return store_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
                    err, errcap);
}

/* 1 when PATH-wal holds frames (more than its 32-byte header) and was
 * made before the file PATH names (birth times, statx; PATH the file a
 * symbolic link `given` leads to, into path): SQLite makes a
 * -wal for a file that exists, so this one belongs to the file PATH named
 * before a rename over it (or both were copied back, the -wal first).
 * SQLite pairs a -wal with its file by name only and would read those
 * frames over this file (review 70: a deleted key came back that way).
 * 0 when not, or when the file system keeps no birth time. */
static int wal_of_another_file(const char *given, char *path, size_t cap) {
  /* SQLite names the -wal after the file a symbolic link leads to (review
   * 75: beside a linked --db the check looked at the link's name): path
   * is that file's name, for the line */
  char real[4096];
  if (snprintf(path, cap, "%s", realpath(given, real) != NULL ? real : given) >=
      (int)cap) {
    return 0;
  }
  char wal[4096 + 8];
  if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal) {
    return 0;
  }
  struct statx db, w;
  if (statx(AT_FDCWD, path, 0, STATX_BTIME, &db) != 0 ||
      statx(AT_FDCWD, wal, 0, STATX_BTIME | STATX_SIZE, &w) != 0 ||
      !(db.stx_mask & STATX_BTIME) || !(w.stx_mask & STATX_BTIME) ||
      w.stx_size <= 32) {
    return 0;
  }
  return w.stx_btime.tv_sec < db.stx_btime.tv_sec ||
         (w.stx_btime.tv_sec == db.stx_btime.tv_sec &&
          w.stx_btime.tv_nsec < db.stx_btime.tv_nsec);
}

int kg_store_open(const char *path, unsigned flags, kg_store **out, char *err,
                  size_t errcap) {
  return kg_store_open_peppered(path, flags, NULL, out, err, errcap);
}

int kg_store_open_peppered(const char *path, unsigned flags,
                           const kg_pepper *pepper, kg_store **out, char *err,
                           size_t errcap) {
  if (out == NULL) {
    return store_errf(err, errcap, "kg_store_open: out is NULL");
  }
  *out = NULL;
  if (path == NULL || path[0] == '\0') {
    return store_errf(err, errcap, "no database path given");
  }
  if ((flags & KG_STORE_READONLY) && (flags & KG_STORE_CREATE)) {
    return store_errf(err, errcap, "cannot create %s read-only", path);
  }
  if (pepper != NULL &&
      (pepper->len < KG_PEPPER_MIN || pepper->len > KG_PEPPER_MAX)) {
    return store_errf(err, errcap,
                      "a pepper is %d to %d bytes, not %zu; see "
                      "docs/store.md",
                      KG_PEPPER_MIN, KG_PEPPER_MAX, pepper->len);
  }
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    return store_errf(err, errcap, "%s is a directory, not a key store file",
                      path);
  }
  if (stat(path, &sb) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
    /* SQLite says only "unable to open database file" for these. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const size_t dlen = slash == NULL ? 0 : (size_t)(slash - path);
    if (slash != NULL && dlen > 0 && dlen < sizeof dir) {
      memcpy(dir, path, dlen);
      dir[dlen] = '\0';
      if (stat(dir, &sb) != 0) {
        return store_errf(err, errcap,
                          "no key store at %s: its folder %s does not exist",
                          path, dir);
      }
      if (!S_ISDIR(sb.st_mode)) {
        return store_errf(err, errcap, "no key store at %s: %s is not a folder",
                          path, dir);
      }
    }
  }
  if (!(flags & KG_STORE_CREATE) && stat(path, &sb) != 0) {
    if (errno == ENOENT) {
      return store_errk(KG_STORE_E_NO_STORE, err, errcap, "no key store at %s",
                        path);
    }
    return store_errf(err, errcap, "cannot open %s: %s", path, strerror(errno));
  }
  char file[4096];
  if (wal_of_another_file(path, file, sizeof file)) {
    path = file;
    /* The path once, last: what to do stays in the line however long the
     * path (KG_STORE_ERR_MAX: a longer line is cut there, with "...") */
    return store_errf(err, errcap,
                      "the store's -wal holds changes and is older than the "
                      "store, so SQLite would read them into it: nothing "
                      "was opened. If another file was renamed over the "
                      "store, the -wal is that file's: remove the -wal and "
                      "the -shm beside the store, and retry; if the two "
                      "were copied back together, the -wal is the store's "
                      "own: merge it by running sqlite3 on the store with "
                      "'PRAGMA wal_checkpoint(TRUNCATE)', and retry. The "
                      "store: %s",
                      path);
  }
  kg_store *s = calloc(1, sizeof *s);
  if (s == NULL || (s->path = strdup(path)) == NULL) {
    free(s);
    return store_errf(err, errcap, "out of memory");
  }
  s->flags = flags;
  /* NOMUTEX: a kg_store is used by one thread at a time (it holds
   * statement state), so SQLite's per-call locking is pure cost. */
  const int oflags =
      SQLITE_OPEN_NOMUTEX |
      ((flags & KG_STORE_READONLY)
           ? SQLITE_OPEN_READONLY
           : SQLITE_OPEN_READWRITE |
                 ((flags & KG_STORE_CREATE) ? SQLITE_OPEN_CREATE : 0));
  const int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
  if (rc != SQLITE_OK) {
    const int sys = s->db != NULL ? sqlite3_system_errno(s->db) : 0;
    if (sys == EACCES || sys == EPERM) {
      store_errf(err, errcap,
                 "cannot open %s: %s: this user (uid %ld) may not %s it; "
                 "let this user read%s it (and search its folder), and retry",
                 path, strerror(sys), (long)geteuid(),
                 (flags & KG_STORE_READONLY) ? "read" : "read and write",
                 (flags & KG_STORE_READONLY) ? "" : " and write");
    } else {
      store_errf(err, errcap, "cannot open %s: %s", path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    }
    kg_store_close(s);
    return -1;
  }
  sqlite3_extended_result_codes(s->db, 1);
  s->create_peppered = (flags & KG_STORE_CREATE) && pepper != NULL;
  if (make_digester(s, pepper, err, errcap) != 0 ||
      configure(s, err, errcap) != 0 || check_schema(s, err, errcap) != 0 ||
      read_meta(s, err, errcap) != 0) {
    kg_store_close(s);
    return -1;
  }
  if (kg_key_policy_init(&s->policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK) {
    kg_store_close(s);
    return store_errf(err, errcap, "cannot set up the key format");
  }
  if (flags & KG_STORE_READONLY) {
    /* Readers digest nothing: the digester served the check value. */
    kg_digester_free(s->digester);
    s->digester = NULL;
  }
  *out = s;
  return 0;
}

void kg_store_close(kg_store *s) {
  if (s == NULL) {
    return;
  }
  if (s->db != NULL) {
    if (s->wrote) {
      /* Leave no frame in PATH-wal: a server keeps the store open, so
       * SQLite's own checkpoint at the last close does not run, and a
       * -wal left with frames beside a file renamed over the path is read
       * into the new file by the next program that opens it (review 70: a
       * deleted key came back). Best effort, and short: the checkpoint
       * waits for readers while it keeps other writers out, so it waits
       * 100 ms, not the busy timeout (review 72: a reader held for
       * seconds stalled every write 5 s and failed concurrent ones); a
       * reader still in the -wal then leaves the frames to the next
       * writer's close. */
      sqlite3_busy_timeout(s->db, KG_STORE_CLOSE_CHECKPOINT_MS);
      (void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                      NULL, NULL);
    }
    sqlite3_close_v2(s->db);
  }
  kg_digester_free(s->digester);
  free(s->path);
  free(s);
}

const char *kg_store_path(const kg_store *s) {
  return s->path;
}

const char *kg_store_digest_name(const kg_store *s) {
  return s->digest_name;
}

int kg_store_peppered(const kg_store *s) {
  return s != NULL && strcmp(s->digest_name, STORE_DIGEST_PEPPERED) == 0;
}

/* ---- the file under the path ----------------------------------------- */

/* Big-endian integers of the database header (sqlite.org/fileformat2). */
static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

/*
 * The WAL index (PATH-shm; sqlite.org/walformat.html, section 2), read
 * through the connection's own mapping: in native byte order, two copies of
 * a 48-byte header (iChange, isInit, mxFrame, salts, ...), then nBackfill,
 * the frames a checkpoint has copied into the database file. After the 136
 * header bytes, then at the start of every further 32 KiB region, the page
 * number of each frame (4062 in the first region, 4096 in the others).
 *
 * Why the check needs it: a checkpoint copies the WAL's frames into the
 * file in page order, so page 1, whose header counts the pages of the new
 * size, is written before the file has grown to that size (no size hint
 * without SQLITE_FCNTL_CHUNK_SIZE), and a checkpoint interrupted (kill -9)
 * leaves it so until the next one: a healthy store whose file is shorter
 * than its header says, the missing pages being in the WAL. nBackfill only
 * moves when a checkpoint's pass is done.
 */
enum {
  WI_REGION = 32768, /* bytes of one region of the WAL index */
  WI_HEADER = 136,   /* two headers of 48 bytes and the checkpoint info */
  WI_NPAGE = 4096,   /* frames a region numbers ... */
  WI_NPAGE_ONE = WI_NPAGE - WI_HEADER / 4, /* ... the first one fewer */
  WI_BACKFILL = 96 / 4 /* nBackfill's word, after the two headers */
};

/* What says whether the WAL moved: two reads with the same stamp had no
 * commit, no checkpoint pass and no WAL restart between them. */
typedef struct wal_stamp {
  uint32_t change, mx_frame, salt1, salt2, backfill;
} wal_stamp;

/* Map region i of the WAL index as the connection already has it (never
 * extended): a pointer, or NULL when there is none to read (no WAL index:
 * a heap-memory one, an unreadable PATH-shm). */
static const volatile uint32_t *wal_region(sqlite3_file *fp, int i) {
  if (fp->pMethods->iVersion < 2 || fp->pMethods->xShmMap == NULL) {
    return NULL;
  }
  void volatile *p = NULL;
  const int rc = fp->pMethods->xShmMap(fp, i, WI_REGION, 0, &p);
  /* SQLITE_READONLY: a PATH-shm this process may only read; still the
   * writers' WAL index */
  return rc == SQLITE_OK || rc == SQLITE_READONLY ? (const volatile uint32_t *)p
                                                  : NULL;
}

/* Read the WAL index's stamp: 0, or -1 when there is none or its two
 * header copies differ (a writer mid-update: read again). */
static int wal_stamp_read(sqlite3_file *fp, wal_stamp *st) {
  const volatile uint32_t *w = wal_region(fp, 0);
  if (w == NULL) {
    return -1;
  }
  uint32_t h[2][12];
  for (int c = 1; c >= 0; c--) { /* copy 1 first: SQLite writes it first */
    for (int i = 0; i < 12; i++) {
      h[c][i] = w[c * 12 + i];
    }
  }
  st->backfill = w[WI_BACKFILL];
  const volatile unsigned char *b = (const volatile unsigned char *)w;
  if (memcmp(h[0], h[1], sizeof h[0]) != 0 || b[12] == 0 /* isInit */) {
    return -1;
  }
  st->change = h[0][2];
  st->mx_frame = h[0][4];
  st->salt1 = h[0][8];
  st->salt2 = h[0][9];
  return 0;
}

static int wal_stamp_same(const wal_stamp *a, const wal_stamp *b) {
  return a->change == b->change && a->mx_frame == b->mx_frame &&
         a->salt1 == b->salt1 && a->salt2 == b->salt2 &&
         a->backfill == b->backfill;
}

/* 1 when every page from have + 1 to want is in a frame of the WAL that no
 * checkpoint has copied yet (st->backfill < frame <= st->mx_frame): the
 * file is short by pages a checkpoint is writing or will write. 0 when a
 * page is in no such frame, -1 when the WAL index cannot be read or the
 * memory for the tally is missing. */
static int wal_holds_pages(sqlite3_file *fp, const wal_stamp *st, uint32_t have,
                           uint32_t want) {
  const uint32_t n = want - have;
  if (st->mx_frame < st->backfill || n > st->mx_frame - st->backfill) {
    return 0; /* fewer frames to copy than pages missing: short */
  }
  unsigned char *seen = calloc((n + 7) / 8, 1);
  if (seen == NULL) {
    return -1;
  }
  uint32_t found = 0;
  int region = -1;
  const volatile uint32_t *pgno = NULL;
  uint32_t first = 0; /* the frame before pgno[0] */
  for (uint32_t frame = st->backfill + 1; frame <= st->mx_frame; frame++) {
    const int r = (int)((frame + WI_NPAGE - WI_NPAGE_ONE - 1) / WI_NPAGE);
    if (pgno == NULL || r != region) {
      const volatile uint32_t *w = wal_region(fp, r);
      if (w == NULL) {
        free(seen);
        return -1;
      }
      region = r;
      pgno = r == 0 ? w + WI_HEADER / 4 : w;
      first = r == 0 ? 0 : WI_NPAGE_ONE + (uint32_t)(r - 1) * WI_NPAGE;
    }
    const uint32_t page = pgno[frame - first - 1];
    if (page > have && page <= want) {
      const uint32_t bit = page - have - 1;
      if (!(seen[bit / 8] & (1u << (bit % 8)))) {
        seen[bit / 8] |= (unsigned char)(1u << (bit % 8));
        found++;
      }
    }
  }
  free(seen);
  return found == n;
}

/* 1 when the connection reads the store through its WAL now (PATH-shm
 * mapped), else 0. Its WAL index is asked only then: mapping it for a
 * connection still in rollback mode (a backup made with VACUUM INTO, put
 * back, until a keygate command switches it to WAL) would open PATH-shm
 * under SQLite's feet, and that connection then never saw another
 * commit (server_faults.sh, after ack-restore). A query of the mode does
 * no I/O. */
static int connection_in_wal(kg_store *s) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA main.journal_mode", -1, &st, NULL) !=
      SQLITE_OK) {
    return 0;
  }
  const unsigned char *mode =
      sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
  const int wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
  sqlite3_finalize(st);
  return wal;
}

/* One look at the file: its size and its header (h, 100 bytes), read
 * through SQLite's own file handle (xRead goes to the file, not to the page
 * cache, which would keep answering from memory; and opening and closing
 * another descriptor of the file would drop SQLite's POSIX locks). */
static int read_look(kg_store *s, sqlite3_file *fp, sqlite3_int64 *size,
                     unsigned char *h, char *err, size_t errcap) {
  if (fp->pMethods->xFileSize(fp, size) != SQLITE_OK) {
    return store_errf(err, errcap, "cannot read %s: %s", s->path,
                      strerror(errno));
  }
  if (*size < 100) {
    return 0;
  }
  const int rc = fp->pMethods->xRead(fp, h, 100, 0);
  if (rc != SQLITE_OK) {
    return store_errf(err, errcap, "cannot read %s: %s", s->path,
                      sqlite3_errstr(rc));
  }
  return 0;
}

/* The outcome of one look at the file. */
enum look { LOOK_FINE, LOOK_SHORT, LOOK_UNSURE };

/* Look at the file once, between two reads of the WAL index's stamp: is it
 * short (its header counts more pages than it holds, and the WAL does not
 * hold them), fine, or unsure (the WAL moved meanwhile, or there is no WAL
 * index to ask)? Sets *size and *pages, or returns -1 with err for a file
 * that is no database at all. */
static int look_once(kg_store *s, sqlite3_file *fp, int wal, enum look *out,
                     sqlite3_int64 *size, uint32_t *pages, uint32_t *page,
                     char *err, size_t errcap) {
  wal_stamp before, after;
  const int stamped = wal && wal_stamp_read(fp, &before) == 0;
  unsigned char h[100] = {0};
  if (read_look(s, fp, size, h, err, errcap) != 0) {
    return -1;
  }
  if (*size < 100) {
    return store_errf(err, errcap,
                      "%s is truncated (%lld bytes, shorter than a database "
                      "header); restore it from a backup",
                      s->path, (long long)*size);
  }
  if (memcmp(h, "SQLite format 3", 16) != 0) {
    return store_errf(err, errcap,
                      "%s was overwritten: it is no longer an SQLite "
                      "database; restore it from a backup",
                      s->path);
  }
  *page = (uint32_t)h[16] << 8 | h[17];
  if (*page == 1) {
    *page = 65536;
  }
  *pages = be32(h + 28);
  /* A checkpoint writes whole pages, so a size that is not a whole number
   * of them, or a page size that is none, is damage whatever the WAL
   * holds. */
  if (*page < 512 || (*page & (*page - 1)) != 0 ||
      (uint64_t)*size % *page != 0) {
    return store_errf(err, errcap,
                      "%s is truncated or damaged (%lld bytes; its header "
                      "counts %u pages of %u); restore it from a backup",
                      s->path, (long long)*size, *pages, *page);
  }
  /* The page count is valid only when the change counter matches the
   * version-valid-for number (sqlite.org/fileformat2, offset 28). */
  const uint32_t have = (uint32_t)((uint64_t)*size / *page);
  if (be32(h + 24) != be32(h + 92) || have >= *pages) {
    *out = LOOK_FINE;
    return 0;
  }
  /* Short by the header. In WAL mode (bytes 18-19 = 2) the pages may be
   * in the WAL, on their way into the file (see the WAL index above). */
  if (h[18] != 2 || h[19] != 2) {
    *out = LOOK_SHORT; /* no WAL: nothing else writes the file */
    return 0;
  }
  if (!stamped) {
    *out = LOOK_UNSURE;
    return 0;
  }
  int held = 0;
  if (before.backfill < before.mx_frame) {
    held = wal_holds_pages(fp, &before, have, *pages);
  }
  if (held < 0 || wal_stamp_read(fp, &after) != 0 ||
      !wal_stamp_same(&before, &after)) {
    *out = LOOK_UNSURE;
  } else {
    *out = held ? LOOK_FINE : LOOK_SHORT;
  }
  return 0;
}

/* Check the header of the open database file: the magic string, a page
 * size, and a file no shorter than the pages its header counts unless the
 * WAL holds the rest. A file found short is looked at again: reported
 * only when two looks with a still WAL agree (a page 1 read while a
 * checkpoint writes it may mix two versions); when the WAL keeps moving,
 * the length is judged at the next call. */
static int check_header(kg_store *s, char *err, size_t errcap) {
  sqlite3_file *fp = NULL;
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &fp) !=
          SQLITE_OK ||
      fp == NULL || fp->pMethods == NULL) {
    return 0; /* no handle to read: nothing to say */
  }
  const int wal = connection_in_wal(s);
  enum { LOOKS = 8 };
  int shorts = 0;
  sqlite3_int64 size = 0, last_size = -1;
  uint32_t pages = 0, page = 0, last_pages = 0;
  for (int i = 0; i < LOOKS; i++) {
    enum look look = LOOK_UNSURE;
    if (look_once(s, fp, wal, &look, &size, &pages, &page, err, errcap) != 0) {
      return -1;
    }
    if (look == LOOK_FINE) {
      return 0;
    }
    if (look == LOOK_SHORT) {
      shorts = size == last_size && pages == last_pages ? shorts + 1 : 1;
      last_size = size;
      last_pages = pages;
      if (shorts == 2) {
        return store_errf(err, errcap,
                          "%s is truncated or damaged (%lld bytes; its "
                          "header counts %u pages of %u); restore it from a "
                          "backup",
                          s->path, (long long)size, pages, page);
      }
    }
  }
  return 0;
}

void store_note_wal(kg_store *s) {
  char wal[4096 + 8];
  struct stat w;
  s->wal_seen = 0;
  if (snprintf(wal, sizeof wal, "%s-wal", s->path) >= (int)sizeof wal) {
    return;
  }
  if (stat(wal, &w) == 0) {
    s->wal_seen = 1;
    s->wal_dev = w.st_dev;
    s->wal_ino = w.st_ino;
  } else if (errno == ENOENT && connection_in_wal(s)) {
    s->wal_seen = 2;
  }
}

int kg_store_check_file(kg_store *s, int *moved, char *err, size_t errcap) {
  if (s == NULL || moved == NULL) {
    return store_errf(err, errcap, "kg_store_check_file: bad argument");
  }
  *moved = 0;
  /* SQLite compares the inode of the path with that of its open file:
   * after a rename over the path, or a delete and restore, they differ
   * (SQLite itself would go on reading the old file for ever). */
  int has_moved = 0;
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &has_moved) ==
          SQLITE_OK &&
      has_moved) {
    struct stat sb;
    if (stat(s->path, &sb) != 0) {
      return store_errf(err, errcap, "%s is gone (deleted or moved away)",
                        s->path);
    }
    *moved = 1;
    return 0;
  }
  /* The -wal the connection reads must still be PATH-wal: removed or
   * replaced under it (`mv new.db keys.db && rm -f keys.db-wal
   * keys.db-shm` with this connection opened between the two: CI saw a
   * server then blind to every later change, a deleted key answered 200),
   * the connection reads files nobody else writes. Said as moved: the
   * caller opens the path again. */
  if (s->wal_seen != 0) {
    char wal[4096 + 8];
    struct stat w;
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    const int there = stat(wal, &w) == 0;
    if (s->wal_seen == 2 || (!there && errno == ENOENT) ||
        (there && (w.st_dev != s->wal_dev || w.st_ino != s->wal_ino))) {
      *moved = 1;
      return 0;
    }
  }
  return check_header(s, err, errcap);
}

/* ---- change detection -------------------------------------------------- */

int kg_store_changed(kg_store *s, int *changed, char *err, size_t errcap) {
  if (s == NULL || changed == NULL) {
    return store_errf(err, errcap, "kg_store_changed: bad argument");
  }
  int64_t version;
  /* data_version moves when another connection (any process) commits;
   * this connection's own commits set self_dirty instead. */
  if (query_int(s, "PRAGMA data_version", "reading the change counter",
                &version, err, errcap) != 0) {
    return -1;
  }
  *changed = !s->loaded || s->self_dirty || version != s->data_version;
  return 0;
}
