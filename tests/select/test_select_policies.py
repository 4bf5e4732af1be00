"""Selection policies on synthetic clips: the static-video fallback (4 whole
slots 0, 21, 42, 63), the I-frame policies (dense / zero / compete) on a
clip with an I-frame every 8 frames, and damage in the middle of a stream
(concealed frames are counted in the JSON, the run succeeds, and the
result does not depend on --threads)."""
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402


def sel(args):
    p = subprocess.run([clips.ovx(), "select", "--no-timings"] + args, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    clips.check_indices(r)
    return r


def whole_slots(r):
    vi = set(r["visible_indices"])
    return [s for s in range(64) if all(s * 256 + i in vi for i in range(256))]


with tempfile.TemporaryDirectory() as d:
    # static video: nothing moves -> fallback keeps slots 0, 21, 42, 63 whole
    static = os.path.join(d, "static.mp4")
    clips.ffmpeg(["-f", "lavfi", "-i", clips.background(), "-t", "2", "-c:v", "libx264", "-bf", "2",
                  "-pix_fmt", "yuv420p", static])
    r = sel([static, "--tokens", "2048"])
    assert r["static_fallback"], "static clip must trigger the fallback"
    ws = whole_slots(r)
    assert all(s in ws for s in (0, 21, 42, 63)), ws
    assert [s["slot"] for s in r["slots"] if s["whole"]] == [0, 21, 42, 63]
    print(f"static clip: fallback on, whole slots {ws}")

    # moving clip: no fallback
    moving = clips.moving_object(os.path.join(d, "obj"), "h264")
    assert not sel([moving, "--tokens", "2048"])["static_fallback"]

    # I-frame every 8 frames
    gop = os.path.join(d, "gop8.mp4")
    clips.ffmpeg(["-i", moving, "-c:v", "libx264", "-g", "8", "-keyint_min", "8", "-sc_threshold", "0",
                  "-bf", "0", gop])
    dense = sel([gop, "--tokens", "8192", "--iframe-policy", "dense"])
    islots = [s["slot"] for s in dense["slots"] if s["pict_type"] == "I"]
    assert len(islots) >= 4, islots
    assert all(s in whole_slots(dense) for s in islots), (islots, whole_slots(dense))
    zero = sel([gop, "--tokens", "2048", "--iframe-policy", "zero"])
    sel_slots = {v // 256 for v in zero["visible_indices"]}
    assert not sel_slots & set(islots), "I-frame slots must not be selected with --iframe-policy zero"
    comp = sel([moving, "--tokens", "1024", "--iframe-policy", "compete"])
    assert 0 not in whole_slots(comp)
    assert not any(s["whole"] for s in comp["slots"])
    print(f"I-frame policies: dense keeps {len(islots)} I slots whole, zero selects none of them, "
          f"compete keeps no slot whole")

    # damage in the middle of a transport stream: concealed, counted, run succeeds
    ts = os.path.join(d, "long.ts")
    clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12", "-c:v", "libx264",
                  "-bf", "2", "-g", "50", "-preset", "fast", ts])
    b = bytearray(open(ts, "rb").read())
    rng = random.Random(3)
    for pos in (len(b) // 2, len(b) // 2 + len(b) // 10):
        for i in range(pos, pos + 300):
            b[i] = rng.randrange(256)
    dmg = os.path.join(d, "damaged.ts")
    open(dmg, "wb").write(bytes(b))
    r = sel([dmg, "--threads", "2"])
    r1 = sel([dmg, "--threads", "1"])
    assert r == r1, "damaged stream: --threads 1 and 2 must give the same result"
    st = r["stream"]
    assert st["corrupt_frames"] + st["bad_packets"] > 0, st
    assert st["frames"] >= 290
    print(f"damaged stream: {st['frames']} frames, {st['corrupt_frames']} concealed, "
          f"{st['bad_packets']} packets skipped, run succeeded, same with 1 and 2 threads")
print("ok")
