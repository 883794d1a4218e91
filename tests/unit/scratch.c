/*
 * tests/unit/scratch.c — scratch.h: a test's scratch directory.
 */
#ifndef _GNU_SOURCE /* the load tests define it on the command line */
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int scratch_make(char dir[SCRATCH_DIR_MAX], const char *stem) {
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 40) {
    tmp = "/tmp";
  }
  int n = snprintf(dir, SCRATCH_DIR_MAX, "%s/%sXXXXXX", tmp, stem);
  if (n < 0 || n >= SCRATCH_DIR_MAX) {
    fprintf(stderr, "scratch directory name too long: %s/%s\n", tmp, stem);
    return -1;
  }
  if (mkdtemp(dir) == NULL) {
    fprintf(stderr, "cannot make %s: %s\n", dir, strerror(errno));
    return -1;
  }
  return 0;
}

int scratch_remove(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
    return -1;
  }
  int rc = 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
      continue;
    }
    char path[SCRATCH_DIR_MAX + 256 + 2];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    /* remove: unlink for a file or a symlink (not what it names), rmdir
     * for an empty directory */
    if (remove(path) != 0) {
      fprintf(stderr, "cannot remove %s: %s\n", path, strerror(errno));
      rc = -1;
    }
  }
  (void)closedir(d);
  if (rmdir(dir) != 0) {
    fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(errno));
    rc = -1;
  }
  return rc;
}
