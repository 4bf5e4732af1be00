#!/usr/bin/python3
"""ovx.data (python/ovx/data.py) on hand-written ovx output folders (the layout of
`ovx extract`: manifest.jsonl, REL.json with positions, REL.npy tokens,
REL.pooled.npy): float32 / float16 / bfloat16 (NPY uint16 + "dtype":
"bfloat16") tokens read back exactly, memory-mapped; mixed K padded with a
mask; images (t = 0) with videos; multi-view arrays; duplicate manifest
lines (last wins); a missing file named with its path, in the loader and
through train-probe / eval-probe (exit 1), usage errors (exit 2); split
files: UCF101-style lists with and without class indices, HMDB51's
per-class split files, CSV path,split, CSV path,label, seeded fractions,
path matching across extensions and roots."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "extract"))
sys.path.insert(0, os.path.join(ROOT, "python"))  # ovx.data, ovx.probe from the source tree
from xhelp import PY, check, finish, tmpdir  # noqa: E402
import torch  # noqa: E402

from ovx import data as ovx_data  # noqa: E402

D = 8
rng = np.random.default_rng(1)


def bf16_exact(shape):
    """float32 values that bfloat16 holds exactly, and their uint16 bits."""
    a = rng.standard_normal(shape).astype(np.float32)
    bits = (a.view(np.uint32) >> 16).astype(np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32), bits


def video_positions(k, views=None):
    idx = np.sort(rng.choice(64 * 256, k, replace=False))
    return np.stack([idx // 256, (idx // 16) % 16, idx % 16], 1).tolist()


def write_item(root, rel, tokens, dtype_name, label, kind="video", pooled=True, positions=None, views=None,
               manifest=True, stored=None):
    """One item as ovx writes it; returns the float32 tokens it should load as."""
    base = os.path.splitext(rel)[0]
    os.makedirs(os.path.join(root, os.path.dirname(base)), exist_ok=True)
    np.save(os.path.join(root, base + ".npy"), stored if stored is not None else tokens)
    outputs = {"tokens": {"file": base + ".npy", "dtype": dtype_name, "shape": list(tokens.shape)}}
    pv = None
    if pooled:
        pv = rng.standard_normal(tokens.shape[:-2] + (D,)).astype(np.float32)
        np.save(os.path.join(root, base + ".pooled.npy"), pv)
        outputs["pooled"] = {"file": base + ".pooled.npy", "dtype": "float32", "shape": list(pv.shape)}
    js = {"rel": rel, "kind": kind, "label": label, "dtype": dtype_name, "n_tokens": tokens.shape[-2],
          "outputs": {k: dict(v, file=os.path.basename(v["file"])) for k, v in outputs.items()}}
    if views:
        js["views"] = [{"view": v, "positions": positions[v]} for v in range(views)]
    else:
        js["positions"] = positions
    with open(os.path.join(root, base + ".json"), "w") as f:
        json.dump(js, f)
    if manifest:
        with open(os.path.join(root, "manifest.jsonl"), "a") as f:
            f.write(json.dumps({"path": "/data/" + rel, "rel": rel, "kind": kind, "label": label,
                                "json": base + ".json", "outputs": outputs, "settings_hash": "0"}) + "\n")
    return pv


def script(name, *args):
    return subprocess.run([PY, os.path.join(ROOT, "scripts", name), *args], capture_output=True, text=True,
                          timeout=300)


tmp = tmpdir("ovx-probe-loader-")
root = os.path.join(tmp, "feats")
os.makedirs(root)
want = {}
# a stale line for cat/a (other settings, other label), replaced by the next run's line
write_item(root, "cat/a.mp4", np.zeros((9, D), np.float32), "float32", "old", positions=video_positions(9))
t32 = rng.standard_normal((5, D)).astype(np.float32)
pos_a = video_positions(5)
pool_a = write_item(root, "cat/a.mp4", t32, "float32", "cat", positions=pos_a)
t16 = rng.standard_normal((7, D)).astype(np.float16)
write_item(root, "dog/b.mp4", t16, "float16", "dog", positions=video_positions(7))
tbf, bits = bf16_exact((3, D))
write_item(root, "dog/c.mkv", tbf, "bfloat16", "dog", positions=video_positions(3), stored=bits)
timg = rng.standard_normal((16, D)).astype(np.float32)
img_pos = [[0, h, w] for h in range(4) for w in range(4)]
write_item(root, "img/p.png", timg, "float32", None, kind="image", pooled=False, positions=img_pos)
tv = rng.standard_normal((2, 4, D)).astype(np.float32)
vpos = [video_positions(4), video_positions(4)]
write_item(root, "bird/v.mp4", tv, "float32", "bird", positions=vpos, views=2)

man = ovx_data.read_manifest(root)
check(list(man) == ["cat/a.mp4", "dog/b.mp4", "dog/c.mkv", "img/p.png", "bird/v.mp4"],
      f"manifest: one record per REL, order of the winning line: {list(man)}")
check(man["cat/a.mp4"]["label"] == "cat", "duplicate REL: the last line wins")

loads = []
real_load = np.load


def spy(*a, **k):
    loads.append(k.get("mmap_mode"))
    return real_load(*a, **k)


np.load = spy
ds = ovx_data.OvxDataset(root)
items = {ds.item_id(i): ds[i] for i in range(len(ds))}
np.load = real_load
check(loads and all(m == "r" for m in loads), f"every array memory-mapped: {loads}")
check(ds.classes == ["bird", "cat", "dog"], f"classes: sorted labels, unlabelled left out: {ds.classes}")
a, b, c, p, v = (items[k] for k in ("cat/a.mp4", "dog/b.mp4", "dog/c.mkv", "img/p.png", "bird/v.mp4"))
check(torch.equal(a["tokens"], torch.from_numpy(t32)) and a["positions"].tolist() == pos_a, "f32 tokens, positions")
check(torch.equal(a["pooled"], torch.from_numpy(pool_a)) and a["label"] == 1 and a["id"] == "cat/a.mp4",
      "pooled, label index, id")
check(b["tokens"].dtype == torch.float32 and torch.equal(b["tokens"], torch.from_numpy(t16.astype(np.float32))),
      "f16 tokens -> float32, exact")
check(torch.equal(c["tokens"], torch.from_numpy(tbf)), "bf16 (uint16 NPY) tokens -> float32, exact")
check(p["label"] == -1 and p["pooled"] is None and p["positions"][:, 0].eq(0).all(), "image: no label/pooled, t=0")
check(torch.equal(v["tokens"], torch.from_numpy(tv[0])) and v["positions"].tolist() == vpos[0], "view 0 by default")
dsn = ovx_data.OvxDataset(root, native=True)
nat = {dsn.item_id(i): dsn[i]["tokens"].dtype for i in range(len(dsn))}
check(nat["dog/b.mp4"] == torch.float16 and nat["dog/c.mkv"] == torch.bfloat16 and nat["cat/a.mp4"] == torch.float32,
      f"native=True keeps the stored dtype: {nat}")
check(torch.equal(dsn[2]["tokens"].float(), torch.from_numpy(tbf)), "native bf16 = the same values")
dsa = ovx_data.OvxDataset(root, rels=["bird/v.mp4"], view="all")
check([dsa.item_id(i) for i in range(len(dsa))] == ["bird/v.mp4#0", "bird/v.mp4#1"], "view='all': one sample per view")
check(torch.equal(dsa[1]["tokens"], torch.from_numpy(tv[1])) and dsa[1]["positions"].tolist() == vpos[1], "view 1")
check(torch.equal(dsa[1]["pooled"], torch.from_numpy(np.load(os.path.join(root, "bird/v.pooled.npy"))[1])), "pooled v1")

col = ovx_data.collate([a, b, c, p])
check(col["tokens"].shape == (4, 16, D) and col["positions"].shape == (4, 16, 3), "collate: padded to max K")
check(col["mask"].sum(1).tolist() == [11, 9, 13, 0], f"mask marks padding: {col['mask'].sum(1).tolist()}")
check(torch.equal(col["tokens"][1, :7], b["tokens"]) and col["tokens"][1, 7:].eq(0).all(), "tokens kept, pad zero")
check(col["positions"][2, 3:].eq(-1).all() and col["pooled"] is None, "pad positions -1; pooled None if one lacks")
check(col["label"].tolist() == [1, 2, 2, -1] and col["id"][3] == "img/p.png", "labels and ids")
col2 = ovx_data.collate([dsn[1], dsn[2]])
check(col2["tokens"].dtype == torch.float32 and col2["pooled"].shape == (2, D), "mixed native dtypes -> float32")
mha = torch.nn.MultiheadAttention(D, 2, batch_first=True)
q = torch.zeros(4, 1, D)
out1, _ = mha(q, col["tokens"], col["tokens"], key_padding_mask=col["mask"])
out2, _ = mha(q[1:2], b["tokens"][None], b["tokens"][None])
check(torch.allclose(out1[1], out2[0], atol=1e-6), "masked attention over padded batch = over the item alone")

# names that are not UTF-8: ovx writes U+FFFD and the exact bytes as KEY_bytes (base64)
import base64  # noqa: E402

raw = os.path.join(tmp, "rawnames")
os.makedirs(raw)
stem = b"cat/x\xff"
os.makedirs(os.path.join(raw, "cat"))
np.save(os.fsdecode(os.path.join(raw.encode(), stem + b".npy")), t32)
with open(os.path.join(raw.encode(), stem + b".json"), "w") as f:
    json.dump({"positions": pos_a}, f)
b64 = lambda x: base64.b64encode(x).decode()  # noqa: E731
with open(os.path.join(raw, "manifest.jsonl"), "w") as f:
    f.write(json.dumps({"rel": "cat/x\ufffd.mp4", "rel_bytes": b64(stem + b".mp4"), "label": "cat",
                        "json": "cat/x\ufffd.json", "json_bytes": b64(stem + b".json"),
                        "outputs": {"tokens": {"file": "cat/x\ufffd.npy", "file_bytes": b64(stem + b".npy"),
                                               "dtype": "float32", "shape": [5, D]}}}, ensure_ascii=True) + "\n")
x = ovx_data.OvxDataset(raw)[0]
check(torch.equal(x["tokens"], torch.from_numpy(t32)) and x["positions"].tolist() == pos_a,
      "non-UTF-8 names: files found through file_bytes / json_bytes")

# -- errors name the file ----------------------------------------------------------
def err(fn):
    try:
        fn()
    except ovx_data.OvxDataError as e:
        return str(e)
    return ""


bad = os.path.join(tmp, "bad")
shutil.copytree(root, bad)
os.remove(os.path.join(bad, "dog/c.npy"))
os.remove(os.path.join(bad, "cat/a.json"))
dsb = ovx_data.OvxDataset(bad)
e = err(lambda: dsb[2])
check(os.path.join(bad, "dog/c.npy") in e and "no such file" in e, f"missing token file named: {e}")
e = err(lambda: dsb[0])
check(os.path.join(bad, "cat/a.json") in e, f"missing REL.json named: {e}")
e = err(lambda: ovx_data.OvxDataset(os.path.join(tmp, "nowhere")))
check(os.path.join(tmp, "nowhere", "manifest.jsonl") in e, f"missing manifest named: {e}")
with open(os.path.join(bad, "dog/b.npy"), "wb") as f:
    f.write(b"not an npy")
e = err(lambda: dsb[1])
check(os.path.join(bad, "dog/b.npy") in e and "NPY" in e, f"bad NPY named: {e}")
e = err(lambda: ovx_data.OvxDataset(root, rels=["cat/zzz.mp4"]))
check("cat/zzz.mp4" in e, f"unknown REL named: {e}")

# -- splits --------------------------------------------------------------------------
lists = os.path.join(tmp, "lists")
os.makedirs(lists)


def write(name, text):
    path = os.path.join(lists, name)
    with open(path, "w") as f:
        f.write(text)
    return path


rels = list(man)
ucf_train = write("trainlist01.txt", "cat/a.avi 2\ndog/b.avi 3\r\n\n")
ucf_test = write("testlist01.txt", "dog/c.avi\nUCF-101/bird/v.avi\n")
check(ovx_data.read_list(ucf_train) == ["cat/a.avi", "dog/b.avi"], "UCF list with class indices")
check(ovx_data.match_paths(rels, ovx_data.read_list(ucf_train), "t") == ["cat/a.mp4", "dog/b.mp4"],
      "list .avi matches extracted .mp4 / .mkv")
check(ovx_data.match_paths(rels, ovx_data.read_list(ucf_test), "t") == ["dog/c.mkv", "bird/v.mp4"],
      "list without indices, a longer root prefix")
check(ovx_data.match_paths(["UCF-101/cat/a.mp4"], ["cat/a.avi"], "t") == ["UCF-101/cat/a.mp4"],
      "extraction from a parent folder: list path is a suffix of REL")
e = err(lambda: ovx_data.match_paths(["x/a.mp4", "y/a.mp4"], ["a.mp4"], "L"))
check("L: 1 of 1 entries not in the manifest" in e, f"ambiguous match is not a match: {e}")
miss = write("miss.txt", "cat/a.avi\nfish/z.avi\n")
e = err(lambda: ovx_data.match_paths(rels, ovx_data.read_list(miss), miss))
check(miss in e and "fish/z.avi" in e and "--skip-missing" in e, f"missing list entry named: {e}")
warned = []
check(ovx_data.match_paths(rels, ovx_data.read_list(miss), miss, True, warned.append) == ["cat/a.mp4"]
      and warned and "fish/z.avi" in warned[0], "skip_missing: left out, with a warning")
csv_lab = write("labels.csv", "path,label\ncat/a.mp4,cat\n\"dog/b.mp4\",dog\n")
check(ovx_data.read_list(csv_lab) == ["cat/a.mp4", "dog/b.mp4"], "CSV path,label list")
csv_split = write("split.csv", "path,split\ncat/a.mp4,train\ndog/b.mp4,train\ndog/c.mkv,val\nbird/v.mp4,test\n")
check(ovx_data.read_split_csv(csv_split) == {"train": ["cat/a.mp4", "dog/b.mp4"], "val": ["dog/c.mkv"],
                                             "test": ["bird/v.mp4"]}, "CSV path,split")
hmdb = os.path.join(lists, "hmdb")
os.makedirs(hmdb)
for name, text in (("cat_test_split1.txt", "a.avi 1 \nq.avi 0\n"), ("dog_test_split1.txt", "b.avi 1\nc.avi 2\n"),
                   ("dog_test_split2.txt", "b.avi 2\nc.avi 1\n"), ("bird_test_split1.txt", "v.avi 2\n")):
    with open(os.path.join(hmdb, name), "w") as f:
        f.write(text)
check(ovx_data.read_hmdb_splits(hmdb, 1) == {"train": ["cat/a.avi", "dog/b.avi"], "test": ["bird/v.avi", "dog/c.avi"]},
      f"HMDB51 split 1: {ovx_data.read_hmdb_splits(hmdb, 1)}")
check(ovx_data.read_hmdb_splits(hmdb, 2) == {"train": ["dog/c.avi"], "test": ["dog/b.avi"]}, "HMDB51 split 2")
e = err(lambda: ovx_data.read_list(os.path.join(hmdb, "cat_test_split1.txt")))
check("HMDB51 split file" in e and "--hmdb-splits" in e, f"an HMDB51 split file as a plain list is refused: {e}")
import argparse  # noqa: E402

from ovx import probe as ovx_probe  # noqa: E402


def splits(**kw):
    ns = dict(train_list=None, val_list=None, split_csv=None, train_split="train", val_split="val",
              hmdb_splits=None, hmdb_split=1, val_fraction=None, split_seed=0, skip_missing=False)
    ns.update(kw)
    return ovx_probe.split_rels(argparse.Namespace(**ns), man, "test")


check(splits(hmdb_splits=hmdb) == (["cat/a.mp4", "dog/b.mp4"], ["bird/v.mp4", "dog/c.mkv"]), "split_rels: HMDB51")
check(splits(split_csv=csv_split) == (["cat/a.mp4", "dog/b.mp4"], ["dog/c.mkv"]), "split_rels: CSV")
check(splits(split_csv=csv_split, val_split="test")[1] == ["bird/v.mp4"], "split_rels: CSV --val-split")
check(splits(train_list=ucf_train, val_list=ucf_test) == (["cat/a.mp4", "dog/b.mp4"], ["dog/c.mkv", "bird/v.mp4"]),
      "split_rels: UCF101 lists")
tr, va = splits()
check(sorted(tr + va) == sorted(r for r in man if man[r]["label"]) and not set(tr) & set(va),
      "split_rels: default fraction partitions the labelled items")
recs = [{"rel": f"{c}/{i}.mp4", "label": c} for c in "abc" for i in range(10)]
tr, va = ovx_data.fraction_split(recs, 0.2, 5)
check(len(va) == 6 and sorted(x[0] for x in va) == list("aabbcc") and not set(tr) & set(va)
      and len(tr) + len(va) == 30, f"fraction: 20% of each class held out: {va}")
check(ovx_data.fraction_split(list(reversed(recs)), 0.2, 5) == (tr, va), "fraction: seeded, order-free")
check(ovx_data.fraction_split(recs, 0.2, 6) != (tr, va), "fraction: another seed, another split")

# -- probes (in process) ----------------------------------------------------------------
try:
    ovx_probe.AttentiveProbe(D, 3, heads=3)
    check(False, "--heads must divide the width")
except ValueError as e:
    check("--heads 3 does not divide the token width 8" in str(e), f"heads message: {e}")
lp = ovx_probe.LinearProbe(D, 3, "mean")
check(torch.allclose(lp(col)[1], lp.fc(b["tokens"].mean(0)), atol=1e-6), "linear probe on the mean of real tokens")
ap = ovx_probe.AttentiveProbe(D, 3, heads=2)
check(torch.allclose(ap(col)[1], ap({"tokens": b["tokens"][None], "mask": torch.zeros(1, 7, dtype=torch.bool)})[0],
                     atol=1e-5), "attentive probe ignores padding")

# -- the scripts: exit codes and messages ------------------------------------------------
run = os.path.join(tmp, "run")
r = script("train-probe", run, "--data", root, "--split-csv", csv_split, "--epochs", "2", "--batch", "2",
           "--heads", "2", "--workers", "0", "--quiet")
check(r.returncode == 0, f"train-probe on the fixtures (CSV split): {r.returncode} {r.stderr}")
r = script("eval-probe", os.path.join(run, "last.pt"), "--data", root, "--split-csv", csv_split, "--split", "val",
           "-o", os.path.join(tmp, "p.csv"), "--json")
check(r.returncode == 0 and json.loads(r.stdout or "{}").get("items") == 1, f"eval-probe --split-csv: {r.stdout}")
only_b = write("only_b.txt", "dog/b.avi\n")
r = script("train-probe", run, "--data", bad, "--train-list", only_b, "--epochs", "1", "--batch", "2",
           "--heads", "2", "--workers", "1", "--quiet", "--overwrite")  # run holds the run above
check(r.returncode == 1 and os.path.join(bad, "dog/b.npy") in r.stderr and "Traceback" not in r.stderr,
      f"train-probe: bad file read in a loader worker -> exit 1 naming it: {r.stderr}")
nop = os.path.join(tmp, "nopooled")
shutil.copytree(root, nop)
write_item(nop, "cat/n.mp4", t32, "float32", "cat", pooled=False, positions=pos_a)
r = script("train-probe", run, "--data", nop, "--linear", "--val-fraction", "0", "--workers", "0", "--overwrite")
check(r.returncode == 1 and "no pooled vector" in r.stderr, f"--linear without pooled outputs: {r.stderr}")
r = script("eval-probe", os.path.join(tmp, "none.pt"), "--data", root)
check(r.returncode == 1 and os.path.join(tmp, "none.pt") + ": no such file" in r.stderr, f"missing ckpt: {r.stderr}")
for args in (["--data", root], [run], [run, "--data", root, "--epochs", "0"],
             [run, "--data", root, "--val-list", ucf_test], [run, "--data", root, "--bogus"]):
    r = script("train-probe", *args)
    check(r.returncode == 2 and "usage: train-probe" in r.stderr, f"usage error exit 2: {args}: {r.returncode}")
finish("probe loader")
