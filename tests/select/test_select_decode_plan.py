"""--decode plan (the default: only the sampled frames and their neighbours,
each from the IDR before it, and no non-reference picture nobody needs)
gives the same bytes as --decode all: the JSON (--no-timings) of ovx select
(--threads 2, 1 and 3: with one thread unneeded non-reference pictures are
skipped in a sequential pass too) and the kept 224x224 pixels (frames_dump),
on every clip in ../shared/videos and on generated clips: H.264 with short
GOPs (B-frames and not, MP4 and MPEG-TS, a looped long clip), interlaced
and open-GOP H.264, MPEG-4 Part 2 and MPEG-2 with B-frames, HEVC with
B-frames, long open-GOP HEVC and MPEG-2 (segments from their random-access
points: CRA pictures, I pictures after sequence and GOP headers), and containers without presentation times, where the display
order comes from the H.264 bitstream: the short-GOP B-pyramid clip and the
looped one stream-copied into AVI and raw .h264, and a long open-GOP clip
(one IDR, an I picture with a recovery-point SEI every 50 frames) in MP4
and AVI, whose segments start at the open-GOP keyframes; where it comes
from the HEVC bitstream: the HEVC B-frame clip and the long open-GOP one in
AVI and raw .h265. The plan must actually be used
(timings.decoder_threading == "plan": with 64 samples on the long clip, with
--frames 4 on the H.264 ones; kept pixels with 8 samples) and frames must
actually be skipped (timings.frames_skipped > 0) on the clips with
non-reference B-frames, MPEG-4 Part 2 in AVI (display order from the VOP
types) and MP4 included; an MPEG-4 AVI with two VOPs in one packet (as
"packed" DivX/XviD B-frames are stored) must skip nothing (its order is
unknown) and still give the same bytes.
In the sanitizer build (second argument "sanitizer") --threads 3 (the
parallel plan of --threads 2 with another split) is left out, and the real
clips run --decode plan and all with 2 threads only: select_real runs each
of them with 1 and 2 threads under the sanitizers too. The normal pass keeps
the whole matrix (1, 2, 3 threads) on every clip."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

tool = sys.argv[1]
FULL = len(sys.argv) < 3 or sys.argv[2] != "sanitizer"
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "videos")


def select(path, mode, extra=(), threads=2):
    r = subprocess.run([clips.ovx(), "select", "--threads", str(threads), "--decode", mode, *extra, path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.returncode, r.stderr.strip(), None, 0
    d = json.loads(r.stdout)
    t = d.pop("timings")
    d["settings"].pop("threads", None)
    return 0, json.dumps(d), t["decoder_threading"], t.get("frames_skipped", -1)


def pixels(path, mode):
    with tempfile.NamedTemporaryFile(suffix=".rgb") as f:
        r = subprocess.run([tool, path, f.name] + (["all"] if mode == "all" else []), capture_output=True)
        return r.returncode, r.stdout, open(f.name, "rb").read() if r.returncode == 0 else b""


bad, planned = [], []
with tempfile.TemporaryDirectory() as d:
    gen = []
    for name, args in (("gop_b.mp4", ["-bf", "3"]), ("gop_nob.mp4", ["-bf", "0"]), ("gop_b.ts", ["-bf", "2"])):
        p = os.path.join(d, name)
        clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12", "-f", "lavfi",
                      "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                      "[0:v][1:v]overlay=x='20+20*t':y=80:shortest=1,format=yuv420p",
                      "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60"] + args + [p])
        gen.append(p)
    loop = os.path.join(d, "looped.mp4")
    clips.ffmpeg(["-stream_loop", "9", "-i", gen[0], "-c", "copy", loop])
    gen.append(loop)
    og = os.path.join(d, "opengop_long.mp4")
    clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=24", "-f", "lavfi",
                  "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                  "[0:v][1:v]overlay=x='20+20*t':y=80:shortest=1,format=yuv420p",
                  "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-b-pyramid", "normal",
                  "-x264-params", "open-gop=1:keyint=50:min-keyint=50", og])
    gen.append(og)
    # no presentation times: AVI (dts only) and raw Annex-B
    for src, name, extra in ((gen[0], "gop_b.avi", []), (loop, "looped.avi", []), (og, "opengop_long.avi", []),
                             (gen[0], "gop_b.h264", ["-bsf:v", "h264_mp4toannexb", "-f", "h264"])):
        p = os.path.join(d, name)
        clips.ffmpeg(["-i", src, "-c", "copy"] + extra + [p])
        gen.append(p)
    other = []
    for name, args in (("mpeg4_b.avi", ["-c:v", "mpeg4", "-bf", "2", "-q:v", "4"]),
                       ("mpeg4_b.mp4", ["-c:v", "mpeg4", "-bf", "2", "-q:v", "4"]),
                       ("mpeg2_b.mpg", ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "4"]),
                       ("hevc_b.mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                                       "bframes=3:b-pyramid=1:log-level=none"]),
                       ("interlaced.ts", ["-c:v", "libx264", "-preset", "veryfast", "-flags", "+ildct+ilme",
                                          "-x264-params", "tff=1"]),
                       ("opengop.mp4", ["-c:v", "libx264", "-preset", "veryfast", "-x264-params",
                                        "open-gop=1:keyint=50"])):
        p = os.path.join(d, name)
        clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8", "-f", "lavfi",
                      "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                      "[0:v][1:v]overlay=x='20+20*t':y=80:shortest=1,format=yuv420p"] + args + [p])
        other.append(p)
    # two VOPs in one AVI packet
    # (the first P-VOP and the B-VOP after it merged, as packed B-frames are
    # stored): the VOP reader gives that packet no type, so nothing is skipped
    packed = os.path.join(d, "mpeg4_twovop.avi")
    import av
    with av.open(other[0]) as src, av.open(packed, "w", format="avi") as dst:
        ist = src.streams.video[0]
        ost = dst.add_stream(template=ist)
        pk = [q for q in src.demux(ist) if q.size > 0]
        vop = [bytes(q)[bytes(q).find(b"\x00\x00\x01\xb6") + 4] >> 6 for q in pk]
        m = next(k for k in range(1, len(pk) - 1) if vop[k] == 1 and vop[k + 1] == 2)
        for k, q in enumerate(pk):
            if k == m + 1:
                continue
            out = av.Packet(bytes(q) + (bytes(pk[k + 1]) if k == m else b""))
            out.stream, out.time_base, out.dts, out.pts = ost, q.time_base, q.dts, q.pts
            dst.mux(out)
    other.append(packed)
    gen += other
    # segments from HEVC IRAP pictures (open GOP: CRA, its leading pictures
    # left out) and MPEG-2 I pictures after sequence and GOP headers
    for name, args in (("hevc_opengop_long.mkv", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                                                  "bframes=3:open-gop=1:keyint=50:log-level=none"]),
                       ("mpeg2_long.ts", ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "4"])):
        p = os.path.join(d, name)
        clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=24", "-f", "lavfi",
                      "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                      "[0:v][1:v]overlay=x='20+5*t':y=80:shortest=1,format=yuv420p"] + args + [p])
        gen.append(p)
    # no presentation times, HEVC: the display order from the HEVC bitstream
    # (POC), stream-copied into AVI and raw .h265
    for src, name, extra in (("hevc_b.mp4", "hevc_b.avi", ["-tag:v", "HEVC"]),
                             ("hevc_b.mp4", "hevc_b.h265", ["-bsf:v", "hevc_mp4toannexb", "-f", "hevc"]),
                             ("hevc_opengop_long.mkv", "hevc_opengop_long.avi", ["-tag:v", "HEVC"]),
                             ("hevc_opengop_long.mkv", "hevc_opengop_long.h265",
                              ["-bsf:v", "hevc_mp4toannexb", "-f", "hevc"])):
        p = os.path.join(d, name)
        clips.ffmpeg(["-i", os.path.join(d, src), "-c", "copy"] + extra + [p])
        gen.append(p)
    shared = []
    if os.path.isdir(SHARED):
        shared = sorted(os.path.join(SHARED, f) for f in os.listdir(SHARED)
                        if not f.endswith((".tsv", ".md")))
    else:
        print(f"note: {SHARED} absent, only generated clips checked")
    skipped = {}
    for p in gen + shared:
        a, b = select(p, "plan"), select(p, "all")
        # 1 and 3 threads: every clip in the normal pass; under the sanitizers 1 on the generated ones
        a1 = select(p, "plan", threads=1) if FULL or p in gen else a
        a3 = select(p, "plan", threads=3) if FULL else a
        same = a[:2] == b[:2] == a1[:2] == a3[:2]
        skipped[os.path.basename(p)] = max(a[3], a1[3])
        # frames_dump samples 8 frames: pixels where the plan can differ
        pa, pb = (pixels(p, "plan"), pixels(p, "all")) if p in gen or a[2] == "plan" else (0, 0)
        same_px = pa == pb
        if a[2] == "plan":
            planned.append(os.path.basename(p))
        print(f"{os.path.basename(p)}: {'ok' if a[0] == 0 else 'exit %d' % a[0]}, decoder {a[2]}/"
              f"{a1[2] if a1 is not a else '-'} (1 thread) "
              f"vs {b[2]}, frames skipped {a[3]}/{a1[3]}, JSON {'same' if same else 'DIFFERS'}, "
              f"kept pixels {'same' if same_px else 'DIFFER'}")
        if not same or not same_px:
            bad.append(os.path.basename(p))
        if p in gen and p not in other:
            # 4 samples leave whole GOPs out: the plan must be used here
            a16, b16 = select(p, "plan", ["--frames", "4"]), select(p, "all", ["--frames", "4"])
            print(f"  --frames 4: decoder {a16[2]} vs {b16[2]}, JSON {'same' if a16[:2] == b16[:2] else 'DIFFERS'}")
            if a16[:2] != b16[:2]:
                bad.append(os.path.basename(p) + " --frames 4")
            if a16[2] == "plan":
                planned.append(os.path.basename(p) + " (4 frames)")
        if "opengop_long" in p:
            # 8 samples: segments from recovery-point I pictures (FFmpeg drops
            # frames it decoded before showing one at a flush unless told not to)
            a8, b8 = select(p, "plan", ["--frames", "8"], threads=1), select(p, "all", ["--frames", "8"])
            print(f"  --frames 8: decoder {a8[2]} vs {b8[2]}, JSON {'same' if a8[:2] == b8[:2] else 'DIFFERS'}")
            if a8[:2] != b8[:2]:
                bad.append(os.path.basename(p) + " --frames 8")
            if a8[2] == "plan":
                planned.append(os.path.basename(p) + " (8 frames)")
    # cockatoo.mp4 (x264 core 142, 4:4:4): FFmpeg works around that version's
    # 4:4:4 coding once it has read the version SEI of the first packet; a
    # decoder started at a later IDR is told the version (x264_build), else
    # every segment and GOP chunk decoded wrong and the stream was decoded
    # again whole
    cockatoo = os.path.join(SHARED, "cockatoo.mp4")
    if os.path.exists(cockatoo):
        for extra, threads, want in ((["--frames", "4"], 1, "plan"), (["--frames", "8"], 1, "plan"),
                                     ([], 2, "gop")):
            a, b = select(cockatoo, "plan", extra, threads=threads), select(cockatoo, "all", extra)
            print(f"cockatoo.mp4 {' '.join(extra)} --threads {threads}: decoder {a[2]} vs {b[2]}, "
                  f"JSON {'same' if a[:2] == b[:2] else 'DIFFERS'}")
            if a[:2] != b[:2]:
                bad.append(f"cockatoo.mp4 {extra} {threads}: JSON differs")
            if a[2] != want:
                bad.append(f"cockatoo.mp4 {extra} --threads {threads}: decoder {a[2]}, not {want}")
        pa, pb = pixels(cockatoo, "plan"), pixels(cockatoo, "all")
        if pa != pb:
            bad.append("cockatoo.mp4: kept pixels differ")
for g in ("gop_b.mp4 (4 frames)", "gop_nob.mp4 (4 frames)", "gop_b.ts (4 frames)", "looped.mp4",
          "gop_b.avi (4 frames)", "gop_b.h264 (4 frames)", "looped.avi", "opengop_long.mp4 (4 frames)",
          "opengop_long.avi (4 frames)", "opengop_long.mp4 (8 frames)", "opengop_long.avi (8 frames)",
          "hevc_opengop_long.mkv (4 frames)", "mpeg2_long.ts (4 frames)", "hevc_opengop_long.avi (4 frames)",
          "hevc_opengop_long.h265 (4 frames)"):
    if g not in planned:
        bad.append(f"{g}: the decode plan was not used")
for g in ("gop_b.mp4", "gop_b.ts", "looped.mp4", "mpeg2_b.mpg", "mpeg2_long.ts", "hevc_b.mp4", "interlaced.ts", "opengop.mp4",
          "gop_b.avi", "gop_b.h264", "looped.avi", "opengop_long.avi", "hevc_b.avi", "hevc_b.h265",
          "hevc_opengop_long.avi", "hevc_opengop_long.h265", "mpeg4_b.avi", "mpeg4_b.mp4"):
    if skipped.get(g, 0) <= 0:
        bad.append(f"{g}: no frame was skipped")
if skipped.get("mpeg4_twovop.avi", 0) != 0:
    bad.append("mpeg4_twovop.avi: frames were skipped although one packet holds two VOPs")
print(f"decode plan used on: {', '.join(planned)}")
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("ok")
