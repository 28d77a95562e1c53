#!/usr/bin/env python3
"""test-summary.py — count test cases across the builds of one `make test` run.

Reads meson-logs/testlog.json of each build directory. A TAP test (every cmocka
program) counts its `ok` and `not ok` lines (an `ok # SKIP` is neither passed nor
failed, and is listed); cases its plan announced but never
reported (the program crashed) count as failed, and so does a program that failed
after all its cases passed (a sanitizer report at exit). Other tests count as one case.
Prints the failures, one line per build, and last `tests: N passed, N failed`.
"""
import json
import re
import sys


def count_tap(stdout):
    """Returns (passed, skipped, failed names, cases never reported)."""
    plan = 0
    passed = 0
    skipped = 0
    failed_names = []
    for line in stdout.splitlines():
        match = re.match(r"^1\.\.(\d+)", line)
        if match:
            plan = int(match.group(1))
        elif re.match(r"^(not )?ok\b", line) and re.search(r"#\s*SKIP", line, re.IGNORECASE):
            skipped += 1  # cmocka 1.1 writes a skip as "not ok N # SKIP name"
        elif re.match(r"^ok\b", line):
            passed += 1
        elif re.match(r"^not ok\b", line) and not line.startswith("not ok - "):
            failed_names.append(line[len("not ok"):].strip())
    missing = max(0, plan - passed - skipped - len(failed_names))
    return passed, skipped, failed_names, missing


def main(arguments):
    build_failures = []
    if arguments[:1] == ["--build-failures"]:
        build_failures = arguments[1].split()
        arguments = arguments[2:]
    total_passed = 0
    total_failed = len(build_failures)
    for variant in build_failures:
        print(f"FAILED build of {variant}")
    for directory in arguments:
        passed = failed = skipped = programs = 0
        try:
            log = open(f"{directory}/meson-logs/testlog.json", encoding="utf-8")
        except OSError as error:
            print(f"FAILED {directory}: no test log ({error})")
            total_failed += 1
            continue
        with log:
            for line in log:
                test = json.loads(line)
                programs += 1
                ok = test["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
                stdout = test.get("stdout") or ""
                if re.search(r"^1\.\.\d+", stdout, re.MULTILINE):
                    case_passed, case_skipped, failed_names, missing = count_tap(stdout)
                    skipped += case_skipped
                    case_failed = len(failed_names) + missing
                    for name in failed_names:
                        print(f"FAILED {directory} {test['name']}: {name}")
                    if missing:
                        print(f"FAILED {directory} {test['name']}: {missing} cases never reported "
                              f"({test['result']})")
                    if not ok and case_failed == 0:
                        print(f"FAILED {directory} {test['name']}: {test['result']} after its cases "
                              f"passed (exit status {test.get('returncode')})")
                        case_failed = 1
                else:
                    case_passed, case_failed = (1, 0) if ok else (0, 1)
                    if not ok:
                        print(f"FAILED {directory} {test['name']}: {test['result']}")
                passed += case_passed
                failed += case_failed
        skipped_text = f", {skipped} skipped" if skipped else ""
        print(f"{directory}: {passed} passed, {failed} failed{skipped_text} ({programs} programs)")
        total_passed += passed
        total_failed += failed
    print(f"tests: {total_passed} passed, {total_failed} failed")
    return 1 if total_failed or not arguments else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
