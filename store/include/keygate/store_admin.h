/*
 * keygate/store_admin.h — the key lifecycle of SPEC §2 on the SQLite store:
 * accounts and their tiers, creating, listing, deactivating, deleting and
 * rotating keys, and seeding a load-test population.
 *
 * Every write runs in one BEGIN IMMEDIATE transaction, so a check and the
 * write it guards (the tier limit and the insert) are atomic across
 * processes; a writer waits at most KG_STORE_BUSY_TIMEOUT_MS for another
 * and then fails with one line saying the database is locked. Commits are
 * durable (WAL, synchronous=FULL) before a function returns 0.
 *
 * A new key exists in clear only in a kg_new_key the caller owns: show it
 * once, then wipe it with kg_store_new_key_wipe. The store keeps its SHA-256
 * digest (HMAC-SHA-256 under the pepper in a peppered store) and its hint
 * (sk_live_****Ab3x), never the key.
 *
 * Errors: as keygate/store.h — 0 on success, -1 with one line in err.
 * Times are Unix seconds; an expires_at of 0 means "never".
 */
#ifndef KEYGATE_STORE_ADMIN_H
#define KEYGATE_STORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/index.h"
#include "keygate/key.h"
#include "keygate/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_STORE_SCHEMA_VERSION 3
#define KG_STORE_BUSY_TIMEOUT_MS 5000
/* kg_store_close's checkpoint after a write waits at most this for
 * readers (docs/store.md, "The -wal after a write") */
#define KG_STORE_CLOSE_CHECKPOINT_MS 100
#define KG_ACCOUNT_NAME_MAX 64 /* [A-Za-z0-9._-], first alphanumeric */
#define KG_KEY_NAME_MAX 64     /* printable ASCII, 0x20..0x7E */
#define KG_SEED_PER_ACCOUNT 50 /* keys per seeded (pro) account */

/* ---- tiers ------------------------------------------------------------ */

typedef enum kg_tier { KG_TIER_FREE = 0, KG_TIER_PRO = 1 } kg_tier;

/* kg_store_tier_name — "free" or "pro" (static string). */
const char *kg_store_tier_name(kg_tier t);

/* kg_store_tier_parse — "free" or "pro" to *out. Returns 0, or -1. */
int kg_store_tier_parse(const char *s, kg_tier *out);

/* kg_store_tier_limit — how many keys an account of tier t may hold: 3 or 50.
 * Deleted keys, and keys rotated out by a live successor, do not count. */
unsigned kg_store_tier_limit(kg_tier t);

/* ---- names ------------------------------------------------------------ */

/* kg_store_account_name_check — 0 when name is 1..64 characters of
 * [A-Za-z0-9._-] starting with a letter or digit; else -1 and why in err. */
int kg_store_account_name_check(const char *name, char *err, size_t errcap);

/* kg_store_key_name_check — 0 when name is 1..64 printable ASCII characters;
 * else -1 and why in err. */
int kg_store_key_name_check(const char *name, char *err, size_t errcap);

/* ---- accounts --------------------------------------------------------- */

typedef struct kg_store_account_info {
  uint64_t id; /* SQLite rowid; the account_id of kg_record */
  char name[KG_ACCOUNT_NAME_MAX + 1];
  kg_tier tier;
  int64_t created;
  unsigned keys; /* keys counting against the tier limit */
} kg_store_account_info;

/* kg_store_account_create — add an account; refuses a name already taken. Fills
 * *out when out is not NULL. */
int kg_store_account_create(kg_store *s, const char *name, kg_tier tier,
                            kg_store_account_info *out, char *err,
                            size_t errcap);

/*
 * kg_store_account_set_tier — change an account's tier. Going down to free with
 * more than 3 keys keeps every key working; only new keys are refused until
 * the account is under the limit. Fills *out (the account afterwards).
 */
int kg_store_account_set_tier(kg_store *s, const char *name, kg_tier tier,
                              kg_store_account_info *out, char *err,
                              size_t errcap);

/* kg_store_account_get — look an account up by name; unknown is an error. */
int kg_store_account_get(kg_store *s, const char *name,
                         kg_store_account_info *out, char *err, size_t errcap);

/* Called once per row; return non-zero to stop early (not an error). */
typedef int (*kg_store_account_fn)(const kg_store_account_info *a, void *ctx);

/* kg_store_account_each — call fn for every account, by name. */
int kg_store_account_each(kg_store *s, kg_store_account_fn fn, void *ctx,
                          char *err, size_t errcap);

/* ---- keys ------------------------------------------------------------- */

typedef struct kg_store_key_info {
  uint64_t id;         /* random 64-bit id; kg_key_id_format shows it */
  uint64_t account_id; /* accounts.id */
  char account[KG_ACCOUNT_NAME_MAX + 1];
  char name[KG_KEY_NAME_MAX + 1];
  char hint[KG_KEY_HINT_MAX]; /* sk_live_****Ab3x */
  int64_t created;
  int64_t updated;         /* last status or expiry change */
  int64_t expires_at;      /* 0 = never */
  kg_record_status status; /* KG_REC_ACTIVE, _DEACTIVATED or _DELETED */
  uint64_t replaces;       /* the key this one rotated out; 0 = none */
  uint64_t replaced_by;    /* its live (not deleted) successor; 0 = none */
} kg_store_key_info;

/* kg_store_key_state_name — the state a person should see at time now:
 * "deleted", "deactivated", "expired" (active but now >= expires_at),
 * "rotated" (replaced by a live successor, working until its expiry) or
 * "active". Static string. */
const char *kg_store_key_state_name(const kg_store_key_info *k, int64_t now);

/* A key just made. key[0..key_len) is the secret: show it once, then
 * kg_store_new_key_wipe. */
typedef struct kg_new_key {
  char key[KG_KEY_MAX_LEN + 1];
  size_t key_len;
  kg_store_key_info info;
} kg_new_key;

/* kg_store_new_key_wipe — erase the key (OPENSSL_cleanse) and its info. */
void kg_store_new_key_wipe(kg_new_key *k);

/*
 * kg_store_key_create — make a key for account `account` named `name`, expiring
 * at expires_at (0 = never). Counts the account's keys and inserts in one
 * IMMEDIATE transaction, so the tier limit holds under concurrent
 * creation. On a full account the error is, for example:
 *   account acme (free tier) already holds 3 keys; delete one or upgrade
 *   to pro
 * Fills *out only after the COMMIT succeeded. On failure *out is wiped.
 */
int kg_store_key_create(kg_store *s, const char *account, const char *name,
                        int64_t expires_at, kg_new_key *out, char *err,
                        size_t errcap);

/*
 * kg_store_key_rotate — replace key id with a new key of the same account and
 * name: the new key (expiring at expires_at, 0 = never) records that it
 * replaces id, and the old key expires at now + grace_seconds (or earlier,
 * if it already would). The old key stops counting against the tier limit,
 * so rotation works on a full account. Refused for a deleted or deactivated
 * key, a key already rotated, and a key whose own predecessor is still in
 * its grace period (so no account holds more than two live keys per slot).
 * Fills *out (the new key) and, when old is not NULL, *old (afterwards).
 */
int kg_store_key_rotate(kg_store *s, uint64_t id, int64_t grace_seconds,
                        int64_t expires_at, kg_new_key *out,
                        kg_store_key_info *old, char *err, size_t errcap);

/* kg_store_key_deactivate — mark key id deactivated (it then answers
 * expired_api_key). Deactivating twice is fine; a deleted key is refused.
 * Fills *out when not NULL. */
int kg_store_key_deactivate(kg_store *s, uint64_t id, kg_store_key_info *out,
                            char *err, size_t errcap);

/* kg_store_key_delete — mark key id deleted (it then answers invalid_api_key
 * and no longer counts against the tier limit). The row stays for audit.
 * Deleting twice is fine. Fills *out when not NULL. */
int kg_store_key_delete(kg_store *s, uint64_t id, kg_store_key_info *out,
                        char *err, size_t errcap);

/* kg_store_key_get — one key by id; unknown is an error. */
int kg_store_key_get(kg_store *s, uint64_t id, kg_store_key_info *out,
                     char *err, size_t errcap);

/*
 * kg_store_key_find_digest — the key whose digest is `digest`: sets *found to 1
 * and fills *out, or sets *found to 0.
 *
 * NOT CONSTANT-TIME: SQLite walks its B-tree comparing the digest with
 * memcmp, so the time taken depends on the stored digests. FOR
 * ADMINISTRATION AND TESTS ONLY; NEVER CALL IT ON A REQUEST PATH. Requests
 * are decided through kg_store_load and the constant-time core index.
 */
int kg_store_key_find_digest(kg_store *s, const uint8_t digest[KG_DIGEST_LEN],
                             kg_store_key_info *out, int *found, char *err,
                             size_t errcap);

/* Called once per row; return non-zero to stop early (not an error). */
typedef int (*kg_store_key_fn)(const kg_store_key_info *k, void *ctx);

/*
 * kg_store_key_each — call fn for the keys of account `account` (NULL: every
 * account; an unknown account is an error), ordered by account name, then
 * creation time. Deleted keys only when include_deleted is non-zero.
 */
int kg_store_key_each(kg_store *s, const char *account, int include_deleted,
                      kg_store_key_fn fn, void *ctx, char *err, size_t errcap);

/* ---- seeding ---------------------------------------------------------- */

typedef enum kg_seed_class {
  KG_SEED_VALID = 0,
  KG_SEED_EXPIRED = 1,    /* expires_at a day in the past */
  KG_SEED_DEACTIVATED = 2 /* status deactivated */
} kg_seed_class;

/* kg_seed_class_name — "valid", "expired" or "deactivated". */
const char *kg_seed_class_name(kg_seed_class c);

typedef struct kg_seed_counts {
  size_t valid, expired, deactivated;
} kg_seed_counts;

typedef struct kg_seed_result {
  size_t keys;          /* keys made */
  size_t accounts;      /* pro accounts made */
  unsigned first, last; /* their numbers: seed-<first> .. seed-<last> */
} kg_seed_result;

/*
 * Called once per new key, inside the transaction: the key is NOT durable
 * until kg_store_seed returns 0, so the callee must not publish it before
 * then (write it to a temporary file, rename after). key is wiped after the
 * call. Then once more with key NULL, len 0 and c KG_SEED_VALID (no
 * meaning), after the last key and before the commit: make what was
 * written durable now (flush, fsync the file and its directory entry), so
 * that no key the store commits exists nowhere else; a callee written
 * before this call existed must check key for NULL. Return non-zero to
 * abort the whole seed (rolled back).
 */
typedef int (*kg_seed_fn)(kg_seed_class c, const char *key, size_t len,
                          void *ctx);

/*
 * kg_store_seed — make counts->valid + expired + deactivated keys in one
 * transaction, spread KG_SEED_PER_ACCOUNT to an account over new pro
 * accounts named seed-0001, seed-0002, ... (numbering continues after the
 * seed accounts already present). fn may be NULL. Fills *res when not NULL.
 */
int kg_store_seed(kg_store *s, const kg_seed_counts *counts, kg_seed_fn fn,
                  void *ctx, kg_seed_result *res, char *err, size_t errcap);

/* ---- store facts ------------------------------------------------------ */

/* kg_store_path — the path the store was opened with (owned by s). */
const char *kg_store_path(const kg_store *s);

/*
 * kg_store_ack_restore — accept the store as it is now after a restore
 * from an older backup: give it a new epoch (meta.epoch) and bump its
 * change sequence, in one write transaction. Servers that refused the
 * store because its sequence went backwards load it again (keys deleted
 * after the backup was made answer again: delete them anew). The epoch
 * replaced joins the store's left epochs (kg_snapshot_left_epochs): a
 * server that loads the store from then on refuses a file of that epoch.
 * Sets *seq to the new sequence.
 */
int kg_store_ack_restore(kg_store *s, int64_t *seq, char *err, size_t errcap);

/* kg_store_digest_name — the digest the store's keys are kept under, as
 * recorded in its meta table: "sha256", or "hmac-sha256" for a peppered
 * store. Owned by s. */
const char *kg_store_digest_name(const kg_store *s);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_STORE_ADMIN_H */
