#!/usr/bin/python3
"""test-summary.py - one closing line for CI: "N passed, N failed".

Reads meson's testlog.json of each build directory given.  A test program
that printed a doctest summary counts as its test cases; any other test
(or one that died before its summary) counts as one case.
"""
import json
import os
import re
import sys

SUMMARY = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def main() -> int:
    passed = failed = 0
    for build in sys.argv[1:]:
        log = os.path.join(build, "meson-logs", "testlog.json")
        if not os.path.exists(log):
            print(f"test-summary: {build}: no test log (build failed?)", file=sys.stderr)
            failed += 1
            continue
        with open(log, encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                ok = record.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
                match = SUMMARY.search(record.get("stdout") or "")
                if match:
                    passed += int(match.group(2))
                    failed += int(match.group(3))
                    if not ok and int(match.group(3)) == 0:
                        failed += 1  # crashed or leaked after a clean summary
                elif ok:
                    passed += 1
                else:
                    failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
