#!/usr/bin/python3
"""test_extract_overlap.py: `ovx extract --device cuda` with one batch in
flight while the next is gathered and submitted and the one before written
(cuda/submit.c, src/extract/run.c), on the emulated device of
OVX_CUDA_EMULATE (the same code path up to the downloaded outputs; the real
GPU too when this machine has one). Over six items of different token counts
(native images of 35, 120 and 192 tokens, clips of 64 and 48 codec tokens):
- --batch 1, 2, 3 and 4 (2 and 3 under ASan, for time) write NPYs
  byte-identical to the synchronous path (OVX_CUDA_OVERLAP=0) at --batch 1, and the manifest lists the items in
  the same order;
- a failure of batch 2's forward that leaves the device usable
  (OVX_CUDA_FAIL=error:rope_tables:2: rope_tables runs once per forward)
  reruns that batch item by item: everything written, byte-identical, its
  two items computed alone (model_batch_items 1);
- a sticky fault in batch 3's forward (fault:rope_tables:3) stops the run:
  batch 1 is written (complete, byte-identical), batch 2 (in flight when the
  device faulted) and batch 3 are dropped, not failed: no NPY without its
  JSON, no temp file, no failure line; a rerun does the other four and the
  folder equals the reference; with --device auto batch 1 stays on the
  device and batches 2 (in flight) and 3 rerun on the CPU (REL.json says
  which), byte-identical to the device's and the CPU's runs;
- six clips of 64 tokens at --batch 1 (one shape: graphs captured and
  replayed) give the same bytes with graphs off (OVX_CUDA_GRAPHS=0);
- SIGTERM after the first of those six items: exit 143, only whole items on
  disk (each NPY with its JSON, byte-identical), nothing failed, and a rerun
  completes the folder byte-identical to an uninterrupted run."""
import filecmp
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from xhelp import OVX, ROOT, check, finish, jsonl, make_clip, make_image, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "cuda"))
import gpuenv  # noqa: E402

HAVE_CUDA = len(sys.argv) > 1 and sys.argv[1] == "1"
ASAN = b"__asan_init" in open(OVX, "rb").read()  # a debug ASan build: --batch 2 and 3 only (time)


def npys(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
                  if f.endswith(".npy"))


def same(a, b, what, least):
    fa, fb = npys(a), npys(b)
    check(fa == fb and len(fa) >= least, f"{what}: same NPY files ({len(fa)} vs {len(fb)})")
    diff = [f for f in fa if f in fb and not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
    check(not diff, f"{what}: byte-identical NPYs (differ: {diff})")


def order(d):
    return [r["rel"] for r in jsonl(os.path.join(d, "manifest.jsonl"))]


def main():
    need_ffmpeg()
    t = tmpdir("ovx-xoverlap-")
    model = make_model(os.path.join(t, "m"))
    data = os.path.join(t, "data")
    # input order (sorted names) interleaves images and clips of different lengths
    make_image(os.path.join(data, "a35.png"), size="98x70")
    make_clip(os.path.join(data, "b64.mp4"), seconds=1.0, size="96x72")
    make_image(os.path.join(data, "c192.png"), size="224x168")
    make_clip(os.path.join(data, "d64.mp4"), seconds=0.8, size="120x90", src="testsrc2")
    make_image(os.path.join(data, "e120.png"), size="168x140")
    make_clip(os.path.join(data, "f64.mp4"), seconds=0.6, size="64x64")
    items = ["a35.png", "b64.mp4", "c192.png", "d64.mp4", "e120.png", "f64.mp4"]
    # --precision fp32: the --device cpu reference computes what a fallback to the CPU does
    common = ["-m", model, data, "--native", "--tokens", "64", "--hidden-state", "-2", "--threads", "2",
              "--precision", "fp32"]

    for label, env in gpuenv.devices(HAVE_CUDA):
        def run(name, batch, extra_env=None, *extra):
            e = gpuenv.case_env(dict(env, **(extra_env or {})), t)
            return ovx("extract", *common, "-o", os.path.join(t, name), "--device", "cuda", "--batch", str(batch),
                       *extra, env=e)

        tag = "gpu" if not env else "emu"
        ref = os.path.join(t, tag + "-sync1")
        r = run(tag + "-sync1", 1, {"OVX_CUDA_OVERLAP": "0"})
        check(r.returncode == 0 and "6 done, 0 skipped, 0 failed" in r.stderr, f"{label}: sync --batch 1: {r.stderr!r}")
        check(order(ref) == items, f"{label}: sync: manifest in input order: {order(ref)}")
        ntok = sorted(json.load(open(os.path.join(ref, os.path.splitext(i)[0] + ".json")))["n_tokens"] for i in items)
        check(ntok == [35, 64, 64, 64, 120, 192], f"{label}: the items have different token counts: {ntok}")
        for b in (2, 3) if ASAN else (1, 2, 3, 4):
            name = f"{tag}-b{b}"
            r = run(name, b)
            check(r.returncode == 0 and "6 done, 0 skipped, 0 failed" in r.stderr, f"{label}: --batch {b}: {r.stderr!r}")
            same(ref, os.path.join(t, name), f"{label}: overlapped --batch {b} vs synchronous --batch 1", 18)
            check(order(os.path.join(t, name)) == items, f"{label}: --batch {b}: manifest order")
        if not env:
            continue  # the hooks below need the emulated device's op counts

        # batch 2 fails, the device stays usable: its items rerun alone
        name = "err2"
        r = run(name, 2, {"OVX_CUDA_FAIL": "error:rope_tables:2"})
        check(r.returncode == 0 and "6 done, 0 skipped, 0 failed" in r.stderr, f"error in batch 2: {r.stderr!r}")
        same(ref, os.path.join(t, name), "error in batch 2: reruns item by item", 18)
        alone = [json.load(open(os.path.join(t, name, os.path.splitext(i)[0] + ".json")))["timings_ms"]
                 ["model_batch_items"] for i in items]
        check(alone == [2, 2, 1, 1, 2, 2], f"error in batch 2: its items ran alone: {alone}")

        # a sticky fault in batch 3: the run stops, batch 1 written, nothing half-written
        name = "fault3"
        out = os.path.join(t, name)
        r = run(name, 2, {"OVX_CUDA_FAIL": "fault:rope_tables:3"})
        check(r.returncode == 1 and "failed and is unusable" in r.stderr and "stopping" in r.stderr
              and "2 done, 0 skipped, 0 failed" in r.stderr, f"fault in batch 3: stops after batch 1: {r.stderr!r}")
        jsons = sorted(f for f in os.listdir(out) if f.endswith(".json"))
        check(jsons == ["a35.json", "b64.json"], f"fault in batch 3: batch 1 written: {jsons}")
        stems = {f.split(".")[0] for f in npys(out)}
        check(stems == {"a35", "b64"}, f"fault in batch 3: no NPY without its JSON: {sorted(stems)}")
        for f in npys(out):
            check(filecmp.cmp(os.path.join(out, f), os.path.join(ref, f), shallow=False), f"fault in batch 3: {f} complete")
        left = [f for _, _, fs in os.walk(out) for f in fs if ".tmp." in f]
        check(not left, f"fault in batch 3: no temp files: {left}")
        check(not jsonl(os.path.join(out, "failures.jsonl")), "fault in batch 3: no item failed")
        r = run(name, 2)
        check(r.returncode == 0 and "4 done, 2 skipped, 0 failed" in r.stderr, f"fault in batch 3: a rerun does the rest: {r.stderr!r}")
        same(ref, out, "fault in batch 3, then a rerun", 18)
        check(sorted(order(out)) == items, f"fault in batch 3, rerun: every item in the manifest once: {order(out)}")

        # the same fault under --device auto: batches 2 and 3 rerun on the CPU
        cpu = os.path.join(t, "cpu")
        r = ovx("extract", *common, "-o", cpu, "--device", "cpu", env=gpuenv.case_env({}, t))
        check(r.returncode == 0, f"cpu run: {r.stderr!r}")
        auto = os.path.join(t, "auto3")
        e = gpuenv.case_env(dict(env, OVX_CUDA_FAIL="fault:rope_tables:3"), t)
        r = ovx("extract", *common, "-o", auto, "--device", "auto", "--batch", "2", env=e)
        notes = [l for l in r.stderr.splitlines() if "using the CPU" in l]
        check(r.returncode == 0 and "6 done, 0 skipped, 0 failed" in r.stderr and len(notes) == 1,
              f"auto, fault in batch 3: all done on the CPU from batch 2, said once: {r.stderr!r}")
        devs = [json.load(open(os.path.join(auto, os.path.splitext(i)[0] + ".json")))["device"] for i in items]
        check(devs == ["cuda:0", "cuda:0", "cpu", "cpu", "cpu", "cpu"], f"auto, fault in batch 3: devices {devs}")
        for f in npys(auto):
            want = os.path.join(ref if f.split(".")[0] in ("a35", "b64") else cpu, f)
            check(filecmp.cmp(os.path.join(auto, f), want, shallow=False), f"auto, fault in batch 3: {f} as computed there")

        # six clips of 64 tokens at --batch 1: every forward has the same
        # shape; the slots alternate, so the first two run directly, the next
        # two are captured and the last two replayed; graphs off: same bytes
        many = os.path.join(t, "many")
        os.makedirs(many)
        clips = [i for i in items if i.endswith(".mp4")]
        for k in range(6):
            os.link(os.path.join(data, clips[k % len(clips)]), os.path.join(many, f"{k:02d}.mp4"))
        args = ["extract", *common[:2], many, *common[3:], "--device", "cuda", "--batch", "1", "--jsonl"]
        full = os.path.join(t, "many-full")
        r = ovx(*args, "-o", full, env=gpuenv.case_env(env, t))
        check(r.returncode == 0 and "6 done" in r.stderr, f"6 clips: {r.stderr!r}")
        r = ovx(*args, "-o", full + "-nog", env=gpuenv.case_env(dict(env, OVX_CUDA_GRAPHS="0"), t))
        check(r.returncode == 0, f"OVX_CUDA_GRAPHS=0: {r.stderr!r}")
        same(full, full + "-nog", "6 clips: graphs (replayed) vs off", 18)

        # SIGTERM with a batch in flight: whole items only, a rerun completes
        stop = os.path.join(t, "many-stop")
        p = subprocess.Popen([OVX, *args, "-o", stop], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=gpuenv.case_env(env, t))
        first = p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        check(first and p.returncode == 143, f"SIGTERM after the first item: exit 143: {p.returncode} {err!r}")
        jsons = {f.split(".")[0] for f in os.listdir(stop) if f.endswith(".json")}
        stems = {f.split(".")[0] for f in npys(stop)}
        check(0 < len(jsons) < 6 and stems == jsons, f"SIGTERM: whole items only ({sorted(jsons)} vs {sorted(stems)})")
        for f in npys(stop):
            check(filecmp.cmp(os.path.join(stop, f), os.path.join(full, f), shallow=False), f"SIGTERM: {f} complete")
        check(not [f for _, _, fs in os.walk(stop) for f in fs if ".tmp." in f], "SIGTERM: no temp files")
        check(not jsonl(os.path.join(stop, "failures.jsonl")), "SIGTERM: nothing failed")
        r = ovx(*args, "-o", stop, env=gpuenv.case_env(env, t))
        check(r.returncode == 0 and f"{6 - len(jsons)} done, {len(jsons)} skipped, 0 failed" in r.stderr,
              f"SIGTERM, rerun: does the rest: {r.stderr!r}")
        same(full, stop, "SIGTERM, then a rerun", 18)
    finish("extract --device cuda: overlapped batches")


main()
