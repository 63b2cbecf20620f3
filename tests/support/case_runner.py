"""case_runner.py - runs the cases of a table-driven Python test and prints
what CI reads: one line per case ("ok   NAME: note" or "FAIL NAME: why"),
details of a failure on stderr, and a final "N passed, N failed".

A case is (name, function); the function returns a short note, or raises
CaseFailure (an expected check failed: the first line of its text is the
verdict, the rest goes to stderr) or any other exception (a traceback).
"""
import sys
import traceback


class CaseFailure(Exception):
    pass


def expect(condition, what, detail=""):
    if not condition:
        raise CaseFailure(what + ("\n" + detail if detail else ""))


def run_cases(cases, *args, only=None):
    """Runs every case (those whose name starts with one of `only`, when
    given) with `args`; returns (passed, failed) and prints no summary."""
    passed = failed = 0
    for name, func in cases:
        if only and not any(name.startswith(prefix) for prefix in only):
            continue
        try:
            note = func(*args)
            passed += 1
            print("ok   %s: %s" % (name, note), flush=True)
        except CaseFailure as e:
            failed += 1
            first, _, rest = str(e).partition("\n")
            print("FAIL %s: %s" % (name, first), flush=True)
            if rest:
                print(rest, file=sys.stderr, flush=True)
        except Exception:
            failed += 1
            print("FAIL %s: exception" % name, flush=True)
            traceback.print_exc()
    return passed, failed
