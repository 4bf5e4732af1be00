#!/usr/bin/python3
"""--precision bf16 rounds the patch embedding's inputs and weight to bf16
(as the CUDA path's bf16 GEMM takes them): hidden state 0 (patch embedding
+ layernorm_pre) of `ovx forward --precision bf16` against a float64
reference LN(bf16(patches) @ bf16(W)^T) on a model whose patch weight is
not bf16-representable and pixels that are not either. Leaving either
rounding out moves the result by more than 5x the bound, so both are pinned.
fp32 is checked against LN(patches @ W^T) too. Skips (77) when this build
or CPU has no bf16 forward."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

OVX = os.environ["OVX_BIN"]
ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
P, D = 14, 128


def bf16(a):
    """Round float32 values to the nearest bf16 value (ties to even), as float64."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def tensors(path):
    raw = bytearray(open(path, "rb").read())
    n = struct.unpack("<Q", raw[:8])[0]
    return raw, json.loads(raw[8:8 + n]), 8 + n


def layernorm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


with tempfile.TemporaryDirectory() as d:
    model = os.path.join(d, "model")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), model, "--hidden", str(D),
                    "--layers", "1", "--heads", "2", "--dtype", "f32"], check=True, stdout=subprocess.DEVNULL)
    st = os.path.join(model, "model.safetensors")
    raw, hdr, base = tensors(st)
    rng = np.random.default_rng(5)

    def get(name):
        a, b = hdr[name]["data_offsets"]
        return np.frombuffer(bytes(raw[base + a:base + b]), np.float32).reshape(hdr[name]["shape"])

    name = "embeddings.patch_embedding.weight"
    w = get(name) * (1 + 2e-3 * rng.standard_normal(get(name).shape)).astype(np.float32)  # off the bf16 grid
    a, _ = hdr[name]["data_offsets"]
    raw[base + a:base + a + w.nbytes] = w.astype(np.float32).tobytes()
    open(st, "wb").write(raw)
    check(np.abs(bf16(w) - w).max() > 0, "the patch weight is not bf16-representable")
    g, b = get("layernorm_pre.weight").astype(np.float64), get("layernorm_pre.bias").astype(np.float64)
    eps = json.load(open(os.path.join(model, "config.json"))).get("layer_norm_eps", 1e-6)
    px = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    np.save(os.path.join(d, "px.npy"), px)
    patches = px[0].reshape(3, 16, P, 16, P).transpose(1, 3, 0, 2, 4).reshape(256, 3 * P * P)
    W = w.reshape(D, -1).astype(np.float64)

    def forward(precision):
        out = os.path.join(d, "out_" + precision)
        r = subprocess.run([OVX, "forward", "-m", model, "--pixel-values", os.path.join(d, "px.npy"), "-o", out,
                            "--hidden-state", "0", "--precision", precision, "--device", "cpu"],
                           capture_output=True, text=True, timeout=120)
        return r, os.path.join(out, "hidden_state_0.npy")

    r, h = forward("fp32")
    check(r.returncode == 0, f"fp32 forward: {r.stderr[-300:]}")
    ref32 = layernorm(patches.astype(np.float64) @ W.T, g, b, eps)
    e32 = np.abs(np.load(h)[0] - ref32).max() if r.returncode == 0 else 1
    print(f"fp32: max |hidden_0 - LN(patches @ W^T)| = {e32:.3g}")
    check(e32 < 1e-4, "fp32 hidden state 0 = the float64 reference")

    r, h = forward("bf16")
    if r.returncode != 0:
        print(f"SKIP: no --precision bf16 forward here: {r.stderr.strip()[-300:]}")
        sys.exit(77)
    got = np.load(h)[0].astype(np.float64)
    ref = layernorm(bf16(patches) @ bf16(w).reshape(D, -1).T, g, b, eps)
    no_px = layernorm(patches.astype(np.float64) @ bf16(w).reshape(D, -1).T, g, b, eps)
    no_w = layernorm(bf16(patches) @ W.T, g, b, eps)
    e, e_px, e_w = (np.abs(got - x).max() for x in (ref, no_px, no_w))
    print(f"bf16: max |hidden_0 - ref| = {e:.3g}; without rounding the patches {e_px:.3g}, the weight {e_w:.3g}")
    check(e < 1e-4, "bf16 hidden state 0 = LN(bf16(patches) @ bf16(W)^T)")
    check(e_px > 5 * max(e, 2e-5) and e_w > 5 * max(e, 2e-5), "both roundings are told apart")
sys.exit(finish("bf16 patch rounding"))
