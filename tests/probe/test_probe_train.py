#!/usr/bin/python3
"""End to end: generate a small labelled dataset (four classes: a textured
arrow moving left, right, up or down over a textured background, 12 clips
per class, each with its own speed, start and background), extract it once
with a tiny random model (--tokens 512) plus two images, then:
- the loader on this real output: videos (K=512, float32) and images
  (K=1024, float16) together, positions and values as in the files;
- train-probe (attentive) from UCF101-style lists: the training loss falls
  well below its start, train top-1 far above chance (0.25), metrics.jsonl,
  checkpoints and class list written; eval-probe's CSV agrees with itself;
- the same with --linear on the pooled outputs;
- same seed -> same run (metrics and weights), another seed -> another run.
Random weights test the pipeline only: a random network cannot be expected to
see motion, so each class's arrow also has its own colour (and points where
it moves); the probe learns that. Real features need the real checkpoint."""
import csv
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "extract"))
sys.path.insert(0, os.path.join(ROOT, "python"))  # ovx.data, ovx.probe from the source tree
from xhelp import PY, check, finish, make_image, need_ffmpeg, ovx, tmpdir  # noqa: E402

need_ffmpeg()
import torch  # noqa: E402

from ovx import data as ovx_data  # noqa: E402
from ovx import probe as ovx_probe  # noqa: E402
from arrows import DIRS, make_dataset  # noqa: E402  (the generated 4-class clips)

def script(name, *args):
    r = subprocess.run([PY, os.path.join(ROOT, "scripts", name), *args], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        print(f"{name} {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def metrics(run):
    with open(os.path.join(run, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


T0 = time.time()


def lap(what):
    print(f"[{time.time() - T0:6.1f} s] {what}", flush=True)


tmp = tmpdir("ovx-probe-")
model = os.path.join(tmp, "model")
subprocess.run([PY, os.path.join(ROOT, "scripts", "make-test-model"), model, "--hidden", "64", "--layers", "1",
                "--heads", "1"], check=True, stdout=subprocess.DEVNULL)
data = os.path.join(tmp, "data")
names = make_dataset(data)
lap("model and clips made")
feats = os.path.join(tmp, "feats")
r = ovx("extract", "-m", model, data, "-o", feats, "--tokens", "512", "--label-from-dir", "--decode-threads", "2",
        "--quiet")
check(r.returncode == 0, f"extract of the clips: {r.returncode} {r.stderr}")
stills = [os.path.join(tmp, "stills", f"s{i}.png") for i in range(2)]
for p in stills:
    make_image(p)
r = ovx("extract", "-m", model, *stills, "-o", feats, "--dtype", "f16", "--quiet")
check(r.returncode == 0, f"extract of the images: {r.returncode} {r.stderr}")

lap("extracted")
# -- the loader on real output --------------------------------------------------
ds = ovx_data.OvxDataset(feats)
check(len(ds) == len(names) + 2, f"{len(ds)} items")
check(ds.classes == sorted(DIRS), f"classes from the manifest labels, sorted: {ds.classes}")
by_id = {ds.item_id(i): i for i in range(len(ds))}
v, im = ds[by_id["left/03.mp4"]], ds[by_id["s0.png"]]
check(v["tokens"].shape == (512, 64) and v["tokens"].dtype == torch.float32, f"video tokens {v['tokens'].shape}")
check(np.array_equal(v["tokens"].numpy(), np.load(os.path.join(feats, "left/03.npy"))), "video tokens = file")
js = json.load(open(os.path.join(feats, "left/03.json")))
check(v["positions"].tolist() == js["positions"], "video positions = REL.json")
check(v["label"] == ds.classes.index("left") and v["pooled"].shape == (64,), "video label and pooled")
check(np.array_equal(v["pooled"].numpy(), np.load(os.path.join(feats, "left/03.pooled.npy"))), "pooled = file")
f16 = np.load(os.path.join(feats, "s0.npy"))
check(f16.dtype == np.float16 and im["tokens"].shape == (1024, 64), f"image tokens {f16.dtype} {im['tokens'].shape}")
check(np.array_equal(im["tokens"].numpy(), f16.astype(np.float32)), "image f16 tokens = file")
check(im["label"] == -1 and (im["positions"][:, 0] == 0).all(), "image: no label, t = 0")
b = ovx_data.collate([v, im])
check(b["tokens"].shape == (2, 1024, 64) and b["mask"][0].sum() == 512 and not b["mask"][1].any(),
      "collate pads the video to the image's K, mask marks the padding")
check((b["positions"][0, 512:] == -1).all() and torch.equal(b["tokens"][0, :512], v["tokens"]), "padding")

lap("loader checked")
# -- attentive probe from UCF101-style lists -----------------------------------
train_list, test_list = os.path.join(tmp, "trainlist01.txt"), os.path.join(tmp, "testlist01.txt")
with open(train_list, "w") as tr, open(test_list, "w") as te:
    for n in names:
        c, i = n.split("/")[0], int(n.split("/")[1][:2])
        if i < 9:
            tr.write(f"{c}/{os.path.splitext(n.split('/')[1])[0]}.avi {sorted(DIRS).index(c) + 1}\n")
        else:
            te.write(f"{n}\n")
run = os.path.join(tmp, "runs", "att")
r = script("train-probe", run, "--data", feats, "--train-list", train_list, "--val-list", test_list,
           "--epochs", "8", "--batch", "8", "--lr", "3e-3", "--workers", "1")
check(r.returncode == 0, "train-probe (attentive) exit 0")
print(r.stdout)
m = metrics(run) if os.path.exists(os.path.join(run, "metrics.jsonl")) else []
check(len(m) == 8 and all({"train_loss", "val_top1", "val_top5", "lr"} <= set(x) for x in m),
      f"metrics.jsonl: one line per epoch: {len(m)}")
for f in ("best.pt", "last.pt", "classes.json", "config.json"):
    check(os.path.exists(os.path.join(run, f)), f"{f} written")
check(json.load(open(os.path.join(run, "classes.json"))) == sorted(DIRS), "classes.json")
if m:
    chance = math.log(4)
    print(f"attentive: train loss {m[0]['train_loss']:.3f} -> {m[-1]['train_loss']:.3f} (ln 4 = {chance:.3f}), "
          f"train top-1 {m[-1]['train_top1']:.3f}")
    check(m[0]["train_loss"] > 0.75 * chance and m[-1]["train_loss"] < 0.5 * chance,
          "training loss falls from about ln 4 to well below it")
    check(m[-1]["lr"] < 1e-4, "learning rate decays to ~0")
r = script("eval-probe", os.path.join(run, "last.pt"), "--data", feats, "--list", train_list, "-o",
           os.path.join(run, "train.csv"), "--json")
check(r.returncode == 0, "eval-probe on the training list")
ev = json.loads(r.stdout) if r.returncode == 0 else {}
print("attentive, eval on train:", ev)
check(ev.get("items") == 36 and ev.get("top1", 0) >= 0.9, f"train top-1 far above chance 0.25: {ev}")
rows = read_csv(os.path.join(run, "train.csv")) if ev else []
check(len(rows) == 36 and list(rows[0]) == ["id", "label", "pred", "correct", "score", "top5"], "predictions CSV")
check(rows and abs(sum(int(x["correct"]) for x in rows) / 36 - ev["top1"]) < 1e-6, "CSV correct = top1")
check(all(x["top5"].split("|")[0] == x["pred"] and x["pred"] in DIRS for x in rows), "CSV pred / top5")
r = script("eval-probe", os.path.join(run, "best.pt"), "--data", feats, "--workers", "0")
check(r.returncode == 0 and "50 items, 48 scored" in r.stdout, f"eval over the whole manifest: {r.stdout}")
pred = read_csv(os.path.join(run, "predictions.csv"))
check(len(pred) == 50 and {x["id"] for x in pred if x["label"] == ""} == {"s0.png", "s1.png"},
      "images predicted, not scored; default CSV beside the checkpoint")

lap("attentive probe trained and scored")
# -- linear probe on pooled outputs ----------------------------------------------
lin = os.path.join(tmp, "runs", "lin")
r = script("train-probe", lin, "--linear", "--data", feats, "--train-list", train_list, "--val-list", test_list,
           "--epochs", "20", "--batch", "8", "--lr", "1e-2", "--workers", "0")
check(r.returncode == 0, "train-probe --linear exit 0")
ml = metrics(lin) if r.returncode == 0 else []
if ml:
    print(f"linear: train loss {ml[0]['train_loss']:.3f} -> {ml[-1]['train_loss']:.3f}")
    check(ml[-1]["train_loss"] < 0.6 * math.log(4), "linear: training loss well below ln 4")
r = script("eval-probe", os.path.join(lin, "last.pt"), "--data", feats, "--list", train_list, "-o",
           os.path.join(lin, "train.csv"), "--json")
ev = json.loads(r.stdout) if r.returncode == 0 else {}
print("linear, eval on train:", ev)
check(ev.get("top1", 0) >= 0.9, f"linear: train top-1 far above chance: {ev}")
ck = ovx_probe.load_checkpoint(os.path.join(lin, "last.pt"))
check(ck["config"]["kind"] == "linear" and set(ck["state"]) == {"fc.weight", "fc.bias"}, "linear checkpoint")

lap("linear probe trained and scored")
# -- determinism -------------------------------------------------------------------
def short_run(name, seed, workers):
    d = os.path.join(tmp, "runs", name)
    r = script("train-probe", d, "--data", feats, "--val-fraction", "0.25", "--epochs", "2", "--batch", "8",
               "--heads", "4", "--seed", str(seed), "--workers", str(workers), "--quiet")
    check(r.returncode == 0, f"short run {name}")
    if r.returncode:
        return None, None
    return ([{k: v for k, v in x.items() if k != "seconds"} for x in metrics(d)],
            ovx_probe.load_checkpoint(os.path.join(d, "last.pt"))["state"])


m1, s1 = short_run("s1", 7, 0)
m2, s2 = short_run("s2", 7, 2)
m3, s3 = short_run("s3", 8, 0)
if s1 and s2 and s3:
    check(m1 == m2 and all(torch.equal(s1[k], s2[k]) for k in s1),
          "same --seed (0 or 2 loader workers): same metrics and weights")
    check(not torch.equal(s1["query"], s3["query"]), "another --seed: another run")
lap("determinism runs")
finish("probe train")
