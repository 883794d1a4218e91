/*
 * store/src/pepper.c — the pepper file: one home for its format, read by
 * the CLI (--pepper-file, KEYGATE_PEPPER_FILE) and the nginx module
 * (keygate_pepper_file) alike.
 *
 * The format (docs/store.md, "The pepper"): the file's bytes, one trailing
 * line end removed (LF or CRLF), 32 to 64 bytes; `openssl rand -hex 32 >
 * FILE` makes one (64 characters of text). A file that group or others can
 * read or write, or that belongs to a user other than the reader or root,
 * is refused, as ssh refuses a private key. No byte of the file ever
 * reaches an error line.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC with -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

void kg_pepper_wipe(kg_pepper *p) {
  if (p != NULL) {
    OPENSSL_cleanse(p, sizeof *p);
  }
}

/* How to make a pepper, for the error lines. */
#define PEPPER_HOWTO                                                           \
  "a pepper is 32 to 64 bytes: make one with '(umask 077; openssl rand -hex"   \
  " 32 > FILE)'"

/* Read fd into buf until its end or cap bytes (*n = cap then: maybe
 * more). Returns 0, or -1 with errno. */
static int read_upto(int fd, unsigned char *buf, size_t cap, size_t *n) {
  *n = 0;
  while (*n < cap) {
    const ssize_t r = read(fd, buf + *n, cap - *n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return -1;
    }
    if (r == 0) {
      break;
    }
    *n += (size_t)r;
  }
  return 0;
}

int kg_pepper_read_file(const char *path, kg_pepper *out, char *err,
                        size_t errcap) {
  if (out == NULL) {
    return store_errf(err, errcap, "kg_pepper_read_file: out is NULL");
  }
  kg_pepper_wipe(out);
  if (path == NULL || path[0] == '\0') {
    return store_errf(err, errcap, "no pepper file given; " PEPPER_HOWTO);
  }
  const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return store_errf(err, errcap, "cannot read the pepper file %s: %s", path,
                      strerror(errno));
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    const int e = errno;
    close(fd);
    return store_errf(err, errcap, "cannot read the pepper file %s: %s", path,
                      strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return store_errf(err, errcap,
                      "the pepper file %s is not a regular file; give the "
                      "file that holds the pepper",
                      path);
  }
  if (sb.st_uid != geteuid() && sb.st_uid != 0) {
    close(fd);
    return store_errf(err, errcap,
                      "the pepper file %s belongs to uid %u, not to this "
                      "user (uid %u) or root: that user could change it; "
                      "run 'chown %u %s'",
                      path, (unsigned)sb.st_uid, (unsigned)geteuid(),
                      (unsigned)geteuid(), path);
  }
  if ((sb.st_mode & 077) != 0) {
    close(fd);
    return store_errf(err, errcap,
                      "the pepper file %s is open to group or others (mode "
                      "%04o); run 'chmod 600 %s': a pepper is a secret",
                      path, (unsigned)(sb.st_mode & 07777), path);
  }
  /* Room for the longest pepper, its line end (CR LF at most) and one byte
   * more, so that a file too long is told from one that fits. */
  unsigned char buf[KG_PEPPER_MAX + 3];
  size_t n = 0;
  const int rc = read_upto(fd, buf, sizeof buf, &n);
  const int e = errno;
  close(fd);
  if (rc != 0) {
    OPENSSL_cleanse(buf, sizeof buf);
    return store_errf(err, errcap, "cannot read the pepper file %s: %s", path,
                      strerror(e));
  }
  if (n > 0 && n < sizeof buf && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r') {
      n--; /* saved on Windows: the same pepper as with LF */
    }
  }
  if (n < KG_PEPPER_MIN || n > KG_PEPPER_MAX) {
    OPENSSL_cleanse(buf, sizeof buf);
    if (n > KG_PEPPER_MAX) {
      return store_errf(err, errcap,
                        "the pepper file %s holds more than %d bytes; %s", path,
                        KG_PEPPER_MAX, PEPPER_HOWTO);
    }
    return store_errf(err, errcap, "the pepper file %s holds %zu bytes; %s",
                      path, n, PEPPER_HOWTO);
  }
  memcpy(out->bytes, buf, n);
  out->len = n;
  OPENSSL_cleanse(buf, sizeof buf);
  return 0;
}
