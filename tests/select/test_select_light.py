"""Noise and light do not buy tokens: the moving-object clip of clips.py
(a 48x48 object over a still textured background, x264 -g 60) made harder
three ways at test time:
  - a global brightness ramp of 30% over the clip (auto-exposure drift);
  - +-2 px pseudo-random camera jitter every frame (handheld);
  - strong temporal sensor noise.
The share of the competing tokens on the object's path is printed for the
default and for --normalise frame (the recipe). Random tokens would put
about 14% there (the path covers ~2200 of 16128 competing patches). The
issue's goal is >= 90% in every case; measured at this commit (Intel Xeon,
session 27): ramp 99.5%, jitter 93.8%, noise 91.0% (session 25: 99.5/91.8/
90.5%; session 24: 99.3/89.5/90.5%). History: 85/66/59% before
the estimator's picture-shift start and motion cost; 99/81/77% in session
23; the noise case rose with --texture-k 1.5 made the default once gated by
the prediction's noise (> 2 grey levels: the real clips' flow judge counts
flat sky as moving in clean footage, which the gate leaves alone), the
jitter case with the camera checked against the pixels (camera.c: in the
shaking camera's B-frames most past vectors were zero vectors of flat
blocks, so the fit took zero for the camera), and again in session 25 with
the picture's own shift tried as the camera in B-frames and a vector's evidence
growing with its departure from the camera (flat bars keep zero vectors
while the camera shakes). This test pins a floor per case a few points
under what was measured (FLOOR; x264 runs with one thread, but swscale and the encoder may
still differ by CPU: a CI machine drew 64.7% where another drew 66.0%), so
a regression fails. --texture-k 0 (the test off) is printed for the noise
case."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

OVX = clips.ovx()
K = 1024
CROP = 10  # jitter: the picture is cut 10 px in from each side, +-2 px each frame
# a few points under the levels reached (99%, 89.5%, 90.5%); the goal is 0.90
FLOOR = {"ramp": 0.95, "jitter": 0.90, "noise": 0.87}
X264 = ["-c:v", "libx264", "-g", "60", "-threads", "1"]  # one thread: the same clip every run


def make(path, post):
    """The moving-object scene, then the filter chain post."""
    out = f"{path}.mp4"
    clips.ffmpeg(["-f", "lavfi", "-i", clips.background(), "-f", "lavfi",
                  "-i", f"mandelbrot=size={clips.OBJ}x{clips.OBJ}:rate={clips.FPS}",
                  "-filter_complex",
                  f"[0:v]hue=s=0.4[bg];[1:v]format=yuv420p[fg];"
                  f"[bg][fg]overlay=x='{clips.X0}+{clips.VX}*t':y={clips.Y0}:shortest=1,format=yuv420p,{post}",
                  "-t", str(clips.SECONDS)] + X264 + [out])
    return out


def select(clip, *extra):
    p = subprocess.run([OVX, "select", "--no-timings", "--tokens", str(K), clip, *extra],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def on_path(res, shift=0, w=clips.W, h=clips.H):
    box = (lambda t: (clips.X0 + clips.VX * t - shift, clips.Y0 - shift))
    return clips.on_path_fraction(res, box, w=w, h=h)


with tempfile.TemporaryDirectory() as d:
    cases = {
        # luma x 0.8 .. 1.1 over the clip: a 30% ramp
        "ramp": (make(os.path.join(d, "ramp"),
                      f"geq=lum='clip(p(X,Y)*(0.8+0.3*T/{clips.SECONDS}),0,255)':cb='p(X,Y)':cr='p(X,Y)'"),
                 0, clips.W, clips.H),
        # a 300x220 window whose offset jumps by up to +-2 px every frame
        "jitter": (make(os.path.join(d, "jitter"),
                        f"crop={clips.W - 2 * CROP}:{clips.H - 2 * CROP}:"
                        f"x='{CROP}+floor(2.999*sin(n*12.9898))':y='{CROP}+floor(2.999*cos(n*78.233))'"),
                   CROP, clips.W - 2 * CROP, clips.H - 2 * CROP),
        # temporal noise of +-12 grey levels on every pixel
        "noise": (make(os.path.join(d, "noise"), "noise=alls=12:allf=t:all_seed=3"), 0, clips.W, clips.H),
    }
    failed = []
    fracs = {}
    for name, (clip, shift, w, h) in cases.items():
        res = select(clip)
        clips.check_indices(res, K)
        frac, n = on_path(res, shift, w, h)
        frame = on_path(select(clip, "--normalise", "frame"), shift, w, h)[0]
        fracs[name] = frac
        print(f"{name}: {frac:.1%} of {n} competing tokens on the object's path "
              f"(--normalise frame: {frame:.1%})")
        if frac < FLOOR[name]:
            failed.append(f"{name}: only {frac:.1%} on path (floor {FLOOR[name]:.0%})")
    untextured = on_path(select(cases["noise"][0], "--texture-k", "0"))[0]
    print(f"noise with --texture-k 0 (off): {untextured:.1%}")
    nolight = on_path(select(cases["ramp"][0], "--no-light"))[0]
    print(f"ramp with --no-light: {nolight:.1%}")
    # session 27: future-only blocks of B-frames score their future vector;
    # with --motion-sides past they have no motion (the session 26 score)
    past = select(cases["jitter"][0], "--motion-sides", "past")
    jpast = on_path(past, *cases["jitter"][1:])[0]
    print(f"jitter with --motion-sides past: {jpast:.1%}")
    assert past["settings"]["motion_sides"] == "past", past["settings"]
    assert past["visible_indices"] != select(cases["jitter"][0])["visible_indices"], \
        "--motion-sides past chose the same tokens as both on an x264 B-frame clip"
    settings = select(cases["ramp"][0])["settings"]
    for key in ("normalise", "light", "noise_k", "texture_k", "noise_percentile", "residual_scale", "motion_scale",
                "residual_weight", "prior_weight", "motion_floor", "motion_sides"):
        assert key in settings, f"settings lacks {key}"
    assert settings["normalise"] == "noise" and settings["light"] is True and settings["motion_sides"] == "both", \
        settings
    assert not failed, "; ".join(failed)
print("ok")
