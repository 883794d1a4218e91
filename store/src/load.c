/*
 * store/src/load.c — the loader: the whole store, read in one transaction,
 * becomes a snapshot (a core index of every key not deleted, and the
 * account names by id).
 *
 * Deleted keys are left out, so they answer invalid_api_key as unknown
 * keys do. Deactivated keys go in as KG_REC_DEACTIVATED and keys with an
 * expiry carry it, so both answer expired_api_key.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct snap_account {
  uint64_t id;
  size_t name; /* offset into kg_snapshot.names */
} snap_account;

struct kg_snapshot {
  kg_index *index;
  snap_account *accounts; /* sorted by id */
  size_t naccounts, accounts_cap;
  char *names; /* every account name, NUL-terminated, back to back */
  size_t names_len, names_cap;
  int64_t seq;    /* meta.seq as of the read */
  uint64_t epoch; /* meta.epoch as of the read */
  uint64_t mark;  /* history's mark of seq; 0: not known */
  uint64_t left[KG_STORE_LEFT_EPOCHS_MAX]; /* meta.left_epochs, newest last */
  size_t nleft;
  kg_accounts_fn *on_accounts; /* kg_snapshot_on_accounts */
  void *on_accounts_arg;
};

/* Room kept in a loaded index for keys added by kg_store_refresh before a
 * full load is needed: 1/16 of the keys, at least 1024. */
static size_t spare_for(size_t n) {
  return n / 16 + 1024;
}

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

kg_index *kg_snapshot_set_index(kg_snapshot *snap, kg_index *idx) {
  if (snap == NULL || idx == snap->index) {
    return NULL;
  }
  kg_index *old = snap->index;
  snap->index = idx;
  return old;
}

void kg_snapshot_on_accounts(kg_snapshot *snap, kg_accounts_fn *fn, void *arg) {
  if (snap != NULL) {
    snap->on_accounts = fn;
    snap->on_accounts_arg = arg;
  }
}

size_t kg_snapshot_account_count(const kg_snapshot *snap) {
  return snap != NULL ? snap->naccounts : 0;
}

int kg_snapshot_account_at(const kg_snapshot *snap, size_t i, uint64_t *id,
                           const char **name) {
  if (snap == NULL || i >= snap->naccounts || id == NULL || name == NULL) {
    return -1;
  }
  *id = snap->accounts[i].id;
  *name = snap->names + snap->accounts[i].name;
  return 0;
}

int64_t kg_snapshot_seq(const kg_snapshot *snap) {
  return snap->seq;
}

uint64_t kg_snapshot_epoch(const kg_snapshot *snap) {
  return snap->epoch;
}

const uint64_t *kg_snapshot_left_epochs(const kg_snapshot *snap, size_t *n) {
  *n = snap->nleft;
  return snap->nleft > 0 ? snap->left : NULL;
}

uint64_t kg_snapshot_mark(const kg_snapshot *snap) {
  return snap->mark;
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
    return snap->names + snap->accounts[lo].name;
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

/* Append one account (ids arrive in increasing order). */
static int add_account(kg_snapshot *snap, uint64_t id, const char *name,
                       size_t len) {
  if (snap->naccounts == snap->accounts_cap) {
    const size_t cap = snap->accounts_cap * 2 + 16;
    snap_account *a = realloc(snap->accounts, cap * sizeof *a);
    if (a == NULL) {
      return -1;
    }
    snap->accounts = a;
    snap->accounts_cap = cap;
  }
  if (snap->names_len + len + 1 > snap->names_cap) {
    const size_t cap = (snap->names_len + len + 1) * 2 + 256;
    char *n = realloc(snap->names, cap);
    if (n == NULL) {
      return -1;
    }
    snap->names = n;
    snap->names_cap = cap;
  }
  memcpy(snap->names + snap->names_len, name, len);
  snap->names[snap->names_len + len] = '\0';
  snap->accounts[snap->naccounts].id = id;
  snap->accounts[snap->naccounts].name = snap->names_len;
  snap->naccounts++;
  snap->names_len += len + 1;
  return 0;
}

/* The account names with an id above the snapshot's last (all of them for
 * a new snapshot), in id order: accounts are never renamed or removed, and
 * their rowids only grow. */
static int load_accounts(kg_store *s, kg_snapshot *snap, char *err,
                         size_t errcap) {
  const uint64_t after =
      snap->naccounts > 0 ? snap->accounts[snap->naccounts - 1].id : 0;
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT id, name FROM accounts WHERE id > ?1 ORDER BY id",
                    &st, err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const size_t len = (size_t)sqlite3_column_bytes(st, 1);
    const unsigned char *name = sqlite3_column_text(st, 1);
    if (add_account(snap, (uint64_t)sqlite3_column_int64(st, 0),
                    name != NULL ? (const char *)name : "", len) != 0) {
      sqlite3_finalize(st);
      return store_errf(err, errcap, "out of memory loading accounts");
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "loading accounts", err, errcap);
  }
  return 0;
}

/* meta.seq and meta.epoch inside the current read transaction, and (mark
 * not NULL) the history's mark of that sequence (0: no row); and the
 * store's marking (digest, pepper check value), which must still be the
 * one checked when it was opened: a store re-marked in place is refused on
 * the read that finds it, before any of its keys are used. */
static int read_head(kg_store *s, int64_t *seq, uint64_t *epoch, uint64_t *mark,
                     char *err, size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT (SELECT CAST(value AS INTEGER) FROM meta"
                    " WHERE name = 'seq'), (SELECT value FROM meta"
                    " WHERE name = 'epoch'), (SELECT value FROM meta"
                    " WHERE name = 'digest'), (SELECT value FROM meta"
                    " WHERE name = 'pepper_check'), (SELECT mark FROM history"
                    " WHERE seq = (SELECT CAST(value AS INTEGER) FROM meta"
                    " WHERE name = 'seq'))",
                    &st, err, errcap) != 0) {
    return -1;
  }
  const int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(st);
    return store_sqlerr(s, rc, "reading the change sequence", err, errcap);
  }
  const unsigned char *e = sqlite3_column_text(st, 1);
  const unsigned char *digest = sqlite3_column_text(st, 2);
  const unsigned char *check = sqlite3_column_text(st, 3);
  const int ok =
      sqlite3_column_type(st, 0) != SQLITE_NULL && e != NULL && digest != NULL;
  *seq = sqlite3_column_int64(st, 0);
  *epoch = ok ? strtoull((const char *)e, NULL, 16) : 0;
  if (mark != NULL) {
    *mark = (uint64_t)sqlite3_column_int64(st, 4);
  }
  const int marked = ok ? store_check_marking(s, (const char *)digest,
                                              (const char *)check, err, errcap)
                        : 0;
  sqlite3_finalize(st);
  if (!ok) {
    return store_errf(err, errcap,
                      "%s is damaged: its meta table holds no change "
                      "sequence, epoch or digest",
                      s->path);
  }
  return marked;
}

int store_read_left(kg_store *s, uint64_t *out, size_t *n, char *err,
                    size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s, "SELECT value FROM meta WHERE name = 'left_epochs'", &st,
                    err, errcap) != 0) {
    return -1;
  }
  *n = 0;
  const int rc = sqlite3_step(st);
  const char *v = NULL;
  int bad = 0;
  if (rc == SQLITE_ROW) {
    /* text, and no NUL inside it (a blob, or text cut short, would read
     * as fewer epochs); the type asked before column_text converts it */
    const int type = sqlite3_column_type(st, 0);
    v = (const char *)sqlite3_column_text(st, 0);
    bad = type != SQLITE_TEXT || v == NULL ||
          strlen(v) != (size_t)sqlite3_column_bytes(st, 0);
  }
  for (const char *p = v; p != NULL && *p != '\0' && !bad;) {
    size_t len = 0;
    uint64_t e = 0;
    for (; len < 17 && isxdigit((unsigned char)p[len]); len++) {
      const char c = (char)tolower((unsigned char)p[len]);
      e = e << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    bad = len == 0 || len > 16 || (p[len] != ' ' && p[len] != '\0') ||
          (p[len] == ' ' && p[len + 1] == '\0');
    if (!bad) {
      if (*n == KG_STORE_LEFT_EPOCHS_MAX) {
        memmove(out, out + 1, (KG_STORE_LEFT_EPOCHS_MAX - 1) * sizeof out[0]);
        (*n)--;
      }
      out[(*n)++] = e;
      p += len + (p[len] == ' ');
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "reading the left epochs", err, errcap);
  }
  if (bad) {
    *n = 0;
    return store_errf(err, errcap,
                      "%s is damaged: its meta table's left_epochs is not a "
                      "list of epochs (hex numbers one space apart, as "
                      "'keygate keys ack-restore' writes them); nothing was "
                      "read or written; put the store back from a backup, or "
                      "set that row right with sqlite3 (docs/store.md)",
                      s->path);
  }
  return 0;
}

/* The history's mark of sequence seq inside the current read transaction:
 * 0 when the store has no row for it. */
static int read_mark(kg_store *s, int64_t seq, uint64_t *mark, char *err,
                     size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s, "SELECT mark FROM history WHERE seq = ?1", &st, err,
                    errcap) != 0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, seq);
  const int rc = sqlite3_step(st);
  *mark = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "reading the history", err, errcap);
  }
  return 0;
}

/* A stored expiry as a record's. 0 means "never" in a record: an expiry at
 * or before the epoch is still in the past, so it becomes 1. One past what
 * the index keeps (KG_RECORD_EXPIRES_MAX, the year 71,000: only a store
 * written before the limit, or by hand, holds one) becomes that limit,
 * which is the same answer for every `now` before it. */
static int64_t record_expiry(int64_t at) {
  return at < 1 ? 1 : at > KG_RECORD_EXPIRES_MAX ? KG_RECORD_EXPIRES_MAX : at;
}

/* 1 (and the reason in err) when rec's account id is past what the index
 * keeps (KG_RECORD_ACCOUNT_ID_MAX, 36 bits): only a row written by hand
 * holds one (kg_store_account_create refuses to make such an account). */
static int account_too_big(const kg_store *s, const kg_record *rec, char *err,
                           size_t errcap) {
  if (rec->account_id <= KG_RECORD_ACCOUNT_ID_MAX) {
    return 0;
  }
  char id[KG_KEY_ID_STR_LEN];
  kg_key_id_format(rec->key_id, id);
  store_errf(err, errcap,
             "%s is damaged: key %s has account id %llu, past %llu (the "
             "index keeps 36 bits)",
             s->path, id, (unsigned long long)rec->account_id,
             (unsigned long long)KG_RECORD_ACCOUNT_ID_MAX);
  return 1;
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
    if (account_too_big(s, rec, err, errcap)) {
      sqlite3_finalize(st);
      free(r);
      return -1;
    }
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
      rec->expires_at = record_expiry(sqlite3_column_int64(st, 3));
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
  const kg_status st = kg_index_build_spare(recs, n, spare_for(n), out);
  switch (st) {
  case KG_OK:
    return 0;
  case KG_E_DUPLICATE_DIGEST:
    return store_errf(err, errcap,
                      "%s is damaged: two keys share a digest (or its first "
                      "14 bytes, all the index keeps)",
                      s->path);
  case KG_E_RECORD_RANGE: /* load_keys checks first: not reached */
    return store_errf(err, errcap,
                      "%s holds a key the index cannot keep (an account id "
                      "past %llu)",
                      s->path, (unsigned long long)KG_RECORD_ACCOUNT_ID_MAX);
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
    rc = read_head(s, &snap->seq, &snap->epoch, &snap->mark, err, errcap);
  }
  if (rc == 0) {
    rc = store_read_left(s, snap->left, &snap->nleft, err, errcap);
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
  store_note_wal(s);
  *out = snap;
  return 0;
}

int kg_store_adopt(kg_store *s, kg_index *idx, int64_t seq, uint64_t epoch,
                   uint64_t mark, kg_snapshot **out, char *err, size_t errcap) {
  if (s == NULL || idx == NULL || out == NULL || seq < 0) {
    return store_errf(err, errcap, "kg_store_adopt: bad argument");
  }
  *out = NULL;
  kg_snapshot *snap = calloc(1, sizeof *snap);
  if (snap == NULL) {
    return store_errf(err, errcap, "out of memory");
  }
  if (store_exec(s, "BEGIN", err, errcap) != 0) {
    kg_snapshot_free(snap);
    return -1;
  }
  int64_t now_seq = 0;
  uint64_t now_epoch = 0;
  int rc = read_head(s, &now_seq, &now_epoch, NULL, err, errcap);
  if (rc == 0) {
    rc = load_accounts(s, snap, err, errcap);
  }
  store_rollback(s); /* a read: nothing to commit */
  if (rc != 0) {
    kg_snapshot_free(snap);
    return -1;
  }
  /* The store's own sequence and epoch are kg_store_refresh's to judge
   * (another epoch: full; below seq: backwards). */
  snap->index = idx;
  snap->seq = seq;
  snap->epoch = epoch;
  snap->mark = mark;
  store_note_wal(s);
  *out = snap;
  return 0;
}

/* ---- incremental refresh ---------------------------------------------- */

/* One changed key as read for kg_store_refresh. */
typedef struct changed_key {
  kg_record rec;
  int deleted;
} changed_key;

/* Free the first k of c, their digests cleansed first (as a snapshot's
 * are, and as the success path does): an error path leaves none behind. */
static void drop_changes(changed_key *c, size_t k) {
  if (c != NULL) {
    OPENSSL_cleanse(c, k * sizeof *c);
    free(c);
  }
}

/* The keys written after sequence `after`, at most KG_REFRESH_MAX_ROWS
 * (*n = KG_REFRESH_MAX_ROWS + 1 when there are more). */
static int read_changes(kg_store *s, int64_t after, changed_key **out,
                        size_t *n, char *err, size_t errcap) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "SELECT id, account_id, digest, expires_at, status"
                    " FROM keys WHERE seq > ?1 LIMIT ?2",
                    &st, err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int(st, 2, KG_REFRESH_MAX_ROWS + 1);
  changed_key *c = NULL;
  size_t k = 0, cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (k == cap) {
      cap = cap * 2 + 16;
      /* not realloc: it would free the old block's digests uncleansed */
      changed_key *m = malloc(cap * sizeof *c);
      if (m == NULL) {
        drop_changes(c, k);
        sqlite3_finalize(st);
        return store_errf(err, errcap, "out of memory reading changes");
      }
      if (k > 0) {
        memcpy(m, c, k * sizeof *c);
      }
      drop_changes(c, k);
      c = m;
    }
    changed_key *ck = &c[k];
    memset(ck, 0, sizeof *ck);
    ck->rec.key_id = (uint64_t)sqlite3_column_int64(st, 0);
    ck->rec.account_id = (uint64_t)sqlite3_column_int64(st, 1);
    const void *digest = sqlite3_column_blob(st, 2);
    if (digest == NULL || sqlite3_column_bytes(st, 2) != KG_DIGEST_LEN) {
      drop_changes(c, k);
      sqlite3_finalize(st);
      return store_errf(err, errcap, "%s is damaged: a key has no digest",
                        s->path);
    }
    const unsigned char *status = sqlite3_column_text(st, 4);
    const char *word = status != NULL ? (const char *)status : "";
    ck->deleted = strcmp(word, "deleted") == 0;
    /* Refused before any change is applied, as the full load refuses it:
     * never half a refresh. */
    if (!ck->deleted && account_too_big(s, &ck->rec, err, errcap)) {
      drop_changes(c, k);
      sqlite3_finalize(st);
      return -1;
    }
    memcpy(ck->rec.digest, digest, KG_DIGEST_LEN);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
      ck->rec.expires_at = record_expiry(sqlite3_column_int64(st, 3));
    }
    ck->rec.status =
        strcmp(word, "deactivated") == 0 ? KG_REC_DEACTIVATED : KG_REC_ACTIVE;
    k++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    drop_changes(c, k);
    return store_sqlerr(s, rc, "reading changed keys", err, errcap);
  }
  *out = c;
  *n = k;
  return 0;
}

/* Apply the changes to the index: removals, then changes of keys it holds
 * (these never need room), then new keys. 0 when all fit, 1 when the index
 * is full (what was applied stays: revocations first). */
static int apply_changes(kg_index *idx, const changed_key *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (c[i].deleted) {
      (void)kg_index_remove(idx, c[i].rec.digest);
    }
  }
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < n; i++) {
      if (c[i].deleted ||
          kg_index_contains(idx, c[i].rec.digest) != (pass == 0)) {
        continue;
      }
      if (kg_index_put(idx, &c[i].rec) != KG_OK) {
        return 1;
      }
    }
  }
  return 0;
}

int kg_store_refresh(kg_store *s, kg_snapshot *snap, kg_refresh *result,
                     size_t *rows, char *err, size_t errcap) {
  if (s == NULL || snap == NULL || result == NULL) {
    return store_errf(err, errcap, "kg_store_refresh: bad argument");
  }
  *result = KG_REFRESH_UNCHANGED;
  if (rows != NULL) {
    *rows = 0;
  }
  if (store_exec(s, "BEGIN", err, errcap) != 0) {
    return -1;
  }
  int64_t seq = 0, version = 0;
  uint64_t epoch = 0;
  changed_key *c = NULL;
  size_t n = 0;
  const size_t accounts_before = snap->naccounts;
  uint64_t mark = 0, then = 0;
  int rc = read_head(s, &seq, &epoch, &mark, err, errcap);
  if (rc == 0 && epoch == snap->epoch && seq >= snap->seq && snap->mark != 0) {
    /* The same history only if the store's mark of the snapshot's
     * sequence is the snapshot's: a backup put back in place and written
     * to since reaches that sequence by other writes. */
    then = mark;
    if (seq > snap->seq) {
      rc = read_mark(s, snap->seq, &then, err, errcap);
    }
  } else {
    then = snap->mark;
  }
  if (rc == 0 && epoch != snap->epoch) {
    *result = KG_REFRESH_FULL;
  } else if (rc == 0 && (seq < snap->seq || then != snap->mark)) {
    *result = KG_REFRESH_BACKWARDS;
  } else if (rc == 0 && seq > snap->seq) {
    rc = read_changes(s, snap->seq, &c, &n, err, errcap);
    if (rc == 0 && n > KG_REFRESH_MAX_ROWS) {
      *result = KG_REFRESH_FULL;
    } else if (rc == 0) {
      rc = load_accounts(s, snap, err, errcap);
      *result = KG_REFRESH_APPLIED;
    }
  }
  if (rc == 0) {
    rc = row_ints(s, "PRAGMA data_version", 1, &version, err, errcap);
  }
  store_rollback(s); /* a read: nothing to commit */
  if (rc == 0 && *result == KG_REFRESH_APPLIED) {
    /* New accounts are announced before their keys can be found. */
    if (snap->naccounts > accounts_before && snap->on_accounts != NULL) {
      snap->on_accounts(snap->on_accounts_arg, snap);
    }
    if (apply_changes(snap->index, c, n) != 0) {
      *result = KG_REFRESH_FULL;
    } else {
      snap->seq = seq;
      snap->mark = mark;
      if (rows != NULL) {
        *rows = n;
      }
    }
  }
  drop_changes(c, n);
  if (rc != 0) {
    return -1;
  }
  if (*result == KG_REFRESH_UNCHANGED || *result == KG_REFRESH_APPLIED) {
    s->loaded = 1;
    s->data_version = version;
    s->self_dirty = 0;
  }
  return 0;
}

int kg_store_head(kg_store *s, int64_t *seq, uint64_t *epoch, char *err,
                  size_t errcap) {
  if (s == NULL || seq == NULL || epoch == NULL) {
    return store_errf(err, errcap, "kg_store_head: bad argument");
  }
  if (store_exec(s, "BEGIN", err, errcap) != 0) {
    return -1;
  }
  const int rc = read_head(s, seq, epoch, NULL, err, errcap);
  store_rollback(s);
  return rc;
}

int kg_store_marks(kg_store *s, const int64_t *seq, uint64_t *mark, size_t n,
                   char *err, size_t errcap) {
  if (s == NULL || (n > 0 && (seq == NULL || mark == NULL))) {
    return store_errf(err, errcap, "kg_store_marks: bad argument");
  }
  if (store_exec(s, "BEGIN", err, errcap) != 0) {
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = read_mark(s, seq[i], &mark[i], err, errcap);
  }
  store_rollback(s);
  return rc;
}
