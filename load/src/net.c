/*
 * load/src/net.c — the transport of the native engines: resolving the
 * target, and the TLS context (OpenSSL: certificate verification, a CA
 * file, ALPN for the protocols asked for).
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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
