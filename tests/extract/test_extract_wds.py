#!/usr/bin/python3
"""--format wds: WebDataset-style tar shards. Every good item is in exactly
one complete shard, `tar tf` lists the members, Python's tarfile loads every
array with the shape its KEY.json records and the same bytes as a files run,
members group into samples by WebDataset's rule (key = name up to the first
dot, consecutive members); kill -9 in the middle of a shard and a rerun: no
partial shard under a final name, nothing lost or duplicated, complete
shards' items skipped; --shard-bytes closes shards by size."""
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import numpy as np

from xhelp import OVX, check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-wds-")
model = make_model(os.path.join(tmp, "model"))
data = os.path.join(tmp, "data")
good = [f"{'xy'[i % 2]}/v.{i}/clip {i:02d}.mp4" for i in range(8)]   # dots and spaces in REL
for i, rel in enumerate(good):
    make_clip(os.path.join(data, rel), seconds=0.8, size="64x48",
              src=["testsrc", "testsrc2", "smptebars", "rgbtestsrc"][i % 4])
bad = ["x/broken.mp4"]
open(os.path.join(data, bad[0]), "wb").write(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 300)
K = 64
ARGS = ["extract", "-m", model, data, "--tokens", str(K), "--device", "cpu", "--threads", "1"]


def key_of(rel):
    base = rel.rsplit(".", 1)[0]
    return base.replace("%", "%25").replace("/", "%2F").replace(".", "%2E")


def final_shards(out):
    d = os.path.join(out, "shards")
    return sorted(f for f in os.listdir(d) if f.endswith(".tar")) if os.path.isdir(d) else []


def temp_shards(out):
    d = os.path.join(out, "shards")
    return sorted(f for f in os.listdir(d) if ".tmp." in f) if os.path.isdir(d) else []


def read_shards(out, what):
    """{key: (shard, {suffix: bytes})}; checks each shard is a complete tar that
    `tar tf` and tarfile list alike, grouped into samples by WebDataset's rule."""
    items = {}
    for name in final_shards(out):
        path = os.path.join(out, "shards", name)
        listed = subprocess.run(["tar", "tf", path], capture_output=True, text=True)
        check(listed.returncode == 0, f"{what}: tar tf {name}: {listed.stderr}")
        with tarfile.open(path) as t:
            members = t.getmembers()
            check([m.name for m in members] == listed.stdout.splitlines(), f"{what}: tar tf = tarfile for {name}")
            samples = []   # WebDataset: consecutive members with one key form a sample
            for m in members:
                check(m.isfile() and m.mode == 0o644, f"{what}: {m.name} is a plain file")
                key, suffix = m.name.split(".", 1)
                if not samples or samples[-1][0] != key:
                    samples.append((key, {}))
                samples[-1][1][suffix] = t.extractfile(m).read()
        for key, members in samples:
            check(key not in items, f"{what}: {key} in one shard only (also in {items.get(key, ('',))[0]})")
            items[key] = (name, members)
    return items


def check_items(out, items, what, files_out=None):
    check(sorted(items) == sorted(key_of(r) for r in good), f"{what}: the good items, once each: {sorted(items)}")
    for rel in good:
        shard, m = items.get(key_of(rel), ("", {}))
        if not m:
            continue
        check(sorted(m) == ["json", "pooled.npy", "tokens.npy"], f"{what}: {rel} members {sorted(m)}")
        js = json.loads(m["json"])
        check(js["rel"] == rel and js["key"] == key_of(rel), f"{what}: {rel}: JSON rel/key {js['rel']} {js['key']}")
        for name, suffix in (("tokens", "tokens.npy"), ("pooled", "pooled.npy")):
            a = np.load(io.BytesIO(m[suffix]))
            o = js["outputs"][name]
            check(o["file"] == f"{key_of(rel)}.{suffix}" and list(a.shape) == o["shape"] and a.dtype == np.float32,
                  f"{what}: {rel} {suffix}: shape {a.shape} vs JSON {o}")
            if files_out:
                ref = os.path.join(files_out, rel.rsplit(".", 1)[0] + (".npy" if name == "tokens" else ".pooled.npy"))
                check(m[suffix] == open(ref, "rb").read(), f"{what}: {rel} {suffix} = the files run's bytes")
    man = jsonl(os.path.join(out, "manifest.jsonl"))
    check(sorted(x["rel"] for x in man) == sorted(good), f"{what}: manifest: each good item once")
    for x in man:
        check(items.get(x["key"], ("",))[0] == os.path.basename(x["shard"]), f"{what}: manifest shard of {x['rel']}")
    check(sorted(x["rel"] for x in jsonl(os.path.join(out, "failures.jsonl"))) == bad, f"{what}: failures")


# --- a whole run, three items per shard, against a files run
files_out = os.path.join(tmp, "files")
r = ovx(*ARGS, "-o", files_out)
check(r.returncode == 1, f"files run: {r.returncode} {r.stderr}")
out = os.path.join(tmp, "wds")
r = ovx(*ARGS, "-o", out, "--format", "wds", "--shard-items", "3", "--jsonl")
check(r.returncode == 1, f"wds run exits 1 (one bad input): {r.returncode} {r.stderr}")
check(final_shards(out) == ["0-000000.tar", "0-000001.tar", "0-000002.tar"], f"3+3+2 items: {final_shards(out)}")
check(not temp_shards(out) and not [f for f in os.listdir(out)
                                    if f not in ("shards", ".ovx", "manifest.jsonl", "failures.jsonl")],
      f"only shards and logs: {os.listdir(out)} {temp_shards(out)}")
check_items(out, read_shards(out, "run"), "run", files_out)
recs = jsonl(r.stdout, is_text=True)
check(sorted(x["rel"] for x in recs if x["status"] == "done") == sorted(good), "--jsonl: each good item done")
r = ovx(*ARGS, "-o", out, "--format", "wds", "--shard-items", "3", "--jsonl")
st = [x["status"] for x in jsonl(r.stdout, is_text=True) if x["rel"] in good]
check(st == ["skipped"] * len(good) and final_shards(out) == ["0-000000.tar", "0-000001.tar", "0-000002.tar"],
      f"rerun skips everything, writes no shard: {st}")
u = ovx(*ARGS, "-o", out, "--format", "wds", "--overwrite")
check(u.returncode == 2 and "new output folder" in u.stderr, f"--overwrite with wds refused: {u.stderr}")
u = ovx(*ARGS, "-o", out, "--shard-items", "5")
check(u.returncode == 2, "--shard-items needs --format wds")

# --- kill -9 in the middle of the second shard, then rerun
out = os.path.join(tmp, "killed")
p = subprocess.Popen([OVX, *ARGS, "-o", out, "--format", "wds", "--shard-items", "3"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
deadline = time.time() + 120
killed = False
while time.time() < deadline and p.poll() is None:
    tmps = temp_shards(out)
    if final_shards(out) and tmps:
        try:
            size = os.path.getsize(os.path.join(out, "shards", tmps[0]))
        except OSError:
            size = 0
        if size > 1024:   # at least one item in the open shard
            p.send_signal(signal.SIGKILL)
            killed = True
            break
    time.sleep(0.01)
p.wait()
check(killed, "killed while the second shard was open")
check(final_shards(out) == ["0-000000.tar"] and len(temp_shards(out)) == 1,
      f"after kill -9: one complete shard and the partial one under a temp name: {final_shards(out)} "
      f"{temp_shards(out)}")
first = read_shards(out, "killed")
check(len(first) == 3, f"the complete shard holds 3 items: {sorted(first)}")
# rerun, shards closed by size now (an item is ~52 KB: two per 80K shard)
r = ovx(*ARGS, "-o", out, "--format", "wds", "--shard-bytes", "80K", "--jsonl")
check(r.returncode == 1, f"rerun: {r.returncode} {r.stderr}")
st = {x["rel"]: x["status"] for x in jsonl(r.stdout, is_text=True)}
first_rels = [json.loads(m["json"])["rel"] for _, m in first.values()]
check(all(st[rel] == "skipped" for rel in first_rels) and
      sorted(rel for rel in good if st.get(rel) == "done") == sorted(set(good) - set(first_rels)),
      f"rerun: the complete shard's items skipped, the rest (also the partial shard's) redone: {st}")
check(not temp_shards(out), f"the dead run's temp shard removed: {temp_shards(out)}")
items = read_shards(out, "rerun")
check_items(out, items, "rerun")
new = [s for s in final_shards(out) if s != "0-000000.tar"]
with tarfile.open(os.path.join(out, "shards", new[0])) as t:
    n_first_new = len([m for m in t.getmembers() if m.name.endswith(".json")])
check(len(new) == 3 and n_first_new == 2, f"--shard-bytes 80K: 5 items in shards of 2: {new}, {n_first_new}")
finish("extract --format wds")
