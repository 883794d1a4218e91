/*
 * keygate/store.h — the SQLite key store (SPEC §2) and its loader into the
 * core index.
 *
 * The store keeps accounts and key digests, never keys. This header is the
 * contract between the store and its readers (the CLI, the nginx module):
 * open, load a snapshot (index + account names), and notice changes.
 * The lifecycle operations (accounts, keys) are declared in
 * keygate/store_admin.h.
 *
 * Errors: functions return 0 on success and -1 on failure, writing one
 * human-readable line (no key material, ever) into err[0..errcap). Not a
 * kg_status, by decision: a store fails mostly by I/O and SQLite errors
 * whose only useful content is the line (which file, what is wrong). The
 * line says what is wrong and names no face: no command, flag, variable or
 * directive. What to do is the face's (the CLI, the nginx module): for the
 * errors a face has a fix for, kg_store_last_error_kind says which one it
 * was, and the face maps that kind to its own words (see below). The
 * lifecycle functions are kg_store_* (store_admin.h), the core's are
 * kg_key_* and kg_index_*: a name says which library it is.
 *
 * Threads: a kg_store is used by one thread at a time (one per thread or
 * per process); a loaded snapshot is immutable and may be shared.
 */
#ifndef KEYGATE_STORE_H
#define KEYGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/digest.h"
#include "keygate/index.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for one error line: what is wrong, and the paths it names (a
 * face's fix goes after it, in the face's own buffer). A line longer than
 * the caller's buffer is cut and ends in "..."; a line names its paths
 * after what to do where they could push that out. */
#define KG_STORE_ERR_MAX 512

/*
 * The kind of a store error, for the faces: each maps the kinds it has a
 * fix for to its own words, once (the CLI's cli_store_fix, the nginx
 * module's ngx_http_keygate_store_fix), and prints the line, then the fix.
 * Set where the line is made (store/src: store_errk), so a line and its
 * kind never disagree; every other error is KG_STORE_E_OTHER, whose line
 * says all there is (a damaged file: restore it from a backup; a full disk:
 * free space and retry; ...).
 */
typedef enum kg_store_error_kind {
  KG_STORE_E_OTHER = 0,       /* no fix a face knows better than the line */
  KG_STORE_E_NO_STORE,        /* no file at the path, or an empty file
                                 holding no store (its folder exists) */
  KG_STORE_E_NOT_A_STORE,     /* another program's file or database */
  KG_STORE_E_NO_ACCOUNT,      /* no account of that name */
  KG_STORE_E_NO_KEY,          /* no key of that id */
  KG_STORE_E_KEY_GONE,        /* the key is deleted or deactivated (rotate) */
  KG_STORE_E_NEEDS_MIGRATION, /* an older schema, opened read-only */
  KG_STORE_E_PEPPER_NEEDED,   /* a peppered store, opened with no pepper */
  KG_STORE_E_PEPPER_UNWANTED, /* a plain store, opened with a pepper */
  KG_STORE_E_PEPPER_WRONG     /* a peppered store, opened with another one */
} kg_store_error_kind;

/*
 * kg_store_last_error_kind — the kind of the last error a store function
 * (this header's, store_admin.h's, kg_pepper_read_file) reported on the
 * calling thread. Meaningful right after a call returned -1, on the thread
 * that made it: every error sets it, a success leaves it as it was. A
 * face that fails on another thread (the nginx module's loading thread)
 * reads it there and hands it over with the line.
 */
kg_store_error_kind kg_store_last_error_kind(void);

enum {
  KG_STORE_READONLY = 1u, /* open for reading only (the server) */
  KG_STORE_CREATE = 2u    /* create the database when it does not exist */
};

typedef struct kg_store kg_store;

/*
 * kg_store_open — open (or with KG_STORE_CREATE, create) the store at path:
 * WAL mode, foreign keys on, schema migrated to the current version (not in
 * read-only mode: an old schema there is an error), a bounded busy timeout.
 * Sets *out. Close with kg_store_close. The same as kg_store_open_peppered
 * without a pepper: a peppered store is refused.
 */
int kg_store_open(const char *path, unsigned flags, kg_store **out, char *err,
                  size_t errcap);

/* ---- the pepper (docs/store.md, "The pepper") -------------------------- */

#define KG_PEPPER_MIN 32 /* bytes; KG_PEPPER_MAX (64) is the core's */

/* A server pepper in memory: the HMAC-SHA-256 key of a peppered store.
 * Wipe it with kg_pepper_wipe as soon as the stores are open. */
typedef struct kg_pepper {
  unsigned char bytes[KG_PEPPER_MAX];
  size_t len; /* KG_PEPPER_MIN..KG_PEPPER_MAX once read */
} kg_pepper;

/*
 * kg_pepper_read_file — read a pepper file into *out: the file's bytes
 * with one trailing newline ("\n") removed, KG_PEPPER_MIN to KG_PEPPER_MAX
 * bytes. Refused: anything but a regular file, a file group or others may
 * read or write (mode & 077, as ssh refuses a private key; chmod 600), a
 * size outside the bounds. The error line names the file and the fix,
 * never a byte of it. On failure *out is wiped; the read buffer is wiped
 * either way.
 */
int kg_pepper_read_file(const char *path, kg_pepper *out, char *err,
                        size_t errcap);

/* kg_pepper_wipe — erase p (OPENSSL_cleanse). NULL is fine. */
void kg_pepper_wipe(kg_pepper *p);

/*
 * kg_store_open_peppered — kg_store_open with a pepper (NULL: none).
 *
 * A store is peppered or plain from its creation: created with a pepper
 * (KG_STORE_CREATE on a path holding no store yet), its meta table says
 * digest 'hmac-sha256' and keeps a check value, HMAC-SHA-256(pepper,
 * "keygate pepper check v1"), never the pepper; its keys are digested
 * HMAC-SHA-256(pepper, key). Opening a peppered store without the pepper,
 * or with another one (the check value differs), is refused, and so is a
 * pepper given for a plain store: a store's keys are digested one way.
 * kg_store_load, kg_store_refresh and kg_store_head compare the store's
 * marking with the one checked here on every read, so a store re-marked or
 * replaced in place is refused too. The pepper is not kept in clear: the
 * store holds it only as the HMAC state of its digester.
 */
int kg_store_open_peppered(const char *path, unsigned flags,
                           const kg_pepper *pepper, kg_store **out, char *err,
                           size_t errcap);

/* kg_store_peppered — 1 when the store's keys are digested with a pepper
 * (meta.digest 'hmac-sha256'), else 0. */
int kg_store_peppered(const kg_store *s);

/* kg_store_close — close the store. NULL is fine. */
void kg_store_close(kg_store *s);

/*
 * A snapshot: an index of every key that is not deleted (deactivated and
 * expired ones included, so they answer expired_api_key), and the names of
 * the accounts by account id. Immutable once loaded; owns its memory.
 */
typedef struct kg_snapshot kg_snapshot;

/*
 * kg_store_load — read the whole store in one read transaction and build a
 * snapshot. Also remembers the store's change counter as of that read, for
 * kg_store_changed. Sets *out; free with kg_snapshot_free.
 */
int kg_store_load(kg_store *s, kg_snapshot **out, char *err, size_t errcap);

/* kg_snapshot_index — the snapshot's index (owned by the snapshot). */
const kg_index *kg_snapshot_index(const kg_snapshot *snap);

/* kg_snapshot_account — the account name for an account id, or NULL. The
 * string is owned by the snapshot. */
const char *kg_snapshot_account(const kg_snapshot *snap, uint64_t account_id);

/*
 * kg_snapshot_set_index — make idx the snapshot's index and return the one
 * it held, which the caller owns from now on (kg_index_free it, or keep
 * it: a worker leaves the master's index unfreed, since freeing wipes it
 * and so copies every page fork shared); the snapshot owns idx
 * (kg_snapshot_free frees it with kg_index_free, which leaves a region's
 * memory alone). idx must hold
 * exactly the snapshot's records: the nginx module copies a full load's
 * heap index into a shared file (kg_index_copy_into) and puts that
 * region's view here, so kg_store_refresh's puts and removes then go
 * through the region's generation counter (index.h, "One writer"). The
 * caller keeps the region's memory mapped as long as the snapshot lives.
 * The snapshot must not be in use by another thread meanwhile.
 */
kg_index *kg_snapshot_set_index(kg_snapshot *snap, kg_index *idx);

/*
 * kg_store_adopt — a snapshot around idx, an index that already holds this
 * store's keys as of change sequence seq of epoch epoch (every key write up
 * to seq; some later ones may be in it too), whose history mark is mark
 * (0: not known; kg_store_refresh then cannot tell another history by it,
 * so the caller must judge the store before the first refresh applies a
 * row, in a transaction of its own): a shared region another
 * process kept up to date, taken over by a process that did not load the
 * store (the nginx module's new writer after a reload, docs/server.md).
 * The account names are read now; kg_store_refresh then applies the keys
 * written after seq (applying one already in idx again changes nothing),
 * and answers KG_REFRESH_FULL when the store has another epoch. The store's
 * marking (digest, pepper) is checked as on every read. On success *out
 * owns idx (kg_snapshot_free frees it with kg_index_free, which leaves a
 * region's memory alone); on failure idx stays the caller's. The caller
 * must know that idx describes this store's file: the same history, not a
 * copy that went another way (the module compares the file's device and
 * inode with the ones the previous writer confirmed).
 */
int kg_store_adopt(kg_store *s, kg_index *idx, int64_t seq, uint64_t epoch,
                   uint64_t mark, kg_snapshot **out, char *err, size_t errcap);

/*
 * kg_snapshot_account_count, kg_snapshot_account_at — the snapshot's
 * account names, i from 0 to count-1 in increasing id order (accounts are
 * never renamed or removed, and their ids only grow, so a refresh only
 * appends). kg_snapshot_account_at sets *id and *name (owned by the
 * snapshot, valid until the next kg_store_refresh or kg_snapshot_free)
 * and returns 0, or -1 when i is out of range. For a process that
 * decides with a shared index and has no snapshot of its own (the nginx
 * module's readers): the writer publishes the names with these.
 */
size_t kg_snapshot_account_count(const kg_snapshot *snap);
int kg_snapshot_account_at(const kg_snapshot *snap, size_t i, uint64_t *id,
                           const char **name);

/*
 * kg_snapshot_on_accounts — have kg_store_refresh call fn(arg, snap) when a
 * refresh adds accounts: after they joined the snapshot's names, before any
 * change reaches its index. A process that publishes the names apart from
 * the index (the nginx module's writer: a names file beside the shared
 * index) publishes them there, so no reader finds a new account's key
 * before its name. fn NULL: no call. Kept for the snapshot's life. snap
 * NULL: nothing is done.
 */
typedef void kg_accounts_fn(void *arg, const kg_snapshot *snap);
void kg_snapshot_on_accounts(kg_snapshot *snap, kg_accounts_fn *fn, void *arg);

/* kg_snapshot_free — free a snapshot. NULL is fine. */
void kg_snapshot_free(kg_snapshot *snap);

/* kg_snapshot_seq — the store's change sequence (meta.seq) the snapshot
 * holds: every key write up to and including it. */
int64_t kg_snapshot_seq(const kg_snapshot *snap);

/* kg_snapshot_epoch — the store's epoch (meta.epoch) as of the snapshot: a
 * copy of the store (a backup) has the same, an acknowledged restore
 * (kg_store_ack_restore) a new one. */
uint64_t kg_snapshot_epoch(const kg_snapshot *snap);

/* kg_snapshot_mark — the store's history mark (docs/store.md) of the
 * snapshot's sequence: a random number the write that made the sequence
 * drew; 0 when not known (an adopted snapshot told none). Two stores that went
 * separate ways from one copy differ in it at a sequence they both reached
 * by other writes. */
uint64_t kg_snapshot_mark(const kg_snapshot *snap);

/* kg_snapshot_left_epochs — the epochs the store has left behind, as of
 * the snapshot: each kg_store_ack_restore records the epoch it replaces
 * (meta.left_epochs), the newest last, the last KG_STORE_LEFT_EPOCHS_MAX
 * kept. Sets *n (0: none) and returns them (owned by snap). A file of one
 * of them is an older backup, from before that restore: a server that
 * served this store refuses it (docs/store.md). */
#define KG_STORE_LEFT_EPOCHS_MAX 32
const uint64_t *kg_snapshot_left_epochs(const kg_snapshot *snap, size_t *n);

/* What kg_store_refresh did. */
typedef enum kg_refresh {
  KG_REFRESH_UNCHANGED = 0, /* the store is at the snapshot's sequence */
  KG_REFRESH_APPLIED = 1,   /* the changed keys were applied in place */
  KG_REFRESH_FULL = 2,      /* out of reach: load the store whole */
  KG_REFRESH_BACKWARDS = 3  /* the store's sequence is below the snapshot's,
                               or its history is not the snapshot's */
} kg_refresh;

/* Changes beyond this many keys are a full load's job, not an update's. */
#define KG_REFRESH_MAX_ROWS 20000

/*
 * kg_store_refresh — bring snap up to date with the store, in one read
 * transaction: the keys written after the snapshot's sequence become
 * removals (deleted keys) and puts (new and changed ones) on its index, and
 * new accounts join its names. Costs what changed, not the store's size.
 *
 * *result says what happened. KG_REFRESH_FULL: the store has another epoch
 * (replaced by another store, or a restore acknowledged), more than
 * KG_REFRESH_MAX_ROWS changed, or the index has no room; the snapshot may
 * then hold some of the changes (removals first, so never a key the store
 * no longer accepts) and must be replaced by a kg_store_load. With
 * KG_REFRESH_BACKWARDS (an older backup restored, or one restored and
 * written to since: its history mark of the snapshot's sequence differs)
 * the snapshot is untouched: the caller decides. *rows (may be NULL) is the
 * number of keys applied. The snapshot must not be in use by another thread
 * meanwhile.
 */
int kg_store_refresh(kg_store *s, kg_snapshot *snap, kg_refresh *result,
                     size_t *rows, char *err, size_t errcap);

/* kg_store_head — the store's change sequence and epoch now (one small
 * read transaction). */
int kg_store_head(kg_store *s, int64_t *seq, uint64_t *epoch, char *err,
                  size_t errcap);

/* kg_store_marks — the store's history marks of the n change sequences
 * seq[] into mark[], in one small read transaction (so they describe one
 * file, even one overwritten in place meanwhile): 0 where the store has no
 * such sequence (or none recorded: a store migrated from schema 2 has
 * marks from then on). A server that served a sequence with mark m and
 * finds another mark there now holds a store of another history
 * (docs/store.md). */
int kg_store_marks(kg_store *s, const int64_t *seq, uint64_t *mark, size_t n,
                   char *err, size_t errcap);

/*
 * kg_store_check_file — is the open store still the file at its path, and
 * does that file still look like a database? Sets *moved to 1 when the path
 * now names another file (renamed over, or deleted and restored), or when
 * PATH-wal is no longer the -wal the connection read through at its last
 * load (removed or replaced under it: the connection would read files no
 * other connection writes): open the path again. Returns -1 with err when the
 * path names nothing or a file that is truncated or no longer an SQLite
 * database. Reads the file's header with plain reads each call: cheap enough
 * every second.
 *
 * A file shorter than its header's page count is reported only when the
 * WAL does not hold the missing pages: a checkpoint (of any process) writes
 * page 1 before the pages that grow the file, and one killed midway leaves
 * the file so until the next. Judged with the WAL index (PATH-shm) as the
 * connection maps it, between two reads that show the WAL unchanged, and
 * on two looks that agree; without a WAL index to read, or while the WAL
 * keeps moving, the length is left to the next call (docs/store.md).
 */
int kg_store_check_file(kg_store *s, int *moved, char *err, size_t errcap);

/*
 * kg_store_changed — set *changed to 1 when any connection has committed a
 * change to the store since the last kg_store_load on s, else 0. Cheap
 * enough to call every second.
 */
int kg_store_changed(kg_store *s, int *changed, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_STORE_H */
