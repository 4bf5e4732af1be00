#!/usr/bin/python3
"""The first slot is kept whole: with K = 256 (the first slot's 256 patches
and nothing else) visible_indices must be exactly range(256), and with K =
256 + n the first 256 indices are range(256) and n more come from later
slots (sorted, distinct, < 64 * 256). Checked on a moving clip, a static
one and an all-I-frame one, through `ovx select`."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

OVX = os.environ["OVX_BIN"]
with tempfile.TemporaryDirectory() as d:
    clips = {}
    for name, src, extra in (("moving", "testsrc2", []), ("static", "color=c=gray", []),
                             ("intra", "testsrc2", ["-g", "1"])):
        p = os.path.join(d, name + ".mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"{src}:size=160x120:rate=10"
                        if src.startswith("color") else f"{src}=size=160x120:rate=10", "-t", "3", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", *extra, p], check=True)
        clips[name] = p
    for name, p in clips.items():
        for k in (256, 257, 300, 511, 1024):
            r = subprocess.run([OVX, "select", p, "--tokens", str(k)], capture_output=True, text=True, timeout=120)
            if not check(r.returncode == 0, f"{name} K={k}: ovx select ok: {r.stderr[-300:]}"):
                continue
            v = json.loads(r.stdout)["visible_indices"]
            check(len(v) == k and v == sorted(set(v)) and v[-1] < 64 * 256, f"{name} K={k}: {len(v)} sorted indices")
            check(v[:256] == list(range(256)), f"{name} K={k}: the first slot whole: {v[:8]}...{v[250:258]}")
            if k == 256:
                check(v == list(range(256)), f"{name} K=256: exactly range(256)")
sys.exit(finish("select first slot whole"))
