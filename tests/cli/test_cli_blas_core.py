#!/usr/bin/python3
"""test_cli_blas_core.py: OpenBLAS's core type (issue 24, item 9): where
OpenBLAS picks a non-AVX-512 core on a CPU with AVX-512 (test hook
OVX_TEST_BLAS_CORE=Haswell stands for the misdetection), ovx runs itself
again with OPENBLAS_CORETYPE=SkylakeX (only where OpenBLAS does the work:
`ovx bench` and `ovx selftest` always, `ovx forward` and `ovx extract`
only with OVX_CPU_GEMM=openblas or without oneDNN, whose matmuls they use
otherwise; `ovx select` and `ovx inspect` start once; program starts are
counted by the dynamic loader's LD_DEBUG=statistics, one report per
start), and `ovx bench` names the core
OpenBLAS then runs and why; a core the user set is kept; a detected AVX-512
core is kept; the OpenBLAS forward (OVX_CPU_GEMM=openblas) gives the same
numbers (rel L2 < 1e-5) on either core. The harness's own OPENBLAS_CORETYPE
is removed for these runs."""
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
from xhelp import OVX, check, finish, make_clip, make_model, tmpdir  # noqa: E402

flags = set(re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split())
if not {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
    print("SKIP: this CPU has no AVX-512 (F/BW/VL/DQ/CD): ovx leaves OpenBLAS's choice alone here")
    sys.exit(77)
base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OVX_BLAS_DETECTED")}


def core_line(**env):
    r = subprocess.run([OVX, "bench", "--device", "cpu", "--size", "small", "--tokens", "64", "--batch", "1",
                        "--repeat", "1", "--warmup", "0"], capture_output=True, text=True, timeout=300,
                       env=dict(base, **env))
    m = re.search(r"OpenBLAS core (.*)$", r.stdout, re.M)
    return m.group(1) if r.returncode == 0 and m else f"(failed: {r.returncode} {r.stderr[-200:]})"


line = core_line(OVX_TEST_BLAS_CORE="Haswell")
check(line == "SkylakeX (OPENBLAS_CORETYPE set by ovx; detected Haswell)", f"misdetected: re-run on SkylakeX: {line}")
line = core_line(OPENBLAS_CORETYPE="Haswell", OVX_TEST_BLAS_CORE="Haswell")
check(line == "Haswell (OPENBLAS_CORETYPE)", f"the user's OPENBLAS_CORETYPE is kept: {line}")
line = core_line(OVX_TEST_BLAS_CORE="SkylakeX")
check(line.endswith("(detected)"), f"an AVX-512 core is kept: {line}")

tmp = tmpdir("ovx-blas-core-")
model = make_model(os.path.join(tmp, "model"))


def starts(args, **env):
    """program starts of one ovx run with the misdetection hook"""
    r = subprocess.run([OVX] + args, capture_output=True, text=True, timeout=300,
                       env=dict(base, OVX_TEST_BLAS_CORE="Haswell", LD_DEBUG="statistics", **env))
    return r.returncode, r.stderr.count("total startup time in dynamic loader")


clip = os.path.join(tmp, "c.mp4")
make_clip(clip)
DNNL = sys.argv[1] == "1" if len(sys.argv) > 1 else True
lst = os.path.join(tmp, "list.txt")
open(lst, "w").write(clip + "\n")
cases = [(["select", "--tokens", "64", clip], {}, 1), (["inspect", "-m", model], {}, 1),
         (["forward", "--help"], {}, 1 if DNNL else 2), (["forward", "--help"], {"OVX_CPU_GEMM": "openblas"}, 2),
         (["extract", "-m", model, "--tokens", "64", "--list", lst, "-o", os.path.join(tmp, "ex"), "--quiet"], {},
          1 if DNNL else 2),
         (["bench", "--help"], {}, 2)]
for args, env, want in cases:
    rc, n = starts(args, **env)
    check(rc == 0 and n == want, f"ovx {args[0]} {env}: {n} program starts (want {want}), exit {rc}")
px = os.path.join(tmp, "px.npy")
np.save(px, np.random.default_rng(4).standard_normal((1, 3, 2, 56, 56)).astype(np.float32))
outs = {}
for name, env in (("haswell", {"OPENBLAS_CORETYPE": "Haswell"}), ("fixed", {"OVX_TEST_BLAS_CORE": "Haswell"})):
    r = subprocess.run([OVX, "forward", "-m", model, "--pixel-values", px, "--device", "cpu", "-o",
                        os.path.join(tmp, name)], capture_output=True, text=True, timeout=300,
                       env=dict(base, OVX_CPU_GEMM="openblas", **env))
    check(r.returncode == 0, f"openblas forward on {name}: {r.stderr[-200:]}")
    if r.returncode == 0:
        outs[name] = np.load(os.path.join(tmp, name, "last_hidden_state.npy"))
if len(outs) == 2:
    a, b = outs["haswell"], outs["fixed"]
    err = float(np.linalg.norm(a - b) / np.linalg.norm(a))
    check(err < 1e-5, f"OpenBLAS forward on Haswell vs SkylakeX kernels: rel L2 {err:.2e}")
finish("OpenBLAS core type")
