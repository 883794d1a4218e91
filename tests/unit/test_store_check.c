/*
 * tests/unit/test_store_check.c — kg_store_check_file under SQLite's
 * checkpoints (issue 13): a healthy store whose WAL another process copies
 * into the database file, many times over, is never reported truncated;
 * a store really cut short still is, with or without frames in its WAL;
 * a store renamed over the path beside a -wal of the file it replaced is
 * refused by every open.
 *
 * Each test gets a fresh database in its own temporary directory.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <fcntl.h>  /* AT_FDCWD */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "keygate/index.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"
#include "scratch.h"

typedef struct fixture {
  char dir[SCRATCH_DIR_MAX];
  char path[96];
  char err[KG_STORE_ERR_MAX];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(scratch_make(f->dir, "kgcheck"), 0);
  snprintf(f->path, sizeof f->path, "%s/keys.db", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  const int rc = scratch_remove(f->dir);
  free(f);
  return rc;
}

/* ---- helpers ----------------------------------------------------------- */

/* Seed n valid keys into the store at path (a connection of its own). */
static int seed(const char *path, size_t n, char *err, size_t errcap) {
  kg_store *s;
  if (kg_store_open(path, KG_STORE_CREATE, &s, err, errcap) != 0) {
    return -1;
  }
  const kg_seed_counts counts = {.valid = n};
  const int rc = kg_store_seed(s, &counts, NULL, NULL, NULL, err, errcap);
  kg_store_close(s);
  return rc;
}

/* Seed n valid keys from a child process that then dies without closing
 * the store (a writer killed after its commit): its frames stay in the
 * -wal, where a clean kg_store_close would have checkpointed them away. */
static void seed_killed(const char *path, size_t n) {
  fflush(NULL);
  const pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char err[KG_STORE_ERR_MAX];
    kg_store *s;
    const kg_seed_counts counts = {.valid = n};
    if (kg_store_open(path, KG_STORE_CREATE, &s, err, sizeof err) != 0 ||
        kg_store_seed(s, &counts, NULL, NULL, NULL, err, sizeof err) != 0) {
      fprintf(stderr, "seed: %s\n", err);
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Seed n valid keys from a child process (its own SQLite, as the CLI). */
static void seed_elsewhere(const char *path, size_t n) {
  fflush(NULL);
  const pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char err[KG_STORE_ERR_MAX];
    if (seed(path, n, err, sizeof err) != 0) {
      fprintf(stderr, "seed: %s\n", err);
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Run one statement through a raw connection; 0 when SQLite took it. */
static int raw_sql(const char *path, const char *sql) {
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 5000);
  const int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : -1;
}

static void must_sql(const char *path, const char *sql) {
  if (raw_sql(path, sql) != 0) {
    fail_msg("%s failed on %s", sql, path);
  }
}

static kg_store *open_reader(fixture *f, const char *path) {
  kg_store *r;
  if (kg_store_open(path, KG_STORE_READONLY, &r, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_open: %s", f->err);
  }
  kg_snapshot *snap;
  if (kg_store_load(r, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  kg_snapshot_free(snap);
  return r;
}

static off_t file_size(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_size;
}

/* Copy the file at from to to, byte for byte. */
static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  FILE *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
    assert_int_equal(fwrite(buf, 1, n, out), n);
  }
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

/* The page count the header of the database file at path gives. */
static uint32_t header_pages(const char *path) {
  unsigned char h[100];
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fread(h, 1, sizeof h, fp), sizeof h);
  fclose(fp);
  return be32(h + 28);
}

/*
 * Do what a checkpoint killed after its first write leaves: the newest
 * page 1 of the WAL (path-wal, started afresh by a TRUNCATE checkpoint)
 * copied into the database file, and nothing else. Returns 0 when the WAL
 * holds no page 1.
 */
static int copy_page_one_from_wal(const char *path, uint32_t page) {
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", path);
  FILE *fp = fopen(wal, "rb");
  assert_non_null(fp);
  unsigned char *frame = malloc(24 + (size_t)page);
  unsigned char *one = malloc(page);
  assert_non_null(frame);
  assert_non_null(one);
  int found = 0;
  assert_int_equal(fseek(fp, 32, SEEK_SET), 0); /* the WAL header */
  while (fread(frame, 1, 24 + (size_t)page, fp) == 24 + (size_t)page) {
    if (be32(frame) == 1) {
      memcpy(one, frame + 24, page);
      found = 1;
    }
  }
  fclose(fp);
  if (found) {
    FILE *db = fopen(path, "r+b");
    assert_non_null(db);
    assert_int_equal(fwrite(one, 1, page, db), page);
    assert_int_equal(fclose(db), 0);
  }
  free(frame);
  free(one);
  return found;
}

static void expect_truncated(fixture *f, kg_store *reader) {
  int moved = -1;
  assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                   -1);
  assert_non_null(strstr(f->err, "is truncated or damaged"));
  assert_non_null(strstr(f->err, "restore it from a backup"));
}

static void expect_fine(fixture *f, kg_store *reader) {
  int moved = -1;
  if (kg_store_check_file(reader, &moved, f->err, sizeof f->err) != 0) {
    fail_msg("a healthy store reported: %s", f->err);
  }
  assert_int_equal(moved, 0);
}

/* ---- checkpoints under the check --------------------------------------- */

enum { ROUNDS = 24, KEYS_PER_ROUND = 3000 };

/*
 * The writer (a child process) grows the store by a few hundred pages a
 * round, then copies the WAL into the database file (a PASSIVE, then every
 * fourth round a TRUNCATE checkpoint): the checkpoint writes page 1, whose
 * header counts the new pages, before the file has grown to hold them.
 * Meanwhile this process calls kg_store_check_file as fast as it can.
 */
static void checkpoints_never_look_truncated(void **state) {
  fixture *f = *state;
  if (seed(f->path, 1000, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  must_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  const off_t before = file_size(f->path);
  kg_store *reader = open_reader(f, f->path);

  fflush(NULL);
  const pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char err[KG_STORE_ERR_MAX];
    for (int i = 0; i < ROUNDS; i++) {
      if (seed(f->path, KEYS_PER_ROUND, err, sizeof err) != 0) {
        fprintf(stderr, "writer: seed: %s\n", err);
        _exit(1);
      }
      if (raw_sql(f->path, i % 4 == 3
                               ? "PRAGMA wal_checkpoint(TRUNCATE)"
                               : "PRAGMA wal_checkpoint(PASSIVE)") != 0) {
        fprintf(stderr, "writer: checkpoint failed\n");
        _exit(1);
      }
    }
    _exit(0);
  }

  long calls = 0, false_reports = 0;
  char first[KG_STORE_ERR_MAX] = "";
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(child, &status, WNOHANG);
    assert_true(done >= 0);
    int moved = -1;
    if (kg_store_check_file(reader, &moved, f->err, sizeof f->err) != 0) {
      if (false_reports++ == 0) {
        snprintf(first, sizeof first, "%s", f->err);
      }
    } else {
      assert_int_equal(moved, 0);
    }
    calls++;
    if (done == child) {
      break;
    }
  }
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* the writer did grow the file through its checkpoints */
  assert_true(file_size(f->path) > before + 100 * 4096);
  if (false_reports != 0) {
    fail_msg("%ld of %ld checks reported a healthy store: %s", false_reports,
             calls, first);
  }
  print_message("%ld checks during %d checkpoints, none reported\n", calls,
                ROUNDS);
  kg_store_close(reader);
}

/* ---- a store really cut short ------------------------------------------ */

enum { PAGE = 4096 }; /* SQLite's default page size, the store's */

/* A copy of a checkpointed store (its WAL empty), cut to half its pages
 * (whole pages, so only the header's count tells) while a reader has it
 * open: reported, by the size and the count. */
static void truncated_copy_is_reported(void **state) {
  fixture *f = *state;
  if (seed(f->path, 5000, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  must_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  char copy[128];
  snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
  copy_file(f->path, copy);
  kg_store *reader = open_reader(f, copy);
  expect_fine(f, reader);
  const off_t size = file_size(copy);
  assert_int_equal(size % PAGE, 0);
  assert_int_equal(header_pages(copy), (uint32_t)(size / PAGE));
  const off_t cut = size / PAGE / 2 * PAGE;
  assert_int_equal(truncate(copy, cut), 0);
  expect_truncated(f, reader);
  char want[64];
  snprintf(want, sizeof want, "(%lld bytes; its header counts %u pages",
           (long long)cut, (unsigned)(size / PAGE));
  assert_non_null(strstr(f->err, want));
  kg_store_close(reader);
}

/* Cut short while the WAL holds frames no checkpoint has copied yet: the
 * WAL does not hold the pages cut away, so that is reported too. */
static void truncated_with_frames_in_the_wal_is_reported(void **state) {
  fixture *f = *state;
  if (seed(f->path, 5000, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  must_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  kg_store *reader = open_reader(f, f->path);
  /* new frames, below the 1000 pages of an automatic checkpoint, left by
   * a writer killed before its close */
  seed_killed(f->path, 500);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_true(file_size(wal) > 32);
  expect_fine(f, reader);
  const off_t size = file_size(f->path);
  assert_int_equal(truncate(f->path, size / PAGE / 2 * PAGE), 0);
  expect_truncated(f, reader);
  kg_store_close(reader);
}

/* A checkpoint killed after it wrote page 1 (whose header counts the grown
 * store) and before the pages that grow the file: the file is short, the
 * WAL holds every missing page, SQLite reads the store whole. Not
 * reported; the next checkpoint completes the file. Then cut short: it is. */
static void interrupted_checkpoint_is_not_reported(void **state) {
  fixture *f = *state;
  if (seed(f->path, 2000, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  must_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  kg_store *reader = open_reader(f, f->path);
  const off_t before = file_size(f->path);
  seed_killed(f->path, 3000);
  assert_int_equal(copy_page_one_from_wal(f->path, PAGE), 1);
  /* the state a killed checkpoint leaves */
  assert_int_equal(file_size(f->path), before);
  assert_true(header_pages(f->path) > (uint32_t)(before / PAGE));
  expect_fine(f, reader);
  kg_snapshot *snap;
  if (kg_store_load(reader, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  assert_int_equal(kg_index_count(kg_snapshot_index(snap)), 5000);
  kg_snapshot_free(snap);
  expect_fine(f, reader);

  /* the next checkpoint completes the file; cut short then, it is */
  must_sql(f->path, "PRAGMA wal_checkpoint(TRUNCATE)");
  assert_int_equal(file_size(f->path),
                   (off_t)header_pages(f->path) * (off_t)PAGE);
  expect_fine(f, reader);
  assert_int_equal(truncate(f->path, before), 0);
  expect_truncated(f, reader);
  kg_store_close(reader);
}

/* ---- a store in rollback mode (a backup put back) ---------------------- */

/* A backup made with VACUUM INTO is in rollback mode (no WAL) until a
 * keygate command opens it for writing and switches it to WAL. The check,
 * called on a reader of it meanwhile, leaves the reader's connection as
 * SQLite has it: after the switch, by another process, the reader still
 * sees each change, and the check stays quiet. (The server's form of this,
 * integration.server_faults after ack-restore, failed when the check
 * mapped the WAL index of a connection still in rollback mode.) */
static void rollback_mode_store_then_wal(void **state) {
  fixture *f = *state;
  if (seed(f->path, 200, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  char copy[128], sql[200];
  snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
  snprintf(sql, sizeof sql, "VACUUM INTO '%s'", copy);
  must_sql(f->path, sql);
  kg_store *reader = open_reader(f, copy);
  for (int i = 0; i < 3; i++) {
    expect_fine(f, reader);
  }
  int64_t seq0 = 0, seq = 0;
  uint64_t epoch = 0;
  assert_int_equal(kg_store_head(reader, &seq0, &epoch, f->err, sizeof f->err),
                   0);
  for (int round = 1; round <= 3; round++) {
    /* a write through keygate, in another process (as the CLI): the
     * store goes to WAL mode at the first */
    seed_elsewhere(copy, 10);
    expect_fine(f, reader);
    assert_int_equal(kg_store_head(reader, &seq, &epoch, f->err, sizeof f->err),
                     0);
    assert_true(seq > seq0);
    seq0 = seq;
    int changed = 0;
    kg_snapshot *snap;
    if (kg_store_load(reader, &snap, f->err, sizeof f->err) != 0) {
      fail_msg("kg_store_load: %s", f->err);
    }
    assert_int_equal(kg_index_count(kg_snapshot_index(snap)),
                     200 + 10 * (size_t)round);
    kg_snapshot_free(snap);
    assert_int_equal(kg_store_changed(reader, &changed, f->err, sizeof f->err),
                     0);
    assert_int_equal(changed, 0);
  }
  kg_store_close(reader);
}

/* The file's bytes (at most cap), for "nothing was written". */
static size_t read_all(const char *path, unsigned char *buf, size_t cap) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  const size_t n = fread(buf, 1, cap, fp);
  fclose(fp);
  return n;
}

/* 1 when the file system under path keeps birth times (statx). */
static int has_birth_time(const char *path) {
  struct statx sx;
  return statx(AT_FDCWD, path, 0, STATX_BTIME, &sx) == 0 &&
         (sx.stx_mask & STATX_BTIME);
}

/* The store at path opens and loads with n keys. */
static void expect_keys(fixture *f, const char *path, size_t n) {
  kg_store *s = open_reader(f, path);
  kg_snapshot *snap;
  if (kg_store_load(s, &snap, f->err, sizeof f->err) != 0) {
    fail_msg("kg_store_load: %s", f->err);
  }
  assert_int_equal(kg_index_count(kg_snapshot_index(snap)), n);
  kg_snapshot_free(snap);
  kg_store_close(s);
}

/* A store renamed over the path beside a -wal of the file it replaced,
 * still holding frames (a writer killed after its commit): SQLite would
 * read them into the new file. Every open refuses it, reading and
 * writing, and the file stays as it was; the -wal removed, the new file
 * opens with its own keys. A -wal of the file itself (made after it)
 * opens as always. */
static void wal_of_a_replaced_file_is_refused(void **state) {
  fixture *f = *state;
  seed_killed(f->path, 5); /* frames of this file left in its -wal */
  char wal[128], shm[128], copy[128];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(shm, sizeof shm, "%s-shm", f->path);
  snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
  assert_true(file_size(wal) > 32);
  kg_store *s = open_reader(f, f->path); /* its own -wal: fine */
  kg_store_close(s);
  seed_killed(f->path, 5);
  assert_true(file_size(wal) > 32);
  if (!has_birth_time(wal)) {
    skip(); /* no birth times here: the check cannot tell */
  }
  if (seed(copy, 3, f->err, sizeof f->err) != 0) { /* made after the -wal */
    fail_msg("seed: %s", f->err);
  }
  assert_int_equal(rename(copy, f->path), 0);
  static unsigned char before[1 << 20], after[1 << 20];
  const size_t n = read_all(f->path, before, sizeof before);
  const unsigned modes[] = {KG_STORE_READONLY, 0};
  for (size_t i = 0; i < 2; i++) {
    s = (kg_store *)&s;
    assert_int_equal(
        kg_store_open(f->path, modes[i], &s, f->err, sizeof f->err), -1);
    assert_null(s);
    assert_non_null(strstr(f->err, "-wal holds changes and is older than"));
    assert_non_null(strstr(f->err, "remove "));
  }
  /* through a symbolic link: SQLite opens the -wal beside the file it
   * leads to, and so does the check (review 75); the line names it */
  char link[128];
  snprintf(link, sizeof link, "%s/link.db", f->dir);
  assert_int_equal(symlink(f->path, link), 0);
  s = (kg_store *)&s;
  const int linked =
      kg_store_open(link, KG_STORE_READONLY, &s, f->err, sizeof f->err);
  unlink(link);
  assert_int_equal(linked, -1);
  assert_null(s);
  char real[4096], named[8300];
  assert_non_null(realpath(f->path, real));
  snprintf(named, sizeof named, "and retry. The store: %s", real);
  assert_non_null(strstr(f->err, named));
  assert_int_equal(read_all(f->path, after, sizeof after), n);
  assert_memory_equal(before, after, n);
  unlink(wal);
  unlink(shm);
  expect_keys(f, f->path, 3);
}

/* A store and its -wal copied back, the -wal first (a copy in directory
 * order): the -wal is the store's own, but older. Refused the same way;
 * the line's other way out, a checkpoint by sqlite3, merges it, and the
 * store then opens with every key. */
static void own_wal_copied_first_merges_by_checkpoint(void **state) {
  fixture *f = *state;
  seed_killed(f->path, 5);
  char wal[128], copy[128], copywal[140];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
  snprintf(copywal, sizeof copywal, "%s-wal", copy);
  assert_true(file_size(wal) > 32);
  copy_file(wal, copywal);
  if (!has_birth_time(copywal)) {
    skip();
  }
  usleep(2000); /* birth times a clock tick apart, whatever the clock */
  copy_file(f->path, copy);
  kg_store *s = NULL;
  assert_int_equal(
      kg_store_open(copy, KG_STORE_READONLY, &s, f->err, sizeof f->err), -1);
  assert_non_null(strstr(f->err, "PRAGMA wal_checkpoint(TRUNCATE)"));
  must_sql(copy, "PRAGMA wal_checkpoint(TRUNCATE)");
  expect_keys(f, copy, 5);
}

/* The same refusal beside a path of 240 bytes: both ways out stay in the
 * line (the path, last, is what is cut, with "..."). */
static void the_ways_out_survive_a_long_path(void **state) {
  fixture *f = *state;
  seed_killed(f->path, 5);
  char deep[400];
  int n = snprintf(deep, sizeof deep, "%s/", f->dir);
  memset(deep + n, 'd', 240 - (size_t)n);
  deep[240] = '\0';
  assert_int_equal(mkdir(deep, 0700), 0);
  char wal[160], copy[420], copywal[430];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(copy, sizeof copy, "%s/k.db", deep);
  snprintf(copywal, sizeof copywal, "%s-wal", copy);
  copy_file(wal, copywal);
  int birth = has_birth_time(copywal);
  usleep(2000);
  copy_file(f->path, copy);
  kg_store *s = NULL;
  int rc = kg_store_open(copy, KG_STORE_READONLY, &s, f->err, sizeof f->err);
  unlink(copywal);
  unlink(copy);
  rmdir(deep);
  if (!birth) {
    skip();
  }
  assert_int_equal(rc, -1);
  assert_non_null(
      strstr(f->err, "remove the -wal and the -shm beside the store"));
  assert_non_null(
      strstr(f->err, "'PRAGMA wal_checkpoint(TRUNCATE)', and retry"));
  assert_int_equal(strlen(f->err), sizeof f->err - 1);
  assert_string_equal(f->err + sizeof f->err - 4, "...");
}

/* The -wal and -shm removed under a reader's open connection (`mv new.db
 * keys.db && rm -f keys.db-wal keys.db-shm` with the reader opened between
 * the two): it would read files nobody else writes, blind to every later
 * change (CI saw a server answer a deleted key 200). kg_store_check_file
 * says moved, whether a writer made a new -wal since or not; a write
 * through the same -wal is no move. */
static void wal_removed_under_a_reader_is_a_move(void **state) {
  fixture *f = *state;
  if (seed(f->path, 20, f->err, sizeof f->err) != 0) {
    fail_msg("seed: %s", f->err);
  }
  char wal[128], shm[128];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(shm, sizeof shm, "%s-shm", f->path);
  for (int round = 0; round < 2; round++) {
    kg_store *reader = open_reader(f, f->path);
    int moved = -1;
    seed_elsewhere(f->path, 1); /* the same -wal: no move */
    assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                     0);
    assert_int_equal(moved, 0);
    assert_int_equal(unlink(wal), 0);
    (void)unlink(shm);
    if (round == 1) {
      seed_elsewhere(f->path, 1); /* a new -wal since */
      assert_true(file_size(wal) >= 0);
    }
    assert_int_equal(kg_store_check_file(reader, &moved, f->err, sizeof f->err),
                     0);
    assert_int_equal(moved, 1);
    kg_store_close(reader);
  }
  expect_keys(f, f->path, 23);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(wal_removed_under_a_reader_is_a_move,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(own_wal_copied_first_merges_by_checkpoint,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(the_ways_out_survive_a_long_path, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(wal_of_a_replaced_file_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(checkpoints_never_look_truncated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(truncated_copy_is_reported, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          truncated_with_frames_in_the_wal_is_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(interrupted_checkpoint_is_not_reported,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(rollback_mode_store_then_wal, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
