#!/usr/bin/python3
"""test_gpu_check.py: scripts/gpu-check end to end on the emulated device
(OVX_CUDA_EMULATE=9.0, no GPU): one Markdown table whose title says
"emulated", a row per selftest case with its error, the fallback report
(GEMM paths), the sanitizer rows (skipped here), the bench table with its
GPU-only column (and the row naming its source), exit 0;
and with an op of the forward skipped (OVX_CUDA_FAIL=skip:rope_qkv:
wrong numbers) it fails, saying so."""
import os
import subprocess
import sys

ROOT = os.environ["OVX_SOURCE_ROOT"]
SCRIPT = os.path.join(ROOT, "scripts", "gpu-check")
failures = 0


def check(ok, what):
    global failures
    print("%s: %s" % ("ok" if ok else "FAIL", what))
    failures += not ok


def gpu_check(extra_env):
    env = dict(os.environ, OVX_CUDA_EMULATE="9.0", **extra_env)
    return subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, env=env, timeout=600)


r = gpu_check({})
print(r.stdout)
lines = r.stdout.splitlines()
check(r.returncode == 0 and lines and lines[0].startswith("## ovx gpu-check") and "emulated" in lines[0],
      "title names the emulated device (exit %d, %s)" % (r.returncode, r.stderr[-300:]))
check(any(l.startswith("| selftest: image 224") and "rel L2" in l for l in lines) and
      any(l.startswith("| selftest: 2 sparse videos") for l in lines), "a row per selftest case")
check(any(l.startswith("| selftest |") and "passed" in l for l in lines), "selftest passed")
check(any(l.startswith("| GEMM paths |") and "mlp.fc1" in l for l in lines), "the fallback report")
check(any(l.startswith("| compute-sanitizer memcheck |") for l in lines), "the sanitizer rows")
bench = [l for l in lines if l.startswith("| 48 |") or l.startswith("| 96 |")]
check(len(bench) == 4, "bench rows for 48 and 96 tokens at batch 1 and 2 (%d)" % len(bench))
cells = [[x.strip() for x in l.strip("|").split("|")] for l in bench]
check(all(len(c) == 8 and 0 < float(c[7]) <= float(c[2]) for c in cells),
      "bench rows carry the GPU-only ms, above 0 and at most the end-to-end ms")
check(any(l.startswith("| GPU ms/forward |") and "emulated device, no events" in l for l in lines),
      "the GPU time's source: the emulated device's host time (no events here)")
check(lines[-1] == "gpu-check passed", "verdict")

r = gpu_check({"OVX_CUDA_FAIL": "skip:rope_qkv"})
check(r.returncode == 1 and "gpu-check FAILED" in r.stdout and
      any(l.startswith("| selftest |") and "FAILED" in l for l in r.stdout.splitlines()),
      "a forward with wrong numbers fails gpu-check (exit %d)" % r.returncode)
sys.exit(1 if failures else 0)
