#!/usr/bin/python3
"""The tokens `ovx extract` writes equal what `ovx forward` gives on the same
pixels and indices (--save-pixels writes exactly the model input): codec
sampling (gather mode), uniform sampling (positions mode, the model card's
layout), images at 448 and native size, hidden state -2 and f16 output.
The saved pixels are also checked against an independent preprocessing:
PIL bicubic shortest-edge resize + centre crop of frames decoded by the
ffmpeg CLI (BT.601 limited range, accurate rounding, full chroma
interpolation: the conversion ovx documents) / images read by PIL, then CLIP
normalisation in numpy."""
import json
import os
import subprocess
import tempfile

import numpy as np

from xhelp import OVX, check, finish, make_clip, make_image, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
from PIL import Image  # noqa: E402

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
tmp = tmpdir("ovx-extract-fwd-")
model = make_model(os.path.join(tmp, "model"))
clip = os.path.join(tmp, "clip.mp4")
make_clip(clip, seconds=2.0, size="176x100", src="testsrc2")
png = os.path.join(tmp, "pic.png")
make_image(png, size="300x200")
jpg = os.path.join(tmp, "photo.jpg")
make_image(jpg, size="200x310")


def forward(prefix, hidden=None, with_model=None):
    out = prefix + ".fwd"
    cmd = [OVX, "forward", "-m", with_model or model, "--pixel-values", prefix + ".pixels.npy", "-o", out]
    if os.path.exists(prefix + ".indices.npy"):
        cmd += ["--visible-indices", prefix + ".indices.npy"]
    if hidden is not None:
        cmd += ["--hidden-state", str(hidden)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode == 0, f"ovx forward on {prefix}: {r.stderr}")
    return out


def preprocess(rgb, size):
    """PIL: shortest edge `size` bicubic (long side truncated), centre crop."""
    im = Image.fromarray(rgb)
    w, h = im.size
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    im = im.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


def normalise(rgb):
    return ((rgb.astype(np.float32) * np.float32(1 / 255) - MEAN) / STD).transpose(2, 0, 1)


def levels(a, b):
    return np.abs(a - b) * STD.reshape(3, 1, 1) * 255


cases = [
    ("codec", clip, ["--tokens", "300", "--hidden-state", "-2"], 300),
    ("uniform", clip, ["--sampling", "uniform", "--frames", "4", "--dtype", "f16"], 1024),
    ("image", png, ["--hidden-state", "-2"], 1024),
    ("native", png, ["--native"], (200 // 14) * (300 // 14)),
]
for name, src, extra, k in cases:
    out = os.path.join(tmp, "out_" + name)
    r = ovx("extract", "-m", model, src, "-o", out, "--save-pixels", *extra)
    check(r.returncode == 0, f"{name}: extract ok: {r.stderr}")
    stem = os.path.join(out, os.path.splitext(os.path.basename(src))[0])
    hidden = -2 if "--hidden-state" in extra else None
    fwd = forward(stem, hidden)
    tok = np.load(stem + ".npy")
    ref = np.load(os.path.join(fwd, "last_hidden_state.npy"))[0]
    check(tok.shape == (k, 128), f"{name}: tokens shape {tok.shape}")
    if tok.dtype == np.float16:
        check(np.array_equal(tok, ref.astype(np.float16)), f"{name}: f16 tokens == forward rounded to f16")
    else:
        check(np.array_equal(tok, ref), f"{name}: tokens == ovx forward (max diff {np.abs(tok - ref).max()})")
    check(np.array_equal(np.load(stem + ".pooled.npy"), np.load(os.path.join(fwd, "pooler_output.npy"))[0]),
          f"{name}: pooled == ovx forward")
    if hidden is not None:
        check(np.array_equal(np.load(stem + ".hidden_-2.npy"), np.load(os.path.join(fwd, "hidden_state_-2.npy"))[0]),
              f"{name}: hidden_-2 == ovx forward")
    if name in ("codec", "uniform"):
        # without --save-pixels the tokens are cut straight from the kept
        # RGB frames (no pixel tensor): the same bytes
        out2 = os.path.join(tmp, "out2_" + name)
        r = ovx("extract", "-m", model, src, "-o", out2, *extra)
        check(r.returncode == 0, f"{name}: extract without --save-pixels ok: {r.stderr}")
        stem2 = os.path.join(out2, os.path.basename(stem))
        for suf in (".npy", ".pooled.npy"):
            check(open(stem + suf, "rb").read() == open(stem2 + suf, "rb").read(),
                  f"{name}: {suf} identical with and without --save-pixels (tokens from RGB frames)")
    js = json.load(open(stem + ".json"))
    pos = np.array(js["positions"])
    px = np.load(stem + ".pixels.npy")
    if js["kind"] == "video":
        idx = np.load(stem + ".indices.npy")[0]
        check((pos[:, 0] * 256 + pos[:, 1] * 16 + pos[:, 2] == idx).all(), f"{name}: positions = (t,h,w) of indices")
        if name == "uniform":  # the model card's slots: linspace(0, 63, F) truncated, 256 tokens each
            want_t = np.repeat(np.linspace(0, 63, 4).astype(int), 256)
            check(np.array_equal(pos[:, 0], want_t), f"uniform: t = linspace(0,63,4) slots: {sorted(set(pos[:, 0]))}")
        # independent decode (ffmpeg CLI) + PIL preprocessing of the sampled frames
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", src, "-vf",
                              "scale=flags=accurate_rnd+full_chroma_int+full_chroma_inp:in_color_matrix=bt601:"
                              "in_range=tv,format=rgb24", "-f", "rawvideo", "-"], capture_output=True).stdout
        frames = np.frombuffer(raw, np.uint8).reshape(-1, 100, 176, 3)
        worst = 0.0
        for i, s in enumerate(js["select"]["slots"]):
            t = i if px.shape[2] == len(js["select"]["slots"]) else s["slot"]
            want = normalise(preprocess(frames[s["frame"]], 224))
            d = levels(px[0, :, t], want)
            worst = max(worst, float(d.max()))
        print(f"{name}: max |pixel - ffmpeg+PIL| = {worst:.4f} levels over {len(js['select']['slots'])} frames")
        check(worst < 1e-3, f"{name}: video pixels equal ffmpeg + PIL preprocessing ({worst:.4f} levels)")
    else:
        check(js["image"]["width"] == 300 and js["image"]["height"] == 200, f"{name}: image size recorded")
        rgb = np.asarray(Image.open(png).convert("RGB"))
        want = normalise(rgb[: 200 // 14 * 14, : 300 // 14 * 14]) if name == "native" else normalise(preprocess(rgb, 448))
        d = levels(px[0, :, 0], want)
        print(f"{name}: max |pixel - PIL| = {d.max():.4f} levels")
        check(d.max() < 1e-3, f"{name}: PNG pixels equal PIL's preprocessing")

# --views 2: a leading view axis, view 0 is the single-view run, view 1 differs
out = os.path.join(tmp, "out_views")
r = ovx("extract", "-m", model, clip, "-o", out, "--sampling", "uniform", "--frames", "4", "--views", "2")
single = os.path.join(tmp, "out_uniform1")
ovx("extract", "-m", model, clip, "-o", single, "--sampling", "uniform", "--frames", "4")
v = np.load(os.path.join(out, "clip.npy"))
one = np.load(os.path.join(single, "clip.npy"))
check(r.returncode == 0 and v.shape == (2, 1024, 128), f"views: tokens [2,K,D] {v.shape}")
check(np.array_equal(v[0], one), "views: view 0 == the single-view run")
check(not np.array_equal(v[0], v[1]), "views: view 1 differs from view 0")
js = json.load(open(os.path.join(out, "clip.json")))
frames = [[s["frame"] for s in view["select"]["slots"]] for view in js["views"]]
print("views: sampled frames", frames)
check(len(frames) == 2 and frames[0] != frames[1], "views: different frames sampled")
check(np.load(os.path.join(out, "clip.pooled.npy")).shape == (2, 128), "views: pooled [2,D]")

# select's sampling options pass through: a window of the clip
out = os.path.join(tmp, "out_window")
r = ovx("extract", "-m", model, clip, "-o", out, "--sampling", "uniform", "--frames", "4", "--start", "0.5",
        "--duration", "1", "--mv-source", "estimate")
js = json.load(open(os.path.join(out, "clip.json")))
secs = [s["seconds"] for s in js["select"]["slots"]]
check(r.returncode == 0 and all(0.45 <= x <= 1.55 for x in secs) and js["settings"]["mv_source"] == "estimate",
      f"--start 0.5 --duration 1: sampled seconds {secs}")

# --pooled-only: no token file; the run validates and resumes on what it wrote
out = os.path.join(tmp, "out_pooled")
r = ovx("extract", "-m", model, png, "-o", out, "--pooled-only")
check(r.returncode == 0 and not os.path.exists(os.path.join(out, "pic.npy")) and
      np.load(os.path.join(out, "pic.pooled.npy")).shape == (128,), "--pooled-only writes only pooled + json")
r = ovx("extract", "-m", model, png, "-o", out, "--pooled-only")
check("0 done, 1 skipped" in r.stderr, "--pooled-only output resumes")

# lossless formats: BMP, grey, RGBA (alpha dropped as PIL's convert does),
# palette PNG, and a '%' in the name (no image2 pattern expansion)
fmts = tempfile.mkdtemp(prefix="fmts-", dir=tmp)
for name, pix in (("bars.bmp", "bgr24"), ("grey.png", "gray"), ("alpha.png", "rgba"), ("pal 100%d.png", "pal8")):
    tmpname = os.path.join(fmts, "tmp_" + pix + os.path.splitext(name)[1])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1",
                    "-pix_fmt", pix, tmpname], check=True)
    os.rename(tmpname, os.path.join(fmts, name))
out = os.path.join(tmp, "out_fmts")
r = ovx("extract", "-m", model, fmts, "-o", out, "--save-pixels")
check(r.returncode == 0, f"image formats: {r.stderr}")
for name in ("bars.bmp", "grey.png", "alpha.png", "pal 100%d.png"):
    stem = os.path.join(out, os.path.splitext(name)[0])
    want = normalise(preprocess(np.asarray(Image.open(os.path.join(fmts, name)).convert("RGB")), 448))
    d = levels(np.load(stem + ".pixels.npy")[0, :, 0], want)
    check(d.max() < 1e-3, f"{name}: pixels equal PIL's ({d.max():.3f} levels)")

# a model without head: tokens only; --pooled-only then has nothing to write
nohead = make_model(os.path.join(tmp, "nohead"), "--no-head")
out = os.path.join(tmp, "out_nohead")
r = ovx("extract", "-m", nohead, png, "-o", out, "--save-pixels")
fwd = forward(os.path.join(out, "pic"), with_model=nohead)
check(r.returncode == 0 and not os.path.exists(os.path.join(out, "pic.pooled.npy")) and
      np.array_equal(np.load(os.path.join(out, "pic.npy")), np.load(os.path.join(fwd, "last_hidden_state.npy"))[0]),
      f"no-head model: tokens == forward, no pooled file ({r.returncode} {r.stderr})")
r = ovx("extract", "-m", nohead, png, "-o", os.path.join(tmp, "out_nohead2"), "--pooled-only")
check(r.returncode == 2 and "nothing would be written" in r.stderr,
      f"--pooled-only without head: a usage error before any item: {r.stderr}")

# JPEG: libavcodec's decoder upsamples chroma differently from libjpeg (PIL);
# the bound here is what we document.
out = os.path.join(tmp, "out_jpg")
r = ovx("extract", "-m", model, jpg, "-o", out, "--save-pixels")
px = np.load(os.path.join(out, "photo.pixels.npy"))[0, :, 0]
d = levels(px, normalise(preprocess(np.asarray(Image.open(jpg).convert("RGB")), 448)))
print(f"jpeg: mean |pixel - PIL| = {d.mean():.3f} levels, max {d.max():.1f}")
check(r.returncode == 0 and d.mean() < 1.5, "jpeg pixels close to PIL's")
finish("extract == forward")
