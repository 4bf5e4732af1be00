"""How many pictures --decode plan leaves out: with vectors from the codec
(H.264, MPEG-2) a sampled frame's previous picture is the nearest reference
picture shown before it, so every non-reference picture that is not sampled
is skipped (the last packet excepted: a stream cut short there shows only
when it is decoded). The expectation is computed here without ovx: the
reference pictures are the frames ffprobe still shows with
-skip_frame noref (matched by pts), the sampled frames are the JSON's slots,
the last packet comes from ffprobe. With estimated vectors (HEVC) the frame
before a sampled one is still decoded: the count differs, and is checked
too. Each clip's JSON must also equal --decode all's."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402


def frame_pts(path, extra=()):
    """pts of the frames FFmpeg outputs (the stream's time base, as ffprobe's packets)"""
    r = subprocess.run(["ffprobe", "-v", "error", *extra, "-select_streams", "v:0", "-show_entries", "frame=pts",
                        "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return [int(x.strip(",")) for x in r.stdout.split() if x.strip(",")]


def last_packet_pts(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                        "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return int([x for x in r.stdout.split() if x.strip()][-1])


def select(path, mode):
    r = subprocess.run([clips.ovx(), "select", "--threads", "1", "--decode", mode, path],
                       capture_output=True, text=True, check=True)
    d = json.loads(r.stdout)
    t = d.pop("timings")
    d["settings"].pop("threads", None)
    return d, t


bad = []
with tempfile.TemporaryDirectory() as tmp:
    cases = (("pyramid.mp4", ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-b-pyramid", "normal",
                              "-g", "250"], True),
             ("mpeg2_b.ts", ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "4", "-g", "30"], True),
             ("hevc_b.mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                             "bframes=3:b-pyramid=1:log-level=none"], False))
    for name, cargs, prev_is_ref in cases:
        p = os.path.join(tmp, name)
        # 8 s at 25 fps, 64 samples: about one frame in three is not sampled
        clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8", "-f", "lavfi",
                      "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                      "[0:v][1:v]overlay=x='20+20*t':y=80:shortest=1,format=yuv420p"] + cargs + [p])
        allp = frame_pts(p)
        order = {t: i for i, t in enumerate(sorted(allp))}
        refs = {order[t] for t in frame_pts(p, ["-skip_frame", "noref"]) if t in order}
        last = order.get(last_packet_pts(p), -1)
        d, t = select(p, "plan")
        da, _ = select(p, "all")
        sampled = {s["frame"] for s in d["slots"]}
        if prev_is_ref:
            need = sampled
        else:
            need = sampled | {x - 1 for x in sampled if x > 0}
        expect = sum(1 for i in range(len(allp)) if i not in refs and i not in need and i != last)
        got = t.get("frames_skipped", -1)
        n_nonref = len(allp) - len(refs)
        print(f"{name}: {len(allp)} frames, {n_nonref} non-reference, {len(sampled)} sampled: "
              f"frames_skipped {got}, expected {expect}; JSON {'same' if d == da else 'DIFFERS'} as --decode all")
        if n_nonref == 0 or expect <= 0:
            bad.append(f"{name}: the clip has nothing to skip ({n_nonref} non-reference pictures)")
        if got != expect:
            bad.append(f"{name}: {got} frames skipped, expected {expect}")
        if d != da:
            bad.append(f"{name}: --decode plan differs from --decode all")
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("ok")
