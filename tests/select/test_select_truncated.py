#!/usr/bin/python3
"""test_select_truncated.py: a video cut short is named as such (issue 24,
item 7). Clips of 41 frames (H.264 in MP4 with the index first, and in
Matroska) are cut at 1/2 and 3/4 of their bytes. The independent expectation
is ffprobe's: nb_frames of the whole file (41) and nb_read_frames of the cut
one (the frames that decode).
- `ovx select` on a cut MP4 (its last packet cut through) fails with
  "truncated: R of 41 frames readable (file ends at P%)" and the
  --max-corrupt that keeps the rest, not the packet-failure message;
- with that --max-corrupt (and for the Matroska cut, whose last packet is
  simply missing, by default) it succeeds and the JSON's stream records
  truncated: true, frames_readable = R, frames_expected = 41,
  readable_share = R/41;
- the whole file records none of these keys;
- `ovx extract` writes the same into REL.json's select report;
- an AVI stream copy of H.264 with B-frames, whose header counts the empty
  chunks FFmpeg's muxer writes between frames (twice the frames, at twice
  the rate), is not truncated and has 41 frames at 10 fps; cut at 60% it is
  truncated, of 41 frames; --start/--duration pick the frames they pick in
  the MP4 it was copied from."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

OVX = os.environ["OVX_BIN"]
ROOT = os.environ["OVX_SOURCE_ROOT"]
if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
    print("SKIP: ffmpeg/ffprobe CLI not found")
    sys.exit(77)
tmp = tempfile.mkdtemp(prefix="ovx-trunc-")


def probe(path, key):
    r = subprocess.run(["ffprobe", "-v", "quiet", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        f"stream={key}", "-of", "default=nw=1:nk=1", path], capture_output=True, text=True)
    return int(r.stdout.split()[0])


def run(*args):
    return subprocess.run([OVX, *args], capture_output=True, text=True, timeout=300)


for ext, extra in (("mp4", ["-movflags", "+faststart"]), ("mkv", [])):
    full = os.path.join(tmp, f"full.{ext}")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t",
                    "4.1", "-c:v", "libx264", "-g", "100", "-pix_fmt", "yuv420p", *extra, full], check=True)
    expected = probe(full, "nb_read_frames")
    check(expected == 41, f"{ext}: the whole clip has 41 frames ({expected})")
    r = run("select", "--tokens", "64", "--no-timings", full)
    st = json.loads(r.stdout)["stream"] if r.returncode == 0 else {}
    check(r.returncode == 0 and "truncated" not in st and "readable_share" not in st,
          f"{ext}: the whole file is not truncated: {st}")
    data = open(full, "rb").read()
    for frac in (0.5, 0.75):
        cut = os.path.join(tmp, f"cut{int(frac * 100)}.{ext}")
        open(cut, "wb").write(data[:int(len(data) * frac)])
        readable = probe(cut, "nb_read_frames")
        what = f"{ext} cut at {frac:.0%} ({readable} frames readable)"
        check(0 < readable < 39, f"{what}: ffprobe reads part of it")
        r = run("select", "--tokens", "64", "--no-timings", cut)
        ends = None
        if r.returncode != 0:
            m = re.search(r"truncated: (\d+) of (\d+) frames readable \(file ends at (\d+)%\); "
                          r"--max-corrupt ([0-9.]+) keeps what is readable", r.stderr)
            check(r.returncode == 1 and m is not None and "packets failed" not in r.stderr,
                  f"{what}: says truncated: {r.stderr!r}")
            if not m:
                continue
            check(int(m.group(1)) == readable and int(m.group(2)) == 41, f"{what}: counts {m.groups()}")
            ends = int(m.group(3))
            r = run("select", "--tokens", "64", "--no-timings", "--max-corrupt", m.group(4), cut)
            check(r.returncode == 0, f"{what}: --max-corrupt {m.group(4)} lets it through: {r.stderr!r}")
        else:
            check(ext == "mkv", f"{what}: an MP4 cut through a packet fails by default")
        if r.returncode != 0:
            continue
        st = json.loads(r.stdout)["stream"]
        check(st.get("truncated") is True and st.get("frames_readable") == readable and
              st.get("frames_expected") == 41 and abs(st.get("readable_share", -1) - readable / 41) < 1e-5 and
              0 < st.get("ends_at", -1) < 1, f"{what}: JSON records the truncation: {st}")
        # the file ends where its last packet (readable or not) is: packets demuxed of 41
        check(abs(st.get("ends_at", -1) - st["packets"] / 41) < 1e-5, f"{what}: ends_at = packets/41: {st}")
        if ends is not None:
            check(ends == round(100 * st["packets"] / 41), f"{what}: message ends at {ends}% = {st['packets']}/41")

# AVI made by a stream copy of H.264 with B-frames (as NTU RGB+D ships): FFmpeg's
# muxer fills the ticks between frames with empty chunks, which its header counts
# (82 "frames" at 20 fps for 41 at 10); ffprobe's nb_read_frames counts the frames
src = os.path.join(tmp, "bsrc.mp4")
subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "4.1",
                "-c:v", "libx264", "-bf", "3", "-g", "100", "-pix_fmt", "yuv420p", src], check=True)
avi = os.path.join(tmp, "copy.avi")
subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-c", "copy", avi], check=True)
declared, frames = probe(avi, "nb_frames"), probe(avi, "nb_read_frames")
check(frames == 41 and declared > frames, f"avi: header declares {declared} for {frames} frames (empty chunks)")
r = run("select", "--tokens", "64", "--no-timings", avi)
st = json.loads(r.stdout)["stream"] if r.returncode == 0 else {}
check(r.returncode == 0 and "truncated" not in st and st.get("frames_header") == 41 and
      abs(st.get("fps", 0) - 10) < 1e-6, f"avi: an intact stream copy is not truncated, 41 frames at 10 fps: {st}")
# --start/--duration pick the frames they pick in the MP4 it was copied from
picks = []
for f in (src, avi):
    r = run("select", "--tokens", "64", "--no-timings", "--start", "1.5", "--duration", "1", "--frames", "8", f)
    picks.append([x["frame"] for x in json.loads(r.stdout)["slots"]] if r.returncode == 0 else r.stderr)
check(picks[0] == picks[1] and picks[0][0] == 15, f"avi: --start 1.5 --duration 1 picks the MP4's frames: {picks}")
data = open(avi, "rb").read()
cut = os.path.join(tmp, "cut.avi")
open(cut, "wb").write(data[:int(len(data) * 0.6)])
readable = probe(cut, "nb_read_frames")
r = run("select", "--tokens", "64", "--no-timings", "--max-corrupt", "1", cut)
st = json.loads(r.stdout)["stream"] if r.returncode == 0 else {}
check(0 < readable < 39 and st.get("truncated") is True and st.get("frames_expected") == 41 and
      st.get("frames_readable") in (readable - 1, readable),
      f"avi cut at 60% ({readable} frames readable): truncated, of 41 frames: {st}")

# extract: REL.json holds the same select report
model = os.path.join(tmp, "model")
subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), model, "--hidden", "128",
                "--layers", "1", "--heads", "2"], check=True, stdout=subprocess.DEVNULL)
cut = os.path.join(tmp, "cut50.mkv")
out = os.path.join(tmp, "out")
r = run("extract", "-m", model, "--tokens", "64", "--threads", "1", "--device", "cpu", cut, "-o", out)
js = json.load(open(os.path.join(out, "cut50.json"))) if r.returncode == 0 else {}
st = js.get("select", {}).get("stream", {})
check(r.returncode == 0 and st.get("truncated") is True and st.get("frames_expected") == 41,
      f"extract: REL.json records the truncation: {r.stderr!r} {st}")
cut = os.path.join(tmp, "cut50.mp4")
out = os.path.join(tmp, "out2")
r = run("extract", "-m", model, "--tokens", "64", "--threads", "1", "--device", "cpu", cut, "-o", out)
check(r.returncode == 1 and "truncated: " in r.stderr and "of 41 frames readable" in r.stderr,
      f"extract: the failure says truncated: {r.stderr!r}")
fails = [json.loads(l) for l in open(os.path.join(out, "failures.jsonl"))] if os.path.exists(
    os.path.join(out, "failures.jsonl")) else []
check(any("truncated: " in f.get("error", "") for f in fails), f"failures.jsonl says truncated: {fails}")
code = finish("truncated videos")
if code == 0:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(code)
