/*
 * status.c — names of the statuses, generated from KG_STATUS_LIST, and the
 * decision table.
 */
#include "keygate/status.h"

const char *kg_status_str(kg_status s) {
  switch (s) {
#define KG_STATUS_CASE_(name, value, str)                                      \
  case name:                                                                   \
    return str;
    KG_STATUS_LIST(KG_STATUS_CASE_)
#undef KG_STATUS_CASE_
  }
  return "unknown_status";
}

/* The decision table of status.h, in its order. */
static const kg_status decisions[KG_DECISION_COUNT] = {KG_VALID,
                                                       KG_MISSING_API_KEY,
                                                       KG_INVALID_API_KEY,
                                                       KG_EXPIRED_API_KEY,
                                                       KG_AMBIGUOUS_API_KEY,
                                                       KG_API_KEY_IN_QUERY,
                                                       KG_INVALID_PARAMETER};

kg_status kg_decision_at(size_t i) {
  return i < KG_DECISION_COUNT ? decisions[i] : KG_OK;
}

int kg_decision_index(kg_status s) {
  for (int i = 0; i < KG_DECISION_COUNT; i++) {
    if (decisions[i] == s) {
      return i;
    }
  }
  return -1;
}

int kg_status_is_decision(kg_status s) {
  return kg_decision_index(s) >= 0;
}
