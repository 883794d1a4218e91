/*
 * store/src/seed.c — a load-test population: many keys of three classes
 * (valid, expired, deactivated) over as many new pro accounts as the tier
 * limit needs, made in one transaction with one prepared INSERT reused.
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
  return 0;
}

/* The class of the i-th seeded key: valid ones first, then expired. */
static kg_seed_class class_of(const kg_seed_counts *c, size_t i) {
  if (i < c->valid) {
    return KG_SEED_VALID;
  }
  return i < c->valid + c->expired ? KG_SEED_EXPIRED : KG_SEED_DEACTIVATED;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/*
 * n random key ids, sorted, so the rows go into the table's B-tree in key
 * order (appends, not random page splits: half the insert cost). A
 * repeated or zero id becomes 0, which store_insert_key replaces with a
 * fresh random one. Returns NULL when out of memory or the CSPRNG fails.
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
  qsort(ids, n, sizeof *ids, cmp_u64);
  for (size_t i = 1; i < n; i++) {
    if (ids[i] == ids[i - 1]) {
      ids[i - 1] = 0;
    }
  }
  return ids;
}

/* Make every key inside the open transaction. */
static int seed_keys(kg_store *s, const kg_seed_counts *counts, size_t total,
                     kg_seed_fn fn, void *ctx, kg_seed_result *res, char *err,
                     size_t errcap) {
  sqlite3_stmt *acct = NULL, *ins = NULL;
  int ret = -1;
  uint64_t *ids = sorted_ids(total);
  if (ids == NULL) {
    return store_errf(err, errcap,
                      "cannot draw %zu key ids (memory or "
                      "random generator)",
                      total);
  }
  if (last_seed_number(s, &res->first, err, errcap) != 0 ||
      store_prepare(s,
                    "INSERT INTO accounts (name, tier, created)"
                    " VALUES (?1, 'pro', ?2)",
                    &acct, err, errcap) != 0 ||
      store_prepare(s, STORE_INSERT_KEY_SQL, &ins, err, errcap) != 0) {
    goto done;
  }
  res->first++;
  const int64_t now = store_now();
  uint64_t account_id = 0;
  kg_new_key k;
  for (size_t i = 0; i < total; i++) {
    if (i % KG_SEED_PER_ACCOUNT == 0) {
      res->last = res->first + (unsigned)res->accounts;
      if (add_account(s, acct, res->last, now, &account_id, err, errcap) != 0) {
        goto done;
      }
      res->accounts++;
    }
    const kg_seed_class c = class_of(counts, i);
    char name[48];
    snprintf(name, sizeof name, "%s-%zu", kg_seed_class_name(c), i + 1);
    const store_new_row row = {
        .id = ids[i],
        .account_id = account_id,
        .name = name,
        .created = c == KG_SEED_EXPIRED ? now - SEED_EXPIRED_AGE : now,
        .expires_at = c == KG_SEED_EXPIRED ? now - SEED_EXPIRED_SINCE : 0,
        .status =
            c == KG_SEED_DEACTIVATED ? KG_REC_DEACTIVATED : KG_REC_ACTIVE};
    if (store_insert_key(s, ins, &row, &k, err, errcap) != 0) {
      goto done;
    }
    const int stop = fn != NULL ? fn(c, k.key, k.key_len, ctx) : 0;
    kg_new_key_wipe(&k);
    if (stop != 0) {
      store_errf(err, errcap, "seeding stopped: the key writer failed");
      goto done;
    }
    res->keys++;
  }
  ret = 0;
done:
  free(ids);
  sqlite3_finalize(acct);
  sqlite3_finalize(ins);
  return ret;
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
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  /* A page cache as big as what the seed writes (about 200 bytes a key:
   * the row and two index entries) keeps the random-order inserts (ids and
   * digests are random) in memory until the one commit; capped at 1 GiB. */
  char pragma[64];
  const size_t kib = total / 4 + 2048;
  snprintf(pragma, sizeof pragma, "PRAGMA cache_size = -%zu",
           kib < 1048576 ? kib : 1048576);
  if (store_exec(s, pragma, err, errcap) != 0 ||
      seed_keys(s, counts, total, fn, ctx, res, err, errcap) != 0) {
    store_rollback(s);
    (void)store_exec(s, "PRAGMA cache_size = -2000", NULL, 0);
    const unsigned first = res->first;
    memset(res, 0, sizeof *res);
    res->first = first;
    return -1;
  }
  const int rc = store_commit(s, err, errcap);
  (void)store_exec(s, "PRAGMA cache_size = -2000", NULL, 0);
  return rc;
}
