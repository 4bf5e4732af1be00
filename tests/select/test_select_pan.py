"""Camera pan: the whole textured background slides left (2 px per frame)
while an object moves down; encoded with x264's defaults (B-pyramid, 3
reference frames), so P-frames predict from 4 frames back. With each
block's reference picture found and its vector divided by that distance,
the fitted camera motion explains the background and its prediction error
stays low: >= 92% of the non-first-frame selection must be on the object,
not on the background or the border where new background enters. The same
for the clip re-encoded by each codec of the object-path tests (argument
"all")."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    clip = clips.pan_clip(os.path.join(d, "pan"))
    p = subprocess.run([clips.ovx(), "select", clip, "--tokens", "1024", "--no-timings"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    clips.check_indices(res, 1024)
    frac, n = clips.on_path_fraction(res, clips.pan_object_box)
    print(f"pan: {frac:.1%} of {n} selected non-first patches on the moving object")
    assert frac >= 0.92, f"only {frac:.1%} on the object"
    # the background really pans: frame 10 is frame 0 moved 20 px left
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-frames:v", "11", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    g = np.frombuffer(raw, dtype=np.uint8).reshape(-1, clips.H, clips.W).astype(int)
    rows = slice(140, 240)  # below the object
    shifted = np.abs(g[10][rows, :-40] - g[0][rows, 20:-20]).mean()
    still = np.abs(g[10][rows, :-40] - g[0][rows, :-40]).mean()
    print(f"background: mean abs difference {shifted:.1f} after a 20 px shift, {still:.1f} without")
    assert shifted * 3 < still
    # with argv[1] "all": the same pan re-encoded by every codec the
    # object-path tests use
    for codec, (ext, args, _) in (clips.ENCODERS.items() if sys.argv[1:] == ["all"] else []):
        out = os.path.join(d, f"pan_{codec}.{ext}")
        clips.ffmpeg(["-i", clip] + args + [out])
        p = subprocess.run([clips.ovx(), "select", out, "--tokens", "1024", "--no-timings"],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        r = json.loads(p.stdout)
        clips.check_indices(r, 1024)
        f, n = clips.on_path_fraction(r, clips.pan_object_box)
        print(f"pan, {codec} (mv_source {r['mv_source']}): {f:.1%} of {n} on the moving object")
        assert f >= 0.92, (codec, f)
print("ok")
