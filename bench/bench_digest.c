/*
 * bench_digest.c — the key digest through kg_digest: SHA-256 (no pepper)
 * and HMAC-SHA-256 (with a pepper), of one 46-byte key, on the fast path;
 * and digest/sha256_evp, the same SHA-256 through OpenSSL's providers
 * (KG_DIGEST_EVP, keygate/digest.h). The bare OpenSSL yardsticks are in
 * bench_openssl.c.
 *
 * digest/sha256 lets one digest start before the last ends (nothing joins
 * them: its time is the digest's throughput); digest/sha256_chained makes
 * each key's address wait on the last digest (fx_hide(0) joins them), so
 * its time is the digest's latency, what a decision's chain of digest,
 * access and compare pays at millions of keys (docs/benchmarks.md).
 */
#include "fixtures.h"
#include "shim/kgbench.h"

static char key[FX_KEY_LEN + 1];

static void bm_digest(kgb_state *st, void *ctx) {
  kg_digester *d = ctx == NULL ? fx_digester() : fx_hmac_digester();
  uint8_t out[KG_DIGEST_LEN];
  KGB_LOOP(st) {
    kgb_escape(key);
    kg_status s = kg_digest(d, key, FX_KEY_LEN, out);
    KGB_KEEP(s);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

static void bm_digest_chained(kgb_state *st, void *ctx) {
  (void)ctx;
  kg_digester *d = fx_digester();
  uint8_t out[KG_DIGEST_LEN] = {0};
  const size_t zero = fx_hide(0);
  KGB_LOOP(st) {
    kg_status s = kg_digest(d, key + (out[0] & zero), FX_KEY_LEN, out);
    KGB_KEEP(s);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

static void bm_digest_evp(kgb_state *st, void *ctx) {
  (void)ctx;
  static kg_digester *d;
  if (d == NULL && kg_digester_new_ex(NULL, 0, KG_DIGEST_EVP, &d) != KG_OK) {
    kgb_skip_with_error(st, "no EVP digester");
    return;
  }
  uint8_t out[KG_DIGEST_LEN];
  KGB_LOOP(st) {
    kgb_escape(key);
    kg_status s = kg_digest(d, key, FX_KEY_LEN, out);
    KGB_KEEP(s);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

KGB_REGISTER(digest) {
  static int hmac = 1;
  fx_key(0, key);
  kgb_register("digest/sha256", bm_digest, NULL);
  kgb_register("digest/sha256_chained", bm_digest_chained, NULL);
  kgb_register("digest/hmac_sha256", bm_digest, &hmac);
  kgb_register("digest/sha256_evp", bm_digest_evp, NULL);
}
