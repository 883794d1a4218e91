/*
 * tests/unit/null_policy.h — the NULL policy of keygate/api.h, tested: a
 * NULL where a header allows none is the caller's bug, which a debug build
 * of libkeygate (no NDEBUG, as the unit tests are built) catches with an
 * assert, and a release build answers with the function's documented
 * failure instead of crashing.
 *
 * expect_caller_bug(call, failure) runs call() in a child process: with
 * NDEBUG, call must return `failure`; without, the child must die of
 * SIGABRT (the assert) before it returns. The library and its tests are
 * built with the same build type, so NDEBUG here is NDEBUG there.
 */
#ifndef KEYGATE_TESTS_NULL_POLICY_H
#define KEYGATE_TESTS_NULL_POLICY_H

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* A call under test: returns what the library function returned, as int. */
typedef int (*null_call)(void);

static void expect_caller_bug(null_call call, int failure, const char *what) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fail_msg("fork: cannot test %s", what);
  }
  if (pid == 0) {
    /* The child: 100 + the result, so that a result is told from exit 0. */
    _exit(100 + call());
  }
  int st = 0;
  if (waitpid(pid, &st, 0) != pid) {
    fail_msg("waitpid: cannot test %s", what);
  }
#ifdef NDEBUG
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 100 + failure) {
    fail_msg("%s: want return %d in a release build, got status 0x%x", what,
             failure, st);
  }
#else
  (void)failure;
  if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT) {
    fail_msg("%s: want an assert (SIGABRT) in a debug build, got %s %d", what,
             WIFSIGNALED(st) ? "signal" : "exit",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
#endif
}

#endif /* KEYGATE_TESTS_NULL_POLICY_H */
