#!/usr/bin/python3
"""test_extract_device.py HAVE_CUDA CUDA_ROOT: --device and --batch of
`ovx extract`.
- GPU vs CPU (the real GPU when this machine has one, else said so; always
  the emulated device of OVX_CUDA_EMULATE): `--device cuda --batch 2` over
  two clips selects exactly the same tokens as `--device cpu` (REL.json
  select and positions) and its NPYs are within rel L2 1e-2 of the CPU's;
  REL.json records cuda:0;
- without a usable GPU: `--device cuda` exits 1 with one stderr line before
  any item: nothing is written, not even the output folder; `--device auto`
  writes NPYs byte-identical to `--device cpu` with exactly one fallback line
  when an NVIDIA driver exists (none without one, or in a CPU-only build); the settings hash ignores the
  device (a cpu rerun skips everything an auto run finished);
- opening fails when the weights are uploaded (after the run started; the
  earlier checks are ovx forward's, tests/cuda): `--device cuda` exits 1 with
  the specific line and no item output; `--device auto` falls back once,
  byte-identical to cpu;
- a kernel fault in the first forward (test hook): `--device cuda` stops
  the run with one line naming the op (OVX_CUDA_SYNC=1), no item failed or
  written, and a rerun on the CPU does them all; `--device auto` falls back,
  byte-identical to cpu;
- a bad device name is a usage error (2);
- `--batch 3` over 5 clips (one of them broken) writes NPYs byte-identical to
  `--batch 1`, the same failures and manifest, also with 2 views per item;
- a batch whose forward fails is retried item by item: one failure line each."""
import filecmp
import json
import os
import sys

import numpy as np

from xhelp import ROOT, check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

sys.path.insert(0, os.path.join(ROOT, "tests", "cuda"))
import gpuenv  # noqa: E402

HAVE_CUDA = len(sys.argv) > 1 and sys.argv[1] == "1"
CUDA_ROOT = sys.argv[2] if len(sys.argv) > 2 else ""
need_ffmpeg()
tmp = tmpdir("ovx-extract-dev-")
model = make_model(os.path.join(tmp, "model"))
src = os.path.join(tmp, "clips")
for i, (size, s) in enumerate([("96x72", 1.2), ("64x64", 0.8), ("120x90", 1.0), ("80x60", 1.5), ("96x96", 0.6)]):
    make_clip(os.path.join(src, f"c{i}.mp4"), seconds=s, size=size, src="testsrc2" if i % 2 else "testsrc")
with open(os.path.join(src, "c2b.mp4"), "wb") as f:  # a broken file among them
    f.write(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 100)
# fp32 on the CPU: auto (the default) may take bf16 on --device cpu, while a CUDA
# run that falls back to the CPU computes fp32 (the comparisons are about devices)
common = ["-m", model, "--tokens", "256", "--hidden-state", "-2", "--threads", "2", "--precision", "fp32", src]
REAL_GPU = bool(gpuenv.gpu_present()) and HAVE_CUDA


def lines(s):
    return [l for l in s.splitlines() if l.strip()]


def npys(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
                  if f.endswith(".npy"))


def same_npys(a, b, what, least=12):
    fa, fb = npys(a), npys(b)
    check(fa == fb and len(fa) >= least, f"{what}: same NPY files ({len(fa)} vs {len(fb)})")
    diff = [f for f in fa if f in fb and not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
    check(not diff, f"{what}: byte-identical NPYs (differ: {diff})")


def extract(out, dev, env=None, *extra, inputs=src):
    e = {k: v for k, v in gpuenv.case_env(env or {}, tmp).items() if not k.startswith("SLURM_")}
    return ovx("extract", *common[:-1], inputs, "-o", os.path.join(tmp, out), "--device", dev, *extra, env=e)


r = ovx("extract", *common, "-o", os.path.join(tmp, "probe"), "--device", "cuda", "--dry-run")
check(r.returncode in (0, 1), "dry run with --device cuda does not open the device")

r = extract("bad", "gpu")
check(r.returncode == 2 and len(lines(r.stderr)) == 1 and "invalid device" in r.stderr,
      f"--device gpu is a usage error: {r.returncode} {r.stderr!r}")

r = extract("cpu", "cpu")
check(r.returncode == 1, f"--device cpu: exit 1 (one bad clip), got {r.returncode}: {r.stderr}")
check(not [l for l in lines(r.stderr) if "using the CPU" in l], "no note for --device cpu")
cpu = os.path.join(tmp, "cpu")

# GPU vs CPU on two of the clips: same selection, outputs within the bf16
# tolerance, two items packed in one forward
two = os.path.join(tmp, "two")
os.makedirs(two)
for i in (0, 1):
    os.link(os.path.join(src, f"c{i}.mp4"), os.path.join(two, f"c{i}.mp4"))
r = extract("cpu2", "cpu", inputs=two)
check(r.returncode == 0, f"two clips on the cpu: {r.stderr!r}")
cpu2 = os.path.join(tmp, "cpu2")
for label, env in gpuenv.devices(HAVE_CUDA):
    out = os.path.join(tmp, "dev-" + str(len(env)))
    r = extract(os.path.basename(out), "cuda", env, "--batch", "2", inputs=two)
    check(r.returncode == 0 and "2 done, 0 skipped, 0 failed" in r.stderr,
          f"{label}: --device cuda --batch 2: 2 done: {r.returncode} {r.stderr!r}")
    check(npys(out) == npys(cpu2) and len(npys(cpu2)) == 6, f"{label}: the same NPY files as cpu")
    worst = 0.0
    for f in npys(out) if npys(out) == npys(cpu2) else []:
        e = gpuenv.rel_l2(np.load(os.path.join(out, f)), np.load(os.path.join(cpu2, f)))
        worst = max(worst, e)
        check(1e-5 < e <= 1e-2, f"{label}: {f}: rel L2 vs cpu {e:.3g} in (1e-5, 1e-2]")
    print(f"{label}: worst rel L2 vs cpu over {len(npys(out))} NPYs: {worst:.3g}")
    for i in range(2):
        try:
            a, b = json.load(open(os.path.join(out, f"c{i}.json"))), json.load(open(os.path.join(cpu2, f"c{i}.json")))
        except OSError as e:
            check(False, f"{label}: c{i}.json: {e}")
            continue
        check(a["select"]["visible_indices"] == b["select"]["visible_indices"] and a["positions"] == b["positions"],
              f"{label}: c{i}: the same selected tokens as cpu")
        check(a["device"] == "cuda:0" and b["device"] == "cpu", f"{label}: c{i}: REL.json records the device")

if not REAL_GPU:
    r = extract("gpu", "cuda")
    check(r.returncode == 1, f"--device cuda exits 1 without a GPU (got {r.returncode})")
    check(len(lines(r.stderr)) == 1 and "CUDA" in r.stderr, f"--device cuda: one line: {r.stderr!r}")
    check(not os.path.exists(os.path.join(tmp, "gpu")), "--device cuda writes nothing")
    r = extract("gpu1", "cuda:3")
    check(r.returncode == 1 and len(lines(r.stderr)) == 1, "--device cuda:3: exit 1, one line")
    r = extract("auto", "auto")
    check(r.returncode == 1, f"--device auto: exit 1 (one bad clip), got {r.returncode}: {r.stderr}")
    notes = [l for l in lines(r.stderr) if "using the CPU" in l]
    if HAVE_CUDA and gpuenv.driver_loadable():  # a driver that cannot be used is worth a line
        check(len(notes) == 1 and "CUDA unavailable" in notes[0], f"auto: one fallback line: {r.stderr!r}")
    else:  # no driver at all (or no CUDA backend): a CPU-only machine hears nothing of CUDA
        check(not notes and "CUDA" not in r.stderr, f"no fallback note without a driver: {r.stderr!r}")
    same_npys(cpu, os.path.join(tmp, "auto"), "auto vs cpu")
    js = json.load(open(os.path.join(tmp, "auto", "c0.json")))
    check(js.get("device") == "cpu", f"REL.json records the device: {js.get('device')}")
    # resume across devices: the settings hash ignores the device
    r = ovx("extract", *common, "-o", os.path.join(tmp, "auto"), "--device", "cpu")
    check("0 done, 5 skipped, 1 failed" in r.stderr, f"cpu rerun over an auto run skips all: {r.stderr!r}")
else:
    print("a CUDA device is usable here: the no-GPU expectations (cuda fails, auto == cpu) are skipped")

# opening fails after the device was chosen (out of memory at upload; the
# earlier checks are those of ovx forward, tests/cuda), and a fault in the
# first forward
cases = [c for c in gpuenv.fallback_cases(HAVE_CUDA, CUDA_ROOT) if c[0] == "out of memory at upload"]
dev_env = {} if REAL_GPU else dict(gpuenv.EMULATED)
cases.append(("a kernel fault in the first forward", dict(dev_env, OVX_CUDA_FAIL="fault:any:1", OVX_CUDA_SYNC="1"),
              "failed and is unusable: "))
for k, (name, env, text) in enumerate(cases):
    out = os.path.join(tmp, f"fail{k}")
    r = extract(os.path.basename(out), "cuda", env, inputs=two)
    err = lines(r.stderr)
    check(r.returncode == 1 and err and text in err[0] and not [l for l in err[1:] if "ovx extract: " + text in l],
          f"{name}: --device cuda: exit 1, the specific line once: {r.stderr!r}")
    check(not npys(out) and not jsonl(os.path.join(out, "failures.jsonl")),
          f"{name}: --device cuda: no item written or failed ({npys(out)})")
    if name.startswith("a kernel fault"):
        check("(device synced after each op, OVX_CUDA_SYNC=1)" in err[0] and "; stopping (rerun to do the rest)" in err[0]
              and "0 done, 0 skipped, 0 failed, 2 not run" in r.stderr, f"{name}: names the op and stops: {r.stderr!r}")
        r = extract(os.path.basename(out), "cpu", inputs=two)
        check(r.returncode == 0 and "2 done, 0 skipped, 0 failed" in r.stderr, f"{name}: a rerun on the cpu does them all")
        same_npys(cpu2, out, f"{name}: rerun on the cpu", 6)
    r = extract(f"fallback{k}", "auto", env, inputs=two)
    notes = [l for l in lines(r.stderr) if "using the CPU" in l]
    check(r.returncode == 0 and len(notes) == 1 and text in notes[0], f"{name}: --device auto says it once: {r.stderr!r}")
    same_npys(cpu2, os.path.join(tmp, f"fallback{k}"), f"{name}: auto vs cpu", 6)

# --batch: one forward over several items; on the CPU byte-identical to --batch 1
b1 = cpu
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
