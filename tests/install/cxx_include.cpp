// tests/install/cxx_include.cpp — the installed headers compile as C++
// (every header is wrapped in extern "C").
#include <keygate/keygate.h>

int main() {
  return kg_status_is_decision(KG_VALID) ? 0 : 1;
}
