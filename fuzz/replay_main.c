/*
 * fuzz/replay_main.c — the standalone replay driver: runs a libFuzzer target
 * over files and folders without libFuzzer, under any compiler.
 *
 *   fuzz_<target>_replay [-v] FILE|DIR ...
 *
 * -v names each file before it runs; without it a crash still names its
 * file (from the sanitizer's death callback or a signal handler). Each
 * file is read into one malloc of exactly its size (so a read past the
 * end is a heap overflow that ASan reports) and passed once to
 * LLVMFuzzerTestOneInput. Folders are read one level deep, in name order.
 * Exits 0 when at least one input ran and none crashed; 1 when a file or
 * folder cannot be read, or when there was nothing to replay (an empty
 * corpus is a rotten corpus); 2 on a usage error.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, sigaction */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_util.h"

/* Targets without an initializer get this weak no-op. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

/* The file being replayed, for the crash message; and whether -v was given. */
static const char *current_path;
static int verbose;

/* The sanitizers' hook, when linked with one (weak: absent otherwise). */
__attribute__((weak)) void
__sanitizer_set_death_callback(void (*callback)(void));

/* name_current — write "replay: crashed on PATH" to stderr; only
 * async-signal-safe calls, as it runs from a signal handler. */
static void name_current(void) {
  if (current_path != NULL) {
    static const char msg[] = "replay: crashed on ";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)!write(STDERR_FILENO, current_path, strlen(current_path));
    (void)!write(STDERR_FILENO, "\n", 1);
  }
}

static void on_fatal_signal(int sig) {
  name_current();
  signal(sig, SIG_DFL);
  raise(sig);
}

/* watch_crashes — name the current file on a sanitizer report or a fatal
 * signal (FUZZ_CHECK aborts). */
static void watch_crashes(void) {
  if (__sanitizer_set_death_callback != NULL) {
    __sanitizer_set_death_callback(name_current);
  }
  static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigaction(sigs[i], &sa, NULL);
  }
}

/* run_file — replay one file. Returns 0, or -1 when it cannot be read. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
    fprintf(stderr, "replay: cannot stat %s\n", path);
    fclose(f);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  /* One allocation of exactly the input's size; an empty input gets a
   * non-NULL pointer that is never read, as libFuzzer gives. */
  uint8_t *buf = malloc(size ? size : 1);
  if (buf == NULL) {
    fprintf(stderr, "replay: out of memory for %s\n", path);
    fclose(f);
    return -1;
  }
  size_t got = size ? fread(buf, 1, size, f) : 0;
  fclose(f);
  if (got != size) {
    fprintf(stderr, "replay: short read on %s\n", path);
    free(buf);
    return -1;
  }
  /* With -v named before it runs, as libFuzzer does; a crash names it
   * either way (watch_crashes). */
  if (verbose) {
    fprintf(stderr, "Running: %s\n", path);
  }
  current_path = path;
  LLVMFuzzerTestOneInput(buf, size);
  current_path = NULL;
  free(buf);
  return 0;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* run_dir — replay every regular file of a folder in name order. Adds the
 * number replayed to *count. Returns 0 or -1. */
static int run_dir(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "replay: cannot open folder %s: %s\n", dir,
            strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') {
      continue;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      char **nn = realloc(names, ncap * sizeof *nn);
      if (nn == NULL) {
        rc = -1;
        break;
      }
      names = nn;
      cap = ncap;
    }
    size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
    names[n] = malloc(len);
    if (names[n] == NULL) {
      rc = -1;
      break;
    }
    snprintf(names[n], len, "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  if (n > 1) {
    qsort(names, n, sizeof *names, compare_names);
  }
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(names[i]) != 0) {
        rc = -1;
      } else {
        (*count)++;
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  int first = 1;
  for (; first < argc && argv[first][0] == '-'; first++) {
    if (strcmp(argv[first], "-v") == 0 ||
        strcmp(argv[first], "--verbose") == 0) {
      verbose = 1;
    } else if (strcmp(argv[first], "-h") == 0 ||
               strcmp(argv[first], "--help") == 0) {
      printf("usage: %s [-v] FILE|DIR ...\n"
             "Replays each file (each file of each folder, one level, in "
             "name order) once\nthrough the fuzz target, without "
             "libFuzzer. -v names each file before it runs.\nExit: 0 all "
             "ran without a crash, 1 unreadable input or none, 2 usage.\n",
             argv[0]);
      return 0;
    } else if (strcmp(argv[first], "--") == 0) {
      first++;
      break;
    } else {
      fprintf(stderr, "replay: unknown option %s (try %s --help)\n",
              argv[first], argv[0]);
      return 2;
    }
  }
  if (first >= argc) {
    fprintf(stderr,
            "usage: %s [-v] FILE|DIR ...: replay inputs through the "
            "fuzz target (--help)\n",
            argv[0]);
    return 2;
  }
  LLVMFuzzerInitialize(&argc, &argv);
  watch_crashes();
  size_t count = 0;
  for (int i = first; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: cannot stat %s: %s\n", argv[i], strerror(errno));
      return 1;
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
      rc = run_dir(argv[i], &count);
    } else {
      rc = run_file(argv[i]);
      count += rc == 0;
    }
    if (rc != 0) {
      return 1;
    }
  }
  if (count == 0) {
    fprintf(stderr, "replay: no inputs found: add seeds to the corpus\n");
    return 1;
  }
  printf("replay: %zu inputs ran without a crash\n", count);
  return 0;
}
