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
 * human-readable line (no key material, ever) into err[0..errcap).
 *
 * Threads: a kg_store is used by one thread at a time (one per thread or
 * per process); a loaded snapshot is immutable and may be shared.
 */
#ifndef KEYGATE_STORE_H
#define KEYGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "keygate/index.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_STORE_ERR_MAX 256

enum {
  KG_STORE_READONLY = 1u, /* open for reading only (the server) */
  KG_STORE_CREATE = 2u    /* create the database when it does not exist */
};

typedef struct kg_store kg_store;

/*
 * kg_store_open — open (or with KG_STORE_CREATE, create) the store at path:
 * WAL mode, foreign keys on, schema migrated to the current version (not in
 * read-only mode: an old schema there is an error), a bounded busy timeout.
 * Sets *out. Close with kg_store_close.
 */
int kg_store_open(const char *path, unsigned flags, kg_store **out, char *err,
                  size_t errcap);

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

/* kg_snapshot_free — free a snapshot. NULL is fine. */
void kg_snapshot_free(kg_snapshot *snap);

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
