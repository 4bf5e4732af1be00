"""keep_frames: the 224x224 RGB crops ovx keeps per slot (for `ovx extract`
and --viz) equal an independent pipeline: the ffmpeg CLI decodes and
auto-rotates the same frames to rgb24 (swscale, BT.601 limited range as ovx
uses for untagged SD video, accurate rounding, full chroma interpolation),
then PIL bicubic to short side 224 + centre crop as the CLIP processor does.
Checked on an unrotated and a rotated (display matrix) clip and on the
same clip in other pixel formats (10-bit 4:2:0, 4:2:2 and 4:4:4, RGB,
packed 4:2:2, gray). Prints the max abs difference in 8-bit levels: 0 is
required everywhere except for the rotated clip, where the ffmpeg CLI
rotates the YUV planes before converting (so its chroma is upsampled along
the other axis) and 1 level is allowed."""
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
with tempfile.TemporaryDirectory() as d:
    base = clips.moving_object(os.path.join(d, "obj"), "h264", seconds=1.0)
    rot = os.path.join(d, "rot.mp4")
    clips.ffmpeg(["-i", base, "-c", "copy", "-metadata:s:v", "rotate=90", rot])
    formats = {"yuv420p10le": ("mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-preset", "fast"]),
               "yuv422p10le": ("mov", ["-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"]),
               "yuv444p10le": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "yuv444p10le"]),
               "bgr0": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "bgr0"]),
               "yuyv422": ("nut", ["-c:v", "rawvideo", "-pix_fmt", "yuyv422"]),
               "gray": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "gray"])}
    others = []
    for name, (ext, args) in formats.items():
        out = os.path.join(d, f"{name}.{ext}")
        clips.ffmpeg(["-i", base] + args + [out])
        others.append(out)
    for clip in [base, rot] + others:
        worst = 0
        raw = os.path.join(d, "frames.rgb")
        res = json.loads(subprocess.run([tool, clip, raw], capture_output=True, text=True, check=True,
                                        timeout=60).stdout)
        n = len(res["slots"])
        got = np.fromfile(raw, dtype=np.uint8).reshape(n, 224, 224, 3).astype(int)
        w, h = res["stream"]["width"], res["stream"]["height"]
        if res["stream"]["rotation"] in (90, 270):
            w, h = h, w
        ref_raw = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-sws_flags",
             "bicubic+accurate_rnd+full_chroma_int+full_chroma_inp+bitexact",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        allf = np.frombuffer(ref_raw, dtype=np.uint8).reshape(-1, h, w, 3)
        for i, s in enumerate(res["slots"]):
            img = Image.fromarray(allf[s["frame"]])
            short, long_ = min(w, h), max(w, h)
            nl = int(224 * long_ / short)
            nw, nh = (224, nl) if w <= h else (nl, 224)
            r = np.asarray(img.resize((nw, nh), Image.BICUBIC)).astype(int)
            top, left = (nh - 224) // 2, (nw - 224) // 2
            ref = r[top:top + 224, left:left + 224]
            diff = np.abs(got[i] - ref)
            worst = max(worst, int(diff.max()))
            assert diff.mean() < 0.5, (clip, i, diff.mean())
        print(f"{os.path.basename(clip)} ({res['stream']['pix_fmt']}, rotation {res['stream']['rotation']}): "
              f"{n} kept frames, max abs diff vs ffmpeg+PIL {worst} levels")
        assert worst <= (1 if clip == rot else 0), (clip, worst)
print("ok")
