/*
 * load/src/net.c — the transport of the native engines: resolving the
 * target, and the TLS context (OpenSSL: certificate verification, a CA
 * file, ALPN for the protocols asked for).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

int kgl_resolve(const kgl_url *u, struct sockaddr_storage *sa, unsigned *salen,
                char *why, size_t whycap) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port[8];
  snprintf(port, sizeof port, "%d", u->port);
  const int rc = getaddrinfo(u->host, port, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(why, whycap, "cannot resolve %s: %s", u->host, gai_strerror(rc));
    return -1;
  }
  memcpy(sa, res->ai_addr, res->ai_addrlen);
  *salen = (unsigned)res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

SSL_CTX *kgl_tls_ctx(const kgl_options *o, char *why, size_t whycap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) {
    snprintf(why, whycap, "cannot make a TLS context (OpenSSL)");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  /* OpenSSL 3 reports a close without close_notify as SSL_ERROR_SSL; a
   * close-delimited answer (RFC 9112 §6.3) ends there, and one cut short
   * is still caught by the parser's framing (kgl_h1_eof). */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  if (o->insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const int ok = o->cacert != NULL
                       ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
      snprintf(why, whycap,
               o->cacert != NULL
                   ? "cannot read the CA file %s: give a PEM certificate"
                   : "cannot load the system's CA certificates%s",
               o->cacert != NULL ? o->cacert : "");
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  /* ALPN: wire format, length-prefixed protocol names */
  static const unsigned char both[] = "\x02h2\x08http/1.1";
  static const unsigned char h2[] = "\x02h2";
  static const unsigned char h1[] = "\x08http/1.1";
  int rc;
  switch (o->http) {
  case KGL_HTTP_1:
    rc = SSL_CTX_set_alpn_protos(ctx, h1, sizeof h1 - 1);
    break;
  case KGL_HTTP_2:
    rc = SSL_CTX_set_alpn_protos(ctx, h2, sizeof h2 - 1);
    break;
  case KGL_HTTP_AUTO:
  default:
    rc = SSL_CTX_set_alpn_protos(ctx, both, sizeof both - 1);
    break;
  }
  if (rc != 0) {
    snprintf(why, whycap, "cannot set ALPN (OpenSSL)");
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

SSL *kgl_tls_new(SSL_CTX *ctx, const kgl_options *o, const kgl_url *u, int fd) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return NULL;
  }
  struct in6_addr a6;
  struct in_addr a4;
  const int literal = inet_pton(AF_INET, u->host, &a4) == 1 ||
                      inet_pton(AF_INET6, u->host, &a6) == 1;
  if (!literal) {
    SSL_set_tlsext_host_name(ssl, u->host); /* SNI names hosts, not IPs */
  }
  if (!o->insecure && SSL_set1_host(ssl, u->host) != 1) {
    SSL_free(ssl);
    return NULL;
  }
  return ssl;
}

int kgl_tls_check(SSL_CTX *ctx, const kgl_options *o, const kgl_url *u, int fd,
                  int timeout_ms, char *why, size_t whycap) {
  SSL *ssl = kgl_tls_new(ctx, o, u, fd);
  if (ssl == NULL) {
    snprintf(why, whycap, "cannot start TLS with %s (OpenSSL)", u->host);
    return -1;
  }
  int rc = -1;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_connect(ssl);
    if (r == 1) {
      rc = 0;
      break;
    }
    const int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
      const long v = SSL_get_verify_result(ssl);
      char ep[KGL_ENDPOINT_MAX];
      if (v != X509_V_OK) {
        snprintf(why, whycap,
                 "the certificate of %s is not trusted: %s (give its CA "
                 "with --cacert FILE, or --insecure to skip the check)",
                 kgl_url_endpoint(u, ep), X509_verify_cert_error_string(v));
      } else {
        char err[160];
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof err);
        snprintf(why, whycap, "the TLS handshake with %s failed: %s",
                 kgl_url_endpoint(u, ep),
                 ERR_peek_last_error() ? err : "closed");
      }
      break;
    }
    struct pollfd p = {fd, (short)(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT),
                       0};
    if (poll(&p, 1, timeout_ms) != 1) {
      char ep[KGL_ENDPOINT_MAX];
      snprintf(why, whycap, "the TLS handshake with %s timed out",
               kgl_url_endpoint(u, ep));
      break;
    }
  }
  if (rc == 0 && o->http == KGL_HTTP_2) {
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
      char ep[KGL_ENDPOINT_MAX];
      snprintf(why, whycap,
               "%s does not speak HTTP/2 (ALPN chose %.*s): leave out "
               "--http2",
               kgl_url_endpoint(u, ep), alen ? (int)alen : 4,
               alen ? (const char *)alpn : "none");
      rc = -1;
    }
  }
  SSL_free(ssl);
  ERR_clear_error();
  return rc;
}

/* ---- h2c: the server's preface before the run ------------------------------
 */

int kgl_wait_io(int fd, short ev, int64_t deadline_ns) {
  for (;;) {
    const int64_t left = deadline_ns - kgl_now_ns();
    if (left <= 0) {
      return 0;
    }
    struct pollfd p = {fd, ev, 0};
    const int rc = poll(&p, 1, (int)((left + 999999) / 1000000));
    if (rc > 0) {
      return 1;
    }
    if (rc < 0 && errno != EINTR) {
      return -1;
    }
  }
}

/* Read up to n bytes into b (NULL: read and drop) until deadline: how many
 * came; *closed set at the peer's close or a failed read. */
static size_t read_until(int fd, unsigned char *b, size_t n, int64_t deadline,
                         int *closed) {
  unsigned char sink[512] = {0}; /* cppcheck: never read, only written */
  size_t got = 0;
  while (got < n) {
    size_t want = n - got;
    if (b == NULL && want > sizeof sink) {
      want = sizeof sink;
    }
    const ssize_t r = recv(fd, b != NULL ? b + got : sink, want, 0);
    if (r > 0) {
      got += (size_t)r;
    } else if (r < 0 &&
               (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (kgl_wait_io(fd, POLLIN, deadline) == 0) {
        break;
      }
    } else {
      *closed = 1;
      break;
    }
  }
  return got;
}

/* RFC 9113 §7's error codes, for a GOAWAY's one line: in words (the
 * names' capitals and '_' read as a key's shape to the error line's
 * redaction, which would mask HTTP_1_1_REQUIRED). */
static const char *h2_error_name(uint32_t code) {
  static const char *const NAMES[] = {"no error",
                                      "protocol error",
                                      "internal error",
                                      "flow control error",
                                      "settings timeout",
                                      "stream closed",
                                      "frame size error",
                                      "refused stream",
                                      "cancel",
                                      "compression error",
                                      "connect error",
                                      "enhance your calm",
                                      "inadequate security",
                                      "HTTP/1.1 required"};
  return code < sizeof NAMES / sizeof NAMES[0] ? NAMES[code] : "unknown";
}

/* After the server's SETTINGS: what follows within H2C_AFTER_MS (or the
 * check's deadline, if sooner). A server that sends its SETTINGS and then
 * a GOAWAY (HTTP_1_1_REQUIRED, say) or closes does not serve h2c: the run
 * would be a run of resets. 0 when nothing says so (frames of other types
 * are skipped; silence is fine: a server waits for requests), else what
 * it did, in `what`. */
#define H2C_AFTER_MS 150
static int h2c_after_settings(int fd, uint32_t settings_len, int64_t deadline,
                              char *what, size_t cap) {
  const int64_t soon = kgl_now_ns() + (int64_t)H2C_AFTER_MS * 1000000;
  const int64_t until = soon < deadline ? soon : deadline;
  int closed = 0;
  uint32_t skip = settings_len;
  for (int frames = 0; frames < 16; frames++) {
    if (read_until(fd, NULL, skip, until, &closed) < skip) {
      break;
    }
    unsigned char h[9];
    if (read_until(fd, h, sizeof h, until, &closed) < sizeof h) {
      break;
    }
    const uint32_t len = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
    if (h[3] == 0x07 && len >= 8) { /* GOAWAY (§6.8) */
      unsigned char g[8];
      if (read_until(fd, g, sizeof g, until, &closed) < sizeof g) {
        snprintf(what, cap, "sent a GOAWAY after its SETTINGS");
        return 1;
      }
      const uint32_t code = (uint32_t)g[4] << 24 | (uint32_t)g[5] << 16 |
                            (uint32_t)g[6] << 8 | g[7];
      snprintf(what, cap,
               "sent a GOAWAY after its SETTINGS, error code 0x%x (%s)", code,
               h2_error_name(code));
      return 1;
    }
    skip = len;
  }
  if (closed) {
    snprintf(what, cap, "closed the connection after its SETTINGS");
    return 1;
  }
  return 0;
}

int kgl_h2c_check(int fd, const kgl_url *u, int timeout_ms, char *why,
                  size_t whycap) {
  /* RFC 9113 §3.4: the client preface, then its (empty) SETTINGS frame */
  static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  const int64_t deadline =
      kgl_now_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000;
  const char *fix = "leave out --http2 (HTTP/1.1), or use https:// where the "
                    "server offers h2 by ALPN";
  char ep[KGL_ENDPOINT_MAX];
  kgl_url_endpoint(u, ep);
  size_t off = 0;
  while (off < sizeof PREFACE - 1) {
    const ssize_t n =
        send(fd, PREFACE + off, sizeof PREFACE - 1 - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (kgl_wait_io(fd, POLLOUT, deadline) == 0) {
        break;
      }
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      snprintf(why, whycap,
               "%s refused the HTTP/2 preface (h2c with prior knowledge: "
               "%s): %s",
               ep, strerror(errno), fix);
      return -1;
    }
  }
  unsigned char head[9]; /* a frame header (RFC 9113 §4.1) */
  size_t got = 0;
  const char *what = NULL;
  char after[96];
  while (off == sizeof PREFACE - 1 && got < sizeof head) {
    const ssize_t n = recv(fd, head + got, sizeof head - got, 0);
    if (n > 0) {
      got += (size_t)n;
    } else if (n == 0) {
      what = "closed the connection";
      break;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (kgl_wait_io(fd, POLLIN, deadline) == 0) {
        break;
      }
    } else {
      what = errno == ECONNRESET ? "reset the connection"
                                 : "failed the connection";
      break;
    }
  }
  if (got >= 5 && memcmp(head, "HTTP/", 5) == 0) {
    what = "answered in HTTP/1.x";
  } else if (got == sizeof head) {
    const uint32_t len =
        (uint32_t)head[0] << 16 | (uint32_t)head[1] << 8 | head[2];
    const uint32_t stream = ((uint32_t)head[5] << 24 | (uint32_t)head[6] << 16 |
                             (uint32_t)head[7] << 8 | head[8]) &
                            0x7fffffffu;
    /* the server's preface: SETTINGS, not an ACK, on stream 0 (§6.5) */
    if (head[3] == 0x04 && (head[4] & 0x01) == 0 && stream == 0 &&
        len % 6 == 0) {
      if (!h2c_after_settings(fd, len, deadline, after, sizeof after)) {
        return 0;
      }
      snprintf(why, whycap,
               "%s does not speak HTTP/2 without TLS (h2c with prior "
               "knowledge): it %s; %s",
               ep, after, fix);
      return -1;
    }
    what = "answered with something other than HTTP/2 SETTINGS";
  } else if (what == NULL) {
    snprintf(why, whycap,
             "%s sent no HTTP/2 SETTINGS within %d ms of the preface (h2c "
             "with prior knowledge): %s",
             ep, timeout_ms, fix);
    return -1;
  }
  snprintf(why, whycap,
           "%s does not speak HTTP/2 without TLS (h2c with prior "
           "knowledge): it %s to the preface; %s",
           ep, what, fix);
  return -1;
}
