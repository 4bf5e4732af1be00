#!/usr/bin/python3
"""test_device_cli.py HAVE_CUDA: the --device plumbing from the command line.
- `ovx selftest --device cuda` on a machine without a usable GPU (or a build
  without CUDA) exits 1 with exactly one line on stderr naming the cause;
- `ovx selftest --device cpu` (CUDA forward on the host emulation vs the CPU
  forward) passes, printing a relative L2 error per output;
- `ovx forward --device auto` on such a machine falls back to the CPU, says so
  in exactly one stderr line when built with CUDA (nothing when built
  without), and writes outputs byte-identical to `--device cpu`;
- `--device cuda` for forward fails (1, one line); a bad device name is a
  usage error (2).
When a CUDA device is actually usable, the GPU-less expectations are skipped
and `ovx selftest --device cuda` must pass instead."""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ["OVX_SOURCE_ROOT"]
OVX = os.environ["OVX_BIN"]
HAVE_CUDA = sys.argv[1] == "1"
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def run(*args):
    return subprocess.run([OVX, *args], capture_output=True, text=True, timeout=600)


def lines(s):
    return [l for l in s.splitlines() if l.strip()]


r = run("selftest", "--device", "cuda")
gpu_usable = r.returncode == 0
if gpu_usable:
    print("a CUDA device is usable here:\n" + r.stdout)
    check("selftest passed" in r.stdout, "selftest --device cuda passes on this GPU")
else:
    check(r.returncode == 1, "selftest --device cuda exits 1 without a usable GPU (got %d)" % r.returncode)
    err = lines(r.stderr)
    check(len(err) == 1 and err[0].startswith("ovx selftest: CUDA unavailable: "),
          "one clear stderr line: %r" % r.stderr)
    if not HAVE_CUDA:
        check("built without" in r.stderr, "says the build has no CUDA backend")

r = run("selftest", "--device", "cpu")
check(r.returncode == 0 and "selftest passed" in r.stdout and r.stdout.count("rel L2") == 6 and
      r.stdout.count("repeat byte-identical: yes") == 2,
      "selftest --device cpu passes with 6 error lines (rc %d)\n%s%s" % (r.returncode, r.stdout, r.stderr))
print(r.stdout)

r = run("selftest", "--device", "gpu0")
check(r.returncode == 2 and len(lines(r.stderr)) == 1, "selftest --device gpu0 is a usage error")

with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "model")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), model,
                    "--hidden", "128", "--layers", "2", "--heads", "2"], check=True, capture_output=True)
    px = os.path.join(tmp, "px.npy")
    np.save(px, np.random.default_rng(5).standard_normal((2, 3, 4, 56, 84)).astype(np.float32))
    outs = {}
    for dev in ("cpu", "auto"):
        o = os.path.join(tmp, dev)
        r = run("forward", "-m", model, "--pixel-values", px, "--hidden-state", "-2", "-o", o, "--device", dev)
        check(r.returncode == 0, "forward --device %s exits 0 (%s)" % (dev, r.stderr.strip()))
        outs[dev] = (o, r.stderr)
    if not gpu_usable:
        notes = [l for l in lines(outs["auto"][1]) if "using the CPU" in l]
        if HAVE_CUDA:
            check(len(notes) == 1 and "CUDA unavailable" in notes[0],
                  "auto says once that it falls back to the CPU: %r" % outs["auto"][1])
        else:
            check(not notes, "no fallback note in a build without CUDA")
        check(not [l for l in lines(outs["cpu"][1]) if "using the CPU" in l], "no note for --device cpu")
        for name in ("last_hidden_state", "pooler_output", "hidden_state_-2"):
            a = open(os.path.join(outs["cpu"][0], name + ".npy"), "rb").read()
            b = open(os.path.join(outs["auto"][0], name + ".npy"), "rb").read()
            check(a == b and len(a) > 128, "%s identical for auto (fallback) and cpu" % name)
        r = run("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, "x"), "--device", "cuda")
        check(r.returncode == 1 and len(lines(r.stderr)) == 1 and "CUDA unavailable" in r.stderr,
              "forward --device cuda: exit 1, one line (%d, %r)" % (r.returncode, r.stderr))
    r = run("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, "y"), "--device", "cuda:x")
    check(r.returncode == 2 and "invalid device" in r.stderr, "forward --device cuda:x is a usage error")

sys.exit(1 if failures else 0)
