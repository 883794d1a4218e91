/*
 * tests/unit/test_store_snapshot.c — what a snapshot hands the nginx
 * module's one index per server (docs/server.md): kg_snapshot_set_index
 * (a shared region's view swapped in, the old index handed back, the
 * refresh then writing through the region) and the account names in id
 * order (kg_snapshot_account_count, kg_snapshot_account_at), as loaded and
 * as a refresh appends them, announced through kg_snapshot_on_accounts
 * before their keys reach the index; kg_store_adopt (a region another
 * process kept up to date taken over at its sequence and brought up to
 * date: the same answers as a fresh load, also when it already holds some
 * of the changes).
 *
 * Each test gets a fresh database in its own temporary directory.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "keygate/digest.h"
#include "keygate/index.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"
#include "scratch.h"

typedef struct fixture {
  char dir[SCRATCH_DIR_MAX];
  char path[96];
  kg_store *s;
  kg_digester *dg;
  char err[KG_STORE_ERR_MAX];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(scratch_make(f->dir, "kgsnap"), 0);
  snprintf(f->path, sizeof f->path, "%s/keys.db", f->dir);
  assert_int_equal(
      kg_store_open(f->path, KG_STORE_CREATE, &f->s, f->err, sizeof f->err), 0);
  assert_int_equal(kg_digester_new(NULL, 0, &f->dg), KG_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  kg_store_close(f->s);
  kg_digester_free(f->dg);
  const int rc = scratch_remove(f->dir);
  free(f);
  return rc;
}

/* ---- helpers ----------------------------------------------------------- */

static uint64_t make_account(fixture *f, const char *name) {
  kg_store_account_info a;
  if (kg_store_account_create(f->s, name, KG_TIER_PRO, &a, f->err,
                              sizeof f->err) != 0) {
    fail_msg("kg_store_account_create: %s", f->err);
  }
  return a.id;
}

static void make_key(fixture *f, const char *account, const char *name,
                     kg_new_key *k) {
  if (kg_store_key_create(f->s, account, name, 0, k, f->err, sizeof f->err) !=
      0) {
    fail_msg("kg_store_key_create: %s", f->err);
  }
}

static kg_snapshot *load(fixture *f) {
  kg_snapshot *snap;
  if (kg_store_load(f->s, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  return snap;
}

static kg_refresh refresh(fixture *f, kg_snapshot *snap) {
  kg_refresh r;
  if (kg_store_refresh(f->s, snap, &r, NULL, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_refresh: %s", f->err);
  }
  return r;
}

/* 1 when idx holds the key k (by its digest), else 0. */
static int holds(fixture *f, const kg_index *idx, const kg_new_key *k) {
  uint8_t d[KG_DIGEST_LEN];
  assert_int_equal(kg_digest(f->dg, k->key, k->key_len, d), KG_OK);
  kg_record rec;
  const int hit = kg_index_lookup(idx, d, &rec);
  if (hit) {
    assert_int_equal(rec.key_id, k->info.id);
  }
  return hit;
}

/* A region (as the nginx module maps it from a file) holding exactly
 * src's table, and its view. */
static kg_index *region_copy(const kg_index *src, void **mem) {
  const size_t bytes = kg_index_region_bytes(src);
  assert_true(bytes > 0);
  *mem = aligned_alloc(64, bytes);
  assert_non_null(*mem);
  assert_int_equal(kg_index_copy_into(src, *mem, bytes), KG_OK);
  kg_index *view;
  assert_int_equal(kg_index_attach(*mem, bytes, &view), KG_OK);
  return view;
}

/* ---- kg_snapshot_set_index --------------------------------------------- */

/* The old index comes back (the caller's now), the region's view is the
 * one lookups use, and a refresh writes its changes into the region,
 * through its generation counter: the old index does not see them. */
static void set_index_hands_back_the_old_and_uses_the_new(void **state) {
  fixture *f = *state;
  make_account(f, "acme");
  kg_new_key a, b, c;
  make_key(f, "acme", "a", &a);
  make_key(f, "acme", "b", &b);
  kg_snapshot *snap = load(f);
  const kg_index *loaded = kg_snapshot_index(snap);
  assert_int_equal(kg_index_count(loaded), 2);

  void *mem;
  kg_index *view = region_copy(loaded, &mem);
  assert_int_equal(kg_index_count(view), 2);
  kg_index *old = kg_snapshot_set_index(snap, view);
  assert_ptr_equal(old, loaded);
  assert_ptr_equal(kg_snapshot_index(snap), view);
  /* handing the same index again changes nothing and hands nothing back */
  assert_null(kg_snapshot_set_index(snap, view));
  assert_ptr_equal(kg_snapshot_index(snap), view);
  assert_null(kg_snapshot_set_index(NULL, view));

  /* a new key and a deleted one, applied by sequence: into the region */
  const uint64_t gen = kg_index_generation(view);
  make_key(f, "acme", "c", &c);
  kg_store_key_info info;
  assert_int_equal(
      kg_store_key_delete(f->s, a.info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(refresh(f, snap), KG_REFRESH_APPLIED);
  const kg_index *now = kg_snapshot_index(snap);
  assert_ptr_equal(now, view);
  assert_int_equal(kg_index_count(now), 2);
  assert_false(holds(f, now, &a));
  assert_true(holds(f, now, &b));
  assert_true(holds(f, now, &c));
  /* two changes, each +2 on the region's generation (index.h) */
  assert_int_equal(kg_index_generation(view), gen + 4);
  /* the old index is as the load left it */
  assert_int_equal(kg_index_count(old), 2);
  assert_true(holds(f, old, &a));
  assert_true(holds(f, old, &b));
  assert_false(holds(f, old, &c));

  kg_index_free(old);
  kg_snapshot_free(snap); /* frees the view, leaves the region's memory */
  free(mem);
  kg_store_new_key_wipe(&a);
  kg_store_new_key_wipe(&b);
  kg_store_new_key_wipe(&c);
}

/* ---- the account names ------------------------------------------------- */

/* Loaded: every account, in increasing id order, with its name; out of
 * range and bad arguments are -1 and leave the outputs alone. */
static void account_names_in_id_order_after_a_load(void **state) {
  fixture *f = *state;
  static const char *const NAMES[] = {"zulu", "alpha", "mike", "bravo"};
  uint64_t ids[4];
  for (size_t i = 0; i < 4; i++) {
    ids[i] = make_account(f, NAMES[i]);
  }
  kg_snapshot *snap = load(f);
  assert_int_equal(kg_snapshot_account_count(snap), 4);
  uint64_t prev = 0;
  for (size_t i = 0; i < 4; i++) {
    uint64_t id = 0;
    const char *name = NULL;
    assert_int_equal(kg_snapshot_account_at(snap, i, &id, &name), 0);
    assert_true(id > prev);
    prev = id;
    /* created in this order, so their ids grow in it too */
    assert_int_equal(id, ids[i]);
    assert_string_equal(name, NAMES[i]);
    assert_string_equal(kg_snapshot_account(snap, id), NAMES[i]);
  }
  uint64_t id = 77;
  const char *name = "untouched";
  assert_int_equal(kg_snapshot_account_at(snap, 4, &id, &name), -1);
  assert_int_equal(kg_snapshot_account_at(snap, SIZE_MAX, &id, &name), -1);
  assert_int_equal(id, 77);
  assert_string_equal(name, "untouched");
  assert_int_equal(kg_snapshot_account_at(snap, 0, NULL, &name), -1);
  assert_int_equal(kg_snapshot_account_at(snap, 0, &id, NULL), -1);
  assert_int_equal(kg_snapshot_account_at(NULL, 0, &id, &name), -1);
  assert_int_equal(kg_snapshot_account_count(NULL), 0);
  kg_snapshot_free(snap);
}

/* An empty store: no names, and index 0 is out of range. */
static void no_accounts_no_names(void **state) {
  fixture *f = *state;
  kg_snapshot *snap = load(f);
  assert_int_equal(kg_snapshot_account_count(snap), 0);
  uint64_t id;
  const char *name;
  assert_int_equal(kg_snapshot_account_at(snap, 0, &id, &name), -1);
  kg_snapshot_free(snap);
}

/* A refresh appends the accounts made since (with their keys), after the
 * ones loaded, still in id order; what was there keeps its place. */
static void refresh_appends_new_accounts(void **state) {
  fixture *f = *state;
  const uint64_t first = make_account(f, "first");
  kg_new_key k1;
  make_key(f, "first", "k", &k1);
  kg_snapshot *snap = load(f);
  assert_int_equal(kg_snapshot_account_count(snap), 1);

  const uint64_t second = make_account(f, "second");
  const uint64_t third = make_account(f, "third");
  kg_new_key k2, k3;
  make_key(f, "third", "k", &k3);
  make_key(f, "second", "k", &k2);
  assert_int_equal(refresh(f, snap), KG_REFRESH_APPLIED);
  assert_int_equal(kg_snapshot_account_count(snap), 3);
  const uint64_t want[] = {first, second, third};
  static const char *const NAMES[] = {"first", "second", "third"};
  for (size_t i = 0; i < 3; i++) {
    uint64_t id;
    const char *name;
    assert_int_equal(kg_snapshot_account_at(snap, i, &id, &name), 0);
    assert_int_equal(id, want[i]);
    assert_string_equal(name, NAMES[i]);
  }
  uint64_t id;
  const char *name;
  assert_int_equal(kg_snapshot_account_at(snap, 3, &id, &name), -1);
  /* the refreshed snapshot names the new keys' accounts */
  assert_true(holds(f, kg_snapshot_index(snap), &k2));
  assert_string_equal(kg_snapshot_account(snap, k2.info.account_id), "second");

  /* nothing new: the names stay as they are */
  assert_int_equal(refresh(f, snap), KG_REFRESH_UNCHANGED);
  assert_int_equal(kg_snapshot_account_count(snap), 3);
  kg_snapshot_free(snap);
  kg_store_new_key_wipe(&k1);
  kg_store_new_key_wipe(&k2);
  kg_store_new_key_wipe(&k3);
}

/* ---- kg_snapshot_on_accounts ------------------------------------------ */

/* What the hook saw when it ran: the names already grown, the new
 * account's key not yet in the index. */
typedef struct seen {
  fixture *f;
  const kg_new_key *key; /* the new account's key */
  int calls;
  size_t accounts;
  int key_found;
  const char *name;
} seen;

static void on_accounts(void *arg, const kg_snapshot *snap) {
  seen *w = arg;
  w->calls++;
  w->accounts = kg_snapshot_account_count(snap);
  w->key_found = holds(w->f, kg_snapshot_index(snap), w->key);
  w->name = kg_snapshot_account(snap, w->key->info.account_id);
}

/* The nginx module publishes the names from this hook: a reader must never
 * find a new account's key before its name (else $keygate_account is
 * empty for it). So the hook runs after the names grew and before the
 * key reaches the index, and only when accounts were added. */
static void new_accounts_are_announced_before_their_keys(void **state) {
  fixture *f = *state;
  make_account(f, "first");
  kg_snapshot *snap = load(f);
  kg_new_key k2, k3;
  seen w = {.f = f, .key = &k2};
  kg_snapshot_on_accounts(snap, on_accounts, &w);

  make_account(f, "second");
  make_key(f, "second", "k", &k2);
  assert_int_equal(refresh(f, snap), KG_REFRESH_APPLIED);
  assert_int_equal(w.calls, 1);
  assert_int_equal(w.accounts, 2);
  assert_int_equal(w.key_found, 0); /* not yet: the hook came first */
  assert_non_null(w.name);
  assert_string_equal(w.name, "second");
  assert_true(holds(f, kg_snapshot_index(snap), &k2)); /* and then it was */

  /* a key of a known account: no new names, no call */
  make_key(f, "first", "k", &k3);
  assert_int_equal(refresh(f, snap), KG_REFRESH_APPLIED);
  assert_int_equal(w.calls, 1);
  assert_int_equal(refresh(f, snap), KG_REFRESH_UNCHANGED);
  assert_int_equal(w.calls, 1);

  /* no hook: a refresh adding accounts works as before */
  kg_snapshot_on_accounts(snap, NULL, NULL);
  make_account(f, "third");
  kg_new_key k4;
  make_key(f, "third", "k", &k4);
  assert_int_equal(refresh(f, snap), KG_REFRESH_APPLIED);
  assert_int_equal(kg_snapshot_account_count(snap), 3);
  assert_int_equal(w.calls, 1);
  kg_snapshot_free(snap);
  kg_store_new_key_wipe(&k2);
  kg_store_new_key_wipe(&k3);
  kg_store_new_key_wipe(&k4);
}

/* ---- kg_store_adopt ---------------------------------------------------- */

/* Every key of keys[0..n) answers in a the same as in b: found or not, and
 * the same record. */
static void same_answers(fixture *f, const kg_index *a, const kg_index *b,
                         const kg_new_key *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t d[KG_DIGEST_LEN];
    assert_int_equal(kg_digest(f->dg, keys[i].key, keys[i].key_len, d), KG_OK);
    kg_record ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    const int ha = kg_index_lookup(a, d, &ra);
    const int hb = kg_index_lookup(b, d, &rb);
    if (ha != hb) {
      fail_msg("key %zu: %s in the adopted index, %s in a fresh load", i,
               ha ? "found" : "missing", hb ? "found" : "missing");
    }
    if (ha) {
      assert_int_equal(ra.key_id, rb.key_id);
      assert_int_equal(ra.account_id, rb.account_id);
      assert_int_equal(ra.status, rb.status);
      assert_int_equal(ra.expires_at, rb.expires_at);
    }
  }
  assert_int_equal(kg_index_count(a), kg_index_count(b));
}

/* A region kept up to date to S1 by one process is adopted by another at
 * S1, and at an older S0 (it then holds changes past its sequence: applying
 * them again changes nothing), brought up to date by kg_store_refresh, and
 * answers every key as a fresh load does; the names are the store's now. */
static void adopt_brings_a_region_up_to_date_from_its_sequence(void **state) {
  fixture *f = *state;
  make_account(f, "acme");
  enum { N = 40 };
  kg_new_key k[N];
  for (size_t i = 0; i < 16; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%zu", i);
    make_key(f, "acme", name, &k[i]);
  }
  kg_snapshot *first = load(f);
  const int64_t s0 = kg_snapshot_seq(first);
  const uint64_t epoch = kg_snapshot_epoch(first);
  void *mem;
  kg_index *view = region_copy(kg_snapshot_index(first), &mem);
  kg_index_free(kg_snapshot_set_index(first, view));

  /* the first writer applies a batch in place: S0 -> S1 */
  kg_store_key_info info;
  for (size_t i = 16; i < 24; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%zu", i);
    make_key(f, "acme", name, &k[i]);
  }
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(
        kg_store_key_delete(f->s, k[i].info.id, &info, f->err, sizeof f->err),
        0);
  }
  assert_int_equal(
      kg_store_key_deactivate(f->s, k[4].info.id, &info, f->err, sizeof f->err),
      0);
  assert_int_equal(refresh(f, first), KG_REFRESH_APPLIED);
  const int64_t s1 = kg_snapshot_seq(first);
  assert_true(s1 > s0);

  /* more changes the first writer never applied, and a new account */
  make_account(f, "bolt");
  for (size_t i = 24; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "k%zu", i);
    make_key(f, i % 2 ? "bolt" : "acme", name, &k[i]);
  }
  for (size_t i = 16; i < 20; i++) {
    assert_int_equal(
        kg_store_key_delete(f->s, k[i].info.id, &info, f->err, sizeof f->err),
        0);
  }
  assert_int_equal(
      kg_store_key_deactivate(f->s, k[5].info.id, &info, f->err, sizeof f->err),
      0);
  kg_snapshot *fresh = load(f);

  const int64_t at[2] = {s1, s0};
  for (size_t t = 0; t < 2; t++) {
    kg_index *other;
    assert_int_equal(kg_index_attach(mem, kg_index_region_bytes(view), &other),
                     KG_OK);
    kg_snapshot *adopted = NULL;
    if (kg_store_adopt(f->s, other, at[t], epoch, 0, &adopted, f->err,
                       sizeof f->err) != 0) {
      fail_msg("kg_store_adopt: %s", f->err);
    }
    assert_int_equal(kg_snapshot_seq(adopted), at[t]);
    assert_int_equal(kg_snapshot_epoch(adopted), epoch);
    assert_ptr_equal(kg_snapshot_index(adopted), other);
    assert_int_equal(refresh(f, adopted), KG_REFRESH_APPLIED);
    assert_int_equal(kg_snapshot_seq(adopted), kg_snapshot_seq(fresh));
    same_answers(f, kg_snapshot_index(adopted), kg_snapshot_index(fresh), k, N);
    assert_int_equal(kg_snapshot_account_count(adopted), 2);
    assert_string_equal(kg_snapshot_account(adopted, k[25].info.account_id),
                        "bolt");
    assert_int_equal(refresh(f, adopted), KG_REFRESH_UNCHANGED);
    kg_snapshot_free(adopted); /* frees the view, leaves the region */
  }

  kg_snapshot_free(fresh);
  kg_snapshot_free(first);
  free(mem);
  for (size_t i = 0; i < N; i++) {
    kg_store_new_key_wipe(&k[i]);
  }
}

/* Adopted at a sequence the store never reached: backwards; under another
 * epoch: full (kg_store_refresh's verdicts); the index untouched by both.
 * A bad argument takes nothing: the index stays the caller's. */
static void adopt_leaves_the_verdict_to_refresh(void **state) {
  fixture *f = *state;
  make_account(f, "acme");
  kg_new_key a;
  make_key(f, "acme", "a", &a);
  kg_snapshot *base = load(f);
  const int64_t seq = kg_snapshot_seq(base);
  const uint64_t epoch = kg_snapshot_epoch(base);
  void *mem;
  kg_index *view = region_copy(kg_snapshot_index(base), &mem);

  /* Told the mark of seq, refresh tells another history by it in its own
   * transaction: the right one is the same store, another is refused
   * before a row is applied, also with keys written since (review 73: the
   * module judged in a transaction of its own before the refresh). */
  const uint64_t mark = kg_snapshot_mark(base);
  assert_true(mark != 0);
  kg_snapshot *same = NULL;
  assert_int_equal(kg_store_adopt(f->s, view, seq, epoch, mark, &same, f->err,
                                  sizeof f->err),
                   0);
  assert_int_equal(kg_snapshot_mark(same), mark);
  assert_int_equal(refresh(f, same), KG_REFRESH_UNCHANGED);
  assert_ptr_equal(kg_snapshot_set_index(same, NULL), view);
  kg_snapshot_free(same);
  kg_new_key b;
  make_key(f, "acme", "b", &b);
  kg_snapshot *wrong = NULL;
  assert_int_equal(kg_store_adopt(f->s, view, seq, epoch, mark ^ 1, &wrong,
                                  f->err, sizeof f->err),
                   0);
  const uint64_t gen0 = kg_index_generation(view);
  assert_int_equal(refresh(f, wrong), KG_REFRESH_BACKWARDS);
  assert_int_equal(kg_index_generation(view), gen0);
  assert_false(holds(f, view, &b));
  assert_int_equal(kg_snapshot_seq(wrong), seq);
  assert_ptr_equal(kg_snapshot_set_index(wrong, NULL), view);
  kg_snapshot_free(wrong);

  kg_snapshot *ahead = NULL;
  assert_int_equal(kg_store_adopt(f->s, view, seq + 5, epoch, 0, &ahead, f->err,
                                  sizeof f->err),
                   0);
  const uint64_t gen = kg_index_generation(view);
  assert_int_equal(refresh(f, ahead), KG_REFRESH_BACKWARDS);
  kg_index *back = kg_snapshot_set_index(ahead, NULL);
  assert_ptr_equal(back, view);
  kg_snapshot_free(ahead);

  kg_snapshot *other = NULL;
  assert_int_equal(kg_store_adopt(f->s, view, seq, epoch ^ 1, 0, &other, f->err,
                                  sizeof f->err),
                   0);
  kg_store_key_info info;
  assert_int_equal(
      kg_store_key_delete(f->s, a.info.id, &info, f->err, sizeof f->err), 0);
  assert_int_equal(refresh(f, other), KG_REFRESH_FULL);
  assert_int_equal(kg_index_generation(view), gen);
  assert_true(holds(f, view, &a));
  assert_ptr_equal(kg_snapshot_set_index(other, NULL), view);
  kg_snapshot_free(other);

  kg_snapshot *none = (kg_snapshot *)&none;
  assert_int_equal(
      kg_store_adopt(f->s, view, -1, epoch, 0, &none, f->err, sizeof f->err),
      -1);
  assert_non_null(strstr(f->err, "bad argument"));
  assert_int_equal(
      kg_store_adopt(NULL, view, seq, epoch, 0, &none, f->err, sizeof f->err),
      -1);
  assert_int_equal(
      kg_store_adopt(f->s, NULL, seq, epoch, 0, &none, f->err, sizeof f->err),
      -1);
  assert_true(holds(f, view, &a)); /* still the caller's, still whole */

  kg_index_free(view);
  kg_snapshot_free(base);
  free(mem);
  kg_store_new_key_wipe(&a);
  kg_store_new_key_wipe(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          set_index_hands_back_the_old_and_uses_the_new, setup, teardown),
      cmocka_unit_test_setup_teardown(account_names_in_id_order_after_a_load,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(no_accounts_no_names, setup, teardown),
      cmocka_unit_test_setup_teardown(refresh_appends_new_accounts, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          new_accounts_are_announced_before_their_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(
          adopt_brings_a_region_up_to_date_from_its_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(adopt_leaves_the_verdict_to_refresh,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
