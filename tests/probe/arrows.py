"""arrows.py: the generated labelled clips of the probe tests (four classes:
a textured arrow moving left, right, up or down over a textured background,
PER_CLASS clips per class, each with its own speed, start and background; each
class's arrow also has its own colour, so that a probe over random-weight
features can learn them). make_dataset(d) writes d/CLASS/NN.mp4."""
import os
import subprocess

import numpy as np

S, N, RATE, OBJ = 112, 20, 10, 32
DIRS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
COLOUR = {(-1, 0): (240, 40, 40), (1, 0): (40, 220, 60), (0, -1): (60, 80, 250), (0, 1): (240, 230, 40)}
PER_CLASS = 12


def arrow(dx, dy):
    """Mask [OBJ,OBJ] of an arrow pointing along (dx, dy)."""
    y, x = np.mgrid[0:OBJ, 0:OBJ] / (OBJ - 1) * 2 - 1
    m = ((x > 0) & (np.abs(y) < 1 - x)) | ((x <= 0) & (x > -0.9) & (np.abs(y) < 0.3))
    return np.rot90(m, {(1, 0): 0, (0, -1): 1, (-1, 0): 2, (0, 1): 3}[(dx, dy)])


def render(dx, dy, rng):
    """N RGB frames: a static sinusoid+noise background, the class's arrow moving
    at its own speed from its own start, staying inside the frame."""
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    bg = np.empty((S, S, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6), rng.uniform(0, 6.3)
        bg[..., c] = 110 + 50 * np.sin(xx * fx + ph) * np.cos(yy * fy) + rng.normal(0, 12, (S, S))
    speed = rng.uniform(18, 30)  # px/s
    travel = speed * (N - 1) / RATE

    def start(d):
        return rng.uniform(0, S - OBJ - travel) if d > 0 else rng.uniform(travel, S - OBJ) if d < 0 \
            else rng.uniform(8, S - OBJ - 8)
    x0, y0 = start(dx), start(dy)
    m = arrow(dx, dy)
    colour = np.array(COLOUR[(dx, dy)], np.float32)
    tex = np.where((((np.arange(OBJ)[:, None] // 4 + np.arange(OBJ)[None] // 4) % 2) == 1)[..., None], colour, 20.0)
    out = np.empty((N, S, S, 3), np.uint8)
    for i in range(N):
        f = bg.copy()
        x, y = int(round(x0 + dx * speed * i / RATE)), int(round(y0 + dy * speed * i / RATE))
        f[y:y + OBJ, x:x + OBJ][m] = tex[m]
        out[i] = np.clip(f, 0, 255)
    return out


def make_dataset(d, per_class=PER_CLASS):
    """d/CLASS/NN.mp4; one ffmpeg run cut into clips (a keyframe at each
    cut), far faster than one encoder start per clip."""
    rng = np.random.default_rng(0)
    names, frames = [], []
    for c, (dx, dy) in DIRS.items():
        for i in range(per_class):
            frames.append(render(dx, dy, rng))
            names.append(f"{c}/{i:02d}.mp4")
    seg = os.path.join(d, ".seg")
    os.makedirs(seg)
    cuts = ",".join(str(N * k) for k in range(1, len(names)))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{S}x{S}",
                    "-r", str(RATE), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                    "-force_key_frames", f"expr:eq(mod(n,{N}),0)", "-f", "segment", "-segment_frames", cuts,
                    "-reset_timestamps", "1", os.path.join(seg, "%03d.mp4")],
                   input=np.concatenate(frames).tobytes(), check=True)
    for k, n in enumerate(names):
        os.makedirs(os.path.join(d, os.path.dirname(n)), exist_ok=True)
        os.replace(os.path.join(seg, f"{k:03d}.mp4"), os.path.join(d, n))
    os.rmdir(seg)
    return names
