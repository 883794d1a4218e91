/*
 * defensive.h — the NULL policy of keygate/api.h, in code (internal).
 *
 * KG_NEVER(x) for a condition that only a caller's bug makes true (a NULL
 * where the header allows none), KG_ALWAYS(x) for one only a bug makes
 * false, as SQLite's NEVER/ALWAYS: a debug build (no NDEBUG) asserts, so
 * the bug is found where it is made; a release build keeps the test, and
 * the function returns its documented failure (KG_E_ARGUMENT) instead of
 * crashing a server.
 */
#ifndef KEYGATE_DEFENSIVE_H
#define KEYGATE_DEFENSIVE_H

#include <assert.h>

#if defined(NDEBUG)
#define KG_ALWAYS(x) (x)
#define KG_NEVER(x) (x)
#else
/* (the assert restates x, so it is no constant: clang-tidy cert-dcl03-c) */
#define KG_ALWAYS(x) ((x) ? 1 : (assert(x), 0))
#define KG_NEVER(x) ((x) ? (assert(!(x)), 1) : 0)
#endif

#endif /* KEYGATE_DEFENSIVE_H */
