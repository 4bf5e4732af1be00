#!/usr/bin/python3
"""test_parity.py CASE: runs `ovx forward` and the independent PyTorch
reference (tests/reference/onevision_ref.py) on the same random test model
(scripts/make-test-model) and inputs, and checks every output agrees to a
relative L2 error <= 1e-5 (per token and overall). Other cases check that
BF16/F16/F32/sharded files give identical outputs and that outputs do not
depend on the thread count. ovx runs at --precision fp32 (the default,
auto, may take bf16); with a second argument `bf16` at --precision bf16 and
the bound is 1e-2 against the same fp32 reference."""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
OVX = os.environ.get("OVX_BIN", os.path.join(ROOT, "build", "src", "cli", "ovx"))
PY = "/usr/bin/python3"
TOL = 1e-5
PRECISION = ["--precision", "fp32"]  # exact: the default (auto) may take bf16


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
        sys.exit(1)
    return r


def make_model(d, *args):
    run([PY, os.path.join(ROOT, "scripts", "make-test-model"), d] + list(args))
    return d


def ovx_forward(model, px, vi, hs, out, threads=None):
    cmd = [OVX, "forward", "-m", model, "--pixel-values", px, "-o", out, "--device", "cpu"] + PRECISION
    if vi:
        cmd += ["--visible-indices", vi]
    if hs is not None:
        cmd += ["--hidden-state", str(hs)]
    if threads:
        cmd += ["--threads", str(threads)]
    return run(cmd)


def ref_forward(model, px, vi, hs, out):
    cmd = [PY, os.path.join(ROOT, "tests", "reference", "onevision_ref.py"), model, "--pixel-values", px, "-o", out]
    if vi:
        cmd += ["--visible-indices", vi]
    if hs is not None:
        cmd += ["--hidden-state", str(hs)]
    return run(cmd)


def rel_errors(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    overall = np.linalg.norm(a - b) / np.linalg.norm(b)
    rows_a, rows_b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    per = np.linalg.norm(rows_a - rows_b, axis=1) / np.maximum(np.linalg.norm(rows_b, axis=1), 1e-30)
    return overall, per.max()


def compare(tmp, model, px_arr, vi_arr=None, hs=-2, expect_head=True, expect_warning=False):
    px = os.path.join(tmp, "px.npy")
    np.save(px, px_arr.astype(np.float32))
    vi = None
    if vi_arr is not None:
        vi = os.path.join(tmp, "vi.npy")
        np.save(vi, vi_arr.astype(np.int64))
    r = ovx_forward(model, px, vi, hs, os.path.join(tmp, "ovx"))
    if expect_warning and "cropped" not in r.stderr:
        print("FAIL: no crop warning on stderr: %r" % r.stderr)
        return 1
    ref_forward(model, px, vi, hs, os.path.join(tmp, "ref"))
    names = ["last_hidden_state"] + (["pooler_output"] if expect_head else []) + \
        (["hidden_state_%s" % hs] if hs is not None else [])
    if not expect_head and os.path.exists(os.path.join(tmp, "ovx", "pooler_output.npy")):
        print("FAIL: pooler_output written for a model without head")
        return 1
    bad = 0
    for n in names:
        a = np.load(os.path.join(tmp, "ovx", n + ".npy"))
        b = np.load(os.path.join(tmp, "ref", n + ".npy"))
        if a.shape != b.shape or a.dtype != np.float32:
            print("FAIL %s: shape %s dtype %s, reference %s" % (n, a.shape, a.dtype, b.shape))
            bad += 1
            continue
        overall, worst = rel_errors(a, b)
        ok = overall <= TOL and worst <= TOL
        bad += not ok
        print("%s %-20s %-16s rel L2 overall %.3e, worst token %.3e" %
              ("ok  " if ok else "FAIL", n, str(a.shape), overall, worst))
    return 1 if bad else 0


def card_indices(frames=16, slots=64, per=256):
    slot = np.linspace(0, slots - 1, frames).astype(np.int64)
    return (slot[:, None] * per + np.arange(per)[None, :]).reshape(1, -1)


def identical(dirs, names):
    for n in names:
        ref = np.load(os.path.join(dirs[0], n + ".npy"))
        for d in dirs[1:]:
            if not np.array_equal(ref, np.load(os.path.join(d, n + ".npy"))):
                print("FAIL: %s differs between %s and %s" % (n, dirs[0], d))
                return 1
    print("ok: %s identical across %d runs" % (", ".join(names), len(dirs)))
    return 0


def main():
    global TOL, PRECISION
    case = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "bf16":
        TOL, PRECISION = 1e-2, ["--precision", "bf16"]
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model")
        if case == "nohead":
            make_model(model, "--no-head")
        elif case not in ("dtypes",):
            make_model(model)
        if case == "image224":
            return compare(tmp, model, rng.standard_normal((1, 3, 224, 224)))
        if case == "native":
            return compare(tmp, model, rng.standard_normal((1, 3, 182, 280)))
        if case == "crop":
            return compare(tmp, model, rng.standard_normal((1, 3, 190, 150)), expect_warning=True)
        if case == "image448":
            return compare(tmp, model, rng.standard_normal((1, 3, 448, 448)))
        if case == "video16":
            return compare(tmp, model, rng.standard_normal((1, 3, 16, 224, 224)), card_indices())
        if case == "video-noindex":
            return compare(tmp, model, rng.standard_normal((1, 3, 4, 112, 84)), hs=0)
        if case == "gather":
            total = 16 * 8 * 8
            vi = np.stack([np.sort(rng.choice(total, 300, replace=False)) for _ in range(2)])
            return compare(tmp, model, rng.standard_normal((2, 3, 16, 112, 112)), vi)
        if case == "batch2":
            return compare(tmp, model, rng.standard_normal((2, 3, 224, 224)), hs=1)
        if case == "nohead":
            return compare(tmp, model, rng.standard_normal((1, 3, 224, 224)), expect_head=False)
        if case == "dtypes":
            dirs = []
            for dt, extra in (("bf16", []), ("f16", []), ("f32", []), ("bf16", ["--shards", "3"])):
                m = make_model(os.path.join(tmp, "m-%s-%d" % (dt, len(dirs))), "--dtype", dt, *extra)
                if not dirs:
                    px = os.path.join(tmp, "px.npy")
                    np.save(px, rng.standard_normal((1, 3, 112, 140)).astype(np.float32))
                out = os.path.join(tmp, "out%d" % len(dirs))
                ovx_forward(m, px, None, -2, out)
                dirs.append(out)
            return identical(dirs, ["last_hidden_state", "pooler_output", "hidden_state_-2"])
        if case == "threads":
            px = os.path.join(tmp, "px.npy")
            np.save(px, rng.standard_normal((2, 3, 4, 112, 112)).astype(np.float32))
            dirs = []
            for t in (1, 2, 3):
                out = os.path.join(tmp, "out%d" % t)
                ovx_forward(model, px, None, -2, out, threads=t)
                dirs.append(out)
            return identical(dirs, ["last_hidden_state", "pooler_output", "hidden_state_-2"])
    print("unknown case " + case)
    return 2


if __name__ == "__main__":
    sys.exit(main())
