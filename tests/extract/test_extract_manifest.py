#!/usr/bin/python3
"""The manifest is the truth: after setting changes, a label change,
--overwrite and an item failing then succeeding, manifest.jsonl holds one
line per item describing the files on disk now, failures.jsonl only the
items failed now, no output of earlier settings is left, a label change
rewrites REL.json without recomputing, and a failed log append (file size
limit) is rolled back and makes the run exit 1."""
import json
import os
import resource
import shutil
import signal
import subprocess

import numpy as np

from xhelp import OVX, check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-manifest-")
model = make_model(os.path.join(tmp, "model"))
headless = make_model(os.path.join(tmp, "headless"), "--no-head")
data = os.path.join(tmp, "data")
rels = ["cat/a.mp4", "cat/b.mp4", "dog/c.mp4"]
for i, rel in enumerate(rels):
    make_clip(os.path.join(data, rel), src=["testsrc", "testsrc2", "smptebars"][i])
out = os.path.join(tmp, "out")
BASE = ["extract", data, "-o", out, "--threads", "1", "--device", "cpu", "--quiet"]


def run(*args, m=model, **kw):
    r = ovx(*BASE, "-m", m, *args, **kw)
    return r


def manifest():
    return jsonl(os.path.join(out, "manifest.jsonl"))


def files():
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs
                  if not os.path.relpath(r, out).startswith(".ovx"))


def check_truth(what, tokens=None, pooled=True, hidden=None, label=None):
    """One manifest line per item, each matching its REL.json and the files."""
    man = manifest()
    check(sorted(m["rel"] for m in man) == sorted(rels), f"{what}: one line per item: {[m['rel'] for m in man]}")
    for m in man:
        j = json.load(open(os.path.join(out, m["json"])))
        check(m["settings_hash"] == j["settings_hash"] and m["label"] == j["label"], f"{what}: {m['rel']} line = JSON")
        if label is not None:
            check(m["label"] == label(m["rel"]), f"{what}: {m['rel']} label {m['label']}")
        for k, o in m["outputs"].items():
            a = np.load(os.path.join(out, o["file"]))
            check(list(a.shape) == o["shape"], f"{what}: {o['file']} shape as listed")
        check(("tokens" in m["outputs"]) == (tokens is not None), f"{what}: tokens listed iff written")
        check(("pooled" in m["outputs"]) == pooled, f"{what}: pooled listed iff written")
        if tokens is not None and "tokens" in m["outputs"]:
            check(m["outputs"]["tokens"]["shape"][0] == tokens, f"{what}: {tokens} tokens")
    # no stale file: every output file on disk is listed by its item
    listed = {o["file"] for m in man for o in m["outputs"].values()} | {m["json"] for m in man}
    on_disk = {f for f in files() if not f.endswith(".jsonl")}
    check(on_disk == listed, f"{what}: files on disk are exactly the listed ones: extra {on_disk - listed}, "
          f"missing {listed - on_disk}")


# --- settings changes: one line per item, stale outputs removed
r = run("--tokens", "256")
check(r.returncode == 0, f"first run: {r.stderr}")
check_truth("--tokens 256", tokens=256)
r = run("--tokens", "512", "--hidden-state", "-2")
check(r.returncode == 0, f"--tokens 512 --hidden-state -2: {r.stderr}")
check_truth("--tokens 512 --hidden-state -2", tokens=512)
check(all(any(f.endswith(".hidden_-2.npy") for f in files() if f.startswith(os.path.splitext(rel)[0] + "."))
          for rel in rels), "hidden states written")
r = run("--tokens", "512", "--pooled-only")
check(r.returncode == 0, f"--pooled-only: {r.stderr}")
check_truth("--pooled-only (REL.npy, hidden_-2 gone)", tokens=None)
r = run("--tokens", "512", m=headless)
check(r.returncode == 0, f"headless model: {r.stderr}")
check_truth("headless model (pooled gone)", tokens=512, pooled=False)
r = run("--tokens", "512")
check(r.returncode == 0, f"back to the model with a head: {r.stderr}")
check_truth("back", tokens=512)

# --- --overwrite: same settings, one line per item still
r = run("--tokens", "512", "--overwrite")
check(r.returncode == 0, f"--overwrite: {r.stderr}")
check_truth("--overwrite", tokens=512)

# --- label change: REL.json and manifest updated, nothing recomputed
mt = {rel: os.stat(os.path.join(out, os.path.splitext(rel)[0] + ".npy")).st_mtime_ns for rel in rels}
r = run("--tokens", "512", "--label-from-dir", "--jsonl")
check(r.returncode == 0, f"--label-from-dir: {r.stderr}")
check(all(x["status"] == "skipped" for x in jsonl(r.stdout, is_text=True)), "label change: items skipped")
check_truth("label change", tokens=512, label=lambda rel: rel.split("/")[0])
check(all(os.stat(os.path.join(out, os.path.splitext(rel)[0] + ".npy")).st_mtime_ns == mt[rel] for rel in rels),
      "label change: embeddings not recomputed")
lab = os.path.join(tmp, "labels.csv")
open(lab, "w").write("path,label\ncat/a.mp4,kitten\n")
r = run("--tokens", "512", "--labels", lab, "--label-from-dir")
check_truth("label change 2", tokens=512, label=lambda rel: "kitten" if rel == "cat/a.mp4" else rel.split("/")[0])
r = run("--tokens", "512")
check_truth("labels dropped", tokens=512, label=lambda rel: None)

# --- an item failing, then succeeding: failures.jsonl shows the current state
bad = os.path.join(data, "dog/c.mp4")
good = bad + ".good"
shutil.move(bad, good)
open(bad, "wb").write(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 2000)
r = run("--tokens", "128")
check(r.returncode == 1, f"broken item: exit 1 ({r.returncode})")
fl = jsonl(os.path.join(out, "failures.jsonl"))
check([f["rel"] for f in fl] == ["dog/c.mp4"], f"failure listed once: {fl}")
r = run("--tokens", "128")
fl = jsonl(os.path.join(out, "failures.jsonl"))
check(len(fl) == 1, f"failing again: still one line: {fl}")
# its outputs from --tokens 512 are still on disk and still listed (they were not rewritten)
man = {m["rel"]: m for m in manifest()}
check(man.get("dog/c.mp4", {}).get("outputs", {}).get("tokens", {}).get("shape", [0])[0] == 512,
      "the failed item keeps its earlier (valid) outputs and line")
shutil.move(good, bad)
r = run("--tokens", "128")
check(r.returncode == 0, f"fixed: exit 0 ({r.returncode}) {r.stderr}")
check(jsonl(os.path.join(out, "failures.jsonl")) == [], "fixed: failures.jsonl empty")
check_truth("after the fix", tokens=128)

# --- a failed append: rolled back, exit 1, no torn line
man_path = os.path.join(out, "manifest.jsonl")
filler = [json.dumps({"path": f"x{i}", "rel": f"x{i}.mp4", "json": f"x{i}.json", "outputs": {}}) for i in range(3000)]
with open(man_path, "a") as f:
    f.write("\n".join(filler) + "\n")
size = os.path.getsize(man_path)
before = open(man_path, "rb").read()


def limit_fsize():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, size + 10))


p = subprocess.run([OVX, *BASE, "-m", model, "--tokens", "64"], capture_output=True, text=True,
                   preexec_fn=limit_fsize)
check(p.returncode == 1, f"failed append: exit 1 ({p.returncode}) {p.stderr[-600:]}")
check("manifest.jsonl" in p.stderr, f"failed append: named on stderr: {p.stderr[-600:]}")
after = open(man_path, "rb").read()
check(after == before, f"failed append: manifest unchanged (rolled back): {len(before)} -> {len(after)} bytes")
check(after.endswith(b"\n"), "failed append: no torn line")
# the next run without the limit brings the manifest back to the truth
r = run("--tokens", "64")
check(r.returncode == 0, f"after the failed append: {r.stderr}")
check(len(manifest()) == 3003, f"foreign lines kept, ours one each: {len(manifest())}")
finish("extract manifest")
