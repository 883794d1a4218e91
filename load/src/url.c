/*
 * load/src/url.c — the target URL of a load run: scheme, host, port, and
 * the origin-form request-target sent on the wire.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "keygate/credential.h"

static int fail(char *why, size_t cap, const char *msg) {
  snprintf(why, cap, "%s", msg);
  return -1;
}

int kgl_url_parse(const char *s, kgl_url *u, char *why, size_t whycap) {
  memset(u, 0, sizeof *u);
  const char *p;
  /* RFC 3986 §3.1: a scheme is case-insensitive */
  if (strncasecmp(s, "http://", 7) == 0) {
    p = s + 7;
    u->port = 80;
  } else if (strncasecmp(s, "https://", 8) == 0) {
    p = s + 8;
    u->tls = 1;
    u->port = 443;
  } else {
    return fail(why, whycap,
                "the URL must start with http:// or https:// "
                "(e.g. http://127.0.0.1:8080/api/v1/iocs)");
  }
  const size_t alen = strcspn(p, "/?#");
  if (alen == 0) {
    return fail(why, whycap, "the URL has no host");
  }
  if (memchr(p, '@', alen) != NULL) {
    return fail(why, whycap,
                "the URL holds user information (user@host): credentials "
                "go in headers, never in a URL");
  }
  if (alen >= sizeof u->authority) {
    return fail(why, whycap, "the URL's host is too long");
  }
  memcpy(u->authority, p, alen);
  const char *host = p, *port = NULL;
  size_t hlen;
  if (*p == '[') {
    const char *close = memchr(p, ']', alen);
    if (close == NULL) {
      return fail(why, whycap, "the URL's IPv6 address lacks its ']'");
    }
    host = p + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < p + alen) {
      if (close[1] != ':') {
        return fail(why, whycap, "unexpected text after the URL's ']'");
      }
      port = close + 2;
    }
  } else {
    const char *colon = memchr(p, ':', alen);
    hlen = colon != NULL ? (size_t)(colon - p) : alen;
    if (colon != NULL) {
      port = colon + 1;
    }
  }
  if (hlen == 0 || hlen >= sizeof u->host) {
    return fail(why, whycap, "the URL's host is empty or too long");
  }
  /* RFC 3986 §3.2.2: a name of unreserved characters (percent-encoded and
   * sub-delimiter forms are not accepted: no DNS name needs them), or
   * within [] an IPv6 address. Anything else would go into the Host
   * field as it is: refuse it. */
  for (size_t i = 0; i < hlen; i++) {
    const unsigned char ch = (unsigned char)host[i];
    const int ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '-' ||
                   ch == '_' || ch == '~' ||
                   (*p == '[' && (ch == ':' || ch == '%')); /* zone */
    if (!ok) {
      return fail(why, whycap,
                  "the URL's host holds a byte a host name cannot hold "
                  "(letters, digits, '.', '-', or an IPv6 address in [])");
    }
  }
  memcpy(u->host, host, hlen);
  if (port != NULL) {
    long v = 0;
    const char *end = p + alen;
    if (port == end) {
      return fail(why, whycap, "the URL's port is empty");
    }
    for (const char *q = port; q < end; q++) {
      if (*q < '0' || *q > '9' || v > 65535) {
        return fail(why, whycap, "the URL's port is not a number 1..65535");
      }
      v = v * 10 + (*q - '0');
    }
    if (v < 1 || v > 65535) {
      return fail(why, whycap, "the URL's port is not a number 1..65535");
    }
    u->port = (int)v;
  }
  const char *rest = p + alen;
  const size_t tlen = strcspn(rest, "#"); /* a fragment is never sent */
  for (size_t i = 0; i < tlen; i++) {
    const unsigned char ch = (unsigned char)rest[i];
    if (ch <= 0x20 || ch >= 0x7f) {
      return fail(why, whycap,
                  "the URL holds a space, control or non-ASCII byte: "
                  "percent-encode it");
    }
  }
  if (tlen + 2 > sizeof u->target) {
    return fail(why, whycap, "the URL's path and query are too long");
  }
  size_t o = 0;
  if (tlen == 0 || rest[0] != '/') {
    u->target[o++] = '/';
  }
  memcpy(u->target + o, rest, tlen);
  u->target[o + tlen] = '\0';
  if (kgl_url_holds_key(u, "sk_live_") || kgl_url_holds_key(u, "sk_test_")) {
    return fail(why, whycap,
                "the URL holds an API key (a key's prefix, or a parameter "
                "api_key, apikey, key, access_token or token with a value: "
                "SPEC 1.1): it would reach the server's logs, and the "
                "server answers 400 api_key_in_query; keys go in headers "
                "(load --keys, probe --key-file)");
  }
  return 0;
}

int kgl_url_holds_key(const kgl_url *u, const char *prefix) {
  kg_key_policy pol;
  if (kg_key_policy_init(&pol, KG_KEY_PREFIX, prefix, strlen(prefix)) !=
      KG_OK) {
    return 0;
  }
  /* The URL's authority is the Host field, which SPEC 1.1 checks too. */
  const kg_field host = {{"Host", 4}, {u->authority, strlen(u->authority)}};
  const kg_span target = {u->target, strlen(u->target)};
  kg_credential c;
  return kg_credential_extract(&pol, &host, 1, target, &c) ==
         KG_API_KEY_IN_QUERY;
}

const char *kgl_url_endpoint(const kgl_url *u, char *out) {
  const int v6 = strchr(u->host, ':') != NULL;
  snprintf(out, KGL_ENDPOINT_MAX, "%s%s%s:%d", v6 ? "[" : "", u->host,
           v6 ? "]" : "", u->port);
  return out;
}
