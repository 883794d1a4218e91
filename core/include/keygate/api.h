/*
 * keygate/api.h — what libkeygate exports, and which results must be used.
 *
 * libkeygate is built with -fvisibility=hidden: only the functions declared
 * in these public headers, each marked KG_API, are exported from
 * libkeygate.so (the test unit.exports compares the two both ways). The
 * helpers in core/src/ are internal: not ABI, never installed.
 *
 * KG_NODISCARD marks a function whose result says whether its output may be
 * used at all (a key check, a lookup, a decision, a builder): ignoring it is
 * a bug, and Clang warns about it (-Wunused-result; a deliberate discard
 * is written `(void)f(...)`). Under GCC it expands to nothing: GCC's
 * warn_unused_result cannot be silenced by a cast (GCC bug 66425), and the
 * tree has deliberate discards (the nginx module's seqlock retry of
 * kg_decide reads the decision from its out-parameter). The clang builds
 * (fuzz preset, lint) and unit.exports check it.
 *
 * NULL policy (written once, here): a pointer argument may be NULL only
 * where its function's comment says so (a free function, an optional
 * message, a (NULL, 0) span). Passing NULL elsewhere is the caller's bug:
 * debug builds assert (KG_ALWAYS/KG_NEVER in core/src/defensive.h, as SQLite's
 * ALWAYS/NEVER); release builds keep the check and return KG_E_ARGUMENT (or
 * the function's documented failure value) rather than crash.
 */
#ifndef KEYGATE_API_H
#define KEYGATE_API_H

#if defined(__GNUC__) || defined(__clang__)
#define KG_API __attribute__((visibility("default")))
#else
#define KG_API
#endif

#if defined(__clang__)
#define KG_NODISCARD __attribute__((warn_unused_result))
#else
#define KG_NODISCARD
#endif

#endif /* KEYGATE_API_H */
