"""pycheck.py: explicit checks for ovx's Python tests, independent of the
`assert` statement (which `python3 -O` / PYTHONOPTIMIZE strips, so a test
made of bare asserts would pass without checking anything).

    check(cond, what)   raises CheckFailed (an AssertionError) when cond is false
    expect(cond, what)  counts and prints a failure and goes on, for the tests
                        that report every failed check in one run; then
    finish(name)        prints the tally and returns the exit status
    require_asserts()   exits loudly when asserts are disabled; test helpers
                        that tests with bare asserts import (select/clips.py)
                        call it at import time

`python3 tests/pycheck.py` is its own test: under -O, require_asserts()
must stop a child process with a message and check() must still raise."""
import subprocess
import sys


class CheckFailed(AssertionError):
    pass


def check(cond, what=""):
    if not cond:
        raise CheckFailed(what)


failures = 0


def expect(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)
    return bool(cond)


def finish(name):
    print(f"{'ok' if failures == 0 else 'FAILED'}: {name}, {failures} failures")
    return 1 if failures else 0


def require_asserts():
    if not __debug__:
        sys.stderr.write("FAIL: Python assertions are disabled (python3 -O or PYTHONOPTIMIZE=%r): this test "
                         "checks with assert statements and would pass without checking anything\n"
                         % (__import__("os").environ.get("PYTHONOPTIMIZE", "")))
        sys.exit(1)


def _selftest():
    here = __import__("os").path.dirname(__import__("os").path.abspath(__file__))
    bad = 0
    r = subprocess.run([sys.executable, "-O", "-c", "import sys; sys.path.insert(0, %r); import pycheck; "
                        "pycheck.require_asserts(); print('not stopped')" % here],
                       capture_output=True, text=True)
    if r.returncode == 0 or "not stopped" in r.stdout or "assertions are disabled" not in r.stderr:
        print("FAIL: require_asserts() did not stop a python3 -O child:", r.returncode, r.stdout, r.stderr)
        bad += 1
    r = subprocess.run([sys.executable, "-O", "-c", "import sys; sys.path.insert(0, %r); import pycheck; "
                        "pycheck.check(1 == 2, 'x')" % here], capture_output=True, text=True)
    if r.returncode == 0 or "CheckFailed" not in r.stderr:
        print("FAIL: check() did not raise under python3 -O:", r.returncode, r.stderr)
        bad += 1
    env = dict(__import__("os").environ, PYTHONOPTIMIZE="")
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); import pycheck; "
                        "pycheck.require_asserts(); assert False, 'assert ran'" % here],
                       capture_output=True, text=True, env=env)
    if r.returncode == 0 or "assert ran" not in r.stderr:
        print("FAIL: with PYTHONOPTIMIZE empty a bare assert did not run:", r.returncode, r.stderr)
        bad += 1
    r = subprocess.run([sys.executable, "-O", "-c", "import sys; sys.path.insert(0, %r); import pycheck; "
                        "pycheck.expect(1 == 2, 'one'); pycheck.expect(True, 'two'); "
                        "sys.exit(pycheck.finish('t'))" % here], capture_output=True, text=True)
    if r.returncode != 1 or "FAIL: one" not in r.stdout or "two" in r.stdout or "FAILED: t, 1 failures" not in r.stdout:
        print("FAIL: expect()/finish() did not count one failure:", r.returncode, r.stdout, r.stderr)
        bad += 1
    print("%d failure(s)" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(_selftest())
