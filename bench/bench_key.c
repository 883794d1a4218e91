/*
 * bench_key.c — the key format check of SPEC §1.2 (prefix, length, base62,
 * CRC32 checksum) on a valid key and on the rejections that stop early or
 * late.
 */
#include <string.h>

#include "fixtures.h"
#include "shim/kgbench.h"

typedef struct key_case {
  const char *name;
  kg_status expect;
  char key[FX_KEY_LEN + 1];
} key_case;

static key_case cases[] = {
    {"key/check/valid", KG_OK, ""},
    {"key/check/bad_checksum", KG_KEY_BAD_CHECKSUM, ""},
    {"key/check/bad_prefix", KG_KEY_BAD_PREFIX, ""},
};

static void bm_check(kgb_state *st, void *ctx) {
  const key_case *c = ctx;
  const kg_key_policy *pol = fx_policy();
  kg_status s = kg_key_check(pol, c->key, FX_KEY_LEN);
  if (s != c->expect) {
    kgb_skip_with_error(st, "the fixture key checks differently");
    return;
  }
  KGB_LOOP(st) {
    kgb_escape(c->key);
    s = kg_key_check(pol, c->key, FX_KEY_LEN);
    KGB_KEEP(s);
  }
  kgb_set_bytes_processed(st, kgb_iterations(st) * FX_KEY_LEN);
}

KGB_REGISTER(key) {
  fx_key(0, cases[0].key);
  memcpy(cases[1].key, cases[0].key, sizeof cases[0].key);
  cases[1].key[FX_KEY_LEN - 1] =
      cases[1].key[FX_KEY_LEN - 1] == '0' ? '1' : '0';
  memcpy(cases[2].key, cases[0].key, sizeof cases[0].key);
  memcpy(cases[2].key, "sk_test_", 8);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kgb_register(cases[i].name, bm_check, &cases[i]);
  }
}
