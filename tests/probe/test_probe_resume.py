#!/usr/bin/python3
"""train-probe run folders and output (issue 24, item 6), on hand-written
ovx output folders (6 and 4 classes of random tokens whose mean depends on
the class):
- a folder that holds a run is refused (exit 2, naming --resume and
  --overwrite) and left as it was; --overwrite starts again;
- a run stopped after epoch 2 (test hook OVX_PROBE_STOP_AFTER=2, exit 75)
  and continued with --resume ends with the same metrics (all 4 epochs) and
  the same last.pt weights as a run that was never stopped: weights,
  optimizer, LR schedule and random state come back from last.pt;
- --resume without last.pt is a usage error, with other probe options a
  failure naming both probes;
- top-5 is printed with 6 classes, not with 4 (train-probe and eval-probe);
- --help lists every file the run writes;
- the per-epoch bar on a terminal shows the time left (ETA m:ss)."""
import json
import os
import pty
import re
import subprocess
import sys

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "extract"))
sys.path.insert(0, os.path.join(ROOT, "python"))  # ovx.data, ovx.probe from the source tree
from xhelp import PY, check, finish, tmpdir  # noqa: E402
import torch  # noqa: E402

from ovx import probe as ovx_probe  # noqa: E402

tmp = tmpdir("ovx-probe-resume-")
rng = np.random.default_rng(3)


def dataset(root, n_classes, per_class=6, k=4, d=8):
    """An ovx-like output folder: CLASS/iI.npy tokens [k,d], REL.json, manifest.jsonl."""
    os.makedirs(root)
    with open(os.path.join(root, "manifest.jsonl"), "w") as man:
        for c in range(n_classes):
            centre = rng.standard_normal(d) * 2
            for i in range(per_class):
                base = f"c{c}/i{i}"
                os.makedirs(os.path.join(root, f"c{c}"), exist_ok=True)
                np.save(os.path.join(root, base + ".npy"),
                        (centre + rng.standard_normal((k, d))).astype(np.float32))
                pos = [[t, 0, t] for t in range(k)]
                out = {"tokens": {"file": base + ".npy", "dtype": "float32", "shape": [k, d]}}
                json.dump({"rel": base + ".mp4", "kind": "video", "label": f"c{c}", "dtype": "float32",
                           "n_tokens": k, "positions": pos,
                           "outputs": {"tokens": dict(out["tokens"], file=f"i{i}.npy")}},
                          open(os.path.join(root, base + ".json"), "w"))
                man.write(json.dumps({"path": base + ".mp4", "rel": base + ".mp4", "kind": "video",
                                      "label": f"c{c}", "json": base + ".json", "outputs": out,
                                      "settings_hash": "0"}) + "\n")
    return root


six, four = dataset(os.path.join(tmp, "six"), 6), dataset(os.path.join(tmp, "four"), 4)


def train(run, data=six, *extra, env=None, stderr=subprocess.PIPE):
    return subprocess.run([PY, os.path.join(ROOT, "scripts", "train-probe"), run, "--data", data,
                           "--val-fraction", "0.34", "--epochs", "4", "--batch", "4", "--heads", "2",
                           "--lr", "3e-3", "--workers", "0", *extra], stdout=subprocess.PIPE, stderr=stderr,
                          text=True, timeout=300, env=dict(os.environ, **(env or {})))


def metrics(run):
    return [{k: v for k, v in json.loads(l).items() if k != "seconds"}
            for l in open(os.path.join(run, "metrics.jsonl")) if l.strip()]


# a run never stopped
a = os.path.join(tmp, "a")
r = train(a)
check(r.returncode == 0 and len(metrics(a)) == 4, f"4 epochs: {r.returncode} {r.stderr[-400:]}")
epoch_lines = [l for l in r.stdout.splitlines() if l.startswith("epoch ")]
check(len(epoch_lines) == 4 and all(" top-5 " in l for l in epoch_lines), f"6 classes: top-5 printed: {epoch_lines}")

# refused, left alone
before = {f: os.stat(os.path.join(a, f)).st_mtime_ns for f in os.listdir(a)}
r = train(a)
check(r.returncode == 2 and "--resume" in r.stderr and "--overwrite" in r.stderr and "holds a run" in r.stderr,
      f"existing run folder refused: {r.returncode} {r.stderr[-300:]!r}")
check({f: os.stat(os.path.join(a, f)).st_mtime_ns for f in os.listdir(a)} == before, "refused run left as it was")
r = train(os.path.join(tmp, "none"), six, "--resume")
check(r.returncode == 2 and "last.pt" in r.stderr, f"--resume without last.pt: usage error: {r.stderr[-200:]!r}")
r = train(a, six, "--resume", "--overwrite")
check(r.returncode == 2, "--resume with --overwrite: usage error")

# stopped after epoch 2, resumed: the same run
b = os.path.join(tmp, "b")
r = train(b, env={"OVX_PROBE_STOP_AFTER": "2"})
check(r.returncode == 75 and len(metrics(b)) == 2, f"stopped after epoch 2: {r.returncode} {r.stderr[-300:]}")
r = train(b, six, "--resume")
check(r.returncode == 0 and "resumed after epoch 2" in r.stdout, f"--resume: {r.returncode} {r.stderr[-300:]}")
check(metrics(b) == metrics(a), f"resumed metrics = uninterrupted run's:\n{metrics(b)}\n{metrics(a)}")
la, lb = ovx_probe.load_checkpoint(os.path.join(a, "last.pt")), ovx_probe.load_checkpoint(os.path.join(b, "last.pt"))
check(la["epoch"] == lb["epoch"] == 4 and all(torch.equal(la["state"][k], lb["state"][k]) for k in la["state"]),
      "resumed last.pt weights = uninterrupted run's")
check(ovx_probe.load_checkpoint(os.path.join(b, "best.pt"))["epoch"] ==
      ovx_probe.load_checkpoint(os.path.join(a, "best.pt"))["epoch"], "same best epoch")
r = train(b, six, "--resume")
check(r.returncode == 0 and "nothing to train" in r.stdout and len(metrics(b)) == 4, "resume a finished run: no-op")
r = train(b, six, "--resume", "--linear", "--linear-input", "mean")
check(r.returncode == 1 and "--resume" in r.stderr and "attentive" in r.stderr and "linear" in r.stderr,
      f"--resume with another probe: failure naming both: {r.stderr[-300:]!r}")

# --overwrite starts again
r = train(a, six, "--overwrite", "--epochs", "2")
check(r.returncode == 0 and len(metrics(a)) == 2, f"--overwrite: a fresh 2-epoch run: {r.returncode}")

# 4 classes: no top-5, in train-probe and eval-probe
c = os.path.join(tmp, "c")
r = train(c, four)
lines = [l for l in r.stdout.splitlines() if l.startswith("epoch ")]
check(r.returncode == 0 and lines and not any("top-5" in l for l in lines), f"4 classes: no top-5: {lines}")
for run, data, want in ((c, four, False), (b, six, True)):
    e = subprocess.run([PY, os.path.join(ROOT, "scripts", "eval-probe"), os.path.join(run, "best.pt"), "--data", data,
                        "--workers", "0"], capture_output=True, text=True, timeout=300)
    check(e.returncode == 0 and ("top-5" in e.stdout) == want, f"eval-probe top-5 shown: {want}: {e.stdout!r}")

# --help lists the files
h = subprocess.run([PY, os.path.join(ROOT, "scripts", "train-probe"), "--help"], capture_output=True, text=True)
check(h.returncode == 0 and all(f in h.stdout for f in ("metrics.jsonl", "last.pt", "best.pt", "classes.json",
                                                         "config.json", "files written")), "--help lists the files")

# the bar on a terminal: ETA
master, slave = pty.openpty()
r = train(os.path.join(tmp, "tty"), six, "--epochs", "1", stderr=slave)
os.close(slave)
seen = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
os.close(master)
check(r.returncode == 0 and re.search(rb"epoch 1/1 \[[#.]+\] \d+/\d+ ETA \d+:\d\d", seen) is not None,
      f"per-epoch bar shows ETA: {seen[-300:]!r}")
finish("train-probe run folders, resume, top-5, help, ETA")
