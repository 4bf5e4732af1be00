#!/usr/bin/python3
"""test_cli_precision_auto.py HAVE_DNNL: --precision auto and the slow-bf16
warning (issue 24, item 9), on the CPU device.
- `forward --precision auto -v` says once what it chose and why; with a
  measured ratio, the choice follows it (bf16 from 1.3x) and the outputs are
  byte-identical to the explicit --precision it chose;
- the calibration hook OVX_PRECISION_CALIBRATION=2 makes auto bf16 (where
  the CPU has a bf16 path), =0.5 fp32: byte-identical to the explicit runs;
- an explicit --precision bf16 measured slower (hook 0.5) prints exactly one
  warning, a faster one (hook 2) none;
- extract --precision auto: REL.json records the precision used, tokens
  byte-identical to the explicit run, one -v line for the whole run, none
  without -v; a bad --precision names auto;
- AMX (where the CPU has AMX-BF16): auto says AMX-BF16 and picks bf16, and
  bf16 with oneDNN's AMX kernels agrees with bf16 capped at AVX512_BF16
  (ONEDNN_MAX_CPU_ISA) to rel L2 1e-5; without AMX that part is skipped,
  saying so."""
import io
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
from xhelp import check, finish, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

HAVE_DNNL = len(sys.argv) > 1 and sys.argv[1] == "1"
need_ffmpeg()
tmp = tmpdir("ovx-prec-auto-")
model = make_model(os.path.join(tmp, "model"))
px = os.path.join(tmp, "px.npy")
np.save(px, np.random.default_rng(2).standard_normal((1, 3, 2, 56, 56)).astype(np.float32))
flags = open("/proc/cpuinfo").read()
BF16 = HAVE_DNNL and ("avx512_bf16" in flags or "amx_bf16" in flags)
print(f"oneDNN: {HAVE_DNNL}, CPU bf16 path: {BF16}")


def fwd(name, prec, *extra, env=None):
    r = ovx("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, name), "--device", "cpu",
            "--precision", prec, *extra, env=env)
    out = os.path.join(tmp, name, "last_hidden_state.npy")
    return r, open(out, "rb").read() if r.returncode == 0 and os.path.exists(out) else None


_, f32 = fwd("fp32", "fp32")
rb, b16 = fwd("bf16", "bf16", env={"OVX_PRECISION_CALIBRATION": "2"})
check(f32 is not None, "fp32 forward")
check((b16 is not None) == BF16, f"explicit bf16 runs where the CPU has the path: {rb.stderr!r}")
check("warning" not in rb.stderr, f"bf16 measured faster: no warning: {rb.stderr!r}")

# the real measurement
r, out = fwd("auto", "auto", "-v")
lines = [l for l in r.stderr.splitlines() if "precision auto" in l]
check(r.returncode == 0 and len(lines) == 1, f"auto -v: one line: {r.stderr!r}")
m = re.search(r"precision auto: (bf16|fp32) \((.*)\)", lines[0] if lines else "")
if m:
    ratio = re.search(r"measured at ([0-9.]+)x fp32", m.group(2))
    print("auto:", m.group(0))
    if ratio:
        check((m.group(1) == "bf16") == (float(ratio.group(1)) >= 1.3), f"the choice follows the ratio: {m.group(0)}")
    elif "AMX" not in m.group(2):
        check(m.group(1) == "fp32" and not BF16, f"no measurement: fp32 for lack of a bf16 path: {m.group(0)}")
    check(out == (b16 if m.group(1) == "bf16" else f32), "auto's outputs = the explicit precision it chose")
r, _ = fwd("auto_q", "auto")
check("precision auto" not in r.stderr, "no -v: nothing said")

# the hook: both decisions
r, out = fwd("auto2", "auto", "-v", env={"OVX_PRECISION_CALIBRATION": "2"})
check(out == (b16 if BF16 else f32) and ("auto: bf16" if BF16 else "auto: fp32") in r.stderr,
      f"calibration 2x: {'bf16' if BF16 else 'fp32'}: {r.stderr!r}")
r, out = fwd("auto05", "auto", "-v", env={"OVX_PRECISION_CALIBRATION": "0.5"})
check(out == f32 and "auto: fp32" in r.stderr, f"calibration 0.5x: fp32: {r.stderr!r}")
if BF16:
    r, out = fwd("slow", "bf16", env={"OVX_PRECISION_CALIBRATION": "0.5"})
    warn = [l for l in r.stderr.splitlines() if "warning" in l]
    check(out == b16 and len(warn) == 1 and "slower than fp32" in warn[0] and "0.50x" in warn[0],
          f"explicit bf16 measured slower: one warning: {r.stderr!r}")

# extract
src = os.path.join(tmp, "clips")
for i in range(3):
    make_clip(os.path.join(src, f"c{i}.mp4"), seconds=1.0, size="64x48")
common = ["extract", "-m", model, "--tokens", "32", "--threads", "1", "--device", "cpu", src]
want = "bf16" if BF16 else "fp32"
r1 = ovx(*common, "-o", os.path.join(tmp, "e_exp"), "--precision", want,
         env={"OVX_PRECISION_CALIBRATION": "2"})
r2 = ovx(*common, "-o", os.path.join(tmp, "e_auto"), "--precision", "auto", "-v",
         env={"OVX_PRECISION_CALIBRATION": "2"})
check(r1.returncode == 0 and r2.returncode == 0, f"extract runs: {r1.stderr!r} {r2.stderr!r}")
check(len([l for l in r2.stderr.splitlines() if "precision auto" in l]) == 1, f"one -v line per run: {r2.stderr!r}")
for i in range(3):
    a = os.path.join(tmp, "e_auto", f"c{i}")
    e = os.path.join(tmp, "e_exp", f"c{i}")
    ok = os.path.exists(a + ".json") and json.load(open(a + ".json")).get("precision") == want
    check(ok and open(a + ".npy", "rb").read() == open(e + ".npy", "rb").read(),
          f"c{i}: REL.json precision {want}, tokens = explicit run's")
r = ovx(*common, "-o", os.path.join(tmp, "e_bad"), "--precision", "bf32")
check(r.returncode == 2 and "auto" in r.stderr, f"bad --precision names auto: {r.stderr!r}")

# AMX through oneDNN's ISA control
if BF16 and "amx_bf16" in flags:
    r, out = fwd("amx_auto", "auto", "-v")
    check("auto: bf16 (AMX-BF16)" in r.stderr and out == b16, f"AMX: auto picks bf16: {r.stderr!r}")
    r2, capped = fwd("amx_capped", "bf16", env={"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16",
                                                 "DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"})
    a = np.load(io.BytesIO(b16)) if b16 else None
    c = np.load(io.BytesIO(capped)) if capped else None
    err = float(np.linalg.norm(a - c) / np.linalg.norm(a)) if a is not None and c is not None else 1
    check(err < 1e-5, f"AMX bf16 vs AVX512_BF16 bf16: rel L2 {err:.2e}")
else:
    print("SKIPPED: the AMX checks (this CPU has no AMX-BF16; auto's AMX rule and oneDNN's AMX kernels "
          "were NOT exercised)")
finish("--precision auto")
