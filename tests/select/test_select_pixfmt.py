"""Scoring luma for every pixel format: the still-camera object clip
re-encoded as 10-bit H.264, 10-bit HEVC, FFV1 bgr0 and yuv444p10, ProRes
4:2:2 10-bit, yuyv422 rawvideo and gray. Each must score within 3 points
(of selected non-first-frame patches on the object's path) of the same
content in 8-bit 4:2:0 taking the same scoring path: the 8-bit H.264 clip
for H.264 (codec vectors), 8-bit HEVC for HEVC, and lossless 8-bit FFV1
yuv420p for the intra-only formats (vectors estimated by block matching).
Before 8-bit luma conversion these scored 0.71 (10-bit H.264) and 0.10-0.24
(the others)."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

HEVC = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"]
# name: (extension, encoder args, expected pix_fmt, 8-bit counterpart)
CASES = {
    "h264-10bit": ("mkv", ["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p10le"], "yuv420p10le", "h264"),
    "hevc-10bit": ("mkv", HEVC + ["-pix_fmt", "yuv420p10le"], "yuv420p10le", "hevc-8bit"),
    "ffv1-bgr0": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "bgr0"], "bgr0", "ffv1-8bit"),
    "ffv1-yuv444p10": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "yuv444p10le"], "yuv444p10le", "ffv1-8bit"),
    "prores-422-10bit": ("mov", ["-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"],
                         "yuv422p10le", "ffv1-8bit"),
    "rawvideo-yuyv422": ("nut", ["-c:v", "rawvideo", "-pix_fmt", "yuyv422"], "yuyv422", "ffv1-8bit"),
    "ffv1-gray": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "gray"], "gray", "ffv1-8bit"),
}
EIGHT = {"hevc-8bit": ("mkv", HEVC + ["-pix_fmt", "yuv420p"]),
         "ffv1-8bit": ("mkv", ["-c:v", "ffv1", "-pix_fmt", "yuv420p"])}


def score(path):
    p = subprocess.run([clips.ovx(), "select", path, "--tokens", "1024", "--no-timings"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"{path}: {p.stderr}"
    res = json.loads(p.stdout)
    clips.check_indices(res, 1024)
    return clips.on_path_fraction(res, clips.object_box)[0], res


with tempfile.TemporaryDirectory() as d:
    src = clips.moving_object(os.path.join(d, "obj"), "h264")
    base = {"h264": score(src)[0]}
    for name, (ext, args) in EIGHT.items():
        out = os.path.join(d, f"{name}.{ext}")
        clips.ffmpeg(["-i", src] + args + [out])
        base[name] = score(out)[0]
    print("8-bit references: " + ", ".join(f"{k} {v:.3f}" for k, v in base.items()))
    bad = []
    for name, (ext, args, pix, ref) in CASES.items():
        out = os.path.join(d, f"{name}.{ext}")
        clips.ffmpeg(["-i", src] + args + [out])
        frac, res = score(out)
        assert res["stream"]["pix_fmt"] == pix, (name, res["stream"]["pix_fmt"])
        print(f"{name} ({pix}, mv_source {res['mv_source']}): {frac:.3f} on the object's path "
              f"(8-bit {ref}: {base[ref]:.3f})")
        if abs(frac - base[ref]) > 0.03:
            bad.append(name)
    assert not bad, f"more than 3 points from the 8-bit clip: {bad}"
print("ok")
