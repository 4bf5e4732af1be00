#!/usr/bin/python3
"""test_python_encoder.py: ovx.Encoder (issue 26), imported from the build
dir, against the CLI on random weights in the real checkpoint layout
(scripts/make-test-model, as the model parity tests make them):
- forward() equals `ovx forward --device cpu` byte for byte on the parity
  cases (image 224/448, native size, crop, a 16-frame video with positions,
  gather over a batch of 2, batch 2 with hidden state 1, a model without
  head: pooler_output None), with every output the CLI writes;
- one Encoder serves every call (weights loaded once; 3 threads sharing it
  give the sequential outputs);
- encode(clip) equals `ovx extract` (tokens [K,D], pooled [D]) byte for byte,
  and from the clip's bytes too;
- errors: a missing model, bad device/precision names, a wrong shape or
  out-of-range indices raise ovx.Error with .stage; the encoder still works."""
import concurrent.futures
import os
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "select"))
from pycheck import check, expect, finish  # noqa: E402
import clips  # noqa: E402

import ovx  # noqa: E402

OVX = os.environ["OVX_BIN"]
ROOT = os.path.join(here, "..", "..")


def make_model(d, *extra):
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), d, *extra], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def cli_forward(tmp, model, px, vi, hs):
    np.save(os.path.join(tmp, "px.npy"), px)
    cmd = [OVX, "forward", "-m", model, "--pixel-values", os.path.join(tmp, "px.npy"), "-o",
           os.path.join(tmp, "out"), "--device", "cpu", "--precision", "fp32"]
    if vi is not None:
        np.save(os.path.join(tmp, "vi.npy"), vi)
        cmd += ["--visible-indices", os.path.join(tmp, "vi.npy")]
    if hs is not None:
        cmd += ["--hidden-state", str(hs)]
    for f in ("last_hidden_state.npy", "pooler_output.npy", f"hidden_state_{hs}.npy"):
        if os.path.exists(os.path.join(tmp, "out", f)):
            os.unlink(os.path.join(tmp, "out", f))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"ovx forward: {r.stderr}")

    def load(f):
        p = os.path.join(tmp, "out", f)
        return np.load(p) if os.path.exists(p) else None
    return load("last_hidden_state.npy"), load("pooler_output.npy"), load(f"hidden_state_{hs}.npy")


def same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and a.dtype == b.dtype == np.float32 and
                                         a.shape == b.shape and a.tobytes() == b.tobytes())


def card_indices(frames=16, slots=64, per=256):
    slot = np.linspace(0, slots - 1, frames).astype(np.int64)
    return (slot[:, None] * per + np.arange(per)[None, :]).reshape(1, -1)


with tempfile.TemporaryDirectory(prefix="ovx-enc-") as tmp:
    rng = np.random.default_rng(1234)
    model = make_model(os.path.join(tmp, "model"))
    nohead = make_model(os.path.join(tmp, "nohead"), "--no-head")
    enc = ovx.Encoder(model, device="auto", precision="fp32")
    expect(enc.device == "cpu" and enc.config["hidden_size"] > 0, f"auto on a machine without GPU: {enc.device}")
    gather = np.stack([np.sort(rng.choice(16 * 8 * 8, 300, replace=False)) for _ in range(2)])
    cases = [("image224", rng.standard_normal((1, 3, 224, 224)), None, -2),
             ("native", rng.standard_normal((1, 3, 182, 280)), None, -2),
             ("crop", rng.standard_normal((1, 3, 190, 150)), None, -2),
             ("image448", rng.standard_normal((1, 3, 448, 448)), None, -2),
             ("video16", rng.standard_normal((1, 3, 16, 224, 224)), card_indices(), -2),
             ("video-noindex", rng.standard_normal((1, 3, 4, 112, 84)), None, 0),
             ("gather", rng.standard_normal((2, 3, 16, 112, 112)), gather, -2),
             ("batch2", rng.standard_normal((2, 3, 224, 224)), None, 1)]
    outs = {}
    for name, px, vi, hs in cases:
        px = px.astype(np.float32)
        want = cli_forward(tmp, model, px, vi, hs)
        got = enc.forward(px, vi, hidden_state=hs)
        outs[name] = got
        expect(all(same(g, w) for g, w in zip((got["last_hidden_state"], got["pooler_output"], got["hidden_state"]),
                                              want)),
               f"{name}: forward == ovx forward byte for byte ({got['last_hidden_state'].shape})")
    px = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = cli_forward(tmp, nohead, px, None, None)
    got = ovx.Encoder(nohead, device="cpu", precision="fp32").forward(px)
    expect(same(got["last_hidden_state"], want[0]) and got["pooler_output"] is None and want[1] is None,
           "nohead: forward == ovx forward, no pooler_output")

    # one encoder shared by threads: the sequential outputs
    def again(c):
        o = enc.forward(c[1].astype(np.float32), c[2], hidden_state=c[3])
        return o["last_hidden_state"].tobytes(), o["pooler_output"].tobytes()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        par = list(pool.map(again, cases * 2))
    expect(par == [(outs[c[0]]["last_hidden_state"].tobytes(), outs[c[0]]["pooler_output"].tobytes())
                   for c in cases * 2], "3 threads sharing one Encoder: the sequential outputs")

    # encode(clip) == ovx extract
    clip = clips.moving_object(os.path.join(tmp, "h264"), "h264")
    r = subprocess.run([OVX, "extract", "-m", model, clip, "-o", os.path.join(tmp, "x"), "--tokens", "700",
                        "--device", "cpu", "--precision", "fp32"], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"ovx extract: {r.stderr}")
    stem = os.path.join(tmp, "x", os.path.splitext(os.path.basename(clip))[0])
    tok, pooled = np.load(stem + ".npy"), np.load(stem + ".pooled.npy")
    e = enc.encode(clip, tokens=700)
    expect(same(e["last_hidden_state"][0], tok) and same(e["pooler_output"][0], pooled) and
           len(e["visible_indices"]) == 700, f"encode == ovx extract's tokens {tok.shape} and pooled {pooled.shape}")
    with open(clip, "rb") as f:
        em = enc.encode(f.read(), tokens=700, name=clip)
    expect(same(em["last_hidden_state"], e["last_hidden_state"]), "encode(bytes) == encode(path)")

    # errors
    for kw, stage in [(dict(model=os.path.join(tmp, "missing")), "model"),
                      (dict(model=model, device="tpu"), "options"),
                      (dict(model=model, precision="fp8"), "options")]:
        try:
            ovx.Encoder(**kw)
            expect(False, f"{kw}: no error")
        except ovx.Error as err:
            expect(err.stage == stage and err.path == kw["model"], f"{kw}: ovx.Error stage {err.stage}: {err}")
    for args, what in [((np.zeros((3, 224, 224), np.float32),), "3-d pixels"),
                       ((np.zeros((1, 3, 224, 224), np.float32), np.array([[0, 99999]])), "index out of range"),
                       ((np.zeros((1, 3, 224, 224), np.float32), np.zeros((2, 5), np.int64)), "index batch")]:
        try:
            enc.forward(*args)
            expect(False, f"{what}: no error")
        except ovx.Error as err:
            expect(err.path == model, f"{what}: ovx.Error: {err}")
    expect(same(enc.forward(cases[0][1].astype(np.float32), hidden_state=-2)["hidden_state"],
                outs["image224"]["hidden_state"]), "the encoder still gives the same output after errors")

sys.exit(finish("ovx.Encoder against ovx forward / extract"))
