"""CLI basics: --help, --version, help COMMAND, unknown commands, exit codes,
and every command listed in --help is documented in man/ovx.1; the options
of `ovx select --help` are those of its man section, and the parser takes
each of them."""
import os
import re
import subprocess
import sys
from pathlib import Path

ovx = os.environ["OVX_BIN"]
root = Path(os.environ["OVX_SOURCE_ROOT"])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402


def run(*args):
    return subprocess.run([ovx, *args], capture_output=True, text=True, timeout=60)


r = run("--version")
check(r.returncode == 0 and re.match(r"ovx \d+\.\d+\.\d+", r.stdout), "--version")
meson = (root / "meson.build").read_text()
version = re.search(r"version : '([^']+)'", meson).group(1)
check(version in r.stdout, "--version matches meson.build")

r = run("--help")
check(r.returncode == 0 and "usage: ovx" in r.stdout, "--help")
commands = re.findall(r"^  (\w+)\s{2,}", r.stdout, re.M)
commands = [c for c in commands if c not in ("ovx",)]
check(len(commands) >= 5, f"commands listed: {commands}")

man = (root / "man" / "ovx.1").read_text()
for c in commands:
    h = run("help", c)
    check(h.returncode == 0 and f"ovx {c}" in h.stdout, f"help {c}")
    h2 = run(c, "--help")
    check(h2.returncode == 0 and h2.stdout == h.stdout, f"{c} --help == help {c}")
    check(re.search(rf"^\.SS\s+.*\b{c}\b", man, re.M) is not None, f"man page documents {c}")

# ovx select: the options in --help (generated from its option table) are
# those of its man section (option headers and \-\-name mentions), and the
# parser knows each one (no value and no VIDEO: never "unknown option")
h = run("select", "--help").stdout
opts_text = h.split("\noptions:\n", 1)[-1].split("\n\n", 1)[0]
help_opts = {o for pair in re.findall(r"^  (?:(-\w), )?(--[\w-]+|-\w)", opts_text, re.M) for o in pair if o}
sec = re.search(r'^\.SS "ovx select.*?(?=^\.SS )', man, re.M | re.S).group(0)
man_opts = {m.replace("\\-", "-") for m in re.findall(r"(?<![\w\\-])(\\-\\-[a-z][\w\\-]*|\\-[a-z]\b)", sec)}
check(len(help_opts) >= 25, f"select --help lists its options: {sorted(help_opts)}")
check(help_opts == man_opts, f"select options: only in --help {sorted(help_opts - man_opts)}, "
      f"only in the man page {sorted(man_opts - help_opts)}")
for o in sorted(help_opts):
    r = run("select", o)
    check(r.returncode == 2 and "unknown option" not in r.stderr and
          ("missing VIDEO" in r.stderr or "missing value for option: " + o in r.stderr), f"select {o}: {r.stderr!r}")

# select: a bad value says what the option takes (from its table entry), exit 2
for args, want in [(["--tokens", "0"], "--tokens must be an integer in 1..16384: 0"),
                   (["--max-pixels", "0"], "--max-pixels must be a positive integer: 0"),
                   (["--row-step", "3"], "--row-step must be auto, 1, 2 or 4: 3"),
                   (["--noise-k", "1e-400"], "--noise-k must be a number in 0..100: 1e-400"),
                   (["--fps", "0"], "--fps must be a number in (0, 1000]: 0"),
                   (["--start", "1e9"], "--start must be a number of seconds >= 0: 1e9"),
                   (["--duration", "0"], "--duration must be a number of seconds > 0: 0")]:
    r = run("select", *args, "/nonexistent.mp4")
    check(r.returncode == 2 and r.stderr == f"ovx select: {want} (see ovx help select)\n",
          f"select {args}: {r.returncode} {r.stderr!r}")

# select: --name=value is --name value; a flag refuses a value
r = run("select", "--tokens=0", "/nonexistent.mp4")
check(r.returncode == 2 and r.stderr == "ovx select: --tokens must be an integer in 1..16384: 0 (see ovx help select)\n",
      f"select --tokens=0: {r.returncode} {r.stderr!r}")
r = run("select", "--no-light=1", "/nonexistent.mp4")
check(r.returncode == 2 and "option takes no value: --no-light=1" in r.stderr, f"select --no-light=1: {r.stderr!r}")
r = run("select", "--tokenz=5", "/nonexistent.mp4")
check(r.returncode == 2 and "unknown option '--tokenz=5'" in r.stderr, f"select --tokenz=5: {r.stderr!r}")

r = run()
check(r.returncode == 2 and "usage" in r.stderr, "no args -> usage, exit 2")
r = run("frobnicate")
check(r.returncode == 2 and "frobnicate" in r.stderr, "unknown command -> exit 2")
r = run("help", "frobnicate")
check(r.returncode == 2, "help unknown -> exit 2")

sys.exit(finish("cli basics"))
