/*
 * bench_digest.c — the key digest through kg_digest: SHA-256 (no pepper)
 * and HMAC-SHA-256 (with a pepper), of one 46-byte key. The bare OpenSSL
 * yardsticks are in bench_openssl.c.
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

KGB_REGISTER(digest) {
  static int hmac = 1;
  fx_key(0, key);
  kgb_register("digest/sha256", bm_digest, NULL);
  kgb_register("digest/hmac_sha256", bm_digest, &hmac);
}
