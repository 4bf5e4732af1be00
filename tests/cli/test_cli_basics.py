"""CLI basics: --help, --version, help COMMAND, unknown commands, exit codes,
and every command listed in --help is documented in man/ovx.1."""
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

r = run()
check(r.returncode == 2 and "usage" in r.stderr, "no args -> usage, exit 2")
r = run("frobnicate")
check(r.returncode == 2 and "frobnicate" in r.stderr, "unknown command -> exit 2")
r = run("help", "frobnicate")
check(r.returncode == 2, "help unknown -> exit 2")

sys.exit(finish("cli basics"))
