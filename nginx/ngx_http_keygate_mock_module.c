/*
 * ngx_http_keygate_mock_module.c — the reference API of SPEC §3, a second
 * nginx module in the .so of ngx_http_keygate_module: the sample upstream
 * `keygate serve` answers with when it is given no --upstream, and the one
 * the integration tests ask. It is not part of authentication: the auth
 * module decides in the access phase; this one is the content handler of a
 * location, as an upstream behind proxy_pass would be.
 *
 *   keygate_mock_iocs   (location) GET /api/v1/iocs?type=T&limit=N
 *
 * It shares nothing with the auth module but what any upstream sees: the
 * request id is $keygate_request_id (the one the auth module puts in its
 * answers and the access log), and its error answers are libkeygate's
 * (kg_error_body), in the shape of SPEC §1.4.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdio.h>

#include "keygate/keygate.h"

typedef struct {
  ngx_int_t request_id; /* index of $keygate_request_id; NGX_ERROR: unset */
} ngx_http_keygate_mock_loc_conf_t;

static void *ngx_http_keygate_mock_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_keygate_mock_iocs(ngx_conf_t *cf, ngx_command_t *cmd,
                                        void *conf);

static ngx_command_t ngx_http_keygate_mock_commands[] = {
    {ngx_string("keygate_mock_iocs"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_http_keygate_mock_iocs, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    ngx_null_command};

static ngx_http_module_t ngx_http_keygate_mock_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */
    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_keygate_mock_create_loc_conf, /* create location configuration */
    NULL                                   /* merge location configuration */
};

ngx_module_t ngx_http_keygate_mock_module = {NGX_MODULE_V1,
                                             &ngx_http_keygate_mock_module_ctx,
                                             ngx_http_keygate_mock_commands,
                                             NGX_HTTP_MODULE,
                                             NULL, /* init master */
                                             NULL, /* init module */
                                             NULL, /* init process */
                                             NULL, /* init thread */
                                             NULL, /* exit thread */
                                             NULL, /* exit process */
                                             NULL, /* exit master */
                                             NGX_MODULE_V1_PADDING};

/* ---- the sample indicators ---------------------------------------------- */

#define NGX_HTTP_KEYGATE_MOCK_IOC_TYPES 5
#define NGX_HTTP_KEYGATE_MOCK_IOC_MAX 100
#define NGX_HTTP_KEYGATE_MOCK_IOC_DEFAULT 10

static const char
    *const ngx_http_keygate_mock_ioc_types[NGX_HTTP_KEYGATE_MOCK_IOC_TYPES] = {
        "ipv4", "ipv6", "domain", "url", "sha256"};

/*
 * Write the value of sample indicator i (0-based) of type t into out. The
 * built-in set is generated, so it is the same on every server: addresses
 * from the documentation ranges (RFC 5737, RFC 3849), names under .example
 * (RFC 2606), digests of a fixed counter pattern.
 */
static int ngx_http_keygate_mock_ioc_value(ngx_uint_t t, ngx_uint_t i,
                                           char *out, size_t cap) {
  static const char *const nets[3] = {"192.0.2", "198.51.100", "203.0.113"};
  switch (t) {
  case 0:
    return snprintf(out, cap, "%s.%u", nets[i % 3], (unsigned)(i / 3 + 1));
  case 1:
    return snprintf(out, cap, "2001:db8:%x::%x", (unsigned)(i / 16 + 1),
                    (unsigned)(i % 16 + 1));
  case 2:
    return snprintf(out, cap, "c2-%03u.malware.example", (unsigned)i + 1);
  case 3:
    return snprintf(out, cap, "http://drop-%03u.phish.example/login.php",
                    (unsigned)i + 1);
  default: {
    /* 64 hex digits: a fixed mixing of i, not a real digest. */
    uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
    int len = 0;
    for (int k = 0; k < 4 && (size_t)len < cap; k++) {
      x ^= x >> 29;
      x *= 0xbf58476d1ce4e5b9ull;
      len += snprintf(out + len, cap - (size_t)len, "%016llx",
                      (unsigned long long)x);
    }
    return len;
  }
  }
}

/* The first query parameter named `name` (any case, as ngx_http_arg): its
 * value in *value, empty for a name without '=' ("?type": present, empty,
 * as URLSearchParams reads it; ngx_http_arg would not see it). NGX_OK, or
 * NGX_DECLINED when there is none. Values are not decoded. */
static ngx_int_t ngx_http_keygate_mock_arg(ngx_http_request_t *r,
                                           const char *name, ngx_str_t *value) {
  const size_t len = ngx_strlen(name);
  u_char *p = r->args.data;
  u_char *end = p + r->args.len;
  while (p != NULL && p < end) {
    u_char *amp = ngx_strlchr(p, end, '&');
    u_char *stop = amp != NULL ? amp : end;
    u_char *eq = ngx_strlchr(p, stop, '=');
    u_char *name_end = eq != NULL ? eq : stop;
    if ((size_t)(name_end - p) == len &&
        ngx_strncasecmp(p, (u_char *)name, len) == 0) {
      value->data = eq != NULL ? eq + 1 : stop;
      value->len = (size_t)(stop - value->data);
      return NGX_OK;
    }
    p = amp != NULL ? amp + 1 : NULL;
  }
  return NGX_DECLINED;
}

/* Parse limit: decimal digits only, 1 to 100. Returns it, or 0 when bad. */
static ngx_uint_t ngx_http_keygate_mock_parse_limit(const ngx_str_t *v) {
  if (v->len == 0 || v->len > 3) {
    return 0;
  }
  ngx_uint_t n = 0;
  for (size_t i = 0; i < v->len; i++) {
    if (v->data[i] < '0' || v->data[i] > '9') {
      return 0;
    }
    n = n * 10 + (ngx_uint_t)(v->data[i] - '0');
  }
  return (n >= 1 && n <= NGX_HTTP_KEYGATE_MOCK_IOC_MAX) ? n : 0;
}

/* ---- answers --------------------------------------------------------------
 */

/* Send a JSON answer: status, Content-Type: application/json,
 * Cache-Control: no-store, X-Request-Id rid, and body (request pool). */
static ngx_int_t ngx_http_keygate_mock_send(ngx_http_request_t *r,
                                            ngx_uint_t status,
                                            const ngx_str_t *rid, u_char *body,
                                            size_t len) {
  ngx_int_t rc = ngx_http_discard_request_body(r);
  if (rc != NGX_OK) {
    return rc;
  }
  /* After error_page, ngx_http_send_header would put nginx's own status
   * over the one chosen here. */
  r->err_status = 0;
  r->headers_out.status = status;
  ngx_str_set(&r->headers_out.content_type, "application/json");
  r->headers_out.content_type_len = r->headers_out.content_type.len;
  r->headers_out.content_type_lowcase = NULL;
  r->headers_out.content_length_n = (off_t)len;
  ngx_table_elt_t *cc = ngx_list_push(&r->headers_out.headers);
  ngx_table_elt_t *id =
      cc != NULL ? ngx_list_push(&r->headers_out.headers) : NULL;
  if (id == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  ngx_memzero(cc, sizeof(*cc));
  cc->hash = 1;
  ngx_str_set(&cc->key, "Cache-Control");
  ngx_str_set(&cc->value, "no-store");
  ngx_memzero(id, sizeof(*id));
  id->hash = 1;
  ngx_str_set(&id->key, "X-Request-Id");
  id->value = *rid;

  ngx_buf_t *b = ngx_calloc_buf(r->pool);
  if (b == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  rc = ngx_http_send_header(r);
  if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
    return rc;
  }
  b->pos = body;
  b->last = body + len;
  b->memory = 1;
  b->last_buf = (r == r->main) ? 1 : 0;
  b->last_in_chain = 1;
  ngx_chain_t out = {b, NULL};
  return ngx_http_output_filter(r, &out);
}

/* Send an error answer: kg_error_body's body for code with message (NULL:
 * its documented one), and kg_http_status's status. */
static ngx_int_t ngx_http_keygate_mock_error(ngx_http_request_t *r,
                                             const ngx_str_t *rid,
                                             kg_status code,
                                             const char *message) {
  u_char *body = ngx_pnalloc(r->pool, KG_ERROR_BODY_MAX);
  size_t len = 0;
  if (body == NULL ||
      kg_error_body(code, message, message != NULL ? ngx_strlen(message) : 0,
                    (const char *)rid->data, rid->len, (char *)body,
                    KG_ERROR_BODY_MAX, &len) != KG_OK) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  return ngx_http_keygate_mock_send(r, (ngx_uint_t)kg_http_status(code), rid,
                                    body, len);
}

/* The JSON answer of GET /api/v1/iocs: {"data":[...],"count":N,
 * "request_id":"req_..."}; type < 0 means every type, interleaved. */
static ngx_int_t ngx_http_keygate_mock_render(ngx_http_request_t *r,
                                              const ngx_str_t *rid,
                                              ngx_int_t type,
                                              ngx_uint_t limit) {
  size_t cap = 64 + limit * 192;
  char *body = ngx_pnalloc(r->pool, cap);
  if (body == NULL) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  size_t len = 0;
  int w = snprintf(body, cap, "{\"data\":[");
  len += (size_t)w;
  for (ngx_uint_t i = 0; i < limit; i++) {
    ngx_uint_t t =
        type >= 0 ? (ngx_uint_t)type : i % NGX_HTTP_KEYGATE_MOCK_IOC_TYPES;
    ngx_uint_t nth = type >= 0 ? i : i / NGX_HTTP_KEYGATE_MOCK_IOC_TYPES;
    char value[80];
    if (ngx_http_keygate_mock_ioc_value(t, nth, value, sizeof value) <= 0) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    w = snprintf(body + len, cap - len,
                 "%s{\"id\":\"ioc_%s_%03u\",\"type\":\"%s\",\"value\":\"%s\","
                 "\"confidence\":%u,\"first_seen\":\"2024-01-%02uT00:00:00Z\"}",
                 i == 0 ? "" : ",", ngx_http_keygate_mock_ioc_types[t],
                 (unsigned)nth + 1, ngx_http_keygate_mock_ioc_types[t], value,
                 (unsigned)(50 + (nth * 7) % 50), (unsigned)(nth % 28 + 1));
    if (w < 0 || (size_t)w >= cap - len) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    len += (size_t)w;
  }
  w = snprintf(body + len, cap - len, "],\"count\":%u,\"request_id\":\"%.*s\"}",
               (unsigned)limit, (int)rid->len, (const char *)rid->data);
  if (w < 0 || (size_t)w >= cap - len) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  len += (size_t)w;
  return ngx_http_keygate_mock_send(r, NGX_HTTP_OK, rid, (u_char *)body, len);
}

/*
 * keygate_mock_iocs — GET /api/v1/iocs?type=T&limit=N. type: ipv4, ipv6,
 * domain, url or sha256 (absent: every type); limit: 1 to 100 (absent: 10).
 * Anything else about them is 400 invalid_parameter. Another URI in the
 * location answers 404 not_found, another method 405 method_not_allowed.
 */
static ngx_int_t ngx_http_keygate_mock_handler(ngx_http_request_t *r) {
  const ngx_http_keygate_mock_loc_conf_t *mlcf =
      ngx_http_get_module_loc_conf(r, ngx_http_keygate_mock_module);
  ngx_http_variable_value_t *v =
      ngx_http_get_indexed_variable(r, (ngx_uint_t)mlcf->request_id);
  if (v == NULL || v->not_found || v->len != KG_REQUEST_ID_LEN) {
    return NGX_HTTP_INTERNAL_SERVER_ERROR;
  }
  ngx_str_t rid = {v->len, v->data};
  static const char path[] = "/api/v1/iocs";
  if (r->uri.len != sizeof(path) - 1 ||
      ngx_strncmp(r->uri.data, path, r->uri.len) != 0) {
    return ngx_http_keygate_mock_error(
        r, &rid, KG_NOT_FOUND,
        "No such endpoint. The API serves GET /api/v1/iocs.");
  }
  if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
    /* The body first: a body nginx refuses (bad framing) ends in its 400,
     * which must not carry this 405's Allow. (A second discard in
     * ngx_http_keygate_mock_send is a no-op.) */
    const ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
      return rc;
    }
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
      return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memzero(h, sizeof(*h));
    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD");
    return ngx_http_keygate_mock_error(r, &rid, KG_E_METHOD_NOT_ALLOWED,
                                       "Use GET /api/v1/iocs.");
  }

  ngx_int_t type = -1;
  ngx_str_t arg;
  if (ngx_http_keygate_mock_arg(r, "type", &arg) == NGX_OK) {
    for (ngx_int_t t = 0; t < NGX_HTTP_KEYGATE_MOCK_IOC_TYPES; t++) {
      if (arg.len == ngx_strlen(ngx_http_keygate_mock_ioc_types[t]) &&
          ngx_strncmp(arg.data, ngx_http_keygate_mock_ioc_types[t], arg.len) ==
              0) {
        type = t;
      }
    }
    if (type < 0) {
      return ngx_http_keygate_mock_error(
          r, &rid, KG_INVALID_PARAMETER,
          "type must be one of ipv4, ipv6, domain, url, sha256.");
    }
  }
  ngx_uint_t limit = NGX_HTTP_KEYGATE_MOCK_IOC_DEFAULT;
  if (ngx_http_keygate_mock_arg(r, "limit", &arg) == NGX_OK) {
    limit = ngx_http_keygate_mock_parse_limit(&arg);
    if (limit == 0) {
      return ngx_http_keygate_mock_error(
          r, &rid, KG_INVALID_PARAMETER,
          "limit must be a whole number from 1 to 100.");
    }
  }
  return ngx_http_keygate_mock_render(r, &rid, type, limit);
}

/* ---- configuration ---------------------------------------------------------
 */

static void *ngx_http_keygate_mock_create_loc_conf(ngx_conf_t *cf) {
  ngx_http_keygate_mock_loc_conf_t *mlcf = ngx_pcalloc(cf->pool, sizeof(*mlcf));
  if (mlcf == NULL) {
    return NULL;
  }
  mlcf->request_id = NGX_ERROR;
  return mlcf;
}

static char *ngx_http_keygate_mock_iocs(ngx_conf_t *cf, ngx_command_t *cmd,
                                        void *conf) {
  ngx_http_keygate_mock_loc_conf_t *mlcf = conf;
  ngx_http_core_loc_conf_t *clcf =
      ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
  static ngx_str_t name = ngx_string("keygate_request_id");
  (void)cmd;
  mlcf->request_id = ngx_http_get_variable_index(cf, &name);
  if (mlcf->request_id == NGX_ERROR) {
    return NGX_CONF_ERROR;
  }
  clcf->handler = ngx_http_keygate_mock_handler;
  return NGX_CONF_OK;
}
