#!/usr/bin/python3
"""test_profile.py: `ovx forward --profile` prints one row per op kind of
the CPU forward whose times add up to the forward's wall time and whose
FLOP counts match the model's shapes, and the outputs are byte-identical
with and without it."""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
OVX = os.environ.get("OVX_BIN", os.path.join(ROOT, "build", "src", "cli", "ovx"))
failures = 0


def check(ok, what):
    global failures
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    failures += not ok


def run(*args):
    return subprocess.run([OVX] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main():
    D, F, L, heads, N = 128, 512, 3, 2, 64  # make-test-model defaults (intermediate 4x)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "m")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), model,
                        "--hidden", str(D), "--layers", str(L), "--heads", str(heads)],
                       check=True, stdout=subprocess.DEVNULL)
        px = os.path.join(tmp, "px.npy")
        np.save(px, np.random.RandomState(1).randn(1, 3, 112, 112).astype(np.float32))  # 8x8 = 64 tokens
        outs = {}
        for name, extra in (("plain", []), ("profile", ["--profile"])):
            o = os.path.join(tmp, name)
            r = run("forward", "-m", model, "--pixel-values", px, "--device", "cpu", "-o", o, *extra)
            check(r.returncode == 0, "%s forward exits 0 (%s)" % (name, r.stderr.strip().splitlines()[-1:]))
            outs[name] = (o, r.stderr)
        for f in ("last_hidden_state.npy", "pooler_output.npy"):
            a = open(os.path.join(outs["plain"][0], f), "rb").read()
            b = open(os.path.join(outs["profile"][0], f), "rb").read()
            check(a == b, "%s byte-identical with --profile" % f)
        err = outs["profile"][1]
        check("profile" not in outs["plain"][1], "no profile without --profile")
        rows = {}
        for line in err.splitlines():
            m = re.match(r"ovx forward: profile: (\S+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)%\s+(\S+)$", line)
            if m:
                rows[m.group(1)] = (int(m.group(2)), float(m.group(3)), m.group(5))
        # RoPE, GELU and the residual adds are the q/k, fc1 and out_proj/fc2 matmuls' epilogues: no rows.
        kinds = ["patch_embed", "layernorm", "qkv_proj", "attention", "out_proj", "fc1", "fc2", "head"]
        check(all(k in rows for k in kinds + ["total"]), "a row for every op kind and the total: %s" % sorted(rows))
        check(not any(k in rows for k in ("rope", "gelu", "residual_add")), "no rows for the fused epilogues")
        if failures:
            return 1
        # Calls: layernorm_pre and the first layer's LN1 (the others are epilogues of out_proj and fc2), one
        # of the rest per layer.
        expect_calls = {"patch_embed": 1, "layernorm": 2, "qkv_proj": L, "attention": L,
                        "out_proj": L, "fc1": L, "fc2": L, "head": 1}
        check(all(rows[k][0] == v for k, v in expect_calls.items()),
              "call counts %s" % {k: rows[k][0] for k in kinds})
        total_ms = sum(rows[k][1] for k in kinds)
        check(abs(total_ms - rows["total"][1]) <= 0.1 * len(kinds), "op times add up to the total")
        wall = float(re.search(r"tokens in ([0-9.]+) ms", err).group(1))
        check(rows["total"][1] <= wall + 0.5 and rows["total"][1] >= 0.5 * wall,
              "profiled total %.1f ms within the forward's %.1f ms" % (rows["total"][1], wall))
        # GFLOP/s column = FLOPs / time: recompute FLOPs from the shapes for the matrix ops.
        flops = {"qkv_proj": 3 * 2 * N * D * D * L, "out_proj": 2 * N * D * D * L, "fc1": 2 * N * D * F * L,
                 "fc2": 2 * N * D * F * L, "attention": 4 * N * N * D * L, "patch_embed": 2 * N * D * 588}
        for k, fl in flops.items():
            ms = rows[k][1]
            if ms >= 2.0 and rows[k][2] != "-":  # too short to compare the rounded figures otherwise
                got = float(rows[k][2])
                want = fl / (ms * 1e6)
                check(abs(got - want) <= 0.06 * want + 0.1, "%s GFLOP/s %.1f ~ FLOPs/time %.1f" % (k, got, want))
        # ovx extract --profile: the same table summed over the run, outputs unchanged.
        clip = os.path.join(tmp, "data", "a.mp4")
        os.makedirs(os.path.dirname(clip))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1",
                        clip], check=True)
        ex = {}
        for name, extra in (("plain", []), ("profile", ["--profile"])):
            o = os.path.join(tmp, "x-" + name)
            r = run("extract", "-m", model, os.path.dirname(clip), "-o", o, "--device", "cpu", "--tokens", "256",
                    *extra)
            check(r.returncode == 0, "extract %s exits 0" % name)
            ex[name] = (o, r.stderr)
        check(open(os.path.join(ex["plain"][0], "a.npy"), "rb").read() ==
              open(os.path.join(ex["profile"][0], "a.npy"), "rb").read(), "extract tokens byte-identical with --profile")
        m = re.search(r"ovx extract: profile: attention\s+(\d+)", ex["profile"][1])
        check(m is not None and int(m.group(1)) == L, "extract --profile: attention calls = layers x items")
        check("profile" not in ex["plain"][1], "extract: no profile without --profile")
    print("%d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
