#!/usr/bin/python3
"""test_python_loader.py: the Python package in a training loop (issue 26),
imported from the build dir, on the probe tests' generated 4-class clips
(tests/probe/arrows.py: 24 clips, 112x112, 20 frames):
- DataLoader(num_workers=2) over 20 clips, two epochs: the same items; with
  temporal_jitter the same items for the same epoch, others after
  set_epoch(1); every jittered frame lies in its sampling interval;
- no leaks: the process's RSS stays flat over 500 ovx.select calls (path,
  bytes, patches, errors; skipped under ASan, whose quarantine holds freed
  memory by design);
- a bad file raises ovx.Error in the worker, its path in the message;
- 4 threads calling ovx.select at once take less wall time than one thread
  (2 cores): the best of five alternating tries; when other processes hold
  the machine (this process got under half a core in the 1-thread run) the
  wall-time claim cannot show and is skipped saying so; in any case a Python
  thread keeps running while another is inside ovx.select (GIL released);
- the attentive probe (ovx.probe) trained on the fly: CodecVideoDataset with
  temporal jitter -> ovx.Encoder (tiny random model) -> tokens, 4 epochs:
  the loss falls well below ln 4 and train top-1 is far above chance."""
import concurrent.futures
import math
import os
import sys
import tempfile
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "probe"))
sys.path.insert(0, os.path.join(here, "..", "extract"))
from pycheck import check, expect, finish  # noqa: E402
import arrows  # noqa: E402
import xhelp  # noqa: E402

import ovx  # noqa: E402
import ovx.probe  # noqa: E402
import ovx.torch  # noqa: E402

build_python = os.environ["PYTHONPATH"].split(os.pathsep)[0]
check(os.path.abspath(ovx.__file__).startswith(os.path.abspath(build_python)),
      f"ovx from the build dir: {ovx.__file__}")
ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def rss_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def epoch_items(dl):
    return [(b["visible_indices"].clone(), b["mask"].clone(), b["label"].clone(), b["path"],
             float(b["pixel_values"].double().sum())) for b in dl]


def same_items(a, b):
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and
                                    torch.equal(x[2], y[2]) and x[3] == y[3] and x[4] == y[4] for x, y in zip(a, b))


T0 = time.time()


def lap(what):
    print(f"[{time.time() - T0:6.1f} s] {what}", flush=True)


with tempfile.TemporaryDirectory(prefix="ovx-loader-") as tmp:
    names = arrows.make_dataset(os.path.join(tmp, "data"), per_class=6)
    paths = [os.path.join(tmp, "data", n) for n in names]
    classes = sorted(arrows.DIRS)
    labels = [classes.index(n.split("/")[0]) for n in names]
    lap(f"{len(paths)} clips made")

    # -- DataLoader, 2 workers, 20 clips, two epochs ----------------------------
    sub = paths[:20]
    sub_labels = [labels[paths.index(p)] for p in sub]
    ds = ovx.torch.CodecVideoDataset(sub, sub_labels, tokens=256, frames=16)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=ovx.torch.collate)
    e0, e1 = epoch_items(dl), epoch_items(dl)
    expect(len(e0) == 5 and same_items(e0, e1), "DataLoader(num_workers=2), 20 clips: two epochs, the same items")
    jd = ovx.torch.CodecVideoDataset(sub, sub_labels, tokens=256, frames=16, temporal_jitter=True, seed=7)
    jl = torch.utils.data.DataLoader(jd, batch_size=4, num_workers=2, collate_fn=ovx.torch.collate)
    j0 = epoch_items(jl)
    j0b = epoch_items(jl)
    jd.set_epoch(1)
    j1 = epoch_items(jl)
    expect(same_items(j0, j0b), "temporal_jitter: the same seed and epoch give the same items in the workers")
    expect(not same_items(j0, j1) and not same_items(j0, e0), "temporal_jitter: epoch 1 draws other frames")
    # every jittered frame inside its interval [i*n/F, (i+1)*n/F)
    n_frames, F, inside, moved = arrows.N, 8, True, 0
    for seed in range(20):
        r = ovx.select(sub[0], tokens=100, frames=F, temporal_jitter=True, jitter_seed=seed)
        got = [s["frame"] for s in r.report["slots"]]
        inside &= all(i * n_frames // F <= f < (i + 1) * n_frames // F for i, f in enumerate(got))
        moved += got != [s["frame"] for s in ovx.select(sub[0], tokens=100, frames=F).report["slots"]]
        inside &= r.report["settings"]["jitter_seed"] == str(seed) and r.report["settings"]["temporal_jitter"]
    expect(inside and moved >= 15, f"jittered frames inside their intervals, {moved} of 20 seeds move them")
    lap("DataLoader epochs")

    # -- a bad file in the worker --------------------------------------------------
    bad = os.path.join(tmp, "damaged.mp4")
    with open(sub[0], "rb") as f:
        head = f.read()
    with open(bad, "wb") as f:
        f.write(b"\0" * 64 + head[64:len(head) // 3])
    bl = torch.utils.data.DataLoader(ovx.torch.CodecVideoDataset(sub[:3] + [bad], tokens=100, frames=8),
                                     batch_size=1, num_workers=2, collate_fn=ovx.torch.collate)
    try:
        list(bl)
        expect(False, "the damaged clip raised nothing")
    except ovx.Error as e:
        expect(bad in str(e),
               f"the worker's ovx.Error names the path: {str(e)[-200:]}")

    # -- RSS over 500 calls ----------------------------------------------------------
    with open(sub[1], "rb") as f:
        blob = f.read()

    def call(i):
        try:
            if i % 4 == 0:
                return ovx.select(sub[1], tokens=200, frames=8, keep_frames=True).frames.sum()
            if i % 4 == 1:
                return ovx.select(blob, tokens=200, frames=8, patches=True).frames.sum()
            if i % 4 == 2:
                return ovx.select(bad, tokens=200, frames=8)
            return ovx.select(blob, tokens=200, frames=8, name=sub[1]).visible_indices.sum()
        except ovx.Error:
            return -1
    if ASAN:
        print("SKIP (documented): RSS over 500 calls under ASan: its quarantine keeps freed memory, so RSS "
              "grows by design; LeakSanitizer is off for the interpreter (tests/lib/meson.build)")
    else:
        # glibc gives each of the decoder and pool threads an arena, up to
        # 8 per core, as the scheduler happens to need them: a bounded rise
        # that a loaded machine spreads over more calls (the suite once saw
        # +8 MB over the first 500). A leak grows in every window: the
        # smaller rise of two consecutive 500-call windows must stay small.
        for i in range(50):
            call(i)
        r0 = rss_kb()
        for i in range(50, 550):
            call(i)
        r1 = rss_kb()
        for i in range(550, 1050):
            call(i)
        r2 = rss_kb()
        rise = min(r1 - r0, r2 - r1)
        print(f"RSS after 50 calls {r0} KB, after 550: {r1} KB, after 1050: {r2} KB "
              f"({r1 - r0:+d} and {r2 - r1:+d} KB over 500 calls)")
        expect(rise < 4096, f"RSS flat over 500 ovx.select calls: {r1 - r0:+d} then {r2 - r1:+d} KB")
    lap("RSS")

    # -- 4 threads vs 1 -----------------------------------------------------------
    big = os.path.join(tmp, "big.mp4")
    xhelp.make_clip(big, seconds=4, size="320x240", src="testsrc2", rate=25)
    jobs = [big] * 8

    def one(p):
        return ovx.select(p, tokens=1000, threads=1).visible_indices.tobytes()
    best, saturated = None, False
    for attempt in range(5):  # the machine is shared: the best of five alternating tries
        c0 = time.process_time()
        t0 = time.monotonic()
        seq = [one(p) for p in jobs]
        t_seq = time.monotonic() - t0
        cpu_seq = time.process_time() - c0
        c0 = time.process_time()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            par = list(pool.map(one, jobs))
        t_par = time.monotonic() - t0
        cpu = time.process_time() - c0
        check(par == seq, "4 threads: the sequential results")
        print(f"try {attempt + 1}: 8 calls, 1 thread {t_seq:.2f} s (CPU/wall {cpu_seq / t_seq:.2f}), 4 threads "
              f"{t_par:.2f} s (CPU/wall {cpu / t_par:.2f}): ratio {t_par / t_seq:.2f}; load {os.getloadavg()[0]:.1f}")
        best = min(best or 9, t_par / t_seq)
        saturated = cpu_seq / t_seq < 0.5
        if best < 0.9:
            break
    if best >= 1.0 and saturated:
        print(f"SKIP (loudly): 4 threads vs 1: this process got under half a core in the 1-thread run (load "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): no wall-time gain can show; ratio {best:.2f}")
    else:
        expect(best < 1.0, f"4 threads calling ovx.select take less wall time than one thread (ratio {best:.2f})")
    # the GIL is released inside ovx.select: a Python thread counts on meanwhile
    state = {"run": True, "n": 0, "during": 0}

    def spin():
        while state["run"]:
            state["n"] += 1
    spinner = concurrent.futures.ThreadPoolExecutor(1)
    fut = spinner.submit(spin)
    time.sleep(0.05)
    n0 = state["n"]
    t0 = time.monotonic()
    ovx.select(big, tokens=1000, threads=1)
    t_call = time.monotonic() - t0
    state["during"] = state["n"] - n0
    state["run"] = False
    fut.result()
    spinner.shutdown()
    # held GIL: the spinner would get at most the one switch interval before the call
    expect(state["during"] > 1000, f"a Python thread ran {state['during']} loops during a {t_call:.2f} s "
           "ovx.select call (GIL released)")
    lap("threads")

    # -- the attentive probe trained on the fly ------------------------------------
    model = xhelp.make_model(os.path.join(tmp, "model"))
    enc = ovx.Encoder(model, device="cpu")
    D = enc.config["hidden_size"]
    tds = ovx.torch.CodecVideoDataset(paths, labels, tokens=128, frames=8, temporal_jitter=True, seed=1)
    torch.manual_seed(0)
    probe = ovx.probe.AttentiveProbe(D, 4, heads=2)
    opt = torch.optim.AdamW(probe.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses, tops = [], []
    for ep in range(4):
        tds.set_epoch(ep)
        tl = torch.utils.data.DataLoader(tds, batch_size=4, num_workers=2, shuffle=True,
                                         generator=torch.Generator().manual_seed(ep), collate_fn=ovx.torch.collate)
        tot, n, correct = 0.0, 0, 0
        for b in tl:
            kmax = b["visible_indices"].shape[1]
            tokens = torch.zeros(len(b["path"]), kmax, D)
            for i in range(len(b["path"])):  # the frozen encoder, one clip at a time (its own K)
                k = int(b["mask"][i].sum())
                out = enc.forward(b["pixel_values"][i:i + 1].numpy(), b["visible_indices"][i:i + 1, :k].numpy())
                tokens[i, :k] = torch.from_numpy(out["last_hidden_state"][0].copy())
            logits = probe({"tokens": tokens, "mask": ~b["mask"]})  # the probe's mask: True = padding
            loss = loss_fn(logits, b["label"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss) * len(b["path"])
            n += len(b["path"])
            correct += int((logits.argmax(1) == b["label"]).sum())
        losses.append(tot / n)
        tops.append(correct / n)
        lap(f"on the fly: epoch {ep}: loss {losses[-1]:.3f}, train top-1 {tops[-1]:.3f}")
    chance = math.log(4)
    expect(losses[0] > 0.75 * chance and losses[-1] < 0.5 * chance and max(tops[-2:]) >= 0.8,
           f"attentive probe on the fly: loss {losses[0]:.3f} -> {losses[-1]:.3f} (ln 4 = {chance:.3f}), "
           f"top-1 {tops[-1]:.3f}")

sys.exit(finish("ovx in a training loop (DataLoader, leaks, threads, jitter, probe on the fly)"))
