/*
 * tests/unit/scratch.c — scratch.h: a test's scratch directory.
 */
#ifndef _GNU_SOURCE /* the load tests define it on the command line */
#define _GNU_SOURCE /* mkdtemp */
#endif
#include "scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
    fprintf(stderr, "scratch: directory name too long: %s/%s\n", tmp, stem);
    dir[0] = '\0';
    return -1;
  }
  if (mkdtemp(dir) == NULL) {
    const int e = errno;
    fprintf(stderr, "scratch: cannot make a directory in %s: %s\n", tmp,
            strerror(e));
    dir[0] = '\0'; /* glibc rewrote the X's: not a directory of ours */
    return -1;
  }
  return 0;
}

/* An entry of d: a file or a link (unlinkat never follows one), or an
 * empty directory. */
static int remove_entry(int fd, const char *name) {
  if (unlinkat(fd, name, 0) == 0) {
    return 0;
  }
  return errno == EISDIR ? unlinkat(fd, name, AT_REMOVEDIR) : -1;
}

int scratch_remove(const char *dir) {
  if (dir[0] == '\0') {
    return 0; /* scratch_make failed, and said so */
  }
  DIR *d = opendir(dir);
  if (d == NULL) {
    const int e = errno;
    fprintf(stderr, "scratch: FAIL: cannot open %s: %s\n", dir, strerror(e));
    return -1;
  }
  int rc = 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
      continue;
    }
    if (remove_entry(dirfd(d), e->d_name) != 0) {
      const int err = errno;
      fprintf(stderr,
              "scratch: FAIL: the test left %s/%s behind and it cannot be "
              "removed: %s\n",
              dir, e->d_name, strerror(err));
      rc = -1;
    }
  }
  (void)closedir(d);
  if (rmdir(dir) != 0) {
    const int e = errno;
    fprintf(stderr, "scratch: FAIL: cannot remove %s: %s\n", dir, strerror(e));
    rc = -1;
  }
  return rc;
}
