#!/usr/bin/python3
"""A real Slurm (munged + slurmctld + slurmd on this machine, see minislurm.py)
runs scripts/slurm/extract-array.sbatch as a 3-task job array over a list of
generated clips, some of them bad; scripts/slurm/merge-manifests checks and
combines the result; resubmitted, the known failures are not tried again
(twice, over merge-manifests' failures.jsonl), --retry-failed tries them. Then a second array writing tar shards (--format wds)
is stopped mid-way (scancel of one task, the time-limit signal SIGUSR1 to
another's batch shell) and resubmitted: nothing is lost, duplicated or
recomputed. If Slurm cannot start, the test
fails."""
import collections
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "extract"))
from minislurm import MiniSlurm, SlurmError  # noqa: E402
import xhelp  # noqa: E402
from xhelp import OVX, ROOT, check, finish, jsonl, make_clip, make_model, need_ffmpeg, temp_files, tmpdir  # noqa: E402

SBATCH = os.path.join(ROOT, "scripts", "slurm", "extract-array.sbatch")
MERGE = os.path.join(ROOT, "scripts", "slurm", "merge-manifests")
N = 3
K = 64


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shard(rel):
    return fnv1a64(rel.encode()) % N


need_ffmpeg()
tmp = tmpdir("ovx-slurm-")
os.chmod(tmp, 0o755)
model = make_model(os.path.join(tmp, "model"))

# the list: 18 good clips in a tree, a CSV label on some lines, and 3 bad
# entries (not a video, a truncated MP4, a missing file)
good = [f"data/{'ab'[i % 2]}/clip{i:02d}.mp4" for i in range(18)]
srcs = ["testsrc", "testsrc2", "smptebars", "rgbtestsrc"]
for i, rel in enumerate(good):
    make_clip(os.path.join(tmp, rel), seconds=0.8, size="64x48", src=srcs[i % 4])
bad = ["data/bad/junk.mp4", "data/bad/truncated.mp4", "data/bad/missing.mp4"]
os.makedirs(os.path.join(tmp, "data", "bad"))
open(os.path.join(tmp, bad[0]), "wb").write(b"not a video at all\n" * 50)
open(os.path.join(tmp, bad[1]), "wb").write(open(os.path.join(tmp, good[0]), "rb").read()[:700])
with open(os.path.join(tmp, "list.csv"), "w") as f:
    f.write("path,label\n")
    for i, rel in enumerate(good + bad):
        f.write(f"{rel},class{i % 3}\n" if i % 2 else rel + "\n")
per_shard = collections.Counter(shard(r) for r in good + bad)
check(all(per_shard[i] >= 5 for i in range(N)), f"every shard has >= 5 items to stop mid-way: {per_shard}")


def records(out, i):
    return jsonl(os.path.join(out, "_shards", f"{i}-of-{N}.jsonl"))


def stats(out, i):
    p = os.path.join(out, "_shards", f"{i}-of-{N}.json")
    return json.load(open(p)) if os.path.exists(p) else {}


def task_ovx(out, i):
    """pids of the `ovx extract` processes running shard i into out."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except (OSError, ValueError):
            continue
        if (argv and os.path.basename(argv[0]) == b"ovx" and b"extract" in argv and out.encode() in argv
                and f"{i}/{N}".encode() in argv):
            pids.append(int(d))
    return pids


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def sigterm_pending(pid):
    """SIGTERM is pending for pid (or it is gone)."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return True
    m = re.search(r"^ShdPnd:\s*([0-9a-f]+)", status, re.M)
    return m is not None and int(m.group(1), 16) & (1 << (signal.SIGTERM - 1)) != 0


def merge(out):
    r = subprocess.run([MERGE, out], capture_output=True, text=True, env=dict(os.environ, OVX_BIN=OVX), timeout=120)
    m = re.search(r"(\d+) inputs, (\d+) done, (\d+) failed, (\d+) missing, (\d+) duplicated; (\d+) of (\d+) shards "
                  r"complete", r.stdout)
    return r, tuple(int(x) for x in m.groups()) if m else None


def output_files(out):
    return sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs
                  if not os.path.relpath(r, out).startswith(("_shards", ".ovx")) and not f.startswith("slurm-")
                  and f not in ("manifest.jsonl", "failures.jsonl"))


def check_complete(out, what):
    """Every good item has valid outputs exactly once; merge-manifests agrees."""
    for rel in good:
        base = os.path.join(out, rel[:-4])
        try:
            ok = np.load(base + ".npy").shape == (K, 128) and np.load(base + ".pooled.npy").shape == (128,)
            js = json.load(open(base + ".json"))
            ok = ok and js["n_tokens"] == K
        except Exception as e:  # noqa: BLE001
            ok = False
            print(rel, e)
        check(ok, f"{what}: {rel} has valid outputs")
    want = sorted(r[:-4] + s for r in good for s in (".json", ".npy", ".pooled.npy"))
    check(output_files(out) == want, f"{what}: exactly the good items' outputs, once: "
          f"{set(output_files(out)) ^ set(want)}")
    check(not temp_files(out), f"{what}: no temp files: {temp_files(out)}")
    r, summary = merge(out)
    check(r.returncode == 0, f"{what}: merge-manifests exit 0: {r.returncode} {r.stdout} {r.stderr}")
    check(summary == (21, 18, 3, 0, 0, N, N), f"{what}: merge summary: {summary}\n{r.stdout}")
    man = jsonl(os.path.join(out, "manifest.jsonl"))
    check(sorted(m["rel"] for m in man) == sorted(good), f"{what}: merged manifest = the good items, once each")
    check(all("status" not in m and m["settings_hash"] for m in man), f"{what}: manifest lines are manifest lines")
    fails = jsonl(os.path.join(out, "failures.jsonl"))
    check(sorted(f["rel"] for f in fails) == sorted(bad), f"{what}: merged failures = the bad items: {fails}")
    labels = {m["rel"]: m["label"] for m in man}
    check(labels["data/b/clip01.mp4"] == "class1" and labels["data/a/clip00.mp4"] is None, f"{what}: labels kept")


def wds_shards(out):
    d = os.path.join(out, "shards")
    return sorted(f for f in os.listdir(d) if f.endswith(".tar")) if os.path.isdir(d) else []


def wds_items(out):
    """{shard: [(rel, tokens array, pooled array)]} read with Python's tarfile."""
    res = {}
    for name in wds_shards(out):
        with tarfile.open(os.path.join(out, "shards", name)) as t:
            m = {x.name: t.extractfile(x).read() for x in t.getmembers()}
        res[name] = []
        for key in sorted(k[:-5] for k in m if k.endswith(".json")):
            js = json.loads(m[key + ".json"])
            res[name].append((js["rel"], np.load(io.BytesIO(m[key + ".tokens.npy"])),
                              np.load(io.BytesIO(m[key + ".pooled.npy"]))))
    return res


def check_complete_wds(out, what):
    """Every good item in exactly one complete shard, arrays valid; merge-manifests agrees."""
    items = wds_items(out)
    where = collections.defaultdict(list)
    for name, lst in items.items():
        check(name.split("-")[0] in ("0", "1", "2"), f"{what}: shard named by its task: {name}")
        for rel, tok, pooled in lst:
            where[rel].append(name)
            check(tok.shape == (K, 128) and pooled.shape == (128,), f"{what}: {rel} arrays {tok.shape}")
            check(name.startswith(f"{shard(rel)}-"), f"{what}: {rel} in a shard of its task: {name}")
    check(sorted(where) == sorted(good) and all(len(v) == 1 for v in where.values()),
          f"{what}: each good item in exactly one shard: {dict(where)}")
    check(not [f for f in os.listdir(out) if f not in ("shards", "_shards", ".ovx", "manifest.jsonl", "failures.jsonl")
               and not f.startswith("slurm-")], f"{what}: shards only: {os.listdir(out)}")
    r, summary = merge(out)
    check(r.returncode == 0 and summary == (21, 18, 3, 0, 0, N, N), f"{what}: merge: {summary}\n{r.stdout}")
    man = jsonl(os.path.join(out, "manifest.jsonl"))
    check(sorted(m["rel"] for m in man) == sorted(good), f"{what}: merged manifest = the good items, once each")
    check(all(where.get(m["rel"]) == [os.path.basename(m["shard"])] for m in man), f"{what}: manifest shards")
    fails = jsonl(os.path.join(out, "failures.jsonl"))
    check(sorted(f["rel"] for f in fails) == sorted(bad), f"{what}: merged failures = the bad items")


def shard_owner_check(out, what):
    """Each good item's record is in the shard FNV-1a(REL) mod N says, and only there."""
    where = collections.defaultdict(list)
    for i in range(N):
        for r in records(out, i):
            where[r["rel"]].append(i)
    check(all(where[rel] == [shard(rel)] for rel in good + bad), f"{what}: each item in its own shard only: "
          f"{dict(where)}")


# in /tmp itself: munged wants its socket folder's parents searchable by all
cluster = MiniSlurm(tempfile.mkdtemp(prefix="ovx-minislurm-", dir="/tmp"))
xhelp._tmpdirs.append(cluster.base)


def on_term(sig, frame):
    raise SystemExit(f"killed by signal {sig}")


signal.signal(signal.SIGTERM, on_term)
t_start = time.time()
try:
    try:
        cluster.start()
    except SlurmError as e:
        print("FAIL: Slurm did not start:", e)
        check(False, "Slurm starts")
        raise SystemExit(1)
    print(f"slurm up in {cluster.startup_seconds:.1f} s")
    env = cluster.env(OVX_BIN=OVX)

    def submit(out, *ovx_extra, array="0-2"):
        return cluster.sbatch(f"--array={array}", "-c", "1", "-o", os.path.join(out, "slurm-%A_%a.out"),
                              SBATCH, "list.csv", out, model, "--tokens", str(K), "--device", "cpu", *ovx_extra,
                              cwd=tmp, env=env)

    # --- 1. a whole array
    out = os.path.join(tmp, "out1")
    os.makedirs(out)
    t0 = time.time()
    job = submit(out)
    cluster.wait(job)
    t1 = time.time() - t0
    tasks = cluster.tasks(job)
    check(sorted(tasks) == [0, 1, 2], f"three array tasks: {tasks}")
    for i in range(N):
        st = stats(out, i)
        nbad = sum(shard(r) == i for r in bad)
        ngood = sum(shard(r) == i for r in good)
        check(st.get("state") == "complete" and st.get("done") == ngood and st.get("failed") == nbad
              and st.get("skipped") == 0, f"shard {i} stats: {st} (want {ngood} done, {nbad} failed)")
        check(st.get("host") == socket.gethostname() and st.get("seconds", 0) > 0, f"shard {i} host, seconds")
        check(st.get("array_task_id") == str(i) and st.get("array_job_id") == job, f"shard {i} job ids")
        want_rc = 1 if nbad else 0
        check(tasks.get(i, ("", ""))[1] == f"{want_rc}:0" and st.get("exit_status") == want_rc,
              f"task {i} exit code {tasks.get(i)} (want {want_rc}: ovx's)")
        log = open(os.path.join(out, "_shards", f"{i}-of-{N}.log")).read()
        check(f"shard {i}-of-{N}" in log and f"{ngood} done" in log, f"shard {i} log: {log}")
        check("--threads 1 --decode-threads 1" in log, "threads from SLURM_CPUS_PER_TASK")
    shard_owner_check(out, "array")
    check_complete(out, "array")
    print(f"array of {N}: {t1:.1f} s")
    # an item recorded by two shards, and one missing output: merge-manifests says so and exits 1
    p0, p1 = (os.path.join(out, "_shards", f"{i}-of-{N}.jsonl") for i in (0, 1))
    keep0, keep1 = open(p0).read(), open(p1).read()
    done0 = [x for x in jsonl(p0) if x["status"] == "done"]
    open(p1, "a").write(json.dumps(done0[0]) + "\n")
    gone = os.path.join(out, done0[1]["json"])
    os.rename(gone, gone + ".away")
    r, summary = merge(out)
    check(r.returncode == 1 and summary and summary[4] == 1 and summary[3] == 1 and
          "duplicated: " + done0[0]["rel"] in r.stdout and "not on disk: " + done0[1]["rel"] in r.stdout,
          f"merge finds the duplicate and the missing output: {summary}\n{r.stdout}")
    open(p1, "w").write(keep1)
    os.rename(gone + ".away", gone)
    check(merge(out)[0].returncode == 0 and open(p0).read() == keep0, "merge exits 0 again once repaired")

    # --- 1b. resubmitted after the merge: the known failures (junk, truncated:
    # decode/select failures of unchanged files) are not tried again, the
    # missing file (a listing failure) is; merge-manifests keeps their lines
    # whole, so the next resubmission skips them too; --retry-failed tries them
    known = ["data/bad/junk.mp4", "data/bad/truncated.mp4"]
    for attempt in ("after merge", "after the second merge", "--retry-failed"):
        extra = ("--retry-failed",) if attempt == "--retry-failed" else ()
        job = submit(out, *extra)
        cluster.wait(job)
        for i in range(N):
            st = stats(out, i)
            nk = 0 if extra else sum(shard(r) == i for r in known)
            ngood = sum(shard(r) == i for r in good)
            check(st.get("state") == "complete" and st.get("skipped") == ngood and st.get("done") == 0 and
                  st.get("failed") == sum(shard(r) == i for r in bad) and st.get("known_failures") == nk,
                  f"{attempt}: shard {i} stats: {st} (want {nk} known failures)")
            recs = {x["rel"]: x for x in records(out, i)}
            for rel in known:
                if shard(rel) == i:
                    x = recs.get(rel, {})
                    check(x.get("status") == "failed" and (x.get("known_failure") is True) == (not extra) and
                          x.get("size") == os.path.getsize(os.path.join(tmp, rel)) and x.get("mtime"),
                          f"{attempt}: {rel}: {x}")
            log = open(os.path.join(out, "_shards", f"{i}-of-{N}.log")).read()
            log = log[log.rfind(f"shard {i}-of-{N} on "):]  # the last attempt
            check(f"({nk} known failures not tried again)" in log and
                  (not nk or f"{nk} known failure{'s' if nk > 1 else ''} skipped" in log),
                  f"{attempt}: shard {i} log says {nk} known: {log}")
        r, summary = merge(out)
        check(r.returncode == 0 and summary == (21, 18, 3, 0, 0, N, N) and
              (("; 2 known failures not tried again" in r.stdout) == (not extra)),
              f"{attempt}: merge: {summary}\n{r.stdout}")
        fails = {f["rel"]: f for f in jsonl(os.path.join(out, "failures.jsonl"))}
        check(sorted(fails) == sorted(bad) and all("known_failure" not in f and "status" not in f and
                                                   f.get("size") for rel, f in fails.items() if rel in known),
              f"{attempt}: merged failures keep size/mtime, no record fields: {fails}")

    # --- 2. tar shards (two items each); stopped mid-way (scancel of task 1, the
    # time-limit signal to task 0), then resubmitted
    WDS = ("--format", "wds", "--shard-items", "2")
    out = os.path.join(tmp, "out2")
    os.makedirs(out)
    job = submit(out, *WDS)
    # each task's ovx is frozen (SIGSTOP) as soon as it runs, then let run in
    # 5 ms slices until it has recorded an item, so the stop lands mid-way
    # however fast items are; Slurm's signal then waits, pending, until
    # SIGCONT
    frozen, stopped = {}, {}
    deadline = time.time() + 120
    while len(frozen) < 2 and time.time() < deadline and cluster.active(job):
        for i in (0, 1):
            pids = [] if i in frozen else task_ovx(out, i)
            signal_all(pids, signal.SIGSTOP)
            if pids:
                frozen[i] = pids
        time.sleep(0.002)
    check(len(frozen) == 2, f"found both tasks' ovx running: {frozen}")
    for i, how in ((1, "scancel"), (0, "usr1")):
        pids = frozen.get(i, [])
        t_step = time.time()
        while pids and not records(out, i) and time.time() < t_step + 60:
            signal_all(pids, signal.SIGCONT)
            time.sleep(0.005)
            signal_all(pids, signal.SIGSTOP)
            time.sleep(0.01)
        n = len(records(out, i))
        check(1 <= n < sum(shard(r) == i for r in good + bad), f"task {i} still mid-way when stopped ({n})")
        if how == "scancel":
            cluster.run("scancel", f"{job}_{i}")
        else:
            cluster.run("scancel", "--batch", "--signal=USR1", f"{job}_{i}")
        t_sig = time.time()   # SIGTERM reaches ovx (from Slurm, or passed on by the batch shell)
        while time.time() < t_sig + 10 and not all(sigterm_pending(pid) for pid in pids):
            time.sleep(0.02)
        signal_all(pids, signal.SIGCONT)
        stopped[i] = n
    check(len(stopped) == 2, f"stopped two tasks mid-way: {stopped}")
    cluster.wait(job)
    tasks = cluster.tasks(job)
    check(tasks.get(1, ("",))[0] == "CANCELLED", f"task 1 cancelled: {tasks}")
    for i in (0, 1):
        st = stats(out, i)
        check(st.get("state") == "interrupted" and st.get("exit_status") == 143, f"task {i} stopped cleanly: {st}")
    log0 = open(os.path.join(out, "_shards", f"0-of-{N}.log")).read()
    check("SIGUSR1: stopping ovx" in log0 and "interrupted:" in log0, f"task 0 log: {log0}")
    check(stats(out, 2).get("state") == "complete", "task 2 complete")
    r, summary = merge(out)
    check(r.returncode == 1 and summary and summary[3] > 0, f"merge after the stop: exit 1, missing: {summary}")
    m = re.search(r"OVX_SHARDS=3 sbatch --array=([\d,]+)", r.stdout)
    check(m is not None and m.group(1) in ("0,1", "1", "0"), f"merge names the shards to resubmit: {r.stdout}")
    before = {f: os.stat(os.path.join(out, "shards", f)).st_mtime_ns for f in wds_shards(out)}
    n_before = sum(len(v) for v in wds_items(out).values())
    check(not [f for f in os.listdir(os.path.join(out, "shards")) if ".tmp." in f],
          "stopped cleanly: the open shards were completed, no temp shard")

    job2 = submit(out, *WDS)   # the same array again
    cluster.wait(job2)
    skipped = done = 0
    for i in range(N):
        st = stats(out, i)
        check(st.get("state") == "complete", f"resubmitted shard {i} complete: {st}")
        skipped += st.get("skipped", 0)
        done += st.get("done", 0)
        if i == 2:
            check(st.get("done") == 0, "shard 2 (finished) redoes nothing")
    check(skipped + done == 18 and skipped == n_before, f"resubmit: {done} done, {skipped} skipped, "
          f"{n_before} were in complete shards")
    changed = [f for f, mt in before.items() if os.stat(os.path.join(out, "shards", f)).st_mtime_ns != mt]
    check(not changed, f"no complete shard rewritten: {changed}")
    shard_owner_check(out, "resubmit")
    check_complete_wds(out, "resubmit")

    # OVX_SHARDS: resubmitting one task of a 3-task array by its shard number
    job3 = cluster.sbatch("--array=1", "-c", "1", "-o", os.path.join(out, "slurm-%A_%a.out"), SBATCH, "list.csv",
                          out, model, "--tokens", str(K), "--device", "cpu", *WDS, cwd=tmp,
                          env=dict(env, OVX_SHARDS="3"))
    cluster.wait(job3)
    st = stats(out, 1)
    check(st.get("shard") == 1 and st.get("shards") == 3 and st.get("done") == 0 and
          st.get("skipped") == sum(shard(r) == 1 for r in good), f"OVX_SHARDS=3 --array=1 is shard 1-of-3: {st}")
finally:
    cluster.stop()
    left = [n for n, p in cluster.procs]
    check(not left, f"daemons stopped: {left}")
print(f"total {time.time() - t_start:.1f} s")
finish("slurm job array: extract-array.sbatch + merge-manifests on a real Slurm")
