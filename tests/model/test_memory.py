#!/usr/bin/python3
"""test_memory.py HAVE_DNNL: peak memory of `ovx forward` (issue 13: weights
plus a bounded amount of activations and scratch, the model file never whole
in memory, no f32 copy of weights kept in bf16). A model of width 768,
intermediate 3072, 4 layers, with head (about 36M parameters, a BF16 file of
72 MB) runs a 224x224 image (N = 256 tokens; OVX_TEST_TOKENS=N for another
square) at fp32 and, with oneDNN, at --precision bf16. Each process's peak
RSS minus the peak RSS of the same command on a tiny model (the program, its
libraries and thread stacks) minus the weights this precision keeps (fp32: 4
bytes per parameter; bf16: 2 bytes per block linear weight, 4 for the rest,
computed from the config here) must be below the forward's budget:
    4 bytes x (6 N D + min(N, 2048) F + 2 N 64) + 8 bytes x N K + 24 MiB
(x, h, q, k, v, the head's scratch, an fc1 row block, RoPE tables; input
pixels and tokens; loading and library scratch). The safetensors file held
in memory while loading (72 MB), or f32 copies beside the bf16 weights (113
MB), each exceed it (the build before this test: 65 and 122 MiB over the
program and weights, budget 33 MiB)."""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
OVX = os.environ.get("OVX_BIN", os.path.join(ROOT, "build", "src", "cli", "ovx"))
failures = 0


def check(ok, what):
    global failures
    print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
    failures += not ok


# A bare Python (no numpy) forks and execs ovx and prints its peak RSS: a
# process's peak RSS counts the image it was exec'd from, so ovx must not be
# started straight from this process (numpy makes it larger than a small ovx).
LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, st, ru = os.wait4(pid, 0)
print(ru.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(st))
"""


def peak_rss(args):
    """(exit code, stderr, peak RSS bytes) of one ovx process."""
    r = subprocess.run(["/usr/bin/python3", "-S", "-c", LAUNCH, OVX] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return r.returncode, r.stderr, int(r.stdout.strip() or 0) * 1024


def make_model(path, d, layers, heads):
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), path, "--hidden", str(d),
                    "--layers", str(layers), "--heads", str(heads)], check=True, stdout=subprocess.DEVNULL)


def main():
    have_dnnl = len(sys.argv) > 1 and sys.argv[1] == "1"
    D, L, H = 768, 4, 12
    F, K, N = 4 * D, 3 * 14 * 14, int(os.environ.get("OVX_TEST_TOKENS", "256"))
    lin = L * (4 * D * D + 2 * D * F)
    params = D * K + 2 * D + L * (4 * D * D + 4 * D + 4 * D + 2 * D * F + F + D) + \
        2 * D + D + 3 * D * D + 3 * D + D * D + D + D + 2 * D * F + F + D
    budget = 4 * (6 * N * D + min(N, 2048) * F + 2 * N * 64) + 8 * N * K + (24 << 20)
    with tempfile.TemporaryDirectory() as tmp:
        big, tiny = os.path.join(tmp, "big"), os.path.join(tmp, "tiny")
        make_model(big, D, L, H)
        make_model(tiny, 64, 1, 1)
        file_bytes = os.path.getsize(os.path.join(big, "model.safetensors"))
        side = int(round(N ** 0.5))
        px = os.path.join(tmp, "image.npy")
        np.save(px, np.random.RandomState(0).randn(1, 3, 14 * side, 14 * side).astype(np.float32))
        px0 = os.path.join(tmp, "px0.npy")
        np.save(px0, np.zeros((1, 3, 28, 28), np.float32))
        precisions = [("fp32", 4 * params)]
        if have_dnnl:
            precisions.append(("bf16", 4 * (params - lin) + 2 * lin))
        else:
            print("no oneDNN in this build: bf16 not measured")
        for prec, weights in precisions:
            common = ["--device", "cpu", "--threads", "2", "--precision", prec]
            rc0, err0, base = peak_rss(["forward", "-m", tiny, "--pixel-values", px0, "-o", os.path.join(tmp, "o0"),
                                        *common])
            check(rc0 == 0, "%s: tiny model runs (%s)" % (prec, err0.strip()[-200:]))
            rc, err, rss = peak_rss(["forward", "-m", big, "--pixel-values", px, "-o", os.path.join(tmp, "o"),
                                     *common])
            check(rc == 0 and "1 x %d tokens" % N in err, "%s: %d-token forward runs (%s)" % (prec, N,
                                                                                        err.strip()[-200:]))
            extra = rss - base - weights
            mib = 1 << 20
            print("%s: peak RSS %.1f MiB = program %.1f + weights %.1f + activations/scratch %.1f MiB "
                  "(budget %.1f MiB; file %.1f MiB)" % (prec, rss / mib, base / mib, weights / mib, extra / mib,
                                                         budget / mib, file_bytes / mib))
            check(extra <= budget, "%s: activations and scratch %.1f MiB <= %.1f MiB" % (prec, extra / mib,
                                                                                         budget / mib))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
