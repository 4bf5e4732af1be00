#!/usr/bin/python3
"""test_cli_quickstart.py: the README's first command, run as written
(issue 24, acceptance): `bash scripts/quickstart` reaches a working ovx at
the documented path, a probe trained on `--format wds` output, and a rerun
that skips the known failure. The quickstart builds into this test's own
build folder (OVX_BUILD_DIR: already built, so its `meson compile` has no
work) and writes into a scratch folder (OVX_QUICKSTART_OUT). Checked against
what it wrote, not only what it printed:
- README's first code line is `bash scripts/quickstart`;
- BUILD/src/cli/ovx runs; sample.npy and sample.pooled.npy load;
- feats_wds holds tar shards with the 12 labelled clips (manifest lines
  naming their shard) and failures.jsonl one line, the broken file's, with
  its size and mtime;
- probe/best.pt exists and metrics.jsonl has 5 epochs with a val top-1;
- the rerun log says "1 known failure skipped" and 0 done, 12 skipped,
  1 failed, with no error line for the broken file (not decoded again)."""
import json
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
from xhelp import OVX, ROOT, check, finish, need_ffmpeg, tmpdir  # noqa: E402

need_ffmpeg()
readme = open(os.path.join(ROOT, "README.md")).read()
block = re.search(r"```sh\n(.*?)```", readme, re.S)
first = block.group(1).splitlines()[0] if block else ""
check(first.startswith("bash scripts/quickstart"), f"README's first command is the quickstart: {first!r}")

build = os.path.dirname(os.path.dirname(os.path.dirname(OVX)))
out = tmpdir("ovx-quickstart-")
env = dict(os.environ, OVX_BUILD_DIR=build, OVX_QUICKSTART_OUT=out)
for k in ("OVX_MODEL", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"):
    env.pop(k, None)
r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "quickstart")], capture_output=True, text=True, env=env,
                   timeout=900, cwd=ROOT)
print(r.stdout[-3000:], r.stderr[-3000:])
check(r.returncode == 0, f"quickstart exits 0: {r.returncode}")

v = subprocess.run([os.path.join(build, "src", "cli", "ovx"), "--version"], capture_output=True, text=True)
check(v.returncode == 0 and v.stdout.startswith("ovx "), f"ovx at the documented path runs: {v.stdout!r}")
check("the binary is " in r.stdout and "src/cli/ovx" in r.stdout, "the quickstart says where ovx is")
try:
    t = np.load(os.path.join(out, "features", "sample.npy"))
    p = np.load(os.path.join(out, "features", "sample.pooled.npy"))
    check(t.ndim == 2 and t.shape[0] == 2048 and p.shape == (t.shape[1],) and np.isfinite(t).all(),
          f"sample tokens {t.shape}, pooled {p.shape}")
except OSError as e:
    check(False, f"sample outputs: {e}")

feats = os.path.join(out, "feats_wds")
tars = [f for f in os.listdir(os.path.join(feats, "shards")) if f.endswith(".tar")] if os.path.isdir(
    os.path.join(feats, "shards")) else []
man = [json.loads(l) for l in open(os.path.join(feats, "manifest.jsonl"))] if tars else []
check(tars and len(man) == 12 and all(os.path.basename(m["shard"]) in tars for m in man) and
      sorted({m["label"] for m in man}) == ["left", "right"], f"wds: 12 labelled clips in {tars}")
fails = [json.loads(l) for l in open(os.path.join(feats, "failures.jsonl"))] if tars else []
broken = os.path.join(out, "dataset", "left", "broken.mp4")
check(len(fails) == 1 and fails[0]["rel"] == "left/broken.mp4" and fails[0].get("size") == os.path.getsize(broken),
      f"failures.jsonl: the broken file with its size: {fails}")

probe = os.path.join(out, "probe")
metrics = [json.loads(l) for l in open(os.path.join(probe, "metrics.jsonl"))] if os.path.isfile(
    os.path.join(probe, "metrics.jsonl")) else []
check(os.path.isfile(os.path.join(probe, "best.pt")) and len(metrics) == 5 and
      all(0 <= m["val_top1"] <= 1 for m in metrics), f"a probe trained on the shards: {metrics[-1:]}")

log = open(os.path.join(out, "rerun.log")).read() if os.path.exists(os.path.join(out, "rerun.log")) else ""
check("1 known failure skipped" in log and "0 done, 12 skipped, 1 failed" in log and "broken.mp4:" not in log,
      f"the rerun skipped the known failure without decoding it: {log!r}")
finish("quickstart")
