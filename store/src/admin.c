/*
 * store/src/admin.c — the key lifecycle (SPEC §2): tiers, accounts, and
 * creating, reading, deactivating, deleting and rotating keys.
 *
 * Every write is one BEGIN IMMEDIATE transaction: it takes the database's
 * write lock before its first read, so a limit check and the insert it
 * guards cannot interleave with another process's. A key is generated and
 * digested inside the transaction and handed to the caller only after the
 * COMMIT returned.
 */
#define _GNU_SOURCE /* gmtime_r with -std=c11 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

/* ---- tiers and names --------------------------------------------------- */

const char *kg_store_tier_name(kg_tier t) {
  return t == KG_TIER_PRO ? "pro" : "free";
}

int kg_store_tier_parse(const char *s, kg_tier *out) {
  if (s != NULL && strcmp(s, "free") == 0) {
    *out = KG_TIER_FREE;
    return 0;
  }
  if (s != NULL && strcmp(s, "pro") == 0) {
    *out = KG_TIER_PRO;
    return 0;
  }
  return -1;
}

unsigned kg_store_tier_limit(kg_tier t) {
  return t == KG_TIER_PRO ? 50u : 3u;
}

static int is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

/* 1 when s holds a key's prefix ("sk_live_", "sk_test_", any case). */
static int looks_like_a_key(const char *s) {
  for (; *s != '\0'; s++) {
    if (strncasecmp(s, "sk_live_", 8) == 0 ||
        strncasecmp(s, "sk_test_", 8) == 0) {
      return 1;
    }
  }
  return 0;
}

int kg_store_account_name_check(const char *name, char *err, size_t errcap) {
  if (name == NULL || name[0] == '\0') {
    return store_errf(err, errcap, "an account name must not be empty");
  }
  const size_t len = strlen(name);
  if (len > KG_ACCOUNT_NAME_MAX) {
    return store_errf(err, errcap, "account name is %zu characters; at most %d",
                      len, KG_ACCOUNT_NAME_MAX);
  }
  if (!is_alnum(name[0])) {
    return store_errf(err, errcap,
                      "account name must start with a letter or digit");
  }
  for (size_t i = 0; i < len; i++) {
    const char c = name[i];
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
      return store_errf(err, errcap,
                        "account name may hold only letters, digits, '.', "
                        "'_' and '-'");
    }
  }
  if (looks_like_a_key(name)) {
    return store_errf(
        err, errcap,
        "an account name must not look like a key (starting sk_live_ "
        "or sk_test_ anywhere): names are printed whole in lists");
  }
  return 0;
}

int kg_store_key_name_check(const char *name, char *err, size_t errcap) {
  if (name == NULL || name[0] == '\0') {
    return store_errf(err, errcap, "a key name must not be empty");
  }
  const size_t len = strlen(name);
  if (len > KG_KEY_NAME_MAX) {
    return store_errf(err, errcap,
                      "key name is %zu characters; at most %d printable "
                      "characters",
                      len, KG_KEY_NAME_MAX);
  }
  for (size_t i = 0; i < len; i++) {
    const unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c > 0x7e) {
      return store_errf(err, errcap,
                        "key name may hold only printable ASCII characters "
                        "(byte %zu is 0x%02x)",
                        i + 1, c);
    }
  }
  if (looks_like_a_key(name)) {
    return store_errf(err, errcap,
                      "a key name must not hold a key (sk_live_ or sk_test_ "
                      "anywhere): names are printed whole in lists");
  }
  return 0;
}

/* ---- accounts ---------------------------------------------------------- */

/* Keys that count against account a.id's limit: not deleted, and not
 * rotated out by a successor that is itself not deleted. */
#define COUNTED_KEYS_SQL(acct)                                                 \
  "(SELECT count(*) FROM keys k WHERE k.account_id = " acct                    \
  " AND k.status != 'deleted' AND NOT EXISTS (SELECT 1 FROM keys n"            \
  " WHERE n.replaces = k.id AND n.status != 'deleted'))"

#define ACCOUNT_SELECT_SQL                                                     \
  "SELECT a.id, a.name, a.tier, a.created, " COUNTED_KEYS_SQL(                 \
      "a.id") " FROM accounts a"

/* Fill *a from a row of ACCOUNT_SELECT_SQL. */
static void read_account_row(sqlite3_stmt *st, kg_store_account_info *a) {
  memset(a, 0, sizeof *a);
  a->id = (uint64_t)sqlite3_column_int64(st, 0);
  const unsigned char *name = sqlite3_column_text(st, 1);
  snprintf(a->name, sizeof a->name, "%s",
           name != NULL ? (const char *)name : "");
  const unsigned char *tier = sqlite3_column_text(st, 2);
  a->tier = KG_TIER_FREE;
  if (tier != NULL) {
    (void)kg_store_tier_parse((const char *)tier, &a->tier);
  }
  a->created = sqlite3_column_int64(st, 3);
  a->keys = (unsigned)sqlite3_column_int64(st, 4);
}

int kg_store_account_get(kg_store *s, const char *name,
                         kg_store_account_info *out, char *err, size_t errcap) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  if (store_prepare(s, ACCOUNT_SELECT_SQL " WHERE a.name = ?1", &st, err,
                    errcap) != 0) {
    return -1;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_account_row(st, out);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    return store_errk(KG_STORE_E_NO_ACCOUNT, err, errcap, "no account named %s",
                      name);
  }
  if (rc != SQLITE_ROW) {
    return store_sqlerr(s, rc, "reading an account", err, errcap);
  }
  return 0;
}

int store_account_lookup(kg_store *s, const char *name, uint64_t *id,
                         kg_tier *tier, char *err, size_t errcap) {
  *id = 0;
  *tier = KG_TIER_FREE;
  sqlite3_stmt *st;
  if (store_prepare(s, "SELECT id, tier FROM accounts WHERE name = ?1", &st,
                    err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *id = (uint64_t)sqlite3_column_int64(st, 0);
    const unsigned char *t = sqlite3_column_text(st, 1);
    *tier = KG_TIER_FREE;
    if (t != NULL) {
      (void)kg_store_tier_parse((const char *)t, tier);
    }
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    return store_errk(KG_STORE_E_NO_ACCOUNT, err, errcap, "no account named %s",
                      name);
  }
  if (rc != SQLITE_ROW) {
    return store_sqlerr(s, rc, "reading an account", err, errcap);
  }
  return 0;
}

int store_account_count(kg_store *s, uint64_t id, unsigned *count, char *err,
                        size_t errcap) {
  *count = 0;
  sqlite3_stmt *st;
  if (store_prepare(s, "SELECT " COUNTED_KEYS_SQL("?1"), &st, err, errcap) !=
      0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *count = (unsigned)sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) {
    return store_sqlerr(s, rc, "counting keys", err, errcap);
  }
  return 0;
}

int kg_store_account_create(kg_store *s, const char *name, kg_tier tier,
                            kg_store_account_info *out, char *err,
                            size_t errcap) {
  if (kg_store_account_name_check(name, err, errcap) != 0 ||
      store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  sqlite3_stmt *st;
  if (store_prepare(s,
                    "INSERT INTO accounts (name, tier, created)"
                    " VALUES (?1, ?2, ?3)",
                    &st, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, kg_store_tier_name(tier), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, store_now());
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    store_rollback(s);
    return store_errf(err, errcap, "account %s already exists", name);
  }
  if (rc != SQLITE_DONE) {
    store_sqlerr(s, rc, "creating an account", err, errcap);
    store_rollback(s);
    return -1;
  }
  if (store_new_account_check(s, name, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  if (store_commit(s, err, errcap) != 0) {
    return -1;
  }
  kg_store_account_info tmp;
  return kg_store_account_get(s, name, out != NULL ? out : &tmp, err, errcap);
}

int kg_store_account_set_tier(kg_store *s, const char *name, kg_tier tier,
                              kg_store_account_info *out, char *err,
                              size_t errcap) {
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  sqlite3_stmt *st;
  if (store_prepare(s, "UPDATE accounts SET tier = ?1 WHERE name = ?2", &st,
                    err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  sqlite3_bind_text(st, 1, kg_store_tier_name(tier), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    store_sqlerr(s, rc, "changing a tier", err, errcap);
    store_rollback(s);
    return -1;
  }
  if (sqlite3_changes(s->db) == 0) {
    store_rollback(s);
    return store_errk(KG_STORE_E_NO_ACCOUNT, err, errcap, "no account named %s",
                      name);
  }
  if (store_commit(s, err, errcap) != 0) {
    return -1;
  }
  kg_store_account_info tmp;
  return kg_store_account_get(s, name, out != NULL ? out : &tmp, err, errcap);
}

int kg_store_account_each(kg_store *s, kg_store_account_fn fn, void *ctx,
                          char *err, size_t errcap) {
  sqlite3_stmt *st;
  if (store_prepare(s, ACCOUNT_SELECT_SQL " ORDER BY a.name", &st, err,
                    errcap) != 0) {
    return -1;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    kg_store_account_info a;
    read_account_row(st, &a);
    if (fn(&a, ctx) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "listing accounts", err, errcap);
  }
  return 0;
}

/* ---- reading keys ------------------------------------------------------ */

#define KEY_SELECT_SQL                                                         \
  "SELECT k.id, k.account_id, a.name, k.name, k.hint, k.created, k.updated,"   \
  " k.expires_at, k.status, k.replaces,"                                       \
  " (SELECT n.id FROM keys n WHERE n.replaces = k.id"                          \
  "  AND n.status != 'deleted' LIMIT 1)"                                       \
  " FROM keys k JOIN accounts a ON a.id = k.account_id"

/* Copy column i of st as text into out[0..cap). */
static void column_copy(sqlite3_stmt *st, int i, char *out, size_t cap) {
  const unsigned char *v = sqlite3_column_text(st, i);
  snprintf(out, cap, "%s", v != NULL ? (const char *)v : "");
}

/* Fill *k from a row of KEY_SELECT_SQL. */
static void read_key_row(sqlite3_stmt *st, kg_store_key_info *k) {
  memset(k, 0, sizeof *k);
  k->id = (uint64_t)sqlite3_column_int64(st, 0);
  k->account_id = (uint64_t)sqlite3_column_int64(st, 1);
  column_copy(st, 2, k->account, sizeof k->account);
  column_copy(st, 3, k->name, sizeof k->name);
  column_copy(st, 4, k->hint, sizeof k->hint);
  k->created = sqlite3_column_int64(st, 5);
  k->updated = sqlite3_column_int64(st, 6);
  if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
    const int64_t at = sqlite3_column_int64(st, 7);
    k->expires_at = at < 1 ? 1 : at; /* 0 would read as "never" */
  }
  const unsigned char *status = sqlite3_column_text(st, 8);
  k->status = KG_REC_ACTIVE;
  if (status != NULL && strcmp((const char *)status, "deactivated") == 0) {
    k->status = KG_REC_DEACTIVATED;
  } else if (status != NULL && strcmp((const char *)status, "deleted") == 0) {
    k->status = KG_REC_DELETED;
  }
  k->replaces = (uint64_t)sqlite3_column_int64(st, 9);
  k->replaced_by = (uint64_t)sqlite3_column_int64(st, 10);
}

int kg_store_key_get(kg_store *s, uint64_t id, kg_store_key_info *out,
                     char *err, size_t errcap) {
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st;
  if (store_prepare(s, KEY_SELECT_SQL " WHERE k.id = ?1", &st, err, errcap) !=
      0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_key_row(st, out);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE) {
    char ids[KG_KEY_ID_STR_LEN];
    kg_key_id_format(id, ids);
    return store_errk(KG_STORE_E_NO_KEY, err, errcap, "no key %s in %s", ids,
                      s->path);
  }
  if (rc != SQLITE_ROW) {
    return store_sqlerr(s, rc, "reading a key", err, errcap);
  }
  return 0;
}

int kg_store_key_find_digest(kg_store *s, const uint8_t digest[KG_DIGEST_LEN],
                             kg_store_key_info *out, int *found, char *err,
                             size_t errcap) {
  sqlite3_stmt *st;
  *found = 0;
  if (store_prepare(s, KEY_SELECT_SQL " WHERE k.digest = ?1", &st, err,
                    errcap) != 0) {
    return -1;
  }
  sqlite3_bind_blob(st, 1, digest, KG_DIGEST_LEN, SQLITE_STATIC);
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    read_key_row(st, out);
    *found = 1;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "looking a digest up", err, errcap);
  }
  return 0;
}

int kg_store_key_each(kg_store *s, const char *account, int include_deleted,
                      kg_store_key_fn fn, void *ctx, char *err, size_t errcap) {
  uint64_t account_id = 0;
  kg_tier tier;
  if (account != NULL &&
      store_account_lookup(s, account, &account_id, &tier, err, errcap) != 0) {
    return -1;
  }
  sqlite3_stmt *st;
  if (store_prepare(s,
                    KEY_SELECT_SQL " WHERE (?1 = 0 OR k.account_id = ?1)"
                                   " AND (?2 OR k.status != 'deleted')"
                                   " ORDER BY a.name, k.created, k.name, k.id",
                    &st, err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_int64(st, 1, (sqlite3_int64)account_id);
  sqlite3_bind_int(st, 2, include_deleted != 0);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    kg_store_key_info k;
    read_key_row(st, &k);
    if (fn(&k, ctx) != 0) {
      rc = SQLITE_DONE;
      break;
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "listing keys", err, errcap);
  }
  return 0;
}

const char *kg_store_key_state_name(const kg_store_key_info *k, int64_t now) {
  if (k->status == KG_REC_DELETED) {
    return "deleted";
  }
  if (k->status == KG_REC_DEACTIVATED) {
    return "deactivated";
  }
  if (k->expires_at != 0 && now >= k->expires_at) {
    return "expired";
  }
  /* Replaced by a live successor, working until its grace period ends. */
  return k->replaced_by != 0 ? "rotated" : "active";
}

/* ---- making keys ------------------------------------------------------- */

void kg_store_new_key_wipe(kg_new_key *k) {
  if (k != NULL) {
    OPENSSL_cleanse(k, sizeof *k);
  }
}

int store_make_key(kg_store *s, kg_new_key *out, uint8_t digest[KG_DIGEST_LEN],
                   char *err, size_t errcap) {
  memset(out, 0, sizeof *out);
  if (kg_key_generate(&s->policy, out->key, sizeof out->key, &out->key_len) !=
      KG_OK) {
    kg_store_new_key_wipe(out);
    return store_errf(err, errcap, "the random generator failed");
  }
  if (kg_digest(s->digester, out->key, out->key_len, digest) != KG_OK) {
    kg_store_new_key_wipe(out);
    return store_errf(err, errcap, "SHA-256 failed (OpenSSL)");
  }
  kg_key_hint(&s->policy, out->key, out->key_len, out->info.hint,
              sizeof out->info.hint);
  return 0;
}

void store_bind_key_row(sqlite3_stmt *ins, int base, uint64_t id,
                        const store_new_row *row,
                        const uint8_t digest[KG_DIGEST_LEN], const char *hint,
                        int64_t seq) {
  sqlite3_bind_int64(ins, base + 10, seq);
  sqlite3_bind_int64(ins, base + 1, (sqlite3_int64)id);
  sqlite3_bind_int64(ins, base + 2, (sqlite3_int64)row->account_id);
  sqlite3_bind_blob(ins, base + 3, digest, KG_DIGEST_LEN, SQLITE_TRANSIENT);
  sqlite3_bind_text(ins, base + 4, hint, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(ins, base + 5, row->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(ins, base + 6, row->created);
  if (row->expires_at != 0) {
    sqlite3_bind_int64(ins, base + 7, row->expires_at);
  } else {
    sqlite3_bind_null(ins, base + 7);
  }
  sqlite3_bind_text(ins, base + 8, store_status_word(row->status), -1,
                    SQLITE_STATIC);
  if (row->replaces != 0) {
    sqlite3_bind_int64(ins, base + 9, (sqlite3_int64)row->replaces);
  } else {
    sqlite3_bind_null(ins, base + 9);
  }
}

void store_key_info_fill(kg_new_key *out, uint64_t id,
                         const store_new_row *row) {
  out->info.id = id;
  out->info.account_id = row->account_id;
  snprintf(out->info.name, sizeof out->info.name, "%s", row->name);
  out->info.created = row->created;
  out->info.updated = row->created;
  out->info.expires_at = row->expires_at;
  out->info.status = row->status;
  out->info.replaces = row->replaces;
}

int store_insert_key(kg_store *s, sqlite3_stmt *ins, const store_new_row *row,
                     kg_new_key *out, char *err, size_t errcap) {
  memset(out, 0, sizeof *out);
  for (int attempt = 0; attempt < 4; attempt++) {
    uint8_t digest[KG_DIGEST_LEN];
    uint64_t id = attempt == 0 ? row->id : 0;
    if (id == 0 && store_random_id(&id, err, errcap) != 0) {
      kg_store_new_key_wipe(out);
      return store_errf(err, errcap, "the random generator failed");
    }
    if (store_make_key(s, out, digest, err, errcap) != 0) {
      return -1;
    }
    int64_t seq;
    if (store_seq(s, &seq, err, errcap) != 0) {
      kg_store_new_key_wipe(out);
      return -1;
    }
    sqlite3_reset(ins);
    store_bind_key_row(ins, 0, id, row, digest, out->info.hint, seq);
    const int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc == SQLITE_DONE) {
      store_key_info_fill(out, id, row);
      return 0;
    }
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY && rc != SQLITE_CONSTRAINT_UNIQUE) {
      kg_store_new_key_wipe(out);
      return store_sqlerr(s, rc, "storing a key", err, errcap);
    }
    /* An id or digest clash: draw again. */
  }
  kg_store_new_key_wipe(out);
  return store_errf(err, errcap, "could not draw a unique key id");
}

/* The refusal for a full account; the free-tier wording is the SPEC's. */
static int limit_error(const char *account, kg_tier tier, unsigned count,
                       char *err, size_t errcap) {
  const unsigned limit = kg_store_tier_limit(tier);
  const char *fix = tier == KG_TIER_FREE ? " or upgrade to pro" : " first";
  if (count <= limit) {
    return store_errf(err, errcap,
                      "account %s (%s tier) already holds %u keys; delete "
                      "one%s",
                      account, kg_store_tier_name(tier), count, fix);
  }
  return store_errf(err, errcap,
                    "account %s (%s tier) already holds %u keys, over its "
                    "limit of %u; delete %u%s",
                    account, kg_store_tier_name(tier), count, limit,
                    count - limit + 1, fix);
}

int kg_store_key_create(kg_store *s, const char *account, const char *name,
                        int64_t expires_at, kg_new_key *out, char *err,
                        size_t errcap) {
  if (out == NULL) {
    return store_errf(err, errcap, "kg_store_key_create: out is NULL");
  }
  memset(out, 0, sizeof *out);
  if (kg_store_key_name_check(name, err, errcap) != 0) {
    return -1;
  }
  if (store_expiry_check(expires_at, err, errcap) != 0) {
    return -1;
  }
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  uint64_t account_id;
  kg_tier tier;
  unsigned count;
  sqlite3_stmt *ins = NULL;
  if (store_account_lookup(s, account, &account_id, &tier, err, errcap) != 0 ||
      store_account_count(s, account_id, &count, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  if (count >= kg_store_tier_limit(tier)) {
    store_rollback(s);
    return limit_error(account, tier, count, err, errcap);
  }
  if (account_id > KG_RECORD_ACCOUNT_ID_MAX) { /* written by hand */
    store_rollback(s);
    return store_errf(err, errcap,
                      "account %s has id %llu, past %llu: the index cannot "
                      "hold its keys (36 bits)",
                      account, (unsigned long long)account_id,
                      (unsigned long long)KG_RECORD_ACCOUNT_ID_MAX);
  }
  const store_new_row row = {.account_id = account_id,
                             .name = name,
                             .created = store_now(),
                             .expires_at = expires_at,
                             .status = KG_REC_ACTIVE};
  if (store_prepare(s, STORE_INSERT_KEY_SQL, &ins, err, errcap) != 0 ||
      store_insert_key(s, ins, &row, out, err, errcap) != 0) {
    sqlite3_finalize(ins);
    store_rollback(s);
    return -1;
  }
  sqlite3_finalize(ins);
  if (store_commit(s, err, errcap) != 0) {
    kg_store_new_key_wipe(out);
    return -1;
  }
  snprintf(out->info.account, sizeof out->info.account, "%s", account);
  return 0;
}

/* ---- changing keys ----------------------------------------------------- */

/* Set a key's status and/or expiry inside the current transaction. */
static int update_key(kg_store *s, uint64_t id, const char *status,
                      int64_t expires_at, int64_t now, char *err,
                      size_t errcap) {
  sqlite3_stmt *st;
  int64_t seq;
  if (store_seq(s, &seq, err, errcap) != 0 ||
      store_prepare(s,
                    "UPDATE keys SET status = coalesce(?1, status),"
                    " expires_at = CASE WHEN ?2 = 0 THEN expires_at"
                    " ELSE ?2 END, updated = ?3, seq = ?5 WHERE id = ?4",
                    &st, err, errcap) != 0) {
    return -1;
  }
  sqlite3_bind_int64(st, 5, seq);
  if (status != NULL) {
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(st, 1);
  }
  sqlite3_bind_int64(st, 2, expires_at);
  sqlite3_bind_int64(st, 3, now);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)id);
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return store_sqlerr(s, rc, "updating a key", err, errcap);
  }
  return 0;
}

/* Move key id to `status` (deactivated or deleted). */
static int set_status(kg_store *s, uint64_t id, kg_record_status status,
                      kg_store_key_info *out, char *err, size_t errcap) {
  kg_store_key_info k;
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  if (kg_store_key_get(s, id, &k, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  char ids[KG_KEY_ID_STR_LEN];
  kg_key_id_format(id, ids);
  if (status == KG_REC_DEACTIVATED && k.status == KG_REC_DELETED) {
    store_rollback(s);
    return store_errf(err, errcap,
                      "key %s is deleted; it cannot be "
                      "deactivated",
                      ids);
  }
  if (k.status != status) {
    const int64_t now = store_now();
    if (update_key(s, id, store_status_word(status), 0, now, err, errcap) !=
        0) {
      store_rollback(s);
      return -1;
    }
    k.status = status;
    k.updated = now;
    if (store_commit(s, err, errcap) != 0) {
      return -1;
    }
  } else {
    store_rollback(s); /* already so: nothing to write */
  }
  if (out != NULL) {
    *out = k;
  }
  return 0;
}

int kg_store_key_deactivate(kg_store *s, uint64_t id, kg_store_key_info *out,
                            char *err, size_t errcap) {
  return set_status(s, id, KG_REC_DEACTIVATED, out, err, errcap);
}

int kg_store_key_delete(kg_store *s, uint64_t id, kg_store_key_info *out,
                        char *err, size_t errcap) {
  return set_status(s, id, KG_REC_DELETED, out, err, errcap);
}

/* Why key k cannot be rotated at time now, or 0 when it can. */
static int rotate_refusal(kg_store *s, const kg_store_key_info *k, int64_t now,
                          char *err, size_t errcap) {
  char ids[KG_KEY_ID_STR_LEN], other[KG_KEY_ID_STR_LEN];
  kg_key_id_format(k->id, ids);
  if (k->status == KG_REC_DELETED || k->status == KG_REC_DEACTIVATED) {
    return store_errk(KG_STORE_E_KEY_GONE, err, errcap, "key %s is %s", ids,
                      store_status_word(k->status));
  }
  if (k->replaced_by != 0) {
    kg_key_id_format(k->replaced_by, other);
    return store_errf(err, errcap,
                      "key %s was already rotated to %s; rotate %s instead",
                      ids, other, other);
  }
  if (k->replaces == 0) {
    return 0;
  }
  kg_store_key_info prev;
  if (kg_store_key_get(s, k->replaces, &prev, err, errcap) != 0) {
    return -1;
  }
  if (prev.status == KG_REC_ACTIVE &&
      (prev.expires_at == 0 || prev.expires_at > now)) {
    kg_key_id_format(prev.id, other);
    const time_t t = (time_t)prev.expires_at;
    struct tm tm;
    char when[32] = "later";
    if (gmtime_r(&t, &tm) != NULL) {
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return store_errf(err, errcap,
                      "key %s replaced %s, which is still in its grace "
                      "period until %s; wait for it or delete %s first",
                      ids, other, when, other);
  }
  return 0;
}

int kg_store_key_rotate(kg_store *s, uint64_t id, int64_t grace_seconds,
                        int64_t expires_at, kg_new_key *out,
                        kg_store_key_info *old, char *err, size_t errcap) {
  if (out == NULL) {
    return store_errf(err, errcap, "kg_store_key_rotate: out is NULL");
  }
  memset(out, 0, sizeof *out);
  const int64_t now = store_now();
  /* the old key's expiry must fit a record too (store_expiry_check) */
  if (grace_seconds < 0 || grace_seconds > KG_RECORD_EXPIRES_MAX - now) {
    return store_errf(err, errcap, "the grace period is out of range");
  }
  if (store_expiry_check(expires_at, err, errcap) != 0) {
    return -1;
  }
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  kg_store_key_info k;
  sqlite3_stmt *ins = NULL;
  if (kg_store_key_get(s, id, &k, err, errcap) != 0 ||
      rotate_refusal(s, &k, now, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  /* The old key lives on for the grace period, never longer than it
   * already would. */
  int64_t old_expiry = now + grace_seconds;
  if (k.expires_at != 0 && k.expires_at < old_expiry) {
    old_expiry = k.expires_at;
  }
  if (old_expiry < 1) {
    old_expiry = 1;
  }
  const store_new_row row = {.account_id = k.account_id,
                             .name = k.name,
                             .created = now,
                             .expires_at = expires_at,
                             .status = KG_REC_ACTIVE,
                             .replaces = k.id};
  if (store_prepare(s, STORE_INSERT_KEY_SQL, &ins, err, errcap) != 0 ||
      store_insert_key(s, ins, &row, out, err, errcap) != 0 ||
      update_key(s, k.id, NULL, old_expiry, now, err, errcap) != 0) {
    sqlite3_finalize(ins);
    kg_store_new_key_wipe(out);
    store_rollback(s);
    return -1;
  }
  sqlite3_finalize(ins);
  if (store_commit(s, err, errcap) != 0) {
    kg_store_new_key_wipe(out);
    return -1;
  }
  snprintf(out->info.account, sizeof out->info.account, "%s", k.account);
  if (old != NULL) {
    *old = k;
    old->expires_at = old_expiry;
    old->updated = now;
    old->replaced_by = out->info.id;
  }
  return 0;
}

/* ---- restores ---------------------------------------------------------- */

int kg_store_ack_restore(kg_store *s, int64_t *seq, char *err, size_t errcap) {
  if (store_begin_write(s, err, errcap) != 0) {
    return -1;
  }
  /* The epoch replaced joins meta.left_epochs, written anew as the list
   * store_read_left reads (16 hex digits each, one space apart, the newest
   * last, the last KG_STORE_LEFT_EPOCHS_MAX); a damaged list is refused,
   * never appended to. */
  uint64_t left[KG_STORE_LEFT_EPOCHS_MAX];
  size_t n = 0;
  uint64_t epoch = 0;
  char list[KG_STORE_LEFT_EPOCHS_MAX * 17 + 1];
  int rc = store_read_left(s, left, &n, err, errcap);
  if (rc == 0) {
    sqlite3_stmt *st;
    rc = store_prepare(s, "SELECT value FROM meta WHERE name = 'epoch'", &st,
                       err, errcap);
    if (rc == 0) {
      const int step = sqlite3_step(st);
      const unsigned char *v =
          step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
      epoch = v != NULL ? strtoull((const char *)v, NULL, 16) : 0;
      sqlite3_finalize(st);
      rc = v != NULL ? 0
                     : store_errf(err, errcap,
                                  "%s is damaged: its meta table holds no "
                                  "epoch",
                                  s->path);
    }
  }
  if (rc == 0) {
    if (n == KG_STORE_LEFT_EPOCHS_MAX) {
      memmove(left, left + 1, (n - 1) * sizeof left[0]);
      n--;
    }
    left[n++] = epoch;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%016llx",
                              i > 0 ? " " : "", (unsigned long long)left[i]);
    }
    sqlite3_stmt *st;
    rc = store_prepare(s,
                       "INSERT INTO meta (name, value) VALUES"
                       " ('left_epochs', ?1) ON CONFLICT (name) DO UPDATE"
                       " SET value = excluded.value",
                       &st, err, errcap);
    if (rc == 0) {
      sqlite3_bind_text(st, 1, list, (int)len, SQLITE_STATIC);
      const int step = sqlite3_step(st);
      sqlite3_finalize(st);
      rc = step == SQLITE_DONE
               ? 0
               : store_sqlerr(s, step, "recording the epoch left", err, errcap);
    }
  }
  int64_t next;
  if (rc != 0 ||
      store_exec(s,
                 "UPDATE meta SET value = lower(hex(randomblob(8)))"
                 " WHERE name = 'epoch'",
                 err, errcap) != 0 ||
      store_seq(s, &next, err, errcap) != 0) {
    store_rollback(s);
    return -1;
  }
  if (store_commit(s, err, errcap) != 0) {
    return -1;
  }
  if (seq != NULL) {
    *seq = next;
  }
  return 0;
}
