/*
 * bench_response.c — rendering the error responses of SPEC §1.4: the JSON
 * body alone, the whole HTTP response, and a fresh request id.
 */
#include "fixtures.h"
#include "shim/kgbench.h"

static const char request_id[] = "req_0123456789ABCDEFGHIJKLMN";

static void bm_body(kgb_state *st, void *ctx) {
  kg_status code = *(const kg_status *)ctx;
  char out[KG_ERROR_BODY_MAX];
  size_t len = 0;
  KGB_LOOP(st) {
    kg_status s = kg_error_body(code, NULL, 0, request_id, KG_REQUEST_ID_LEN,
                                out, sizeof out, &len);
    KGB_KEEP(s);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
}

static void bm_render(kgb_state *st, void *ctx) {
  kg_status code = *(const kg_status *)ctx;
  char out[KG_RESPONSE_MAX];
  size_t len = 0;
  KGB_LOOP(st) {
    kg_status s = kg_response_render(code, KG_DEFAULT_REALM, 3, request_id,
                                     KG_REQUEST_ID_LEN, out, sizeof out, &len);
    KGB_KEEP(s);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * (int64_t)len);
}

static void bm_request_id(kgb_state *st, void *ctx) {
  (void)ctx;
  char out[KG_REQUEST_ID_LEN + 1];
  KGB_LOOP(st) {
    kg_status s = kg_request_id(out);
    KGB_KEEP(s);
    kgb_escape(out);
  }
}

KGB_REGISTER(response) {
  static kg_status missing = KG_MISSING_API_KEY;
  static kg_status expired = KG_EXPIRED_API_KEY;
  kgb_register("response/error_body/missing_api_key", bm_body, &missing);
  kgb_register("response/render/missing_api_key", bm_render, &missing);
  kgb_register("response/render/expired_api_key", bm_render, &expired);
  kgb_register("response/request_id", bm_request_id, NULL);
}
