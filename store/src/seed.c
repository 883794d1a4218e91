/*
 * store/src/seed.c — a load-test population: many keys of three classes
 * (valid, expired, deactivated) over as many new pro accounts as the tier
 * limit needs, made in one transaction. Rows go in SEED_BATCH at a time
 * through one prepared multi-row INSERT, in increasing id order
 * (docs/store.md, "Performance", says what each choice saves).
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Seeded expired keys were made two days ago and expired a day ago. */
#define SEED_EXPIRED_AGE ((int64_t)2 * 86400)
#define SEED_EXPIRED_SINCE ((int64_t)86400)

/* Rows per INSERT statement: the per-statement work (a CHECK's IN list is
 * built into a temporary table per statement, the statement's start and
 * end) is paid once per 64 rows; more rows per statement grow the
 * statement journal (one page copy per page touched) faster than they
 * save. 640 parameters, under SQLite's oldest limit of 999. */
#define SEED_BATCH 64

const char *kg_seed_class_name(kg_seed_class c) {
  switch (c) {
  case KG_SEED_EXPIRED:
    return "expired";
  case KG_SEED_DEACTIVATED:
    return "deactivated";
  case KG_SEED_VALID:
  default:
    return "valid";
  }
}

/* The highest number n of an account named seed-<n>, or 0. */
static int last_seed_number(kg_store *s, unsigned *out, char *err,
                            size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT coalesce(max(CAST(substr(name, 6) AS INTEGER)),"
                    " 0) FROM accounts WHERE name GLOB 'seed-[0-9]*'",
                    &st, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_step(st);
  const int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    return store_sqlerr(s, rc, "reading seed accounts", err, errcap);
  }
  if (n < 0 || n > 99999999) {
    return store_errf(err, errcap, "seed account numbers are exhausted");
  }
  *out = (unsigned)n;
  return 0;
}

/* Insert pro account seed-<number>; sets *id. */
static int add_account(kg_store *s, sqlite3_stmt *st, unsigned number,
                       int64_t now, uint64_t *id, char *err, size_t errcap) {
  char name[32];
  snprintf(name, sizeof name, "seed-%04u", number);
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, now);
  const int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    return store_errf(err, errcap, "account %s already exists", name);
  }
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "creating a seed account", err, errcap);
  }
  *id = (uint64_t)sqlite3_last_insert_rowid(s->db);
  /* on an error the seed is rolled back */
  return store_new_account_check(s, name, err, errcap);
}

/* The class of the i-th seeded key: valid ones first, then expired. */
static kg_seed_class class_of(const kg_seed_counts *c, size_t i) {
  if (i < c->valid) {
    return KG_SEED_VALID;
  }
  return i < c->valid + c->expired ? KG_SEED_EXPIRED : KG_SEED_DEACTIVATED;
}

/* Ids are stored as SQLite's signed 64-bit rowid: sort them that way, so
 * the negative ones (half of them) are appended too, not inserted at a
 * moving point in the middle of the table. */
static int cmp_rowid(const void *a, const void *b) {
  const int64_t x = (int64_t) * (const uint64_t *)a;
  const int64_t y = (int64_t) * (const uint64_t *)b;
  return (x > y) - (x < y);
}

/*
 * n random key ids, sorted as rowids, so the rows go into the table's
 * B-tree in key order (appends, not random page splits: half the insert
 * cost). A repeated or zero id becomes 0, which is replaced by a fresh
 * random one when its row is made. Returns NULL when out of memory or the
 * CSPRNG fails.
 */
static uint64_t *sorted_ids(size_t n) {
  uint64_t *ids = malloc((n > 0 ? n : 1) * sizeof *ids);
  if (ids == NULL) {
    return NULL;
  }
  const size_t chunk = 1u << 16; /* RAND_bytes takes an int length */
  for (size_t i = 0; i < n; i += chunk) {
    const size_t m = n - i < chunk ? n - i : chunk;
    if (RAND_bytes((unsigned char *)(ids + i), (int)(m * sizeof *ids)) != 1) {
      free(ids);
      return NULL;
    }
  }
  qsort(ids, n, sizeof *ids, cmp_rowid);
  for (size_t i = 1; i < n; i++) {
    if (ids[i] == ids[i - 1]) {
      ids[i - 1] = 0;
    }
  }
  return ids;
}

/*
 * The multi-row form of STORE_INSERT_KEY_SQL: its column list once, then
 * its VALUES tuple n times with the parameters renumbered (?k of row r
 * becomes ?k+r*STORE_INSERT_KEY_PARAMS), so the statement and the binding
 * (store_bind_key_row) keep one home. Returns a malloc'd string or NULL.
 */
static char *multi_row_sql(size_t n) {
  static const char sql[] = STORE_INSERT_KEY_SQL;
  const char *tuple = strstr(sql, "VALUES (");
  if (tuple == NULL) {
    return NULL;
  }
  tuple += strlen("VALUES ");
  const size_t head = (size_t)(tuple - sql), tlen = strlen(tuple);
  const size_t cap = head + n * (tlen * 2 + 2) + 1;
  char *out = malloc(cap);
  if (out == NULL) {
    return NULL;
  }
  memcpy(out, sql, head);
  size_t len = head;
  for (size_t r = 0; r < n; r++) {
    if (r > 0) {
      out[len++] = ',';
    }
    for (const char *p = tuple; *p != '\0';) {
      if (*p == '?') {
        char *end;
        const size_t k = (size_t)strtoul(p + 1, &end, 10);
        len += (size_t)snprintf(out + len, cap - len, "?%zu",
                                k + r * STORE_INSERT_KEY_PARAMS);
        p = end;
      } else {
        out[len++] = *p++;
      }
    }
  }
  out[len] = '\0';
  return out;
}

/* The rows of one statement, made but not yet stored; the keys in clear
 * until wiped (batch_wipe). Heap-allocated: it holds SEED_BATCH keys. */
typedef struct seed_batch {
  size_t n;
  kg_seed_class cls[SEED_BATCH];
  char names[SEED_BATCH][48];
  store_new_row rows[SEED_BATCH];
  uint8_t digests[SEED_BATCH][KG_DIGEST_LEN];
  kg_new_key keys[SEED_BATCH];
} seed_batch;

static void batch_wipe(seed_batch *b) {
  OPENSSL_cleanse(b->keys, sizeof b->keys);
  b->n = 0;
}

/* The statements and state of one seed. */
typedef struct seeder {
  kg_store *s;
  sqlite3_stmt *acct; /* INSERT INTO accounts */
  sqlite3_stmt *one;  /* STORE_INSERT_KEY_SQL */
  sqlite3_stmt *many; /* multi_row_sql(SEED_BATCH) */
  kg_seed_fn fn;
  void *ctx;
  kg_seed_result *res;
} seeder;

/* Hand the batch's stored keys to the writer; counts them. */
static int hand_over(seeder *sd, const seed_batch *b, char *err,
                     size_t errcap) {
  for (size_t r = 0; r < b->n; r++) {
    const kg_new_key *k = &b->keys[r];
    if (sd->fn != NULL && sd->fn(b->cls[r], k->key, k->key_len, sd->ctx) != 0) {
      return store_errf(err, errcap, "seeding stopped: the key writer failed");
    }
    sd->res->keys++;
  }
  return 0;
}

static int is_clash(int rc) {
  return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE;
}

/* Store row r alone with the key already made; on a clash of id or digest,
 * store_insert_key draws a new id and key for it. */
static int store_one(seeder *sd, seed_batch *b, size_t r, int64_t seq,
                     char *err, size_t errcap) {
  sqlite3_reset(sd->one);
  store_bind_key_row(sd->one, 0, b->rows[r].id, &b->rows[r], b->digests[r],
                     b->keys[r].info.hint, seq);
  const int rc = sqlite3_step(sd->one);
  sqlite3_reset(sd->one);
  if (rc == SQLITE_DONE) {
    return 0;
  }
  if (!is_clash(rc)) {
    return store_sqlerr(sd->s, rc, "storing a key", err, errcap);
  }
  store_new_row again = b->rows[r];
  again.id = 0; /* a fresh random id, and a fresh key */
  return store_insert_key(sd->s, sd->one, &again, &b->keys[r], err, errcap);
}

/*
 * Store the batch's rows: one statement for a full batch, one row at a time
 * for the last, short one. A clash of id or digest (never seen) undoes the
 * whole statement (SQLite's ABORT, with a statement journal, keeps the
 * transaction); its rows then go one at a time (store_one). Keys reach the
 * writer only once stored.
 */
static int store_batch(seeder *sd, seed_batch *b, char *err, size_t errcap) {
  int64_t seq;
  if (store_seq(sd->s, &seq, err, errcap) != 0) {
    return -1;
  }
  if (b->n == SEED_BATCH) {
    sqlite3_reset(sd->many);
    for (size_t r = 0; r < b->n; r++) {
      store_bind_key_row(sd->many, (int)(r * STORE_INSERT_KEY_PARAMS),
                         b->rows[r].id, &b->rows[r], b->digests[r],
                         b->keys[r].info.hint, seq);
    }
    const int rc = sqlite3_step(sd->many);
    sqlite3_reset(sd->many);
    if (rc == SQLITE_DONE) {
      return hand_over(sd, b, err, errcap);
    }
    if (!is_clash(rc)) {
      return store_sqlerr(sd->s, rc, "storing a key", err, errcap);
    }
  }
  for (size_t r = 0; r < b->n; r++) {
    if (store_one(sd, b, r, seq, err, errcap) != 0) {
      return -1;
    }
  }
  return hand_over(sd, b, err, errcap);
}

/* Make row i of the seed into the batch (its key, digest and hint). */
static int make_row(seeder *sd, seed_batch *b, const kg_seed_counts *counts,
                    size_t i, const uint64_t *ids, uint64_t account_id,
                    int64_t now, char *err, size_t errcap) {
  const size_t r = b->n;
  const kg_seed_class c = class_of(counts, i);
  b->cls[r] = c;
  snprintf(b->names[r], sizeof b->names[r], "%s-%zu", kg_seed_class_name(c),
           i + 1);
  uint64_t id = ids[i];
  if (id == 0 && store_random_id(&id, err, errcap) != 0) {
    return -1;
  }
  b->rows[r] = (store_new_row){
      .id = id,
      .account_id = account_id,
      .name = b->names[r],
      .created = c == KG_SEED_EXPIRED ? now - SEED_EXPIRED_AGE : now,
      .expires_at = c == KG_SEED_EXPIRED ? now - SEED_EXPIRED_SINCE : 0,
      .status = c == KG_SEED_DEACTIVATED ? KG_REC_DEACTIVATED : KG_REC_ACTIVE};
  if (store_make_key(sd->s, &b->keys[r], b->digests[r], err, errcap) != 0) {
    return -1;
  }
  b->n++;
  return 0;
}

/* Make every key inside the open transaction. */
static int seed_keys(kg_store *s, const kg_seed_counts *counts, size_t total,
                     kg_seed_fn fn, void *ctx, kg_seed_result *res, char *err,
                     size_t errcap) {
  seeder sd = {.s = s, .fn = fn, .ctx = ctx, .res = res};
  int ret = -1;
  uint64_t *ids = sorted_ids(total);
  seed_batch *b = calloc(1, sizeof *b);
  char *many_sql = multi_row_sql(SEED_BATCH);
  if (ids == NULL || b == NULL || many_sql == NULL) {
    store_errf(err, errcap,
               "cannot draw %zu key ids (memory or random generator)", total);
    goto done;
  }
  if (last_seed_number(s, &res->first, err, errcap) != 0 ||
      store_prepare(s,
                    "INSERT INTO accounts (name, tier, created)"
                    " VALUES (?1, 'pro', ?2)",
                    &sd.acct, err, errcap) != 0 ||
      store_prepare(s, STORE_INSERT_KEY_SQL, &sd.one, err, errcap) != 0 ||
      store_prepare(s, many_sql, &sd.many, err, errcap) != 0) {
    goto done;
  }
  res->first++;
  const int64_t now = store_now();
  uint64_t account_id = 0;
  for (size_t i = 0; i < total; i++) {
    if (i % KG_SEED_PER_ACCOUNT == 0) {
      res->last = res->first + (unsigned)res->accounts;
      if (add_account(s, sd.acct, res->last, now, &account_id, err, errcap) !=
          0) {
        goto done;
      }
      res->accounts++;
    }
    if (make_row(&sd, b, counts, i, ids, account_id, now, err, errcap) != 0) {
      goto done;
    }
    if (b->n == SEED_BATCH || i + 1 == total) {
      const int rc = store_batch(&sd, b, err, errcap);
      batch_wipe(b);
      if (rc != 0) {
        goto done;
      }
    }
  }
  ret = 0;
done:
  if (b != NULL) {
    batch_wipe(b);
    free(b);
  }
  free(many_sql);
  free(ids);
  sqlite3_finalize(sd.acct);
  sqlite3_finalize(sd.one);
  sqlite3_finalize(sd.many);
  return ret;
}

/* The connection's settings as the store opens them (store.c sets neither:
 * SQLite's defaults), after a seed changed them. */
static void restore_settings(kg_store *s) {
  (void)store_exec(s, "PRAGMA cache_size = -2000", NULL, 0);
  (void)store_exec(s, "PRAGMA temp_store = DEFAULT", NULL, 0);
}

int kg_store_seed(kg_store *s, const kg_seed_counts *counts, kg_seed_fn fn,
                  void *ctx, kg_seed_result *res, char *err, size_t errcap) {
  kg_seed_result tmp;
  if (res == NULL) {
    res = &tmp;
  }
  memset(res, 0, sizeof *res);
  if (counts == NULL) {
    return store_errf(err, errcap, "kg_store_seed: counts is NULL");
  }
  const size_t total = counts->valid + counts->expired + counts->deactivated;
  if (total < counts->valid || total > KG_INDEX_MAX_KEYS) {
    return store_errf(err, errcap, "at most %u keys can be seeded",
                      KG_INDEX_MAX_KEYS);
  }
  if (total == 0) {
    return store_errf(err, errcap, "nothing to seed: every count is 0");
  }
  /* The statement journal of the multi-row INSERT (the pages one
   * statement touched, to undo it alone) in memory rather than in a
   * temporary file: it spills past 64 KiB, and writing it cost more system
   * time than the batching saves. A connection setting, not the file's; it
   * must be set before BEGIN to apply to this transaction. */
  if (store_exec(s, "PRAGMA temp_store = MEMORY", err, errcap) != 0) {
    return -1;
  }
  if (store_begin_write(s, err, errcap) != 0) {
    restore_settings(s);
    return -1;
  }
  /* A page cache as big as what the seed writes (about 200 bytes a key:
   * the row and two index entries) keeps the random-order inserts (the
   * digests are random) in memory until the one commit; capped at 1 GiB. */
  char pragma[64];
  const size_t kib = total / 4 + 2048;
  snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%zu",
           kib < 1048576 ? kib : 1048576);
  int rc = store_exec(s, pragma, err, errcap);
  if (rc == 0) {
    rc = seed_keys(s, counts, total, fn, ctx, res, err, errcap);
  }
  /* the writer's last call: its keys durable before the store's are */
  if (rc == 0 && fn != NULL && fn(KG_SEED_VALID, NULL, 0, ctx) != 0) {
    rc = store_errf(err, errcap,
                    "seeding stopped: the key writer could "
                    "not make its keys durable");
  }
  /* a COMMIT that fails is rolled back (store_commit): nothing is made */
  if (rc != 0 || store_commit(s, err, errcap) != 0) {
    store_rollback(s);
    restore_settings(s);
    const unsigned first = res->first;
    memset(res, 0, sizeof *res);
    res->first = first;
    return -1;
  }
  restore_settings(s);
  return 0;
}
