"""keep_frames on picture geometries where converting only the part of the
frame that the resize reads could go wrong: 1080p (BT.709 tagged), odd
sizes, portrait, 4:2:2, 4:4:4, 10-bit, gray, a tiny picture, and sizes
whose crop touches the picture edges. Every kept 224x224 crop must equal
the ffmpeg CLI (rgb24 through swscale with the flags ovx documents) +
PIL bicubic shortest-edge 224 + centre crop, to 0 levels."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

tool = sys.argv[1]
CASES = [
    # name, size, pix_fmt, extra encoder args
    ("1080p", "1920x1080", "yuv420p", ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]),
    ("odd", "334x199", "yuv420p", []),
    ("oddw", "333x200", "yuv444p", []),
    ("portrait", "240x426", "yuv420p", []),
    ("yuv422", "400x226", "yuv422p", []),
    ("yuv444", "300x250", "yuv444p", []),
    ("10bit", "352x288", "yuv420p10le", []),
    ("gray", "320x200", "gray", []),
    ("tiny", "96x64", "yuv420p", []),
    ("square", "256x256", "yuv420p", []),
]


def oracle(clip, w, h, frames):
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-sws_flags",
                          "bicubic+accurate_rnd+full_chroma_int+full_chroma_inp+bitexact",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    allf = np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3)
    short, long_ = min(w, h), max(w, h)
    nl = int(224 * long_ / short)
    nw, nh = (224, nl) if w <= h else (nl, 224)
    top, left = (nh - 224) // 2, (nw - 224) // 2
    out = []
    for fi in frames:
        r = np.asarray(Image.fromarray(allf[fi]).resize((nw, nh), Image.BICUBIC)).astype(int)
        out.append(r[top:top + 224, left:left + 224])
    return out


worst = 0
with tempfile.TemporaryDirectory() as d:
    for name, size, pix, extra in CASES:
        clip = os.path.join(d, f"{name}.mkv")
        enc = ["-c:v", "ffv1"] if pix in ("gray",) else ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "20"]
        clips.ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=0.4", "-pix_fmt", pix] + enc +
                     extra + [clip])
        raw = os.path.join(d, "frames.rgb")
        res = json.loads(subprocess.run([tool, clip, raw], capture_output=True, text=True, check=True,
                                        timeout=120).stdout)
        n = len(res["slots"])
        got = np.fromfile(raw, dtype=np.uint8).reshape(n, 224, 224, 3).astype(int)
        w, h = res["stream"]["width"], res["stream"]["height"]
        ref = oracle(clip, w, h, [s["frame"] for s in res["slots"]])
        diff = max(int(np.abs(got[i] - ref[i]).max()) for i in range(n))
        worst = max(worst, diff)
        print(f"{name} {size} {res['stream']['pix_fmt']}: {n} kept frames, max abs diff {diff} levels")
print(f"max abs difference: {worst} levels")
assert worst == 0, "kept frames must equal ffmpeg + PIL exactly"
print("ok")
