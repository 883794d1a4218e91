/*
 * bench_openssl.c — the yardsticks of SPEC §4: OpenSSL's bare SHA-256
 * (SHA256_Init/Update/Final, the work no check can skip) and the one-shot
 * EVP_Digest, which fetches the algorithm and makes a context every call.
 *
 * openssl/sha256_bare_chained: the same with each key's address waiting on
 * the last digest (fx_hide(0) joins them), its latency: the yardstick's
 * throughput and latency are one within noise (the calls' own work keeps
 * two digests from overlapping), which kg_digest's are not
 * (bench_digest.c).
 *
 * Also the floor under both: one SHA256_Transform, the compression
 * function alone, on a block already padded (a key of 46 bytes fits one
 * block with its padding).
 *
 * The low-level SHA256_* calls are deprecated in OpenSSL 3; this file, and
 * only this file, asks for them anyway because they are the yardstick.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <string.h>

#include "fixtures.h"
#include "shim/kgbench.h"
#include "watch.h"

static char key[FX_KEY_LEN + 1];

/* The yardstick, watched as the decisions it divides are (watch.h): in
 * slices of FX_WATCH_SLICE, the same loop in each. */
static void bm_sha256_bare(kgb_state *st, void *ctx) {
  (void)ctx;
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256_CTX c;
  fx_watch *w = fx_watch_new();
  if (w == NULL) {
    kgb_skip_with_error(st, "the sensor's head is not a missing key");
    return;
  }
  FX_WATCH_LOOP(st, w) {
    kgb_escape(key);
    SHA256_Init(&c);
    SHA256_Update(&c, key, FX_KEY_LEN);
    SHA256_Final(out, &c);
    kgb_escape(out);
  }
  if (!fx_watch_report(w, st)) {
    kgb_skip_with_error(st, "a sensor decision was not a missing key");
    return;
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

static void bm_sha256_bare_chained(kgb_state *st, void *ctx) {
  (void)ctx;
  unsigned char out[SHA256_DIGEST_LENGTH] = {0};
  const size_t zero = fx_hide(0);
  SHA256_CTX c;
  KGB_LOOP(st) {
    SHA256_Init(&c);
    SHA256_Update(&c, key + (out[0] & zero), FX_KEY_LEN);
    SHA256_Final(out, &c);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

static void bm_sha256_transform(kgb_state *st, void *ctx) {
  (void)ctx;
  unsigned char block[64];
  memset(block, 0, sizeof block);
  memcpy(block, key, FX_KEY_LEN);
  block[FX_KEY_LEN] = 0x80;
  block[62] = (FX_KEY_LEN * 8) >> 8;
  block[63] = (FX_KEY_LEN * 8) & 0xff;
  SHA256_CTX c;
  SHA256_Init(&c);
  KGB_LOOP(st) {
    kgb_escape(block);
    SHA256_Transform(&c, block);
    kgb_escape(&c);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

static void bm_evp_digest(kgb_state *st, void *ctx) {
  (void)ctx;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  KGB_LOOP(st) {
    kgb_escape(key);
    int ok = EVP_Digest(key, FX_KEY_LEN, out, &out_len, EVP_sha256(), NULL);
    KGB_KEEP(ok);
    kgb_escape(out);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

KGB_REGISTER(openssl) {
  fx_key(0, key);
  kgb_context("openssl", OpenSSL_version(OPENSSL_VERSION));
  kgb_register("openssl/sha256_bare", bm_sha256_bare, NULL);
  kgb_register("openssl/sha256_bare_chained", bm_sha256_bare_chained, NULL);
  kgb_register("openssl/sha256_transform", bm_sha256_transform, NULL);
  kgb_register("openssl/evp_digest", bm_evp_digest, NULL);
}
