"""Resize parity with PIL: random RGB images resized up and down with
ovx_resize_rgb8 (via resize_tool) and PIL.Image.resize(BICUBIC); also the
shortest-edge + centre-crop helper against the CLIP processor's recipe
(long side int(size*long/short), crop at ((h-size)//2, (w-size)//2)).
Prints the max abs difference in 8-bit levels; passes only when it is 0
(PIL's resampling is integer arithmetic, which ovx reproduces exactly).
Every SIMD level the CPU has is run (RESIZE_TOOL_ISA: 0 portable, 1 AVX2,
2 AVX-512 VNNI; a level above the CPU's runs the CPU's best)."""
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

tool = sys.argv[1]
LEVELS = (0, 1, 2)
rng = np.random.default_rng(7)
worst = 0
cases = [((320, 240), (224, 168)), ((640, 360), (398, 224)), ((97, 61), (224, 141)),
         ((1280, 720), (398, 224)), ((50, 50), (13, 77)), ((224, 224), (224, 224)),
         ((33, 480), (224, 3258)), ((300, 200), (300, 150)), ((300, 200), (120, 200)),
         # strong shrinks: the vertical row's 4-row VNNI steps (1080p), and
         # more taps than it takes (its fallback)
         ((1920, 1080), (398, 224)), ((1200, 900), (37, 25))]
with tempfile.TemporaryDirectory() as d:
    src, dst = os.path.join(d, "in.rgb"), os.path.join(d, "out.rgb")
    for (sw, sh), (dw, dh) in cases:
        # smooth + noisy content so both flat and busy areas are covered
        base = rng.integers(0, 256, (sh // 4 + 2, sw // 4 + 2, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(base).resize((sw, sh), Image.NEAREST), dtype=np.int32)
        img = np.clip(img + rng.integers(-40, 41, img.shape), 0, 255).astype(np.uint8)
        img.tofile(src)
        ref = np.asarray(Image.fromarray(img).resize((dw, dh), Image.BICUBIC)).astype(int)
        for lv in LEVELS:
            subprocess.run([tool, src, str(sw), str(sh), str(dw), str(dh), dst], check=True,
                           env=dict(os.environ, RESIZE_TOOL_ISA=str(lv)))
            got = np.fromfile(dst, dtype=np.uint8).reshape(dh, dw, 3).astype(int)
            diff = int(np.abs(got - ref).max())
            print(f"resize {sw}x{sh} -> {dw}x{dh}, level {lv}: max abs diff {diff} levels, "
                  f"{int((got != ref).sum())} of {got.size} values differ")
            worst = max(worst, diff)
        # shortest edge + centre crop at 224 and 448
        for size, lv in [(s, lv) for s in (224, 448) for lv in LEVELS]:
            subprocess.run([tool, src, str(sw), str(sh), "crop", str(size), dst], check=True,
                           env=dict(os.environ, RESIZE_TOOL_ISA=str(lv)))
            got = np.fromfile(dst, dtype=np.uint8).reshape(size, size, 3).astype(int)
            short, long_ = min(sw, sh), max(sw, sh)
            nl = int(size * long_ / short)
            nw, nh = (size, nl) if sw <= sh else (nl, size)
            r = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BICUBIC)).astype(int)
            top, left = (nh - size) // 2, (nw - size) // 2
            ref = r[top:top + size, left:left + size]
            diff = int(np.abs(got - ref).max())
            print(f"short-edge {size} + centre crop of {sw}x{sh}, level {lv}: max abs diff {diff} levels")
            worst = max(worst, diff)
print(f"max abs difference vs PIL over all cases: {worst} levels")
sys.exit(0 if worst == 0 else 1)
