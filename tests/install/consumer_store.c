/* consumer_store.c — a program outside the tree using the installed key
 * store (libkeygate_store.a with store.h and store_admin.h): make a store
 * at argv[1], an account and a key, load it, and decide a request with the
 * key against the loaded index. Prints "store valid 200 acme". */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <keygate/keygate.h>
#include <keygate/store.h>
#include <keygate/store_admin.h>

int main(int argc, char **argv) {
  char err[KG_STORE_ERR_MAX];
  kg_store *s = NULL;
  kg_store_account_info acct;
  kg_new_key k;
  kg_snapshot *snap = NULL;
  if (argc != 2 ||
      kg_store_open(argv[1], KG_STORE_CREATE, &s, err, sizeof err) != 0 ||
      kg_store_account_create(s, "acme", KG_TIER_FREE, &acct, err,
                              sizeof err) != 0 ||
      kg_store_key_create(s, "acme", "ci", 0, &k, err, sizeof err) != 0 ||
      kg_store_load(s, &snap, err, sizeof err) != 0) {
    fprintf(stderr, "consumer_store: %s\n", argc == 2 ? err : "usage");
    return 1;
  }
  kg_checker c;
  kg_digester *d = NULL;
  if (kg_key_policy_init(&c.policy, KG_KEY_STRICT, "sk_live_", 8) != KG_OK ||
      kg_digester_new(NULL, 0, &d) != KG_OK) {
    return 1;
  }
  c.digester = d;
  c.index = kg_snapshot_index(snap);
  kg_field f = {{"X-API-Key", 9}, {k.key, k.key_len}};
  kg_span target = {"/v1", 3};
  kg_decision dec;
  const kg_status st = kg_decide(&c, &f, 1, target, time(NULL), &dec);
  printf("store %s %d %s\n", kg_status_str(st), kg_http_status(st),
         kg_snapshot_account(snap, dec.record.account_id));
  kg_store_new_key_wipe(&k);
  kg_snapshot_free(snap);
  kg_digester_free(d);
  kg_store_close(s);
  return st == KG_VALID ? 0 : 1;
}
