#!/usr/bin/python3
"""Several ovx extract processes on one output folder: two on the same
shard, three over overlapping shards, and one run while a second one is
started and killed with SIGKILL again and again. At the end every item has
exactly one valid output set and one manifest line, no item failed, no temp
files remain, and (runs started together on a fresh folder) every item was
computed by exactly one process: the others found it claimed and then done."""
import os
import random
import signal
import subprocess
import time

import numpy as np

from xhelp import OVX, check, finish, jsonl, make_clip, make_model, need_ffmpeg, temp_files, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-concurrent-")
model = make_model(os.path.join(tmp, "model"))
data = os.path.join(tmp, "data")
N = 10
TOKENS = 1024
rels = [f"c{i % 3}/clip {i:02d}.mp4" for i in range(N)]
for i, rel in enumerate(rels):
    make_clip(os.path.join(data, rel), src=["testsrc", "testsrc2", "smptebars", "rgbtestsrc"][i % 4])
ARGS = ["extract", "-m", model, data, "--tokens", str(TOKENS), "--threads", "1", "--jsonl", "--device", "cpu"]


def start(out, *extra, m=model):
    env = dict(os.environ, OVX_THREADS="1")
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        env.pop(k, None)
    args = [m if a == model else a for a in ARGS]
    return subprocess.Popen([OVX, *args, "-o", out, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def valid(out, rel):
    base = os.path.join(out, os.path.splitext(rel)[0])
    try:
        a = np.load(base + ".npy")
        p = np.load(base + ".pooled.npy")
        return a.shape == (TOKENS, 128) and p.shape == (128,) and np.isfinite(a).all() and os.path.exists(
            base + ".json")
    except Exception:
        return False


def check_folder(out, what):
    check(all(valid(out, rel) for rel in rels), f"{what}: every item has valid outputs")
    man = [m["rel"] for m in jsonl(os.path.join(out, "manifest.jsonl"))]
    check(sorted(man) == sorted(rels), f"{what}: one manifest line per item: {sorted(man)}")
    fl = jsonl(os.path.join(out, "failures.jsonl"))
    check(not fl, f"{what}: no failures: {fl}")
    check(not temp_files(out), f"{what}: no temp files: {temp_files(out)}")
    claims = os.path.join(out, ".ovx", "claims")
    left = os.listdir(claims) if os.path.isdir(claims) else []
    check(not left, f"{what}: no claim files left: {left}")


def statuses(stdout):
    return [(x["rel"], x["status"]) for x in jsonl(stdout, is_text=True)]


def run_together(out, extras, what):
    ps = [start(out, *e) for e in extras]
    res = [p.communicate(timeout=600) for p in ps]
    for p, (o, e) in zip(ps, res):
        check(p.returncode == 0, f"{what}: every process succeeds: {p.returncode} {e[-800:]}")
    done = [rel for o, _ in res for rel, st in statuses(o) if st == "done"]
    failed = [(rel, st) for o, _ in res for rel, st in statuses(o) if st not in ("done", "skipped")]
    check(sorted(done) == sorted(rels), f"{what}: each item computed by exactly one process: {sorted(done)}")
    check(not failed, f"{what}: nothing failed: {failed}")
    check_folder(out, what)


# --- two complete runs at once, same shard
run_together(os.path.join(tmp, "two"), [[], []], "2 processes, same shard")

# --- three at once: shard 0/2, shard 1/2 and the whole list
run_together(os.path.join(tmp, "three"), [["--shard", "0/2"], ["--shard", "1/2"], ["--decode-threads", "2"]],
             "3 processes, overlapping shards")

# --- one run while another is started and killed with SIGKILL again and again
# (a model slow enough that the first run lasts several seconds on a fast
# idle machine: ~0.4 s a clip, 10 clips)
slow = make_model(os.path.join(tmp, "slow"), "--layers", "40")
out = os.path.join(tmp, "kill")
a = start(out, "--decode-threads", "2", m=slow)
rnd = random.Random(7)
kills = 0
while a.poll() is None and kills < 25:
    b = start(out, "--decode-threads", str(rnd.choice([0, 1, 2])), m=slow)
    time.sleep(rnd.uniform(0.05, 0.8))
    b.send_signal(signal.SIGKILL)
    b.communicate()
    kills += 1
o, e = a.communicate(timeout=600)
check(a.returncode == 0, f"kill loop: the surviving run succeeds: {a.returncode} {e[-800:]}")
print(f"kill loop: {kills} kills while the first run ran")
check(kills >= 3, f"kill loop: the second process was killed {kills} times while the first ran")
bad = [(rel, st) for rel, st in statuses(o) if st not in ("done", "skipped")]
check(not bad, f"kill loop: no item failed in the surviving run: {bad}")
# a rerun finds everything done (and cleans what the last killed process left)
r = start(out, m=slow)
o, e = r.communicate(timeout=600)
check(r.returncode == 0 and all(st == "skipped" for _, st in statuses(o)) and len(statuses(o)) == N,
      f"kill loop: a rerun skips every item: {r.returncode} {statuses(o)} {e[-400:]}")
check_folder(out, f"kill loop ({kills} kills)")
finish("extract concurrent")
