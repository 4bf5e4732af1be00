#!/usr/bin/python3
"""ovx extract over a generated tree: same-named files in different folders,
spaces and non-ASCII names, an image, bad files. Checks outputs, shapes,
failures.jsonl (exactly the bad ones), manifest.jsonl, --jsonl, labels, exit
status, resume skipping, collisions and escapes, --dry-run with shards
(N = 3 union) and Slurm defaults, usage errors."""
import json
import os
import shutil
import subprocess

import numpy as np

from xhelp import (OVX, check, check_item, finish, jsonl, make_clip, make_image, make_model, need_ffmpeg, ovx,
                   temp_files, tmpdir)

need_ffmpeg()
tmp = tmpdir("ovx-extract-cli-")
model = make_model(os.path.join(tmp, "model"))
data = os.path.join(tmp, "data")
good = ["a/cat/000.mp4", "a/dog/000.mp4", "a/dog/001.mkv", "b c/vid\u00e9o \u00fc 1.mp4"]
make_clip(os.path.join(data, good[0]))
make_clip(os.path.join(data, good[1]), src="testsrc2")
make_clip(os.path.join(data, good[2]), codec="mpeg4")
make_clip(os.path.join(data, good[3]), src="smptebars")
make_image(os.path.join(data, "img", "p.png"))
bad = ["bad/empty.mp4", "bad/garbage.avi", "bad/trunc.mp4", "bad/broken.png"]
os.makedirs(os.path.join(data, "bad"))
open(os.path.join(data, bad[0]), "wb").close()
open(os.path.join(data, bad[1]), "wb").write(np.random.default_rng(0).bytes(20000))
whole = open(os.path.join(data, good[0]), "rb").read()
open(os.path.join(data, bad[2]), "wb").write(whole[: len(whole) // 3])
open(os.path.join(data, bad[3]), "wb").write(b"\x89PNG\r\n\x1a\n" + bytes(100))
open(os.path.join(data, "a", "notes.txt"), "w").write("not a video")
os.symlink(data, os.path.join(data, "a", "loop"))  # a loop: must not hang

out = os.path.join(tmp, "out")
K = 256
r = ovx("extract", "-m", model, data, "-o", out, "--tokens", str(K), "--label-from-dir", "--jsonl",
        "--decode-threads", "2")
print(r.stderr)
check(r.returncode == 1, f"exit status 1 with bad files (got {r.returncode})")
rels = good + ["img/p.png"]
for rel in good:
    js = check_item(out, os.path.splitext(rel)[0], K)
    if js:
        check(js["label"] == rel.split("/")[-2], f"label of {rel}: {js['label']}")
        check(js["kind"] == "video" and js["select"]["tokens"] == K, f"{rel} select report")
        pos = np.array(js["positions"])
        vi = np.array(js["select"]["visible_indices"])
        check((pos[:, 0] * 256 + pos[:, 1] * 16 + pos[:, 2] == vi).all(), f"{rel} positions follow visible_indices")
        check((np.diff(vi) > 0).all(), f"{rel} token order = ascending indices")
        check(len(js["model"]["weights_checksum"]) == 16, "weights checksum recorded")
        check(all(k in js["timings_ms"] for k in ("decode", "select", "model")), "timings recorded")
js = check_item(out, "img/p", 1024)
check(js is not None and js["kind"] == "image" and js["image"]["grid"] == [1, 32, 32], "image: 32x32 grid at 448")

fails = jsonl(os.path.join(out, "failures.jsonl"))
check(sorted(f["rel"] for f in fails) == sorted(bad), f"failures.jsonl lists exactly the bad files: {fails}")
check(all(f["stage"] and f["error"] for f in fails), "failures have stage and error")
man = jsonl(os.path.join(out, "manifest.jsonl"))
check(sorted(m["rel"] for m in man) == sorted(rels), f"manifest lists the good items: {[m['rel'] for m in man]}")
for m in man:
    for o in m["outputs"].values():
        a = np.load(os.path.join(out, o["file"]))
        check(list(a.shape) == o["shape"], f"manifest shape of {o['file']}")
    check(m["label"] == m["rel"].split("/")[-2], f"manifest label {m['label']}")
recs = jsonl(r.stdout, is_text=True)
check(sorted((x["status"], x["rel"]) for x in recs) ==
      sorted([("done", x) for x in rels] + [("failed", x) for x in bad]), "--jsonl: one record per item")
check("4 done" not in r.stderr and "5 done, 0 skipped, 4 failed" in r.stderr, "summary line")
check(not temp_files(out), "no temp files")

# thread timing changes nothing: a run with decode in turn gives the same
# NPY bytes and the same manifest, in the same order
out_seq = os.path.join(tmp, "out_seq")
r0 = ovx("extract", "-m", model, data, "-o", out_seq, "--tokens", str(K), "--label-from-dir", "--decode-threads", "0")
check(r0.returncode == 1, "sequential run: exit 1")
for rel in rels:
    for suf in (".npy", ".pooled.npy"):
        stem = os.path.splitext(rel)[0] + suf
        check(open(os.path.join(out, stem), "rb").read() == open(os.path.join(out_seq, stem), "rb").read(),
              f"{stem}: same bytes with --decode-threads 0 and 2")
check(open(os.path.join(out, "manifest.jsonl")).read() == open(os.path.join(out_seq, "manifest.jsonl")).read(),
      "manifest identical (order too) with --decode-threads 0 and 2")

# same-named files in different folders never collide; a.mp4 and a.mkv in one folder do
o1, o2 = (np.load(os.path.join(out, f"a/{c}/000.npy")) for c in ("cat", "dog"))
check(not np.array_equal(o1, o2), "a/cat/000 and a/dog/000 are different outputs")

# rerun: everything valid is skipped, logs are not duplicated
r2 = ovx("extract", "-m", model, data, "-o", out, "--tokens", str(K), "--label-from-dir")
check(r2.returncode == 1 and "0 done, 5 skipped, 4 failed" in r2.stderr, f"rerun skips: {r2.stderr}")
check(len(jsonl(os.path.join(out, "failures.jsonl"))) == 4, "failures not duplicated")
check(len(jsonl(os.path.join(out, "manifest.jsonl"))) == 5, "manifest not duplicated")
# the model enters the settings hash by its content, not its path: a copy
# elsewhere (node-local scratch) still skips, other weights do not
copy = os.path.join(tmp, "model copy")
shutil.copytree(model, copy)
rc = ovx("extract", "-m", copy, data, "-o", out, "--tokens", str(K), "--dry-run")
check(rc.stdout.count("skip\t") == 5, f"copied model folder: finished items skip: {rc.stdout}")
other = make_model(os.path.join(tmp, "model2"), "--seed", "1")
rc = ovx("extract", "-m", other, data, "-o", out, "--tokens", str(K), "--dry-run")
check(rc.stdout.count("skip\t") == 0, "other weights: nothing skips")
# other settings: not skipped
r3 = ovx("extract", "-m", model, data, "-o", out, "--tokens", "128", "--dry-run")
check(r3.returncode == 0 and r3.stdout.count("extract\t") == 9, "other settings -> extract again")
# a corrupted output is redone
np_path = os.path.join(out, "a/cat/000.npy")
os.truncate(np_path, 200)
r4 = ovx("extract", "-m", model, data, "-o", out, "--tokens", str(K), "--label-from-dir", "--dry-run", "--jsonl")
acts = {x["rel"]: x["action"] for x in jsonl(r4.stdout, is_text=True)}
check(acts.get("a/cat/000.mp4") == "extract" and acts.get("a/dog/000.mp4") == "skip", f"truncated npy redone: {acts}")

# dry run never loads the model; shards of N=3 partition the list
full = ovx("extract", "-m", "/nonexistent/model", data, "-o", out, "--dry-run", "--overwrite")
check(full.returncode == 0, f"dry run without a model: {full.stderr}")
all_paths = [line.split("\t", 1)[1] for line in full.stdout.splitlines()]
check(len(all_paths) == 9 and len(set(all_paths)) == 9, f"dry run lists 9 inputs: {all_paths}")
union = []
for i in range(3):
    s = ovx("extract", data, "-o", out, "--dry-run", "--overwrite", "--shard", f"{i}/3")
    union += [line.split("\t", 1)[1] for line in s.stdout.splitlines()]
    e = ovx("extract", data, "-o", out, "--dry-run", "--overwrite",
            env={"SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_COUNT": "3"})
    check(e.stdout == s.stdout, f"SLURM_ARRAY_TASK_ID={i} == --shard {i}/3")
check(sorted(union) == sorted(all_paths), "union of the 3 shards is the full list, each item once")
# three shards running at once into one DIR: every item done once, logs whole
out_sh = os.path.join(tmp, "out_shards")
env = dict(os.environ, OVX_THREADS="1")
for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
    env.pop(k, None)
procs = [subprocess.Popen([OVX, "extract", "-m", model, data, "-o", out_sh, "--tokens", str(K), "--quiet",
                           "--shard", f"{i}/3"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
         for i in range(3)]
codes = [p.wait(timeout=300) for p in procs]
check(sorted(codes) != [0, 0, 0] and set(codes) <= {0, 1}, f"concurrent shards exit 0/1: {codes}")
man_sh = jsonl(os.path.join(out_sh, "manifest.jsonl"))
check(sorted(m["rel"] for m in man_sh) == sorted(rels), "concurrent shards: manifest has every good item once")
check(sorted(f["rel"] for f in jsonl(os.path.join(out_sh, "failures.jsonl"))) == sorted(bad),
      "concurrent shards: failures has every bad item once")

# shard membership does not depend on listing order: the same RELs given
# reversed through --list - (from inside data/) land in the same shard
rel_paths = [os.path.relpath(p, data) for p in all_paths]
os.chdir(data)
s1 = ovx("extract", "--list", "-", "-o", out, "--dry-run", "--overwrite", "--shard", "1/3",
         stdin="\n".join(reversed(rel_paths)) + "\n")
s1b = ovx("extract", data, "-o", out, "--dry-run", "--overwrite", "--shard", "1/3")
got = sorted(line.split("\t", 1)[1] for line in s1.stdout.splitlines())
want = sorted(os.path.relpath(line.split("\t", 1)[1], data) for line in s1b.stdout.splitlines())
check(got == want and len(got) > 0, f"shard of a reversed list == shard of the folder: {got} vs {want}")

# --list with CSV labels, an escaping path and a collision
lst = os.path.join(tmp, "list.csv")
with open(lst, "w") as f:
    f.write("path,label\n")
    f.write(f"{os.path.join(data, good[0])},kitten\n")
    f.write("../escape.mp4,x\n")
os.chdir(tmp)
out2 = os.path.join(tmp, "out2")
r = ovx("extract", "-m", model, "--list", lst, "-o", out2, "--tokens", "64")
check(r.returncode == 1, "escape -> failure, exit 1")
fl = jsonl(os.path.join(out2, "failures.jsonl"))
check(len(fl) == 1 and fl[0]["path"] == "../escape.mp4" and fl[0]["stage"] == "input", f"escape refused: {fl}")
base = os.path.join(out2, os.path.splitext(os.path.join(data, good[0]).lstrip("/"))[0])
check(os.path.exists(base + ".npy") and json.load(open(base + ".json"))["label"] == "kitten",
      "absolute list path mirrored under DIR, CSV label stored")
r = ovx("extract", "-m", model, os.path.join(data, "a/cat/000.mp4"), os.path.join(data, "a/dog/000.mp4"),
        "-o", os.path.join(tmp, "out3"), "--tokens", "64")
fl = jsonl(os.path.join(tmp, "out3", "failures.jsonl"))
check(r.returncode == 1 and len(fl) == 1 and "collide" in fl[0]["error"], f"file args with one name collide: {fl}")

# usage errors
for args in ([data], ["-o", out], ["-m", model, data, "-o", out, "--shard", "3/3"],
             ["-m", model, data, "-o", out, "--dtype", "f64"], ["-m", model, data, "-o", out, "--bogus"]):
    u = ovx("extract", *args)
    check(u.returncode == 2 and "ovx extract" in u.stderr, f"usage error exit 2: {args} -> {u.returncode}")
finish("extract cli")
