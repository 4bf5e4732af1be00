"""Damaged streams give the same bytes whatever --threads: clips made here
(H.264 with B-frames in MP4, MPEG-TS, AVI and raw .h264, HEVC with
B-frames in AVI and raw .h265, VP9, AV1, H.264 with four slices a
picture in MP4 and in MPEG-TS, MPEG-1, MPEG-2, MPEG-4 Part 2; with $OVX_SHARED_DIR, a
real MPEG-2 program stream cut and byte-flipped),
truncated at several points or with bytes flipped in the middle, each run
with --threads 1, 2, 3 and 8 (2 twice, where thread races would show) must print byte-identical JSON (--no-timings), or fail with the same
exit code and message for every thread count. In the sanitizer build
(argument "sanitizer") every damaged clip runs with --threads 1 and 8 only:
the sequential decode and the parallel one with more workers than GOPs,
where the sanitizers check the memory; the normal pass keeps the whole
thread matrix."""
import hashlib
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

THREADS = [1, 2, 3, 8, 2] if len(sys.argv) < 2 or sys.argv[1] != "sanitizer" else [1, 8]

SOURCES = {
    # name: codec args (several IDRs so GOP chunking kicks in)
    # no B-frames (frame threads), moov first so a cut file still opens; long
    # enough that one lost packet stays under --max-corrupt 0.01
    "h264p.mp4": ["-c:v", "libx264", "-bf", "0", "-g", "50", "-preset", "fast", "-movflags", "+faststart"],
    "h264b.mp4": ["-c:v", "libx264", "-bf", "3", "-g", "24", "-keyint_min", "24", "-preset", "fast"],
    "h264b.ts": ["-c:v", "libx264", "-bf", "3", "-g", "24", "-keyint_min", "24", "-preset", "fast"],
    "mpeg1.mpg": ["-c:v", "mpeg1video", "-bf", "2", "-q:v", "5", "-g", "18", "-f", "mpeg"],
    "mpeg2.mpg": ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "5", "-g", "18"],
    "mpeg4.avi": ["-c:v", "mpeg4", "-bf", "2", "-q:v", "5", "-g", "24"],
    # no presentation times: the display order comes from the H.264 bitstream
    "h264b.avi": ["-c:v", "libx264", "-bf", "3", "-b-pyramid", "normal", "-g", "24", "-keyint_min", "24",
                  "-preset", "fast"],
    "h264b.h264": ["-c:v", "libx264", "-bf", "3", "-b-pyramid", "normal", "-g", "24", "-keyint_min", "24",
                   "-preset", "fast", "-f", "h264"],
    # the same from the HEVC bitstream (x265 B-pyramid, IDR every 24
    # frames), in AVI and raw .h265
    "hevcb.avi": ["-c:v", "libx265", "-tag:v", "HEVC", "-preset", "ultrafast", "-x265-params",
                  "bframes=3:b-pyramid=1:keyint=24:min-keyint=24:open-gop=0:log-level=none"],
    "hevcb.h265": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                   "bframes=3:b-pyramid=1:keyint=24:min-keyint=24:open-gop=0:log-level=none", "-f", "hevc"],
    # VP9 (no error concealment either; tiles and frame threads)
    "vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "24", "-b:v", "300k"],
    "av1.mkv": ["-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "1", "-g", "24", "-b:v", "300k"],
    # four slices a picture (broadcast, some cameras): a slice-threaded or
    # concealing decoder rewrites a returned picture
    "h264s4.mp4": ["-c:v", "libx264", "-x264-params", "slices=4", "-bf", "2", "-g", "24", "-preset", "fast"],
    # the same in MPEG-TS with one IDR (no GOP chunks: a slice-threaded
    # decode): the demuxer finds packets by parsing, so a file cut inside
    # its last picture hands over a short packet unflagged, which slice
    # threads concealed run to run differently until session 30
    "h264s4.ts": ["-c:v", "libx264", "-x264-params", "slices=4", "-bf", "2", "-preset", "fast"],
}

# more cut points where the cut is seen by nothing but the decoder
MORE_CUTS = {"h264s4.ts": (0.55, 0.77, 0.83, 0.9)}

# real footage (when $OVX_SHARED_DIR/videos exists): an MPEG-2 program
# stream cut inside a picture, whose concealed last picture differed between
# --threads 1 and 2 until session 25, and the same file with bytes flipped
REAL = [("cityCC0.mpg", "cut", 300000), ("cityCC0.mpg", "flip", 1500000)]


def make_sources(d):
    out = {}
    for name, cargs in SOURCES.items():
        path = os.path.join(d, name)
        size, secs = ("240x180", 8) if name == "h264p.mp4" else ("320x240", 2.4)
        clips.ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={secs}", "-f", "lavfi",
                      "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
                      "[0:v][1:v]overlay=x='20+60*t':y=80:shortest=1,format=yuv420p"] + cargs + [path])
        out[name] = path
    return out


def damaged_variants(d, name, path):
    data = open(path, "rb").read()
    n = len(data)
    base, ext = os.path.splitext(name)
    rng = random.Random(n)
    vs = []
    for frac in (0.5, 0.7) + MORE_CUTS.get(name, ()):
        vs.append((f"{base}-trunc{int(frac * 100)}{ext}", data[: int(n * frac)]))
    for frac, span in ((0.3, 40),):
        b = bytearray(data)
        pos = int(n * frac)
        for i in range(pos, pos + span):
            b[i] = rng.randrange(256)
        vs.append((f"{base}-flip{int(frac * 100)}{ext}", bytes(b)))
    b = bytearray(data)
    for i in range(12):  # scattered single-byte flips in the second half
        b[n // 2 + i * (n // 30)] ^= 0x55
    vs.append((f"{base}-scatter{ext}", bytes(b)))
    out = []
    for vname, blob in vs:
        p = os.path.join(d, vname)
        open(p, "wb").write(blob)
        out.append(p)
    return out


def real_variants(d):
    shared = os.environ.get("OVX_SHARED_DIR", "")
    vdir = os.path.join(shared, "videos")
    if not shared or not os.path.isdir(vdir):
        print(f"real clips: skipped (no shared videos at {vdir!r})")
        return []
    out = []
    for name, how, size in REAL:
        data = bytearray(open(os.path.join(vdir, name), "rb").read()[:size])
        if how == "flip":
            rng = random.Random(4)
            for _ in range(40):
                data[rng.randrange(20000, len(data))] ^= 0xFF
        p = os.path.join(d, f"real-{how}-{name}")
        open(p, "wb").write(bytes(data))
        out.append(p)
    return out


def run(path, threads, extra=()):
    r = subprocess.run([clips.ovx(), "select", "--no-timings", "--threads", str(threads), *extra, path],
                       capture_output=True)
    # the message names the file: the same for every thread count
    return r.returncode, hashlib.sha256(r.stdout).hexdigest()[:16], r.stderr.decode(errors="replace").strip()


def main():
    bad = []
    ok_runs = fail_runs = 0
    with tempfile.TemporaryDirectory() as d:
        cases = [(p, e) for name, src in make_sources(d).items() for p in damaged_variants(d, name, src)
                 # H.264 with B-frames: also 4 samples, where the decode plan would decode GOP prefixes
                 for e in ([], ["--frames", "4"]) if not e or name.startswith("h264b")]
        cases += [(p, []) for p in real_variants(d)]
        for p, extra in cases:
            results = [(t, run(p, t, extra)) for t in THREADS]
            first = results[0][1]
            outcome = "ok" if first[0] == 0 else f"exit {first[0]}"
            ok_runs += first[0] == 0
            fail_runs += first[0] != 0
            diff = [(t, r) for t, r in results if r != first]
            print(f"{os.path.basename(p)}{' ' + ' '.join(extra) if extra else ''}: {outcome}, " +
                  ("same bytes for --threads " + ",".join(str(t) for t, _ in results) if not diff
                   else "DIFFERS: " + "; ".join(f"t{t}: {r}" for t, r in results)))
            if first[0] not in (0, 1):
                bad.append(f"{p}: exit {first[0]}: {first[2]}")
            if diff:
                bad.append(f"{os.path.basename(p)}: output depends on --threads")
    print(f"{ok_runs} damaged clips selected, {fail_runs} rejected (same outcome for every thread count)")
    if bad:
        print("FAIL:\n  " + "\n  ".join(bad))
        sys.exit(1)
    assert ok_runs >= 8, "most damaged clips should still decode"
    print("ok")


if __name__ == "__main__":
    main()
