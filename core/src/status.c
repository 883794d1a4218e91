/*
 * status.c — names of the statuses, generated from KG_STATUS_LIST.
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

int kg_status_is_decision(kg_status s) {
  return s >= KG_VALID && s <= KG_INVALID_PARAMETER;
}
