#!/usr/bin/python3
"""The colour matrix of untagged video at the 720-line boundary: ovx
converts untagged frames of 720 lines or more with BT.709 and smaller ones
with BT.601 (video/rgb.c). An untagged 1280x720 clip must equal the ffmpeg
CLI forced to BT.709 + PIL (bicubic short side 224, centre crop), and two
controls below the boundary (1280x718 and 1024x576) ffmpeg forced to
BT.601; each clip must also differ from the other matrix by several levels,
so the check can tell them apart. Frames are the 224x224 RGB crops ovx keeps
(frames_dump, as in test_select_frames.py)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

tool = sys.argv[1]
FLAGS = "accurate_rnd+full_chroma_int+full_chroma_inp+bitexact"


def reference(clip, w, h, matrix, frames):
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-vf",
                          f"scale=flags={FLAGS}:in_color_matrix={matrix}:in_range=tv,format=rgb24",
                          "-f", "rawvideo", "-"], capture_output=True, check=True).stdout
    allf = np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3)
    out = []
    for f in frames:
        nl = int(224 * w / h)
        r = np.asarray(Image.fromarray(allf[f]).resize((nl, 224), Image.BICUBIC)).astype(int)
        left = (nl - 224) // 2
        out.append(r[:, left:left + 224])
    return np.stack(out)


with tempfile.TemporaryDirectory() as d:
    for (w, h), want, other in (((1280, 720), "bt709", "bt601"), ((1280, 718), "bt601", "bt709"),
                                ((1024, 576), "bt601", "bt709")):
        clip = os.path.join(d, f"c{h}.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate=10",
                        "-t", "0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip], check=True)
        probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", clip],
                                          capture_output=True, text=True, check=True).stdout)["streams"][0]
        check(probe.get("color_space", "unknown") == "unknown", f"{w}x{h}: the clip is untagged: {probe.get('color_space')}")
        raw = os.path.join(d, "frames.rgb")
        res = json.loads(subprocess.run([tool, clip, raw], capture_output=True, text=True, check=True,
                                        timeout=120).stdout)
        frames = [s["frame"] for s in res["slots"]]
        got = np.fromfile(raw, dtype=np.uint8).reshape(len(frames), 224, 224, 3).astype(int)
        d_want = np.abs(got - reference(clip, w, h, want, frames))
        d_other = np.abs(got - reference(clip, w, h, other, frames))
        print(f"{w}x{h}: max |ovx - ffmpeg {want}| = {d_want.max()}, max |ovx - ffmpeg {other}| = {d_other.max()} levels")
        check(d_want.max() <= 1 and d_want.mean() < 0.05, f"{w}x{h}: converted with {want}")
        check(d_other.max() >= 4, f"{w}x{h}: the other matrix ({other}) is told apart")
sys.exit(finish("select bt709 at 720 lines"))
