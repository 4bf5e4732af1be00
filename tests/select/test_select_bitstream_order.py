"""The H.264 and HEVC display order read from the bitstream
(video/h264order.c, video/hevcorder.c: POC from SPS/PPS/slice headers)
equals the order libavcodec's decoder outputs the frames in, on clips with
B-pyramids (x264 -bf 3 -b-pyramid normal, POC type 0; x265 b-pyramid),
open GOPs (recovery-point I pictures; HEVC CRA pictures with RASL leading
pictures), no B-frames (POC type 2) and multiple slices per picture, each
in MP4, AVI (no pts), raw .h264 / .h265 and MPEG-TS. order_dump decodes with plain libavcodec and finds each frame's
packet by pkt_pos; every packet must be shown exactly once, at its
bitstream display index. The open-GOP clips must have more random-access
points than IDR pictures."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

tool = sys.argv[1]
SRC = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6", "-f", "lavfi",
       "-i", "mandelbrot=size=64x64:rate=25", "-filter_complex",
       "[0:v][1:v]overlay=x='20+20*t':y=80:shortest=1,format=yuv420p", "-c:v", "libx264", "-preset", "veryfast"]
KINDS = {
    "pyramid": ["-bf", "3", "-b-pyramid", "normal", "-g", "48"],
    "pyramid2ref": ["-bf", "3", "-b-pyramid", "normal", "-refs", "2", "-g", "250"],
    "opengop": ["-bf", "3", "-b-pyramid", "normal", "-x264-params", "open-gop=1:keyint=40:min-keyint=40"],
    "nob": ["-bf", "0", "-g", "30"],
    "slices": ["-bf", "2", "-slices", "4", "-g", "50"],
}
HEVC = ["-c:v", "libx265", "-preset", "veryfast", "-x265-params"]
HEVC_KINDS = {
    "hevc_pyramid": "bframes=4:b-pyramid=1:keyint=48:min-keyint=48:open-gop=0:log-level=error",
    "hevc_opengop": "bframes=3:b-pyramid=1:keyint=40:min-keyint=40:open-gop=1:log2-max-poc-lsb=5:log-level=error",
    "hevc_nob": "bframes=0:keyint=30:log2-max-poc-lsb=4:log-level=error",
    "hevc_slices": "bframes=2:slices=3:keyint=50:log-level=error",
}
for kind, params in HEVC_KINDS.items():
    KINDS[kind] = params
bad = []
with tempfile.TemporaryDirectory() as d:
    for kind, args in KINDS.items():
        mp4 = os.path.join(d, kind + ".mp4")
        hevc = kind.startswith("hevc")
        clips.ffmpeg((SRC[:-4] + HEVC + [args] if hevc else SRC + args) + [mp4])
        outs = [mp4]
        raw = (".h265", ["-bsf:v", "hevc_mp4toannexb", "-f", "hevc"]) if hevc else \
            (".h264", ["-bsf:v", "h264_mp4toannexb", "-f", "h264"])
        for ext, extra in ((".avi", []), raw, (".ts", [])):
            p = os.path.join(d, kind + ext)
            clips.ffmpeg(["-i", mp4, "-c", "copy"] + extra + [p])
            outs.append(p)
        for p in outs:
            r = subprocess.run([tool, p], capture_output=True, text=True)
            name = os.path.basename(p)
            if r.returncode != 0:
                bad.append(f"{name}: order_dump exit {r.returncode} (the bitstream reader gave up?)")
                continue
            disp, frames, raps, idrs = {}, [], 0, 0
            for line in r.stdout.splitlines():
                f = line.split()
                if f[0] == "packet":
                    disp[int(f[1])] = int(f[2])
                    idrs += int(f[3])
                    raps += int(f[4])
                else:
                    frames.append((int(f[1]), int(f[2])))
            wrong = [(rank, pk) for rank, pk in frames if pk < 0 or disp.get(pk) != rank]
            ok = len(frames) == len(disp) > 100 and not wrong and sorted(disp.values()) == list(range(len(disp)))
            print(f"{name}: {len(disp)} packets, {len(frames)} frames out, {idrs} IDR, {raps} random-access "
                  f"points, display order {'== decoder output' if ok else 'DIFFERS'}"
                  + (f" (first wrong: rank/packet {wrong[:3]})" if wrong else ""))
            if not ok:
                bad.append(name)
            if kind in ("opengop", "hevc_opengop") and not raps > idrs:
                bad.append(f"{name}: open-GOP keyframes not found ({raps} vs {idrs} IDR)")
if bad:
    sys.exit("FAIL: " + "; ".join(bad))
print("ok")
