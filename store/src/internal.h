/*
 * store/src/internal.h — what the store's source files share: the store
 * handle and small helpers around SQLite (errors, transactions). Not
 * installed.
 */
#ifndef KEYGATE_STORE_INTERNAL_H
#define KEYGATE_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keygate/digest.h"
#include "keygate/key.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"

struct kg_store {
  sqlite3 *db;
  char *path;
  unsigned flags;
  kg_digester *digester; /* digests new keys (writers only) */
  kg_key_policy policy;  /* the issued-key format: strict sk_live_ */
  char digest_name[32];  /* meta.digest */
  /* The pepper's check value, in hex, when the store was opened with a
   * pepper ("" without one); the store's meta must keep saying so. */
  char pepper_check[2 * KG_DIGEST_LEN + 1];
  int create_peppered;  /* kg_store_open: a store made now gets the pepper */
  int loaded;           /* a kg_store_load has succeeded */
  int64_t data_version; /* PRAGMA data_version as of that load */
  int self_dirty;       /* this connection wrote since that load (data_version
                           only counts other connections' commits) */
  int64_t txn_seq;      /* the open write transaction's sequence; 0: none */
  int wrote;            /* a write was committed: kg_store_close empties the
                           -wal (docs/store.md, "The -wal after a write") */
  /* PATH-wal as a load or an adoption left it (store_note_wal): 0 not
   * noted, 1 its device and inode below, 2 missing though the connection
   * reads through a -wal (removed under it) */
  int wal_seen;
  dev_t wal_dev;
  ino_t wal_ino;
};

/* store_note_wal — after a read: note which file PATH-wal is, for
 * kg_store_check_file to tell when it is removed or replaced under the
 * connection (which then reads a -wal nobody else writes). */
void store_note_wal(kg_store *s);

/* store_errf — write one formatted line into err (when err is not NULL)
 * and make KG_STORE_E_OTHER the kind of this thread's last error
 * (kg_store_last_error_kind). Always returns -1, so callers can `return
 * store_errf(...)`. Every error line the store makes passes here or
 * through store_errk: the kind always goes with the line. */
int store_errf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* store_errk — store_errf for an error of a kind a face has a fix for:
 * the line, and kind as the thread's last error kind. Returns -1. */
int store_errk(kg_store_error_kind kind, char *err, size_t errcap,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* store_sqlerr — describe SQLite failure rc while doing `what`: a busy or
 * locked database becomes the one "locked" line, anything else
 * "<what>: <sqlite message>". Returns -1. */
int store_sqlerr(kg_store *s, int rc, const char *what, char *err,
                 size_t errcap);

/* store_exec — run SQL without results. 0, or -1 with err. */
int store_exec(kg_store *s, const char *sql, char *err, size_t errcap);

/* The digest names meta.digest holds. */
#define STORE_DIGEST_PLAIN "sha256"
#define STORE_DIGEST_PEPPERED "hmac-sha256"

/*
 * store_check_marking — compare what the store's meta says now (digest,
 * the digest's name; check, meta.pepper_check or NULL when absent) with the
 * pepper s was opened with. 0 when they agree; else -1 with the line that
 * says which disagreement it is (KG_STORE_E_PEPPER_NEEDED, _UNWANTED,
 * _WRONG; a face says what to give).
 */
int store_check_marking(kg_store *s, const char *digest, const char *check,
                        char *err, size_t errcap);

/* store_begin_write — BEGIN IMMEDIATE (waits up to the busy timeout). */
int store_begin_write(kg_store *s, char *err, size_t errcap);

/* store_seq — the change sequence of the open write transaction: the
 * first call bumps meta.seq by one, later calls in the same transaction
 * return the same number. Every row a key write touches gets it in
 * keys.seq, so a reader at sequence N finds what changed after N with
 * `WHERE seq > N`. 0, or -1 with err. */
int store_seq(kg_store *s, int64_t *seq, char *err, size_t errcap);

/* store_commit — COMMIT; marks the store dirty for kg_store_changed. */
int store_commit(kg_store *s, char *err, size_t errcap);

/* store_rollback — ROLLBACK when a transaction is open; never fails. */
void store_rollback(kg_store *s);

/* store_prepare — prepare one statement. 0, or -1 with err. */
int store_prepare(kg_store *s, const char *sql, sqlite3_stmt **st, char *err,
                  size_t errcap);

/* store_require_writable — -1 with err when s was opened read-only. */
int store_require_writable(kg_store *s, char *err, size_t errcap);

/* store_now — the current Unix time. */
int64_t store_now(void);

/* store_random_id — a fresh non-zero 64-bit id from RAND_bytes. */
int store_random_id(uint64_t *out, char *err, size_t errcap);

/* store_expiry_check — 0 when expires_at (Unix seconds, 0 = never) can be
 * stored: not before 1970 and not past what the index keeps
 * (KG_RECORD_EXPIRES_MAX, index.h: Unix time 2^41 - 1, past the year
 * 71,000); else -1 with the reason in err. */
int store_expiry_check(int64_t expires_at, char *err, size_t errcap);

/* store_new_account_check — 0 when the account just inserted (the
 * connection's last rowid) has an id the index keeps (KG_RECORD_ACCOUNT_ID_MAX,
 * 36 bits: only ids written by hand can push past it); else -1 with the
 * reason in err, and the caller rolls back. */
int store_new_account_check(kg_store *s, const char *name, char *err,
                            size_t errcap);

/* store_account_lookup — id and tier of account `name` inside the current
 * transaction; "no account named X" when absent. */
int store_account_lookup(kg_store *s, const char *name, uint64_t *id,
                         kg_tier *tier, char *err, size_t errcap);

/* store_account_count — the keys of account id that count against its
 * limit (not deleted, not rotated out by a live successor). */
int store_account_count(kg_store *s, uint64_t id, unsigned *count, char *err,
                        size_t errcap);

/* The INSERT that store_insert_key binds (prepare it once per batch). */
#define STORE_INSERT_KEY_SQL                                                   \
  "INSERT INTO keys (id, account_id, digest, hint, name, created, updated,"    \
  " expires_at, status, replaces, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6,"    \
  " ?7, ?8, ?9, ?10)"

/* How many parameters one row of STORE_INSERT_KEY_SQL takes (?1..?10). */
#define STORE_INSERT_KEY_PARAMS 10

/* What a new key's row holds besides the key's own digest and hint. */
typedef struct store_new_row {
  uint64_t id; /* the id to try first; 0 = draw a random one */
  uint64_t account_id;
  const char *name;
  int64_t created;
  int64_t expires_at; /* 0 = never */
  kg_record_status status;
  uint64_t replaces; /* 0 = none */
} store_new_row;

/*
 * store_make_key — generate a fresh key into out->key (from the CSPRNG,
 * kg_key_generate), its digest under s's digester into digest and its hint
 * into out->info.hint. 0, or -1 with err and out wiped.
 */
int store_make_key(kg_store *s, kg_new_key *out, uint8_t digest[KG_DIGEST_LEN],
                   char *err, size_t errcap);

/*
 * store_bind_key_row — bind one row of STORE_INSERT_KEY_SQL's parameters,
 * shifted by base (?base+1 .. ?base+STORE_INSERT_KEY_PARAMS), so a
 * statement with several such rows binds each at base 0, 10, 20, ...
 * digest, hint and row->name are copied (SQLITE_TRANSIENT).
 */
void store_bind_key_row(sqlite3_stmt *ins, int base, uint64_t id,
                        const store_new_row *row,
                        const uint8_t digest[KG_DIGEST_LEN], const char *hint,
                        int64_t seq);

/* store_key_info_fill — out->info for the row just stored under id (all
 * but the account name; the hint is already there). */
void store_key_info_fill(kg_new_key *out, uint64_t id,
                         const store_new_row *row);

/*
 * store_insert_key — generate a fresh key into out->key, digest it and
 * insert its row with the prepared STORE_INSERT_KEY_SQL statement `ins`
 * (inside the caller's transaction). Fills out->info but its account name.
 * A clash of id or digest (never seen, but possible in principle) is
 * retried with a new random id and key. On failure out is wiped.
 */
int store_insert_key(kg_store *s, sqlite3_stmt *ins, const store_new_row *row,
                     kg_new_key *out, char *err, size_t errcap);

/*
 * store_read_left — the store's left epochs (meta.left_epochs, written by
 * kg_store_ack_restore: hex numbers one space apart, the newest last; no
 * row or "" is none) into out (room for KG_STORE_LEFT_EPOCHS_MAX: the
 * last ones kept), *n of them. Anything else (a blob, a NUL inside, two
 * spaces, a number over 16 digits) is a damaged store: -1, never read as
 * fewer epochs. Checked at every open, read by every load.
 */
int store_read_left(kg_store *s, uint64_t *out, size_t *n, char *err,
                    size_t errcap);

/* The status words stored in keys.status. */
const char *store_status_word(kg_record_status st);

#endif /* KEYGATE_STORE_INTERNAL_H */
