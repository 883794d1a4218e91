/*
 * store/src/load.c — the loader: the whole store, read in one transaction,
 * becomes a snapshot (a core index of every key not deleted, and the
 * account names by id).
 *
 * Deleted keys are left out, so they answer invalid_api_key as unknown
 * keys do. Deactivated keys go in as KG_REC_DEACTIVATED and keys with an
 * expiry carry it, so both answer expired_api_key.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct snap_account {
  uint64_t id;
  const char *name; /* into kg_snapshot.names */
} snap_account;

struct kg_snapshot {
  kg_index *index;
  snap_account *accounts; /* sorted by id */
  size_t naccounts;
  char *names; /* every account name, NUL-terminated, back to back */
};

void kg_snapshot_free(kg_snapshot *snap) {
  if (snap == NULL) {
    return;
  }
  kg_index_free(snap->index);
  free(snap->accounts);
  free(snap->names);
  free(snap);
}

const kg_index *kg_snapshot_index(const kg_snapshot *snap) {
  return snap->index;
}

const char *kg_snapshot_account(const kg_snapshot *snap, uint64_t account_id) {
  size_t lo = 0, hi = snap->naccounts;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (snap->accounts[mid].id < account_id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < snap->naccounts && snap->accounts[lo].id == account_id) {
    return snap->accounts[lo].name;
  }
  return NULL;
}

/* Read the first n (1 or 2) integer columns of a one-row query. */
static int row_ints(kg_store *s, const char *sql, int n, int64_t *v, char *err,
                    size_t errcap) {
  for (int i = 0; i < n; i++) {
    v[i] = 0;
  }
  sqlite3_stmt *st;
  if (store_prepare(s, sql, &st, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW || sqlite3_column_count(st) < n) {
    sqlite3_finalize(st);
    return store_sqlerr(s, rc == SQLITE_ROW ? SQLITE_ERROR : rc, "loading", err,
                        errcap);
  }
  for (int i = 0; i < n; i++) {
    v[i] = sqlite3_column_int64(st, i);
  }
  sqlite3_finalize(st);
  return 0;
}

/* The account names, sorted by id (rowid order). */
static int load_accounts(kg_store *s, kg_snapshot *snap, char *err,
                         size_t errcap) {
  int64_t v[2];
  if (row_ints(s,
               "SELECT count(*), coalesce(sum(length(CAST(name AS BLOB))), 0)"
               " FROM accounts",
               2, v, err, errcap) != 0) {
    return -1;
  }
  const int64_t count = v[0], bytes = v[1];
  snap->accounts = calloc((size_t)count + 1, sizeof *snap->accounts);
  snap->names = malloc((size_t)bytes + (size_t)count + 1);
  if (snap->accounts == NULL || snap->names == NULL) {
    return store_errf(err, errcap, "out of memory loading %lld accounts",
                      (long long)count);
  }
  sqlite3_stmt *st;
  if (store_prepare(s, "SELECT id, name FROM accounts ORDER BY id", &st, err,
                    errcap) != 0) {
    return -1;
  }
  size_t used = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const size_t len = (size_t)sqlite3_column_bytes(st, 1);
    const unsigned char *name = sqlite3_column_text(st, 1);
    if (snap->naccounts == (size_t)count ||
        used + len + 1 > (size_t)bytes + (size_t)count + 1) {
      break; /* cannot happen inside one read transaction */
    }
    memcpy(snap->names + used, name, len);
    snap->names[used + len] = '\0';
    snap->accounts[snap->naccounts].id = (uint64_t)sqlite3_column_int64(st, 0);
    snap->accounts[snap->naccounts].name = snap->names + used;
    snap->naccounts++;
    used += len + 1;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "loading accounts", err, errcap);
  }
  return 0;
}

/* Every key that is not deleted, as index records. Sets *recs and *n. */
static int load_keys(kg_store *s, kg_record **recs, size_t *n, char *err,
                     size_t errcap) {
  int64_t total;
  if (row_ints(s, "SELECT count(*) FROM keys", 1, &total, err, errcap) != 0) {
    return -1;
  }
  if ((uint64_t)total > KG_INDEX_MAX_KEYS) {
    return store_errf(err, errcap, "%s holds %lld keys; at most %u load",
                      s->path, (long long)total, KG_INDEX_MAX_KEYS);
  }
  kg_record *r = calloc((size_t)total + 1, sizeof *r);
  if (r == NULL) {
    return store_errf(err, errcap, "out of memory loading %lld keys",
                      (long long)total);
  }
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT id, account_id, digest, expires_at,"
                    " status = 'deactivated' FROM keys"
                    " WHERE status != 'deleted'",
                    &st, err, errcap) != 0) {
    free(r);
    return -1;
  }
  size_t k = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && k < (size_t)total) {
    kg_record *rec = &r[k];
    rec->key_id = (uint64_t)sqlite3_column_int64(st, 0);
    rec->account_id = (uint64_t)sqlite3_column_int64(st, 1);
    const void *digest = sqlite3_column_blob(st, 2);
    if (digest == NULL || sqlite3_column_bytes(st, 2) != KG_DIGEST_LEN) {
      char id[KG_KEY_ID_STR_LEN];
      kg_key_id_format(rec->key_id, id);
      sqlite3_finalize(st);
      free(r);
      return store_errf(err, errcap, "%s is damaged: key %s has no digest",
                        s->path, id);
    }
    memcpy(rec->digest, digest, KG_DIGEST_LEN);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
      /* 0 means "never" in a record: an expiry at or before the epoch is
       * still in the past, so it becomes 1. */
      const int64_t at = sqlite3_column_int64(st, 3);
      rec->expires_at = at < 1 ? 1 : at;
    }
    rec->status =
        sqlite3_column_int(st, 4) ? KG_REC_DEACTIVATED : KG_REC_ACTIVE;
    k++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    free(r);
    return store_sqlerr(s, rc, "loading keys", err, errcap);
  }
  *recs = r;
  *n = k;
  return 0;
}

/* Build the index from recs; message for each core failure. */
static int build_index(kg_store *s, const kg_record *recs, size_t n,
                       kg_index **out, char *err, size_t errcap) {
  const kg_status st = kg_index_build(recs, n, out);
  switch (st) {
  case KG_OK:
    return 0;
  case KG_E_DUPLICATE_DIGEST:
    return store_errf(err, errcap, "%s is damaged: two keys share a digest",
                      s->path);
  case KG_E_TOO_MANY_KEYS:
    return store_errf(err, errcap, "%s holds %zu keys; at most %u load",
                      s->path, n, KG_INDEX_MAX_KEYS);
  case KG_E_NOMEM:
    return store_errf(err, errcap, "out of memory indexing %zu keys", n);
  default:
    return store_errf(err, errcap, "indexing %zu keys failed: %s", n,
                      kg_status_str(st));
  }
}

int kg_store_load(kg_store *s, kg_snapshot **out, char *err, size_t errcap) {
  if (s == NULL || out == NULL) {
    return store_errf(err, errcap, "kg_store_load: bad argument");
  }
  *out = NULL;
  kg_snapshot *snap = calloc(1, sizeof *snap);
  if (snap == NULL) {
    return store_errf(err, errcap, "out of memory");
  }
  /* One read transaction: accounts, keys and the change counter all
   * describe the same commit (WAL readers see a fixed snapshot). */
  if (store_exec(s, "BEGIN", err, errcap) != 0) {
    kg_snapshot_free(snap);
    return -1;
  }
  kg_record *recs = NULL;
  size_t n = 0;
  int64_t version = 0;
  int rc = load_accounts(s, snap, err, errcap);
  if (rc == 0) {
    rc = load_keys(s, &recs, &n, err, errcap);
  }
  if (rc == 0) {
    rc = row_ints(s, "PRAGMA data_version", 1, &version, err, errcap);
  }
  store_rollback(s); /* a read: nothing to commit */
  if (rc == 0) {
    rc = build_index(s, recs, n, &snap->index, err, errcap);
  }
  free(recs);
  if (rc != 0) {
    kg_snapshot_free(snap);
    return -1;
  }
  s->loaded = 1;
  s->data_version = version;
  s->self_dirty = 0;
  *out = snap;
  return 0;
}
