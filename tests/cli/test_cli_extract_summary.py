#!/usr/bin/python3
"""test_cli_extract_summary.py: the end of an `ovx extract` run (issue 24,
item 4). Over 3 good clips, 2 clips cut in half (MP4, index first) and a junk
file, the lines after "N done, ... S s" must give, against what the run
wrote (independent of the printing code):
- clips/s = done / S and tokens/s = sum of REL.json n_tokens / S (to the
  printed rounding of S);
- decode+select / model / writing shares = the sums of the REL.json
  timings_ms (decode+select+frames+tokens, model, write) over their total;
- "3 failed: see OUT/failures.jsonl", then the causes, most frequent first:
  "2 x select: truncated: N of N frames readable ..." before the junk file's;
- --quiet prints none of it; a rerun that only skips prints no rates;
- --format wds gives the rates (its REL.json are in tars: no shares)."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
from xhelp import check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

need_ffmpeg()
tmp = tmpdir("ovx-summary-")
model = make_model(os.path.join(tmp, "model"))
src = os.path.join(tmp, "clips")
for i, size in enumerate(["96x72", "64x64", "80x60"]):
    make_clip(os.path.join(src, f"good{i}.mp4"), seconds=1.0 + 0.3 * i, size=size)
for i in range(2):
    full = os.path.join(tmp, f"full{i}.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x72:rate=10", "-t",
                    str(4 + i), "-c:v", "libx264", "-g", "100", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                    full], check=True)
    data = open(full, "rb").read()
    open(os.path.join(src, f"cut{i}.mp4"), "wb").write(data[:len(data) // 2])
open(os.path.join(src, "junk.mp4"), "wb").write(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 50)

out = os.path.join(tmp, "out")
common = ["-m", model, "--tokens", "64", "--threads", "2", src]
r = ovx("extract", *common, "-o", out)
lines = r.stderr.splitlines()
check(r.returncode == 1, f"exit 1 with failures: {r.returncode}")
m = next((re.search(r"(\d+) done, (\d+) skipped, (\d+) failed, (\d+) not run, ([0-9.]+) s", l) for l in lines
          if " done, " in l), None)
check(m is not None and m.group(1) == "3" and m.group(3) == "3", f"counts line: {r.stderr!r}")
secs = float(m.group(5)) if m else 1.0
rel = [json.load(open(os.path.join(out, f"good{i}.json"))) for i in range(3)]
tokens = sum(j["n_tokens"] for j in rel)
rate = next((re.search(r"([0-9.]+) clips/s, (\d+) tokens/s; stage time: decode\+select (\d+)%, model (\d+)%, "
                       r"writing (\d+)%", l) for l in lines if "clips/s" in l), None)
check(rate is not None, f"rates line: {r.stderr!r}")
if rate:
    # the counts line rounds S to 0.1: a fast run prints "0.0 s", which
    # bounds the rates from below only
    lo, hi = secs - 0.05, secs + 0.05
    up = (lambda n: n / lo) if lo > 0 else (lambda n: float("inf"))
    check(3 / hi - 0.006 <= float(rate.group(1)) <= up(3) + 0.006, f"clips/s {rate.group(1)} = 3 / {secs}")
    check(tokens / hi - 1 <= int(rate.group(2)) <= up(tokens) + 1, f"tokens/s {rate.group(2)} = {tokens} / {secs}")
    ds = sum(j["timings_ms"][k] for j in rel for k in ("decode", "select", "frames", "tokens"))
    mo = sum(j["timings_ms"]["model"] for j in rel)
    wr = sum(j["timings_ms"]["write"] for j in rel)
    tot = ds + mo + wr
    want = [100 * ds / tot, 100 * mo / tot, 100 * wr / tot]
    got = [int(rate.group(k)) for k in (3, 4, 5)]
    check(all(abs(g - w) <= 0.51 for g, w in zip(got, want)), f"shares {got} = REL.json timings {want}")
fl = [l for l in lines if "failed: see" in l]
check(len(fl) == 1 and fl[0].endswith(f"3 failed: see {out}/failures.jsonl; most common causes:"),
      f"failures line: {fl}")
causes = [l for l in lines if re.match(r"ovx extract:   \d+ x ", l)]
check(len(causes) == 2 and causes[0].startswith("ovx extract:   2 x select: truncated: N of N frames readable") and
      causes[1].startswith("ovx extract:   1 x "), f"causes, most frequent first: {causes}")
logged = jsonl(os.path.join(out, "failures.jsonl"))
check(sum("truncated" in f["error"] for f in logged) == 2 and len(logged) == 3, f"failures.jsonl: {logged}")

r = ovx("extract", *common, "-o", os.path.join(tmp, "quiet"), "--quiet")
check("clips/s" not in r.stderr and "failed: see" not in r.stderr and " x " not in r.stderr,
      f"--quiet: no summary: {r.stderr!r}")
r = ovx("extract", *common, "-o", out)
check("3 skipped" in r.stderr and "clips/s" not in r.stderr and "3 failed: see" in r.stderr,
      f"rerun: no rates, failures again: {r.stderr!r}")
r = ovx("extract", *common, "-o", os.path.join(tmp, "wds"), "--format", "wds")
rate = re.search(r"([0-9.]+) clips/s, (\d+) tokens/s\n", r.stderr)
check(rate is not None and int(rate.group(2)) > 0 and "stage time" not in r.stderr, f"wds: rates: {r.stderr!r}")
finish("extract summary")
