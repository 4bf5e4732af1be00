#!/usr/bin/python3
"""Random names, two concurrent runs, random kill -9s, then a rerun (issue 22).
Each iteration writes a few inputs under random names into a fresh folder:
random bytes (not UTF-8 mostly), names that look like ovx's temp files,
stems near NAME_MAX (cut to fit with a hash), and pairs of names equal
after U+FFFD replacement; most hold a tiny clip, some garbage. Two
`ovx extract` processes run on one -o at once and each may be killed with
SIGKILL at a random moment; then one rerun finishes the folder, with the
same settings or others (--hidden-state -2 on or off: the items are
rewritten and their stale outputs removed, by exact name). After it:
  - every input is in manifest.jsonl (all its files present) or in
    failures.jsonl, exactly once;
  - no file in -o is described by no log line;
  - no file listed is missing; no temp file is left.
Arguments: ITERATIONS (default 200) and SEED (default 1)."""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from xhelp import OVX, PY, ROOT, check, finish, need_ffmpeg, tmpdir
from xinvariants import problems

need_ffmpeg()
ITER = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
tmp = tmpdir("ovx-extract-fuzz-").encode()
model = os.path.join(tmp, b"model")
subprocess.run([PY, os.path.join(ROOT, "scripts", "make-test-model"), model, "--hidden", "64", "--layers", "1",
                "--heads", "1"], check=True, stdout=subprocess.DEVNULL)
clip = os.path.join(tmp, b"tiny.mp4")
subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "0.6",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", clip], check=True)
CLIP = open(clip, "rb").read()
env = dict(os.environb, OVX_THREADS="1")
for k in (b"SLURM_ARRAY_TASK_ID", b"SLURM_ARRAY_TASK_COUNT", b"SLURM_ARRAY_TASK_MIN"):
    env.pop(k, None)
rnd = random.Random(SEED)
ALNUM = b"abcdefghijklmnopqrstuvwxyz0123456789"


def random_bytes(n):
    out = bytearray()
    while len(out) < n:
        c = rnd.randrange(1, 256)
        if c != 0x2F and not (not out and c == 0x2E):  # no '/', no leading '.'
            out.append(c)
    return bytes(out)


def a_name():
    kind = rnd.randrange(5)
    if kind == 0:
        return random_bytes(rnd.randrange(1, 24)) + b".mp4"
    if kind == 1:  # looks like a temp file of another input's outputs
        stem = rnd.choice([b"v", b"a b", b"x\xff"])
        suf = rnd.choice([b".npy", b".json", b".pooled.npy", b".hidden_-2.npy"])
        tail = bytes(rnd.choice(ALNUM) for _ in range(rnd.choice([2, 6, 6, 8])))
        return stem + suf + b".tmp.%d." % rnd.randrange(1, 99999) + tail + b".mp4"
    if kind == 2:  # near NAME_MAX: 251-byte stems down to 230
        n = rnd.randrange(230, 252)
        return rnd.choice([b"n" * n, random_bytes(n), "\u00e9".encode() * (n // 2)]) + b".mp4"
    if kind == 3:
        return rnd.choice([b"v", b"v.npy", b"clip %d" % rnd.randrange(100)]) + b".mp4"
    return None  # a pair equal after U+FFFD replacement


def make_inputs(d):
    names = set()
    while len(names) < rnd.randrange(3, 7):
        n = a_name()
        if n is None:
            stem = random_bytes(rnd.randrange(1, 6))
            names |= {stem + b"\xff.mp4", stem + "\ufffd".encode() + b".mp4"}
        elif len(n) <= 255:
            names.add(n)
    rels = []
    sub = rnd.random() < 0.3 and random_bytes(rnd.randrange(1, 12))
    for n in sorted(names):
        rel = os.path.join(sub, n) if sub and rnd.random() < 0.5 else n
        os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
        open(os.path.join(d, rel), "wb").write(CLIP if rnd.random() < 0.85 else b"garbage " * rnd.randrange(1, 200))
        rels.append(rel)
    return rels


SETTINGS = ([], [b"--hidden-state", b"-2"])


def start(d, out, settings):
    extra = [b"--decode-threads", rnd.choice([b"0", b"1", b"2"]), b"--batch", rnd.choice([b"1", b"2"]), *settings]
    return subprocess.Popen([OVX.encode(), b"extract", b"-m", model, d, b"-o", out, b"--tokens", b"64",
                             b"--threads", b"1", b"--quiet", *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)


t_start = time.time()
kills = bad_iters = 0
for it in range(ITER):
    d, out = os.path.join(tmp, b"in%d" % it), os.path.join(tmp, b"out%d" % it)
    rels = make_inputs(d)
    first = rnd.choice(SETTINGS)
    ps = [start(d, out, first) for _ in range(2)]
    deadline = [time.time() + rnd.uniform(0, 0.8) if rnd.random() < 0.5 else None for _ in ps]
    hang_at = time.time() + 240
    while any(p.poll() is None for p in ps):
        if time.time() > hang_at:  # two runs waiting for each other, or stuck: a failure
            for p in ps:
                if p.poll() is None:
                    p.kill()
            check(False, f"iteration {it} (seed {SEED}): a run hung: {rels}")
        for p, t in zip(ps, deadline):
            if t is not None and p.poll() is None and time.time() >= t:
                p.send_signal(signal.SIGKILL)
                kills += 1
        time.sleep(0.01)
    for p in ps:
        p.communicate()
    crash = [p.returncode for p in ps if p.returncode not in (0, 1, -9)]
    r = subprocess.run([OVX.encode(), b"extract", b"-m", model, d, b"-o", out, b"--tokens", b"64", b"--threads", b"1",
                        b"--quiet", *rnd.choice(SETTINGS)], capture_output=True, env=env, timeout=300)
    bad = problems(out, rels)
    ok = not bad and not crash and r.returncode in (0, 1)
    check(ok, f"iteration {it} (seed {SEED}): rc {r.returncode} {crash} {bad} {r.stderr[-300:]!r} names {rels}")
    if ok:
        shutil.rmtree(d)
        shutil.rmtree(out)
    else:
        bad_iters += 1
    if (it + 1) % 100 == 0:
        print(f"{it + 1} iterations, {kills} kills, {bad_iters} bad, {time.time() - t_start:.0f} s", flush=True)
print(f"{ITER} iterations (seed {SEED}), {kills} kills, {bad_iters} bad, {time.time() - t_start:.0f} s")
finish("extract fuzz names")
