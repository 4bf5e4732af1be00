#!/usr/bin/python3
"""The probe scripts on `ovx extract --format wds` output (issue 24, item
1). Ten generated clips in two class folders are extracted once as files
(float32) and as tar shards (--shard-items 4: three shards) with float32,
bfloat16 and float16 tokens. Then:
- ovx_data over each shard folder gives, item for item, the files run's
  tokens (f32 exactly; bf16/f16 the f32 values rounded as torch rounds
  them), positions and pooled vectors, and the same labels;
- the index of each tar is cached beside it (shards/.NAME.tar.index.json),
  reused without reading the tar again, rebuilt when the tar changes;
- a member missing from its shard is an error naming the tar and member;
- train-probe and eval-probe run on the shard folder (the README's journey:
  --train-list/--val-list/--skip-missing), exit 0."""
import json
import os
import subprocess
import sys

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "extract"))
sys.path.insert(0, os.path.join(ROOT, "python"))  # ovx.data, ovx.probe from the source tree
from xhelp import PY, check, finish, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

need_ffmpeg()
import torch  # noqa: E402

from ovx import data as ovx_data  # noqa: E402

tmp = tmpdir("ovx-probe-wds-")
model = make_model(os.path.join(tmp, "model"))
src = os.path.join(tmp, "clips")
for i in range(10):
    cls = "left" if i % 2 else "right"
    make_clip(os.path.join(src, cls, f"v{i}.mp4"), seconds=0.8 + 0.1 * i, size="64x48",
              src="testsrc2" if i % 2 else "testsrc")
common = ["-m", model, "--tokens", "48", "--threads", "2", "--label-from-dir", src]
files = os.path.join(tmp, "files")
r = ovx("extract", *common, "-o", files)
check(r.returncode == 0, f"files run: {r.stderr}")
ref = ovx_data.OvxDataset(files)
by_rel = {ref[i]["rel"]: ref[i] for i in range(len(ref))}
check(len(by_rel) == 10, "10 items in the files run")

for dtype, rnd in (("f32", torch.float32), ("bf16", torch.bfloat16), ("f16", torch.float16)):
    w = os.path.join(tmp, "wds_" + dtype)
    r = ovx("extract", *common, "-o", w, "--format", "wds", "--shard-items", "4", "--dtype", dtype)
    tars = sorted(f for f in os.listdir(os.path.join(w, "shards")) if f.endswith(".tar"))
    check(r.returncode == 0 and len(tars) == 3, f"wds {dtype}: 3 shards: {tars} {r.stderr}")
    ds = ovx_data.OvxDataset(w)
    check(len(ds) == 10 and ds.classes == ref.classes, f"wds {dtype}: 10 items, same classes")
    for i in range(len(ds)):
        s = ds[i]
        f = by_rel.get(s["rel"])
        if f is None:
            check(False, f"wds {dtype}: {s['rel']} not in the files run")
            continue
        want = f["tokens"].to(rnd).float()
        check(torch.equal(s["tokens"], want) and torch.equal(s["positions"], f["positions"]) and
              torch.equal(s["pooled"], f["pooled"]) and s["label"] == f["label"],
              f"wds {dtype}: {s['rel']}: tokens, positions, pooled, label = the files run's")
    for t in tars:
        check(os.path.isfile(os.path.join(w, "shards", "." + t + ".index.json")), f"wds {dtype}: index beside {t}")

# the cached index is used: a fresh process state that cannot open tars as tar files still loads
w = os.path.join(tmp, "wds_bf16")
tar0 = os.path.join(w, "shards", sorted(f for f in os.listdir(os.path.join(w, "shards")) if f.endswith(".tar"))[0])
idx0 = os.path.join(w, "shards", "." + os.path.basename(tar0) + ".index.json")
ovx_data._SHARDS.clear()
real_open = ovx_data.tarfile.open


def no_tar(*a, **k):
    raise AssertionError("the tar was read although its index is cached")


ovx_data.tarfile.open = no_tar
try:
    ds = ovx_data.OvxDataset(w)
    ok = all(ds[i]["tokens"] is not None for i in range(len(ds)))
except AssertionError as e:
    ok = False
    print(e)
check(ok, "a cached index: members found without reading the tar")
# a changed tar (new mtime): the index is rebuilt
ovx_data.tarfile.open = real_open
ovx_data._SHARDS.clear()
st = os.stat(tar0)
os.utime(tar0, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
ds = ovx_data.OvxDataset(w)
_ = [ds[i] for i in range(len(ds))]
check(json.load(open(idx0))["mtime_ns"] == st.st_mtime_ns + 10**9, "index rebuilt for the changed tar")

# a member the shard does not hold
man = [json.loads(l) for l in open(os.path.join(w, "manifest.jsonl"))]
bad = os.path.join(tmp, "bad")
os.makedirs(bad)
os.symlink(os.path.join(w, "shards"), os.path.join(bad, "shards"))
rec = dict(man[0], outputs=dict(man[0]["outputs"], tokens=dict(man[0]["outputs"]["tokens"], file="nothere.npy")))
open(os.path.join(bad, "manifest.jsonl"), "w").write(json.dumps(rec) + "\n")
try:
    ovx_data.OvxDataset(bad)[0]
    check(False, "a missing member raises")
except ovx_data.OvxDataError as e:
    check("no member nothere.npy" in str(e) and man[0]["shard"] in str(e), f"missing member named: {e}")

# the journey: train-probe and eval-probe on the shard folder
train_list, val_list = os.path.join(tmp, "train.txt"), os.path.join(tmp, "val.txt")
with open(train_list, "w") as tr, open(val_list, "w") as va:
    for i in range(10):
        (va if i >= 8 else tr).write(f"{'left' if i % 2 else 'right'}/v{i}.mp4\n")
    tr.write("left/missing.mp4\n")
run = os.path.join(tmp, "run")
r = subprocess.run([PY, os.path.join(ROOT, "scripts", "train-probe"), run, "--data", w, "--train-list", train_list,
                    "--val-list", val_list, "--skip-missing", "--epochs", "2", "--batch", "4", "--heads", "2",
                    "--workers", "1"], capture_output=True, text=True, timeout=600)
check(r.returncode == 0 and os.path.isfile(os.path.join(run, "best.pt")),
      f"train-probe on --format wds output: {r.returncode} {r.stderr[-400:]}")
r = subprocess.run([PY, os.path.join(ROOT, "scripts", "eval-probe"), os.path.join(run, "best.pt"), "--data", w,
                    "--list", val_list, "--json"], capture_output=True, text=True, timeout=600)
ev = json.loads(r.stdout) if r.returncode == 0 else {}
check(ev.get("items") == 2 and ev.get("scored") == 2, f"eval-probe on --format wds output: {r.stderr[-300:]} {ev}")
finish("probes on --format wds shards")
