/*
 * keygate/index.h — the in-memory key index: digest -> record, looked up in
 * constant time with respect to everything stored.
 *
 * Layout: a bucketed cuckoo table. Every digest has two candidate buckets,
 * chosen from bits of the *presented* digest, of KG_INDEX_BUCKET_SLOTS slots
 * each; a slot is 32 bytes, the digest's first 14 bytes and the record's
 * fields packed (so two fields have a range: KG_RECORD_*_MAX below), so a
 * bucket is one cache line and a lookup reads two lines and needs no
 * second, dependent memory access. A digest is found by its first 14 bytes
 * (112 bits; docs/security.md §4). A lookup always reads both buckets
 * whole, compares every slot with the constant-time helpers and copies the
 * matching record out with masks. Only after the final match bit is known
 * does the code branch.
 *
 * Timing of kg_index_lookup: depends on the presented digest (which bucket
 * addresses are read) and the table size; never on any stored digest,
 * record, or on whether the lookup hit: a miss does exactly the work of a
 * hit.
 *
 * Building allocates (or writes into memory the caller gives: a region,
 * below); lookups allocate nothing. A built index may be
 * shared by any number of threads for lookups as long as nobody changes it;
 * kg_index_put and kg_index_remove change it in place and must not run
 * while another thread looks up with kg_index_lookup (the nginx worker
 * that uses them is single-threaded: a change runs between two requests,
 * never inside one); a region's readers use kg_index_lookup_stable, which
 * may run while its one writer changes it.
 *
 * Arguments follow the NULL policy of api.h. An index pointer may be NULL,
 * the empty index, wherever an empty index has an answer: the lookups and
 * kg_index_contains (a miss), kg_index_remove (nothing removed),
 * kg_index_count, kg_index_memory and kg_index_generation (0),
 * kg_index_free; docs/security.md §4. Every other NULL is the caller's
 * bug: kg_index_put, kg_index_region_bytes and kg_index_copy_into need an
 * index, and no digest, record, memory or out-parameter may be NULL.
 */
#ifndef KEYGATE_INDEX_H
#define KEYGATE_INDEX_H

#include "keygate/api.h"
#include <stddef.h>
#include <stdint.h>

#include "keygate/digest.h"
#include "keygate/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KG_INDEX_BUCKET_SLOTS 2
/* The bytes of a digest the index keeps and compares: its first 14. */
#define KG_INDEX_DIGEST_KEPT 14
#define KG_INDEX_MAX_KEYS 20000000u /* 2 x the 10M of SPEC §4 */

/* A record's lifecycle status as the index sees it. */
typedef enum kg_record_status {
  KG_REC_ACTIVE = 0,
  KG_REC_DEACTIVATED = 1, /* answers expired_api_key */
  KG_REC_EXPIRED = 2,     /* marked expired whatever expires_at says */
  KG_REC_DELETED = 3      /* answers invalid_api_key */
} kg_record_status;

/*
 * A record. The index keeps some fields in fewer bits than their types, so
 * a record it takes has account_id <= KG_RECORD_ACCOUNT_ID_MAX (2^36 - 1,
 * 68 billion), 0 <= expires_at <= KG_RECORD_EXPIRES_MAX (2^41 - 1 seconds,
 * past the year 71,000) and a kg_record_status; another is refused whole
 * (KG_E_RECORD_RANGE). key_id takes any value. A lookup gives back the
 * record as it was put, with the presented digest (equal to the stored one
 * in the 14 bytes the index keeps) and reserved 0.
 */
#define KG_RECORD_ACCOUNT_ID_MAX ((UINT64_C(1) << 36) - 1)
#define KG_RECORD_EXPIRES_MAX ((INT64_C(1) << 41) - 1)

typedef struct kg_record {
  uint8_t digest[KG_DIGEST_LEN];
  uint64_t key_id;     /* store's id; kg_key_id_format() shows it */
  uint64_t account_id; /* store's account id */
  int64_t expires_at;  /* Unix seconds; 0 = never. Expired when now >= it. */
  uint32_t status;     /* kg_record_status */
  uint32_t reserved;   /* zero; not kept */
} kg_record;

typedef struct kg_index kg_index;

/*
 * kg_index_build — build an index holding copies of recs[0..n). Two records
 * whose digests share their first 14 bytes are refused
 * (KG_E_DUPLICATE_DIGEST), and a set with a record out of range is refused
 * before duplicates are looked for (KG_E_RECORD_RANGE). Returns KG_OK and sets
 * *out, or KG_E_TOO_MANY_KEYS, KG_E_NOMEM, KG_E_ARGUMENT. n may be 0 (every
 * lookup misses), and recs NULL with it; out is never NULL. Free with
 * kg_index_free. O(n) expected.
 */
KG_API KG_NODISCARD kg_status kg_index_build(const kg_record *recs, size_t n,
                                             kg_index **out);

/*
 * kg_index_build_spare — kg_index_build with room for `spare` more records
 * (kg_index_put) before the table is full. kg_index_build is spare = 0.
 */
KG_API KG_NODISCARD kg_status kg_index_build_spare(const kg_record *recs,
                                                   size_t n, size_t spare,
                                                   kg_index **out);

/* kg_index_free — free an index. NULL is fine. */
KG_API void kg_index_free(kg_index *idx);

/* kg_index_count — number of records held (0 for NULL, the empty index). */
KG_API size_t kg_index_count(const kg_index *idx);

/* kg_index_memory — bytes the index holds on the heap (0 for NULL). */
KG_API size_t kg_index_memory(const kg_index *idx);

/*
 * kg_index_lookup — find the record whose digest's first 14 bytes equal
 * `digest`'s.
 * Returns 1 and copies it to *out on a hit; returns 0 and zeroes *out on a
 * miss. See the timing contract at the top of this file. idx may be NULL
 * (the empty index: a miss at once); digest and out are never NULL (in a
 * release build: 0, *out untouched).
 */
KG_API KG_NODISCARD int kg_index_lookup(const kg_index *idx,
                                        const uint8_t digest[KG_DIGEST_LEN],
                                        kg_record *out);

/*
 * Changing a built index in place (the store's incremental refresh). These
 * are maintenance, not the request path: their timing may depend on stored
 * digests (they run when the store changes, never per request, and their
 * time is not observable by a client). A removed slot is wiped.
 *
 * kg_index_put — store a copy of *rec: replace the record with the same
 * digest (its first 14 bytes: one that differs only after them is the same
 * to the index, and replaced), or insert it. KG_OK; KG_E_TOO_MANY_KEYS when
 * there is no room (the index is then unchanged: rebuild it bigger);
 * KG_E_RECORD_RANGE (a field out of range; unchanged too); KG_E_ARGUMENT.
 * idx and rec are never NULL.
 */
KG_API kg_status kg_index_put(kg_index *idx, const kg_record *rec);

/* kg_index_remove — remove the record with this digest (its first 14
 * bytes, as every match here). Returns 1 when one was removed, 0 when none
 * was there (idx NULL: the empty index). digest is never NULL. */
KG_API int kg_index_remove(kg_index *idx, const uint8_t digest[KG_DIGEST_LEN]);

/* kg_index_contains — 1 when a record with this digest (its first 14 bytes)
 * is held (idx NULL: 0). Not constant-time (maintenance only; requests use
 * kg_index_lookup). digest is never NULL. */
KG_API int kg_index_contains(const kg_index *idx,
                             const uint8_t digest[KG_DIGEST_LEN]);

/*
 * An index in memory the caller provides: a region (a self-describing
 * header, then the buckets) that can live in a file mapped MAP_SHARED by
 * several processes, written by one of them and read by all (the nginx
 * module's one index per server, docs/server.md).
 *
 * kg_index_region_size — bytes a region for `keys` records needs
 * (the table kg_index_build_spare would make for them), a multiple of 64.
 * 0 when keys is over KG_INDEX_MAX_KEYS.
 *
 * kg_index_build_into — build a region of recs[0..n) in mem (cap bytes,
 * 64-byte aligned, zeroed or not: every byte is written). The table takes
 * all of cap after the header, so what is left over after n records is
 * room for kg_index_put. KG_OK; KG_E_TOO_MANY_KEYS when they do not fit
 * (offer a bigger region: kg_index_region_size(n * 5 / 4) ...);
 * KG_E_DUPLICATE_DIGEST; KG_E_RECORD_RANGE; KG_E_ARGUMENT (misaligned, smaller
 * than one bucket). mem is never NULL; recs may be NULL with n 0. The region is
 * then ready to attach; after a refusal of the records it does not attach.
 *
 * kg_index_attach — a view of the region in mem (cap bytes): no copy, and
 * freeing the view (kg_index_free) leaves mem alone. The header is checked
 * (kind, layout, table within cap, count within the table):
 * KG_E_ARGUMENT when it is not a region of this layout. Every view of one
 * region sees the others' changes. kg_index_memory counts the view only.
 * mem and out are never NULL.
 */
KG_API size_t kg_index_region_size(size_t keys);
KG_API KG_NODISCARD kg_status kg_index_build_into(const kg_record *recs,
                                                  size_t n, void *mem,
                                                  size_t cap);
KG_API KG_NODISCARD kg_status kg_index_attach(void *mem, size_t cap,
                                              kg_index **out);

/*
 * kg_index_region_bytes — bytes a region holding src's table as it is
 * needs (kg_index_copy_into). kg_index_copy_into — make mem (cap bytes,
 * 64-byte aligned) a region with exactly src's table: the same buckets,
 * so the same answers for every digest and the same room for puts; src
 * may itself be a region's view (held still: no writer meanwhile). For a
 * full rebuild built aside on the heap and then published in a new file.
 * KG_OK, or KG_E_ARGUMENT (misaligned, cap too small). src and mem are
 * never NULL (an empty index has no table to copy; in a release build
 * kg_index_region_bytes(NULL) is 0).
 */
KG_API size_t kg_index_region_bytes(const kg_index *src);
KG_API KG_NODISCARD kg_status kg_index_copy_into(const kg_index *src, void *mem,
                                                 size_t cap);

/*
 * One writer, many readers (a seqlock). A region carries a generation
 * counter: even when the table is whole, odd while kg_index_put or
 * kg_index_remove changes it (each makes it odd, applies its one change,
 * makes it even: +2 per change, with release ordering). Readers never
 * write the region, so they never wait for each other or hold up the
 * writer. There must be one writer per region at a time (the caller
 * elects it).
 *
 * kg_index_lookup_stable — kg_index_lookup on an index another thread or
 * process may be changing: read the generation (even, else try again),
 * look up, fence, read it again; a change in between makes the answer
 * void and the lookup is tried again. Returns 1 or 0 as kg_index_lookup,
 * the answer of a table between two whole changes — never half of one —,
 * or -1 (with *out zeroed) when `tries` attempts saw no such table: a
 * writer mid-change, or one that died mid-change (the generation stays
 * odd: rebuild the region). The caller decides nothing on -1 (fail
 * closed). On an index that is not a region (or NULL) it is
 * kg_index_lookup. digest and out are never NULL (in a release build: -1,
 * no answer). Its timing is kg_index_lookup's per attempt; the number of
 * attempts depends on the writer, never on a stored or presented digest.
 *
 * kg_index_generation — the region's generation (0 for an index that is
 * not a region, and for NULL): a reader that saw it move knows the table
 * changed.
 */
KG_API KG_NODISCARD int
kg_index_lookup_stable(const kg_index *idx, const uint8_t digest[KG_DIGEST_LEN],
                       kg_record *out, unsigned tries);
KG_API uint64_t kg_index_generation(const kg_index *idx);

/* "key_" + 11 base62 digits + NUL */
#define KG_KEY_ID_STR_LEN 16
/*
 * kg_key_id_format — write the public form of a key id, "key_" followed by
 * 11 base62 digits, into out (NUL-terminated). Returns the length (15).
 * out is never NULL (in a release build: 0).
 */
KG_API size_t kg_key_id_format(uint64_t key_id, char out[KG_KEY_ID_STR_LEN]);

/*
 * kg_key_id_parse — parse the public form back. Returns KG_OK or
 * KG_E_ARGUMENT; (NULL, 0) is no key id (KG_E_ARGUMENT). key_id is never
 * NULL.
 */
KG_API kg_status kg_key_id_parse(const char *s, size_t len, uint64_t *key_id);

#ifdef __cplusplus
}
#endif
#endif /* KEYGATE_INDEX_H */
