#!/usr/bin/python3
"""test_cli_no_cuda_noise.py HAVE_CUDA: a CPU-only run that did not ask for
CUDA says nothing about CUDA (issue 24, item 3).
- `ovx select`, `ovx extract` (plain, --quiet, --dry-run, --device cpu) and
  `ovx forward` on this machine: no "CUDA" anywhere in stderr, when there is
  no NVIDIA driver (libcuda.so.1 absent) or no CUDA backend; where a driver
  exists but cannot be used, exactly one line instead;
- usage errors (--shard 2/2, a bad --tokens, a missing -o) are one line that
  names the option, exit 2, with no CUDA line before them: the options are
  checked before the device is opened;
- a driver that exists but cannot be used (the emulated device of
  OVX_CUDA_EMULATE with compute capability 7.5) still gives its one line;
- --device cuda without a GPU still fails with one CUDA line."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cuda"))
from xhelp import check, finish, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402
import gpuenv  # noqa: E402

HAVE_CUDA = len(sys.argv) > 1 and sys.argv[1] == "1"
need_ffmpeg()
if gpuenv.gpu_present():
    print("SKIP: a GPU is present here: --device auto would use it (the CPU-only expectations do not apply)")
    sys.exit(77)
QUIET_MACHINE = not HAVE_CUDA or not gpuenv.driver_loadable()
print(f"CUDA build: {HAVE_CUDA}, libcuda.so.1 loadable: {gpuenv.driver_loadable()}")
tmp = tmpdir("ovx-nocuda-")
model = make_model(os.path.join(tmp, "model"))
clip = os.path.join(tmp, "clips", "a.mp4")
make_clip(clip, seconds=1.0)
env = {"OVX_CUDA_EMULATE": ""}


def cuda_lines(r):
    return [l for l in r.stderr.splitlines() if "CUDA" in l]


def expect_silent(r, what, rc=0):
    check(r.returncode == rc, f"{what}: exit {rc}, got {r.returncode}: {r.stderr!r}")
    if QUIET_MACHINE:
        check(not cuda_lines(r), f"{what}: no CUDA line: {r.stderr!r}")
    else:  # a driver that cannot be used: one line saying why
        check(len(cuda_lines(r)) <= 1, f"{what}: at most one CUDA line: {r.stderr!r}")


expect_silent(ovx("select", "--tokens", "64", clip, env=env), "select")
out = os.path.join(tmp, "out")
common = ["extract", "-m", model, "--tokens", "64", "--threads", "1", clip]
expect_silent(ovx(*common, "-o", out, env=env), "extract")
r = ovx(*common, "-o", os.path.join(tmp, "q"), "--quiet", env=env)
expect_silent(r, "extract --quiet")
if QUIET_MACHINE:
    check(r.stderr == "", f"extract --quiet: stderr empty: {r.stderr!r}")
expect_silent(ovx(*common, "-o", os.path.join(tmp, "d"), "--dry-run", env=env), "extract --dry-run")
r = ovx(*common, "-o", os.path.join(tmp, "c"), "--device", "cpu", env=env)
check(r.returncode == 0 and not cuda_lines(r), f"extract --device cpu: no CUDA line: {r.stderr!r}")

# usage errors: one line, exit 2, the option named, no CUDA line first
for args, word in [(["--shard", "2/2"], "shard"), (["--tokens", "0"], "--tokens"), (["--shard", "x"], "shard")]:
    r = ovx(*common, "-o", os.path.join(tmp, "u"), *args, env=env)
    lines = r.stderr.splitlines()
    check(r.returncode == 2 and len(lines) == 1 and word in lines[0] and "CUDA" not in r.stderr,
          f"usage error {args}: one line, exit 2, no CUDA line: {r.returncode} {r.stderr!r}")
r = ovx("extract", "-m", model, clip, env=env)
check(r.returncode == 2 and "CUDA" not in r.stderr and "-o" in r.stderr, f"missing -o: {r.stderr!r}")

px = os.path.join(tmp, "px.npy")
np.save(px, np.random.default_rng(3).standard_normal((1, 3, 2, 28, 28)).astype(np.float32))
expect_silent(ovx("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, "f"), env=env), "forward")
r = ovx("forward", "-m", model, "--pixel-values", px, env=env)
check(r.returncode == 2 and "CUDA" not in r.stderr, f"forward usage error: no CUDA line: {r.stderr!r}")

# a driver that exists but cannot be used: still said, once
r = ovx("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, "f75"),
        env={"OVX_CUDA_EMULATE": "7.5"})
check(r.returncode == 0 and len(cuda_lines(r)) == 1 and "compute capability 7.5" in r.stderr,
      f"auto with an unusable device: one line why: {r.stderr!r}")
r = ovx(*common, "-o", os.path.join(tmp, "e75"), env={"OVX_CUDA_EMULATE": "7.5"})
check(r.returncode == 0 and len(cuda_lines(r)) == 1, f"extract auto, unusable device: one line: {r.stderr!r}")
# asked for CUDA: the reason is the error
r = ovx(*common, "-o", os.path.join(tmp, "g"), "--device", "cuda", env=env)
check(r.returncode == 1 and len(cuda_lines(r)) == 1, f"--device cuda without a GPU: one CUDA line: {r.stderr!r}")
if HAVE_CUDA and not gpuenv.driver_loadable():  # -v: the reason even without a driver
    r = ovx(*common, "-o", os.path.join(tmp, "v"), "-v", env=env)
    check(r.returncode == 0 and len(cuda_lines(r)) == 1 and "no NVIDIA driver" in r.stderr,
          f"extract -v: says why auto uses the CPU: {r.stderr!r}")
finish("no CUDA noise on CPU-only runs")
