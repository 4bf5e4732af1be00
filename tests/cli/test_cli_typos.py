#!/usr/bin/python3
"""test_cli_typos.py: option typos in every command (issue 24, item 8).
- a misspelt long option is a usage error (exit 2, one stderr line) that
  names the nearest option: `--tokns` -> "did you mean --tokens?", in
  select, forward, extract, inspect, selftest and bench;
- abbreviations are refused (`--token`, `--tensor`), naming the full option;
- a name far from every option gets no guess;
- a missing value says which option needs it;
- the full names still work (--tokens=N and --tokens N)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

ovx = os.environ["OVX_BIN"]


def run(*args):
    return subprocess.run([ovx, *args], capture_output=True, text=True, timeout=120)


def one_line_usage(r, what):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode == 2 and len(lines) == 1, f"{what}: exit 2, one line: {r.returncode} {r.stderr!r}")
    return lines[0] if lines else ""


cases = [  # (command args, typo, expected suggestion)
    (["select"], "--tokns", "--tokens"),
    (["select"], "--mv-sorce", "--mv-source"),
    (["select"], "--residual-weigth", "--residual-weight"),
    (["forward"], "--pixel-valeus", "--pixel-values"),
    (["forward"], "--hiden-state", "--hidden-state"),
    (["extract", "-o", "/nonexistent/x", "a.mp4"], "--tokns", "--tokens"),
    (["extract", "-o", "/nonexistent/x", "a.mp4"], "--dtyp", "--dtype"),
    (["extract", "-o", "/nonexistent/x", "a.mp4"], "--max-corupt", "--max-corrupt"),
    (["inspect"], "--tensros", "--tensors"),
    (["selftest"], "--seeed", "--seed"),
    (["bench"], "--repeats", "--repeat"),
]
for pre, typo, want in cases:
    line = one_line_usage(run(*pre, typo, "1"), f"{pre[0]} {typo}")
    check(f"unknown option '{typo}'" in line and f"did you mean {want}?" in line,
          f"{pre[0]} {typo}: suggests {want}: {line!r}")

# abbreviations: refused, with the full name
for pre, abbr, want in [(["extract", "-o", "/nonexistent/x", "a.mp4"], "--token", "--tokens"),
                        (["forward"], "--pixel", "--pixel-values"),
                        (["inspect"], "--tensor", "--tensors"),
                        (["bench"], "--rep", "--repeat")]:
    args = [*pre, abbr] if abbr in ("--tensor",) else [*pre, abbr, "1"]
    line = one_line_usage(run(*args), f"{pre[0]} {abbr}")
    check("not abbreviated" in line and f"did you mean {want}?" in line, f"{pre[0]} {abbr}: refused: {line!r}")
line = one_line_usage(run("extract", "-o", "/nonexistent/x", "--token=5", "a.mp4"), "extract --token=5")
check("'--token'" in line and "did you mean --tokens?" in line, f"--token=5 refused: {line!r}")

# nothing near: no guess
line = one_line_usage(run("extract", "-o", "/x", "--frobnicate", "a.mp4"), "extract --frobnicate")
check("unknown option '--frobnicate'" in line and "did you mean" not in line, f"no guess: {line!r}")
line = one_line_usage(run("select", "--zzz", "a.mp4"), "select --zzz")
check("did you mean" not in line, f"select: no guess: {line!r}")

# a missing value names its option
line = one_line_usage(run("extract", "a.mp4", "-o"), "extract -o")
check("-o needs a value" in line, f"missing value: {line!r}")
line = one_line_usage(run("forward", "--model"), "forward --model")
check("--model needs a value" in line, f"missing value: {line!r}")

# full names are unchanged: the run gets past option parsing (then fails on its input)
for form in (["--tokens=64"], ["--tokens", "64"]):
    r = run("extract", "--dry-run", "-o", "/nonexistent/out", *form, "/nonexistent/in.mp4")
    check("unknown option" not in r.stderr and "needs a value" not in r.stderr,
          f"extract {form}: accepted: {r.stderr!r}")
sys.exit(finish("option typos"))
