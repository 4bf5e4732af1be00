"""Synthetic test clips made with the ffmpeg CLI: a textured 48x48 object
moving over a static textured background (testsrc2's first frame, frozen),
and a panning variant. Geometry is known, so tests can check where the
selected patches are."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pycheck  # noqa: E402

pycheck.require_asserts()  # the select tests check with assert statements

W, H, FPS, SECONDS = 320, 240, 25, 2.6
OBJ = 48

# object path: x = X0 + VX * t, y = Y0 (top-left corner, t in seconds)
X0, VX, Y0 = 20, 90, 96

ENCODERS = {
    # name: (file extension, ffmpeg codec args, expected mv_source)
    "h264": ("mp4", ["-c:v", "libx264", "-bf", "3", "-g", "60", "-preset", "fast"], "codec"),
    # x264's defaults (medium: -bf 3, b-pyramid, -refs 3) with 4 references:
    # P-frames predict from 4 frames back, reference B-frames in between
    "h264-multiref": ("mp4", ["-c:v", "libx264", "-refs", "4", "-g", "60"], "codec"),
    "mpeg4": ("avi", ["-c:v", "mpeg4", "-bf", "2", "-q:v", "4", "-g", "60"], "codec"),
    "mpeg2": ("mpg", ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "4", "-g", "30"], "codec"),
    "hevc": ("mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"],
             "estimate"),
    "vp9": ("webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "600k"],
            "estimate"),
}


def ffmpeg(args):
    # without meson's MALLOC_PERTURB_: some lavfi sources and filters read
    # memory they never wrote, so the clip (not ovx) changed with its value
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y"] + args, check=True, env=env)


def background(size=f"{W}x{H}"):
    return f"testsrc2=size={size}:rate={FPS},loop=loop=-1:size=1:start=0"


def moving_object(path, codec="h264", seconds=SECONDS):
    ext, cargs, _ = ENCODERS[codec]
    out = f"{path}.{ext}"
    ffmpeg(["-f", "lavfi", "-i", background(), "-f", "lavfi",
            "-i", f"mandelbrot=size={OBJ}x{OBJ}:rate={FPS}",
            "-filter_complex",
            f"[0:v]hue=s=0.4[bg];[1:v]format=yuv420p[fg];"
            f"[bg][fg]overlay=x='{X0}+{VX}*t':y={Y0}:shortest=1,format=yuv420p",
            "-t", str(seconds)] + cargs + [out])
    return out


# pan: the background slides left at PAN px/s; the object moves down. The
# background is textured (blurred noise over testsrc2's colour bars) so the
# camera motion shows everywhere, and the crop moves by frame number (the
# looped frame's timestamps do not advance). Encoded with x264's defaults
# (-bf 3, b-pyramid, -refs 3): P-frames predict from 4 frames back.
PAN, OX, OY0, OVY = 50, 150, 20, 60


def pan_clip(path, seconds=SECONDS):
    out = f"{path}.mp4"
    step = PAN / FPS
    ffmpeg(["-f", "lavfi", "-i", background(f"{W * 3}x{H}"), "-f", "lavfi",
            "-i", f"mandelbrot=size={OBJ}x{OBJ}:rate={FPS}",
            "-filter_complex",
            f"[0:v]format=yuv420p,noise=alls=80:all_seed=5,gblur=sigma=3,hue=s=0.4,"
            f"loop=loop=-1:size=1:start=0,crop={W}:{H}:x='{step}*n':y=0[bg];[1:v]format=yuv420p[fg];"
            f"[bg][fg]overlay=x={OX}:y='{OY0}+{OVY}*t':shortest=1,format=yuv420p",
            "-t", str(seconds), "-c:v", "libx264", out])
    return out


def patch_rect(r, c, w=W, h=H, size=224, patch=14):
    """Footprint of patch (r, c) of the 224 centre crop in source pixels."""
    short, long_ = min(w, h), max(w, h)
    nl = int(size * long_ / short)
    rw, rh = (size, nl) if w <= h else (nl, size)
    cx, cy = (rw - size) // 2, (rh - size) // 2
    sx, sy = w / rw, h / rh
    return ((cx + c * patch) * sx, (cy + r * patch) * sy,
            (cx + (c + 1) * patch) * sx, (cy + (r + 1) * patch) * sy)


def overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def on_path_fraction(result, box_at, margin=16, fps=FPS, w=W, h=H, box_w=OBJ, box_h=OBJ):
    """Fraction of selected patches outside slot 0 whose footprint meets the
    object's box (grown by margin) at that slot's frame time; w, h: display
    size of the video."""
    frame_of = {s["slot"]: s["frame"] for s in result["slots"]}
    hit = total = 0
    for v in result["visible_indices"]:
        slot, rc = divmod(v, 256)
        if slot == 0:
            continue
        r, c = divmod(rc, 16)
        t = frame_of[slot] / fps
        x0, y0 = box_at(t)
        box = (x0 - margin, y0 - margin, x0 + box_w + margin, y0 + box_h + margin)
        total += 1
        hit += overlaps(patch_rect(r, c, w, h), box)
    return hit / max(total, 1), total


def object_box(t):
    return X0 + VX * t, Y0


def pan_object_box(t):
    return OX, OY0 + OVY * t


def check_indices(result, k=None):
    vi = result["visible_indices"]
    assert all(0 <= v < 64 * 256 for v in vi), "index out of range"
    assert vi == sorted(set(vi)), "indices not unique and ascending"
    assert result["tokens"] == len(vi)
    if k is not None:
        assert len(vi) == k, (len(vi), k)


def strip_timings(text):
    import json
    d = json.loads(text)
    d.pop("timings", None)
    return json.dumps(d, sort_keys=False)


def ovx():
    return os.environ["OVX_BIN"]
