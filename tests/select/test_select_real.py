"""ovx select on every real clip in $OVX_SHARED_DIR/videos (skipped when the
folder is absent): each runs, the JSON is valid, K unique ascending in-range
indices, stream facts agree with MANIFEST.tsv, --threads 1 and 2 give
the same bytes, also when the decode re-opens the file instead of using the
packets the scan kept (OVX_SELECT_KEEP_BYTES=0); the NEGATIVE files fail with
exit 1 and exactly one stderr line naming the file."""
import csv
import json
import os
import subprocess
import sys

shared = os.environ.get("OVX_SHARED_DIR", "")
vdir = os.path.join(shared, "videos")
if not shared or not os.path.isfile(os.path.join(vdir, "MANIFEST.tsv")):
    print(f"SKIP: no shared videos at {vdir!r}")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

with open(os.path.join(vdir, "MANIFEST.tsv"), newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))
neg = 0
for row in rows:
    path = os.path.join(vdir, row["file"])
    negative = row["notes"].startswith("NEGATIVE")
    p = subprocess.run([clips.ovx(), "select", path, "--tokens", "2048", "--threads", "2"],
                       capture_output=True, text=True, timeout=180)
    if negative:
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1, f"{row['file']}: exit {p.returncode}, want 1"
        assert len(lines) == 1 and row["file"] in lines[0], f"{row['file']}: stderr {p.stderr!r}"
        print(f"{row['file']}: fails cleanly: {lines[0]}")
        neg += 1
        continue
    assert p.returncode == 0, f"{row['file']}: exit {p.returncode}: {p.stderr}"
    res = json.loads(p.stdout)
    clips.check_indices(res, 2048)
    st = res["stream"]
    w, h = (int(x) for x in row["resolution"].split("x"))
    rot = {"none": 0, "90": 270, "-90": 90, "-180": 180, "180": 180}[row["rotation"]]
    # nasa_13013.mp4 has two video streams; ovx takes the best (largest) one
    if row["file"] != "nasa_13013.mp4":
        assert (st["width"], st["height"]) == (w, h), (row["file"], st["width"], st["height"])
        assert st["frames"] == int(row["frames_decoded"]), (row["file"], st["frames"])
    assert st["rotation"] == rot, (row["file"], st["rotation"], rot)
    p1 = subprocess.run([clips.ovx(), "select", path, "--tokens", "2048", "--threads", "1", "--no-timings"],
                        capture_output=True, text=True, timeout=180)
    assert p1.returncode == 0 and clips.strip_timings(p.stdout) == clips.strip_timings(p1.stdout), \
        f"{row['file']}: --threads 1 and 2 differ"
    # the decode pass re-opening the file (packets not kept) gives the same bytes
    p0 = subprocess.run([clips.ovx(), "select", path, "--tokens", "2048", "--threads", "2", "--no-timings"],
                        capture_output=True, text=True, timeout=180,
                        env=dict(os.environ, OVX_SELECT_KEEP_BYTES="0"))
    assert p0.returncode == 0 and p0.stdout == p1.stdout, f"{row['file']}: re-open and kept packets differ"
    want_src = "codec" if row["mv_export_ffmpeg5.1"].startswith("yes") else "estimate"
    assert res["mv_source"] == want_src, (row["file"], res["mv_source"])
    print(f"{row['file']}: {st['codec']} {st['width']}x{st['height']} rot {st['rotation']} "
          f"{st['frames']} frames, mv {res['mv_source']}, {res['tokens']} tokens, "
          f"{res['timings']['total_ms']:.0f} ms ({res['timings']['decoder_threading']} threading), "
          f"same bytes with 1 thread")
assert neg == 3, neg
print("ok")
