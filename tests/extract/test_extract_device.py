#!/usr/bin/python3
"""test_extract_device.py HAVE_CUDA: --device and --batch of `ovx extract`
on this GPU-less machine.
- `--device auto` writes NPYs byte-identical to `--device cpu`, with exactly
  one fallback line on stderr in a CUDA build (none in a CPU-only build);
- `--device cuda` exits 1 with one stderr line before any item: nothing is
  written, not even the output folder;
- a bad device name is a usage error (2);
- the settings hash (resume) does not depend on the device: a `--device cpu`
  run skips everything an `--device auto` run finished;
- `--batch 3` over 5 clips (one of them broken) writes NPYs byte-identical to
  `--batch 1`, the same failures and manifest, also with 2 views per item;
- a batch whose forward fails is retried item by item: one failure line each.
When a CUDA device is actually usable the GPU-less expectations are skipped."""
import filecmp
import json
import os
import sys

from xhelp import check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

HAVE_CUDA = len(sys.argv) > 1 and sys.argv[1] == "1"
need_ffmpeg()
tmp = tmpdir("ovx-extract-dev-")
model = make_model(os.path.join(tmp, "model"))
src = os.path.join(tmp, "clips")
for i, (size, s) in enumerate([("96x72", 1.2), ("64x64", 0.8), ("120x90", 1.0), ("80x60", 1.5), ("96x96", 0.6)]):
    make_clip(os.path.join(src, f"c{i}.mp4"), seconds=s, size=size, src="testsrc2" if i % 2 else "testsrc")
with open(os.path.join(src, "c2b.mp4"), "wb") as f:  # a broken file among them
    f.write(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 100)
common = ["-m", model, "--tokens", "256", "--hidden-state", "-2", "--threads", "2", src]


def lines(s):
    return [l for l in s.splitlines() if l.strip()]


def npys(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
                  if f.endswith(".npy"))


def same_npys(a, b, what):
    fa, fb = npys(a), npys(b)
    check(fa == fb and len(fa) >= 12, f"{what}: same NPY files ({len(fa)} vs {len(fb)})")
    diff = [f for f in fa if f in fb and not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
    check(not diff, f"{what}: byte-identical NPYs (differ: {diff})")


r = ovx("extract", *common, "-o", os.path.join(tmp, "probe"), "--device", "cuda", "--dry-run")
check(r.returncode in (0, 1), "dry run with --device cuda does not open the device")

r = ovx("extract", *common, "-o", os.path.join(tmp, "gpu"), "--device", "cuda")
gpu_usable = len(lines(r.stderr)) > 1  # a real run: the broken clip's line and the summary
if gpu_usable:
    print("a CUDA device is usable here: GPU-less expectations skipped")
else:
    check(r.returncode == 1, f"--device cuda exits 1 without a GPU (got {r.returncode})")
    check(len(lines(r.stderr)) == 1 and "CUDA" in r.stderr, f"--device cuda: one line: {r.stderr!r}")
    check(not os.path.exists(os.path.join(tmp, "gpu")), "--device cuda writes nothing")
    r = ovx("extract", *common, "-o", os.path.join(tmp, "gpu1"), "--device", "cuda:3")
    check(r.returncode == 1 and len(lines(r.stderr)) == 1, "--device cuda:3: exit 1, one line")

r = ovx("extract", *common, "-o", os.path.join(tmp, "bad"), "--device", "gpu")
check(r.returncode == 2 and len(lines(r.stderr)) == 1 and "invalid device" in r.stderr,
      f"--device gpu is a usage error: {r.returncode} {r.stderr!r}")

runs = {}
for dev in ("cpu", "auto"):
    out = os.path.join(tmp, dev)
    r = ovx("extract", *common, "-o", out, "--device", dev)
    check(r.returncode == 1, f"--device {dev}: exit 1 (one bad clip), got {r.returncode}: {r.stderr}")
    runs[dev] = r
if not gpu_usable:
    notes = [l for l in lines(runs["auto"].stderr) if "using the CPU" in l]
    if HAVE_CUDA:
        check(len(notes) == 1 and "CUDA unavailable" in notes[0], f"auto: one fallback line: {runs['auto'].stderr!r}")
    else:
        check(not notes, "no fallback note in a build without CUDA")
    check(not [l for l in lines(runs["cpu"].stderr) if "using the CPU" in l], "no note for --device cpu")
    same_npys(os.path.join(tmp, "cpu"), os.path.join(tmp, "auto"), "auto vs cpu")
    js = json.load(open(os.path.join(tmp, "auto", "c0.json")))
    check(js.get("device") == "cpu", f"REL.json records the device: {js.get('device')}")
    # resume across devices: the settings hash ignores the device
    r = ovx("extract", *common, "-o", os.path.join(tmp, "auto"), "--device", "cpu")
    check("0 done, 5 skipped, 1 failed" in r.stderr, f"cpu rerun over an auto run skips all: {r.stderr!r}")

# --batch: one forward over several items; on the CPU byte-identical to --batch 1
b1 = os.path.join(tmp, "cpu")
for extra in ([], ["--decode-threads", "0"]):
    out = os.path.join(tmp, "b3" + "".join(extra))
    r = ovx("extract", *common, "-o", out, "--device", "cpu", "--batch", "3", *extra)
    check(r.returncode == 1 and "5 done, 0 skipped, 1 failed" in r.stderr,
          f"--batch 3 {extra}: 5 done, 1 failed: {r.returncode} {r.stderr!r}")
    same_npys(b1, out, f"--batch 3 {extra} vs --batch 1")
    fails = jsonl(os.path.join(out, "failures.jsonl"))
    check([f["rel"] for f in fails] == ["c2b.mp4"], f"--batch 3: failures.jsonl lists the broken clip: {fails}")
    m1 = sorted(json.dumps(x, sort_keys=True) for x in jsonl(os.path.join(b1, "manifest.jsonl")))
    m3 = sorted(json.dumps(x, sort_keys=True) for x in jsonl(os.path.join(out, "manifest.jsonl")))
    check(m1 == m3 and len(m1) == 5, "--batch 3: same manifest as --batch 1")
    t = json.load(open(os.path.join(out, "c4.json")))["timings_ms"]
    check(t["model_batch_items"] == 2, f"c4 ran in a batch of 2 (c2b failed before the model): {t}")
# several views per item, packed as one sample each; one item left to a last partial batch
vo = {}
for b in ("1", "4"):
    vo[b] = os.path.join(tmp, "views" + b)
    r = ovx("extract", *common, "-o", vo[b], "--device", "cpu", "--views", "2", "--batch", b, "--jsonl")
    check(r.returncode == 1, f"--views 2 --batch {b}: exit 1 ({r.stderr!r})")
    done = [x for x in jsonl(r.stdout, True) if x.get("status") == "done"]
    check([x["rel"] for x in done] == ["c0.mp4", "c1.mp4", "c2.mp4", "c3.mp4", "c4.mp4"],
          f"--batch {b}: items finish in input order")
same_npys(vo["1"], vo["4"], "--views 2: --batch 4 vs --batch 1")
# a hidden state the model does not have: a usage error (exit 2, one line)
# before anything is listed, decoded or written (it used to fail every item)
out = os.path.join(tmp, "hs99")
r = ovx("extract", "-m", model, "--tokens", "64", "--hidden-state", "99", "--batch", "3", "--device", "cpu",
        src, "-o", out)
check(r.returncode == 2 and len(lines(r.stderr)) == 1 and "--hidden-state 99" in r.stderr,
      f"hidden state 99: usage error: {r.returncode} {r.stderr!r}")
check(not os.path.exists(out), "hidden state 99: nothing written")
r = ovx("extract", *common, "-o", os.path.join(tmp, "b0"), "--batch", "0")
check(r.returncode == 2 and len(lines(r.stderr)) == 1, "--batch 0 is a usage error")

finish("extract --device / --batch")
