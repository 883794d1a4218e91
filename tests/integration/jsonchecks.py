"""jsonchecks.py FILE [PRELUDE...] — assertions on one JSON document.

Reads lines "WHAT ;; COND [;; SHOW]" on standard input; COND and SHOW are
Python expressions over d (the document), json, re, C (the four class
names) and whatever the PRELUDE statements define (run first, in order).
Prints the number of assertions made on its first line; on the first
false (or failing) COND, exits 1 after a second line naming WHAT, COND and
SHOW's value. Used through kg_json_checks in lib.sh.
"""
import json
import re  # noqa: F401 (for COND)
import sys


def main():
    d = json.load(open(sys.argv[1]))
    env = {"d": d, "json": json, "re": re,
           "C": ("valid", "invalid", "missing", "expired")}
    for stmt in sys.argv[2:]:
        exec(stmt, env)
    n = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        parts = [x.strip() for x in line.split(";;")]
        what, cond = parts[0], parts[1]
        show = parts[2] if len(parts) > 2 else "None"
        try:
            ok = bool(eval(cond, env))
        except Exception as e:
            print("%d\n%s: %s raised %r" % (n + 1, what, cond, e))
            sys.exit(1)
        n += 1
        if not ok:
            try:
                val = json.dumps(eval(show, env))
            except Exception as e:
                val = repr(e)
            print("%d\n%s: %s is false (%s = %s)" % (n, what, cond, parts[2] if len(parts) > 2 else "-", val))
            sys.exit(1)
    print(n)


main()
