#!/usr/bin/python3
"""Resume and interruption: a run killed with SIGKILL mid-way and rerun ends
with every video's outputs valid exactly once, nothing finished recomputed
and no temp files left; SIGINT / SIGTERM stop cleanly with exit 130 / 143
and a summary."""
import os
import signal
import subprocess
import time

import numpy as np

from xhelp import OVX, check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, temp_files, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-resume-")
model = make_model(os.path.join(tmp, "model"))
data = os.path.join(tmp, "data")
N = 8
rels = [f"c{i % 2}/clip {i:02d}.mp4" for i in range(N)]
for i, rel in enumerate(rels):
    make_clip(os.path.join(data, rel), src=["testsrc", "testsrc2", "smptebars", "rgbtestsrc"][i % 4])
ARGS = ["extract", "-m", model, data, "--tokens", "4096", "--decode-threads", "2", "--threads", "1"]


def start(out):
    env = dict(os.environ, OVX_THREADS="1")
    return subprocess.Popen([OVX, *ARGS, "-o", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def wait_for_manifest(out, n, proc, limit=120):
    t0 = time.time()
    while time.time() - t0 < limit and proc.poll() is None:
        if len(jsonl(os.path.join(out, "manifest.jsonl"))) >= n:
            return True
        time.sleep(0.02)
    return False


def valid(out, rel):
    base = os.path.join(out, os.path.splitext(rel)[0])
    try:
        a = np.load(base + ".npy")
        p = np.load(base + ".pooled.npy")
        return a.shape == (4096, 128) and p.shape == (128,) and os.path.exists(base + ".json")
    except Exception:
        return False


# --- kill -9 mid-way, then rerun
out = os.path.join(tmp, "out")
p = start(out)
check(wait_for_manifest(out, 2, p), "first run finishes two items")
p.send_signal(signal.SIGKILL)
p.communicate()
finished = {}
for rel in rels:
    base = os.path.join(out, os.path.splitext(rel)[0])
    if os.path.exists(base + ".json"):
        finished[rel] = os.stat(base + ".npy").st_mtime_ns
check(2 <= len(finished) < N, f"killed mid-way ({len(finished)} of {N} finished)")
# leftovers a killed writer can leave: a temp file and an output without its JSON
todo = [r for r in rels if r not in finished]
lb = os.path.join(out, os.path.splitext(todo[-1])[0])
os.makedirs(os.path.dirname(lb), exist_ok=True)
dead = os.path.join(out, ".ovx", "tmp", "99999-abcdef")  # a killed run's private temp folder
os.makedirs(dead)
open(dead + ".lock", "wb").close()
open(os.path.join(dead, "99999.qwerty"), "wb").write(b"\x93NUMPY half")
open(lb + ".npy", "wb").write(b"\x93NUMPY")
r = ovx(*ARGS, "-o", out, "--jsonl")
check(r.returncode == 0, f"rerun succeeds: {r.returncode} {r.stderr}")
recs = {x["rel"]: x["status"] for x in jsonl(r.stdout, is_text=True)}
check(all(recs.get(rel) == "skipped" for rel in finished), f"finished items skipped: {recs}")
check(all(recs.get(rel) == "done" for rel in todo), "the others extracted")
for rel, mt in finished.items():
    base = os.path.join(out, os.path.splitext(rel)[0])
    check(os.stat(base + ".npy").st_mtime_ns == mt, f"{rel} not recomputed")
check(all(valid(out, rel) for rel in rels), "every video has valid outputs")
check(not temp_files(out), f"no temp files: {temp_files(out)}")
man = [m["rel"] for m in jsonl(os.path.join(out, "manifest.jsonl"))]
check(sorted(man) == sorted(rels), f"manifest: each video exactly once: {man}")
check(not os.path.exists(os.path.join(out, "failures.jsonl")), "no failures")

# outputs are deterministic: a fresh run gives the same bytes
out_b = os.path.join(tmp, "out_b")
r = ovx(*ARGS, "-o", out_b)
for rel in rels:
    stem = os.path.splitext(rel)[0]
    for suf in (".npy", ".pooled.npy"):
        check(open(os.path.join(out, stem + suf), "rb").read() == open(os.path.join(out_b, stem + suf), "rb").read(),
              f"{stem}{suf} byte-identical across runs")

# --- SIGINT / SIGTERM: stop after the current item, summary, 130 / 143
for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
    o = os.path.join(tmp, f"out_{code}")
    p = start(o)
    check(wait_for_manifest(o, 1, p), f"{sig.name}: one item finished before the signal")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    check(p.returncode == code, f"{sig.name} -> exit {code} (got {p.returncode})")
    check("interrupted" in err and "done" in err, f"{sig.name}: summary on stderr: {err!r}")
    done = [m["rel"] for m in jsonl(os.path.join(o, "manifest.jsonl"))]
    check(0 < len(done) < N and all(valid(o, rel) for rel in done), f"{sig.name}: finished items valid ({len(done)})")
    check(not temp_files(o), f"{sig.name}: no temp files")
    js = [rel for rel in rels if os.path.exists(os.path.join(o, os.path.splitext(rel)[0] + ".json"))]
    check(sorted(js) == sorted(done), f"{sig.name}: JSON only for finished items")
finish("extract resume")
