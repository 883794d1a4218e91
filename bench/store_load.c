/*
 * bench/store_load.c — how fast the key store loads into the core index
 * (issue: 1,000,000 keys in under 2 s on this machine). A standalone
 * program, not a Google Benchmark: building the store is minutes of work
 * that must happen once, outside any timed loop.
 *
 *   bench_store_load [--keys N] [--runs R] [--db PATH]
 *
 * Builds a store of N keys (default 1,000,000: 80 % valid, 10 % expired,
 * 10 % deactivated, as `keygate keys seed` does) through kg_store_seed in a
 * temporary directory (or reuses PATH when it already holds N keys), then
 * times kg_store_load R times (default 3) and prints keys, seconds, keys/s
 * and index bytes per key, best and median, one "name: value" per line.
 * Build it Release (the bench preset) for numbers worth quoting.
 */
#define _GNU_SOURCE /* clock_gettime, mkdtemp with -std=c11 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keygate/index.h"
#include "keygate/store.h"
#include "keygate/store_admin.h"

#define MAX_RUNS 20

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall-clock seconds. */
static double now_s(void) {
  return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of this process: steadier than wall time on a busy machine. */
static double cpu_s(void) {
  return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

static int parse_size(const char *s, size_t max, size_t *out) {
  char *end;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0 ||
      v > max) {
    return -1;
  }
  *out = (size_t)v;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Keys held by the store at path (every status), or 0 when unreadable. */
static size_t stored_keys(kg_store *s) {
  kg_snapshot *snap;
  char err[KG_STORE_ERR_MAX];
  if (kg_store_load(s, &snap, err, sizeof err) != 0) {
    return 0;
  }
  const size_t n = kg_index_count(kg_snapshot_index(snap));
  kg_snapshot_free(snap);
  return n;
}

typedef struct bench_opts {
  size_t keys, runs;
  const char *db;
} bench_opts;

static int parse_args(int argc, char **argv, bench_opts *o) {
  o->keys = 1000000;
  o->runs = 3;
  o->db = NULL;
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = v != NULL;
    if (ok && strcmp(a, "--keys") == 0) {
      ok = parse_size(v, KG_INDEX_MAX_KEYS, &o->keys) == 0;
    } else if (ok && strcmp(a, "--runs") == 0) {
      ok = parse_size(v, MAX_RUNS, &o->runs) == 0;
    } else if (ok && strcmp(a, "--db") == 0) {
      o->db = v;
    } else {
      ok = 0;
    }
    if (!ok) {
      fprintf(stderr,
              "usage: bench_store_load [--keys 1..%u] [--runs 1..%d] "
              "[--db PATH]\n",
              KG_INDEX_MAX_KEYS, MAX_RUNS);
      return -1;
    }
  }
  return 0;
}

/* Remove the temporary store (and its -wal, -shm) and its directory. */
static void remove_store(const char *dir, const char *path) {
  static const char *const SUFFIX[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[4096];
    snprintf(p, sizeof p, "%s%s", path, SUFFIX[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* Open (creating) the store and seed it unless it already holds n keys. */
static int prepare(const char *path, size_t n, kg_store **s) {
  char err[KG_STORE_ERR_MAX];
  if (kg_store_open(path, KG_STORE_CREATE, s, err, sizeof err) != 0) {
    fprintf(stderr, "bench_store_load: %s\n", err);
    return -1;
  }
  const size_t have = stored_keys(*s);
  if (have == n) {
    printf("store: %s (reused, %zu keys)\n", path, have);
    return 0;
  }
  if (have != 0) {
    fprintf(stderr,
            "bench_store_load: %s holds %zu keys, not %zu; give another "
            "--db\n",
            path, have, n);
    return -1;
  }
  const kg_seed_counts counts = {
      .valid = n - n / 10 - n / 10, .expired = n / 10, .deactivated = n / 10};
  kg_seed_result res;
  const double t0 = now_s(), c0 = cpu_s();
  if (kg_store_seed(*s, &counts, NULL, NULL, &res, err, sizeof err) != 0) {
    fprintf(stderr, "bench_store_load: seeding: %s\n", err);
    return -1;
  }
  const double dt = now_s() - t0, dc = cpu_s() - c0;
  printf("store: %s\n", path);
  printf("seed_keys: %zu\nseed_accounts: %zu\nseed_seconds: %.3f\n"
         "seed_cpu_seconds: %.3f\nseed_keys_per_second: %.0f\n",
         res.keys, res.accounts, dt, dc, (double)res.keys / dt);
  return 0;
}

/* Time R loads; print the best and the median. */
static int time_loads(kg_store *s, size_t runs) {
  double secs[MAX_RUNS] = {0};
  double cpus[MAX_RUNS] = {0};
  size_t count = 0, bytes = 0;
  char err[KG_STORE_ERR_MAX];
  for (size_t r = 0; r < runs; r++) {
    kg_snapshot *snap;
    const double t0 = now_s(), c0 = cpu_s();
    if (kg_store_load(s, &snap, err, sizeof err) != 0) {
      fprintf(stderr, "bench_store_load: load: %s\n", err);
      return -1;
    }
    secs[r] = now_s() - t0;
    cpus[r] = cpu_s() - c0;
    count = kg_index_count(kg_snapshot_index(snap));
    bytes = kg_index_memory(kg_snapshot_index(snap));
    kg_snapshot_free(snap);
  }
  qsort(secs, runs, sizeof secs[0], cmp_double);
  qsort(cpus, runs, sizeof cpus[0], cmp_double);
  const double best = secs[0], median = secs[runs / 2];
  printf("keys: %zu\nruns: %zu\n", count, runs);
  printf("load_seconds_best: %.3f\nload_seconds_median: %.3f\n", best, median);
  printf("load_cpu_seconds_best: %.3f\n", cpus[0]);
  printf("keys_per_second_best: %.0f\n", (double)count / best);
  printf("index_bytes: %zu\nindex_bytes_per_key: %.1f\n", bytes,
         count ? (double)bytes / (double)count : 0.0);
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  if (parse_args(argc, argv, &o) != 0) {
    return 2;
  }
  char dir[256] = "", path[4096];
  if (o.db != NULL) {
    snprintf(path, sizeof path, "%s", o.db);
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bench_store_load.XXXXXX",
             tmp != NULL && strlen(tmp) < 200 ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
      perror("bench_store_load: mkdtemp");
      return 1;
    }
    snprintf(path, sizeof path, "%s/keys.db", dir);
  }
  kg_store *s = NULL;
  int rc = prepare(path, o.keys, &s);
  if (rc == 0) {
    fflush(stdout);
    rc = time_loads(s, o.runs);
  }
  kg_store_close(s);
  if (o.db == NULL) {
    remove_store(dir, path);
  }
  return rc == 0 ? 0 : 1;
}
