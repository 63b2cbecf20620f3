#!/usr/bin/python3
"""test-summary.py - one closing line for CI: "N passed, N failed".

Reads meson's testlog.json of each build directory given.  A test program
that printed a doctest summary, or a plain "N passed, N failed" line (the
table-driven Python tests), counts as its cases; any other test (or one
that died before its summary) counts as one case.

An argument that is a file, not a directory, is the output of a step run
outside meson (scripts/fuzz): its last "N passed, N failed" line counts,
and a file without one counts as one failure.
"""
import json
import os
import re
import sys

DOCTEST = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def counts(stdout: str):
    """(passed, failed) from a test's own summary, or None."""
    match = DOCTEST.search(stdout)
    if match:
        return int(match.group(2)), int(match.group(3))
    plain = PLAIN.findall(stdout)
    if plain:
        return int(plain[-1][0]), int(plain[-1][1])
    return None


def main() -> int:
    passed = failed = 0
    for build in sys.argv[1:]:
        if os.path.isfile(build):
            with open(build, encoding="utf-8", errors="replace") as f:
                plain = PLAIN.findall(f.read())
            if plain:
                passed += int(plain[-1][0])
                failed += int(plain[-1][1])
            else:
                print(f"test-summary: {build}: no summary line", file=sys.stderr)
                failed += 1
            continue
        log = os.path.join(build, "meson-logs", "testlog.json")
        if not os.path.exists(log):
            print(f"test-summary: {build}: no test log (build failed?)", file=sys.stderr)
            failed += 1
            continue
        with open(log, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                ok = record.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
                summary = counts(record.get("stdout") or "")
                if summary:
                    passed += summary[0]
                    failed += summary[1]
                    if not ok and summary[1] == 0:
                        failed += 1  # crashed or leaked after a clean summary
                elif ok:
                    passed += 1
                else:
                    failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
