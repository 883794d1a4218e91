/*
 * load/src/outfile.c — writing a result file whole: the one place that
 * decides how --json, --html and report --out write (see outfile.h).
 */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, realpath */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "load/outfile.h"

/* The folder holding path ("." when it names none). */
static void folder_of(const char *path, char *dir, size_t cap) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    snprintf(dir, cap, ".");
  } else if (slash == path) {
    snprintf(dir, cap, "/");
  } else {
    snprintf(dir, cap, "%.*s", (int)(slash - path), path);
  }
}

int kgl_out_check(const char *path, char *why, size_t whycap) {
  if (strcmp(path, "-") == 0) {
    return 0;
  }
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      snprintf(why, whycap, "%s: is a folder; give a file name", path);
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      return 0; /* a device or FIFO: written in place */
    }
  }
  char dir[PATH_MAX];
  folder_of(path, dir, sizeof dir);
  if (access(dir, W_OK) != 0) {
    snprintf(why, whycap,
             "%s: cannot be written there (%s: %s); give a path in a folder "
             "you can write",
             path, dir, strerror(errno));
    return -1;
  }
  return 0;
}

/* same_file — a and b name one file: the same device and inode when both
 * exist; when neither does yet, the same name in the same folder (device
 * and inode of the folders), so "new.db" and "./new.db" are one (review
 * 72: `keys seed --db new.db --out ./new.db` wrote the key file over the
 * store it had just made). */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  const int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
  if (ea && eb) {
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  if (ea || eb) {
    return 0;
  }
  const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
  na = na != NULL ? na + 1 : a;
  nb = nb != NULL ? nb + 1 : b;
  if (strcmp(na, nb) != 0) {
    return 0;
  }
  char da[PATH_MAX], db[PATH_MAX];
  folder_of(a, da, sizeof da);
  folder_of(b, db, sizeof db);
  if (stat(da, &sa) != 0 || stat(db, &sb) != 0) {
    return strcmp(a, b) == 0;
  }
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* written_in_place — an existing device or FIFO: any number of outputs
 * may write it (/dev/null twice is no loss). */
static int written_in_place(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

static int named(const kgl_named_path *p) {
  return p->path != NULL && strcmp(p->path, "-") != 0;
}

int kgl_out_distinct(const kgl_named_path *in, size_t nin,
                     const kgl_named_path *out, size_t nout, char *why,
                     size_t whycap) {
  for (size_t i = 0; i < nout; i++) {
    if (!named(&out[i]) || written_in_place(out[i].path)) {
      continue;
    }
    for (size_t j = 0; j < nin; j++) {
      if (named(&in[j]) && same_file(out[i].path, in[j].path)) {
        snprintf(why, whycap,
                 "%s %s names the same file as %s %s: writing it would "
                 "destroy what is read; give another path",
                 out[i].what, out[i].path, in[j].what, in[j].path);
        return -1;
      }
    }
    for (size_t j = 0; j < i; j++) {
      if (named(&out[j]) && same_file(out[i].path, out[j].path)) {
        snprintf(why, whycap,
                 "%s %s and %s %s are the same file: one would replace the "
                 "other; give each its own path",
                 out[j].what, out[j].path, out[i].what, out[i].path);
        return -1;
      }
    }
  }
  return 0;
}

int kgl_out_open(kgl_out *o, const char *path, char *why, size_t whycap) {
  o->f = NULL;
  o->in_place = 0;
  o->to_stdout = 0;
  o->tmp[0] = '\0';
  snprintf(o->path, sizeof o->path, "%s", path);
  if (strcmp(path, "-") == 0) {
    o->f = stdout;
    o->in_place = 1;
    o->to_stdout = 1;
    return 0;
  }
  if (kgl_out_check(path, why, whycap) != 0) {
    return -1;
  }
  struct stat st;
  const int exists = stat(path, &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    /* /dev/null, a FIFO, /proc/self/fd/1: write to it, never rename over
     * it (as root that would replace a device node with a file) */
    o->f = fopen(path, "w");
    if (o->f == NULL) {
      snprintf(why, whycap, "%s: cannot write: %s", path, strerror(errno));
      return -1;
    }
    o->in_place = 1;
    return 0;
  }
  /* a symbolic link to a file: replace the file it names, not the link */
  char real[PATH_MAX];
  const char *target = path;
  if (exists && realpath(path, real) != NULL) {
    target = real;
  }
  snprintf(o->path, sizeof o->path, "%s", target);
  const int n = snprintf(o->tmp, sizeof o->tmp, "%s.tmp", target);
  if (n < 0 || (size_t)n >= sizeof o->tmp) {
    snprintf(why, whycap, "%s: path too long", path);
    return -1;
  }
  const int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    snprintf(why, whycap, "%s: cannot create a file beside it: %s", path,
             strerror(errno));
    return -1;
  }
  o->f = fdopen(fd, "w");
  if (o->f == NULL) {
    snprintf(why, whycap, "%s: %s", path, strerror(errno));
    (void)close(fd);
    (void)unlink(o->tmp);
    return -1;
  }
  return 0;
}

int kgl_out_close(kgl_out *o, int ok, char *why, size_t whycap) {
  /* a writer that failed on a write (the stream's error flag) left its
   * reason in errno: the one to name */
  const int werr = errno;
  if (o->f == NULL) {
    return -1;
  }
  int bad = !ok || fflush(o->f) != 0;
  int err = bad && ok ? errno : 0;
  if (!ok && ferror(o->f)) {
    err = werr;
  }
  if (!bad && !o->in_place && fsync(fileno(o->f)) != 0) {
    bad = 1;
    err = errno;
  }
  if (o->f != stdout && fclose(o->f) != 0 && !bad) {
    bad = 1;
    err = errno;
  }
  o->f = NULL;
  if (bad && o->to_stdout) {
    /* "-" is named, not shown as a bare "-" */
    if (err != 0) {
      snprintf(why, whycap, "cannot write to standard output: %s",
               strerror(err));
    } else if (why[0] == '\0') {
      snprintf(why, whycap, "cannot write to standard output");
    }
    return -1;
  }
  if (bad) {
    if (err != 0) {
      snprintf(why, whycap, "%s: cannot write: %s", o->path, strerror(err));
    } else if (why[0] == '\0') {
      snprintf(why, whycap, "%s: cannot write", o->path);
    }
    if (!o->in_place) {
      (void)unlink(o->tmp);
    }
    return -1;
  }
  if (o->in_place) {
    return 0;
  }
  if (rename(o->tmp, o->path) != 0) {
    snprintf(why, whycap, "%s: cannot replace: %s", o->path, strerror(errno));
    (void)unlink(o->tmp);
    return -1;
  }
  char dir[PATH_MAX];
  folder_of(o->path, dir, sizeof dir);
  const int dfd = open(dir, O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd); /* the rename itself survives a crash */
    (void)close(dfd);
  }
  return 0;
}
