#!/usr/bin/python3
"""Nothing lost under any name (issue 22): one section per case, chosen by
the first argument (all when none).
  1  inputs whose names look like temp files: listed, extracted, kept
  2  a live run's temp file (255-byte names) survives another run on the -o
  3  a non-UTF-8 name never removes the outputs of the name that equals it
     after U+FFFD replacement, and its own stale outputs go
  4  logs keyed by rel: a failure does not outlive the success of the same
     item found under another spelling of its folder, one failure line per
     rel; a run's compaction keeps a line another run wrote after this
     run's failure of the item; --prune drops the lines and outputs of a
     moved input (cat/a.mp4 -> dog/a.mp4) and of a deleted failed one
  5  two --format wds runs of the same shard at once (also --shard 0/1
     twice), names non-UTF-8 and near NAME_MAX among them: every item in
     exactly one tar, one manifest line per item, a rerun skips them all
  6  a FIFO in the model folder (weights, config.json, a second shard) is
     refused at once (no hang, SIGTERM not needed); a FIFO input in a
     walked folder is reported as failed, the other inputs done
  7  URL inputs from a server on 127.0.0.1 that this test starts: one that
     never answers and one that trickles a byte every 0.5 s; SIGTERM stops
     either within ~2 s (exit 143, nothing failed), and the trickle times
     out on its own with --io-timeout 3
  8  names of 245-255 bytes: outputs cut to fit NAME_MAX with a hash of
     REL, the manifest maps rel to them, a rerun skips them
Every section ends with the folder invariants of xinvariants.py."""
import os
import subprocess
import sys
import time

from xhelp import OVX, check, finish, make_clip, make_model, need_ffmpeg, tmpdir
from xinvariants import exact, lines, problems

need_ffmpeg()
CASES = sys.argv[1:] or ["1", "2", "3", "4", "5", "6", "7", "8"]
tmp = tmpdir("ovx-extract-lost-").encode()
model = make_model(os.path.join(tmp.decode(), "model")).encode()
env = dict(os.environb, OVX_THREADS="1")
for k in (b"SLURM_ARRAY_TASK_ID", b"SLURM_ARRAY_TASK_COUNT", b"SLURM_ARRAY_TASK_MIN"):
    env.pop(k, None)
clip = os.path.join(tmp, b"clip.mp4")
make_clip(clip.decode())
CLIP = open(clip, "rb").read()


def put(folder, names):
    os.makedirs(folder, exist_ok=True)
    for n in names:
        open(os.path.join(folder, n), "wb").write(CLIP)


def run(*args, wait=True):
    cmd = [OVX.encode(), b"extract", b"-m", model, b"--tokens", b"256", b"--threads", b"1", *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return subprocess.run(cmd, capture_output=True, env=env, timeout=300)


def invariants(out, rels, what):
    bad = problems(out, rels)
    check(not bad, f"{what}: folder invariants: {bad}")


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


if "1" in CASES:
    d, out = os.path.join(tmp, b"c1"), os.path.join(tmp, b"o1")
    names = [b"v.mp4", b"v.npy.tmp.1.ab.mp4", b"v.npy.tmp.1.a.mp4", b"v.json.tmp.12.abcdef.mp4"]
    put(d, names)
    dry = run(d, b"-o", out, b"--dry-run")
    check(all(os.path.join(d, n) in dry.stdout for n in names), f"case 1: --dry-run lists every name: {dry.stdout!r}")
    r = run(d, b"-o", out)
    check(r.returncode == 0, f"case 1: run succeeds: {r.returncode} {r.stderr[-400:]!r}")
    man = lines(os.path.join(out, b"manifest.jsonl"))
    check(sorted(exact(m, "rel") for m in man) == sorted(names), f"case 1: every input extracted: {man}")
    for stem in (b"v", b"v.npy.tmp.1.ab", b"v.npy.tmp.1.a", b"v.json.tmp.12.abcdef"):
        for suf in (b".npy", b".pooled.npy", b".json"):
            check(os.path.exists(os.path.join(out, stem + suf)), f"case 1: {stem + suf!r} kept")
    invariants(out, names, "case 1")
    r = run(d, b"-o", out, b"--jsonl")
    check(r.returncode == 0 and r.stdout.count(b'"skipped"') == len(names),
          f"case 1: a rerun skips all {len(names)}: {r.stdout!r}")
    invariants(out, names, "case 1, rerun")

if "2" in CASES:
    import fcntl
    d, out = os.path.join(tmp, b"c2"), os.path.join(tmp, b"o2")
    names = [b"L" * 238 + b"%02d.mp4" % i for i in range(1, 5)]
    put(d, names)
    # a live holder of item 01: its claim, a temp file beside the outputs the
    # way ovx once named them (cut to 255 bytes), and a private temp folder
    claims = os.path.join(out, b".ovx", b"claims")
    tdir = os.path.join(out, b".ovx", b"tmp")
    os.makedirs(claims)
    os.makedirs(tdir)
    # the claim key is the item's output stem: over 239 bytes it is cut to
    # 222 bytes + "~" + FNV-1a 64 of REL (outlayout.h), as these 240-byte stems are
    key = names[0][:-4]
    if len(key) > 239:
        key = key[:222] + b"~" + b"%016x" % fnv1a64(names[0])
    cfd = os.open(os.path.join(claims, b"%016x.lock" % fnv1a64(key)), os.O_RDWR | os.O_CREAT)
    fcntl.lockf(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    beside = os.path.join(out, (key + b".pooled.npy")[:255 - 19] + b".tmp.4242424.abcdef")
    check(len(os.path.basename(beside)) == 255, "case 2: a 255-byte temp name")
    open(beside, "wb").write(b"half")
    live = os.path.join(tdir, b"4242424-abcdef")
    os.makedirs(live)
    lfd = os.open(live + b".lock", os.O_RDWR | os.O_CREAT)
    fcntl.lockf(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    open(os.path.join(live, b"4242424.qwerty"), "wb").write(b"half")
    p = run(d, b"-o", out, wait=False)
    t0 = time.time()
    while time.time() - t0 < 120 and len(lines(os.path.join(out, b"manifest.jsonl"))) < 3:
        time.sleep(0.1)
    check(len(lines(os.path.join(out, b"manifest.jsonl"))) == 3, "case 2: the 3 free items done")
    check(os.path.exists(beside), "case 2: the holder's 255-byte temp name survives the other run")
    check(os.path.exists(os.path.join(live, b"4242424.qwerty")), "case 2: a live run's temp folder survives")
    if os.path.exists(beside):
        os.unlink(beside)  # the holder commits its file and goes
    os.close(cfd)
    o, e = p.communicate(timeout=120)
    check(p.returncode == 0, f"case 2: the run succeeds once the holder went: {p.returncode} {e[-400:]!r}")
    check(os.path.exists(os.path.join(live, b"4242424.qwerty")), "case 2: still there at the end of the run")
    os.close(lfd)
    r = run(d, b"-o", out)
    check(r.returncode == 0 and not os.path.exists(live), f"case 2: a dead run's temp folder goes: {os.listdir(tdir)}")
    invariants(out, names, "case 2")

if "3" in CASES:
    d, out = os.path.join(tmp, b"c3"), os.path.join(tmp, b"o3")
    bad, good = b"x\xff.mp4", "x\ufffd.mp4".encode()
    put(d, [bad, good])
    r = run(d, b"-o", out, b"--hidden-state", b"-2")
    check(r.returncode == 0, f"case 3: first run: {r.returncode} {r.stderr[-400:]!r}")
    g = [os.path.join(out, "x\ufffd".encode() + s) for s in (b".npy", b".pooled.npy", b".hidden_-2.npy", b".json")]
    check(all(os.path.exists(f) for f in g), "case 3: both items written")
    r = run(os.path.join(d, bad), b"-o", out, b"--tokens", b"128")
    check(r.returncode == 0, f"case 3: rerun of x\\xff: {r.returncode} {r.stderr[-400:]!r}")
    check(all(os.path.exists(f) for f in g), f"case 3: the other item's outputs stay: {os.listdir(out)}")
    check(not os.path.exists(os.path.join(out, b"x\xff.hidden_-2.npy")), "case 3: the stale x\\xff.hidden_-2.npy goes")
    invariants(out, [bad, good], "case 3")

if "4" in CASES:
    import fcntl
    d, out = os.path.join(tmp, b"in_f"), os.path.join(tmp, b"o4")
    os.makedirs(d)
    x = os.path.join(d, b"x.mp4")
    open(x, "wb").write(b"just some text, not a video\n" * 20)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        r = run(b"in_f", b"-o", b"o4")
        check(r.returncode == 1, f"case 4: a text file fails: {r.returncode}")
        r = run(b"./in_f/", b"-o", b"o4")
        fl = lines(os.path.join(out, b"failures.jsonl"))
        check(len(fl) == 1 and fl[0]["rel"] == "x.mp4", f"case 4: one failure line per rel: {fl}")
        open(x, "wb").write(CLIP)
        r = run(os.path.abspath(d), b"-o", b"o4")
        check(r.returncode == 0, f"case 4: now a video: {r.returncode} {r.stderr[-300:]!r}")
    finally:
        os.chdir(cwd)
    fl = lines(os.path.join(out, b"failures.jsonl"))
    check(not fl, f"case 4: the failure line goes with the success under another spelling: {fl}")
    invariants(out, [b"x.mp4"], "case 4, spellings")

    # the race: A fails x after removing its outputs, B does x, A compacts
    d, out = os.path.join(tmp, b"c4"), os.path.join(tmp, b"o4r")
    put(d, [b"x.mp4", b"y.mp4"])
    r = run(d, b"-o", out)
    check(r.returncode == 0, "case 4 race: first run")
    os.unlink(os.path.join(out, b"x.pooled.npy"))
    os.mkdir(os.path.join(out, b"x.pooled.npy"))  # x is redone, and its write fails
    os.unlink(os.path.join(out, b"y.json"))       # y is redone, and held by someone else
    claims = os.path.join(out, b".ovx", b"claims")
    os.makedirs(claims, exist_ok=True)
    cfd = os.open(os.path.join(claims, b"%016x.lock" % fnv1a64(b"y")), os.O_RDWR | os.O_CREAT)
    fcntl.lockf(cfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    a = run(d, b"-o", out, wait=False)
    t0 = time.time()
    while time.time() - t0 < 120 and not lines(os.path.join(out, b"failures.jsonl")):
        time.sleep(0.1)
    check(len(lines(os.path.join(out, b"failures.jsonl"))) == 1, "case 4 race: A failed x")
    os.rmdir(os.path.join(out, b"x.pooled.npy"))
    b = run(os.path.join(d, b"x.mp4"), b"-o", out)
    check(b.returncode == 0, f"case 4 race: B does x: {b.returncode} {b.stderr[-300:]!r}")
    os.close(cfd)
    o, e = a.communicate(timeout=120)
    check(a.returncode == 1, f"case 4 race: A ends (x failed there): {a.returncode}")
    man = lines(os.path.join(out, b"manifest.jsonl"))
    check(sorted(m["rel"] for m in man) == ["x.mp4", "y.mp4"], f"case 4 race: B's line for x kept: {man}")
    invariants(out, [b"x.mp4", b"y.mp4"], "case 4 race")
    # and without B: the compaction drops the line of outputs this run removed
    os.unlink(os.path.join(out, b"x.pooled.npy"))
    os.mkdir(os.path.join(out, b"x.pooled.npy"))
    r = run(d, b"-o", out)
    man = lines(os.path.join(out, b"manifest.jsonl"))
    fl = lines(os.path.join(out, b"failures.jsonl"))
    check(r.returncode == 1 and [m["rel"] for m in man] == ["y.mp4"] and [f["rel"] for f in fl] == ["x.mp4"],
          f"case 4: a failed rewrite loses its manifest line: {r.returncode} {man} {fl}")
    os.rmdir(os.path.join(out, b"x.pooled.npy"))

    # --prune: a moved input and a deleted failed one
    d, out = os.path.join(tmp, b"c4p"), os.path.join(tmp, b"o4p")
    put(os.path.join(d, b"cat"), [b"a.mp4"])
    put(os.path.join(d, b"dog"), [b"b.mp4"])
    open(os.path.join(d, b"dog", b"bad.mp4"), "wb").write(b"not a video\n" * 20)
    r = run(d, b"-o", out, b"--label-from-dir")
    check(r.returncode == 1, "case 4 prune: first run (one bad input)")
    os.rename(os.path.join(d, b"cat", b"a.mp4"), os.path.join(d, b"dog", b"a.mp4"))
    os.unlink(os.path.join(d, b"dog", b"bad.mp4"))
    r = run(d, b"-o", out, b"--label-from-dir")
    man = lines(os.path.join(out, b"manifest.jsonl"))
    check(sorted(m["rel"] for m in man) == ["cat/a.mp4", "dog/a.mp4", "dog/b.mp4"], f"case 4 prune: without --prune "
          f"the moved input is there twice: {[m['rel'] for m in man]}")
    r = run(d, b"-o", out, b"--label-from-dir", b"--prune")
    check(r.returncode == 0 and b"--prune" in r.stderr, f"case 4 prune: {r.returncode} {r.stderr[-300:]!r}")
    man = lines(os.path.join(out, b"manifest.jsonl"))
    check(sorted(m["rel"] for m in man) == ["dog/a.mp4", "dog/b.mp4"], f"case 4 prune: the old rel goes: {man}")
    check(not os.path.exists(os.path.join(out, b"cat", b"a.npy")), "case 4 prune: its outputs go")
    check(not lines(os.path.join(out, b"failures.jsonl")), "case 4 prune: the deleted input's failure goes")
    invariants(out, [b"dog/a.mp4", b"dog/b.mp4"], "case 4 prune")

if "5" in CASES:
    import tarfile
    d = os.path.join(tmp, b"c5")
    names = [b"v%02d.mp4" % i for i in range(16)] + [b"x\xff.mp4", "x\ufffd.mp4".encode(), b"L" * 251 + b".mp4",
                                                     b"L" * 240 + b"\xfe.mp4"]
    put(d, names)
    for tag, extra in ((b"same", []), (b"shard01", [b"--shard", b"0/1"])):
        out = os.path.join(tmp, b"o5" + tag)
        ps = [run(d, b"-o", out, b"--format", b"wds", b"--shard-items", b"4", b"--decode-threads", b"1", b"--batch",
                  b"2", *extra, wait=False) for _ in range(2)]
        res = [p.communicate(timeout=300) for p in ps]
        check(all(p.returncode == 0 for p in ps), f"case 5 {tag!r}: both runs succeed: "
              f"{[(p.returncode, e[-200:]) for p, (o, e) in zip(ps, res)]}")
        sd = os.path.join(out, b"shards")
        keys = []
        for t in sorted(os.listdir(sd)):
            with tarfile.open(os.path.join(sd, t)) as tf:
                keys += [m.name[:-5] for m in tf.getmembers() if m.name.endswith(".json")]
        check(len(keys) == len(names) and len(set(keys)) == len(names),
              f"case 5 {tag!r}: each of {len(names)} items in exactly one shard: {len(keys)} members, "
              f"{len(set(keys))} distinct")
        man = lines(os.path.join(out, b"manifest.jsonl"))
        check(sorted(exact(m, "rel") for m in man) == sorted(names), f"case 5 {tag!r}: one manifest line per item")
        check(not lines(os.path.join(out, b"failures.jsonl")), f"case 5 {tag!r}: no failures")
        r = run(d, b"-o", out, b"--format", b"wds", b"--shard-items", b"4", b"--jsonl", *extra)
        check(r.returncode == 0 and r.stdout.count(b'"skipped"') == len(names),
              f"case 5 {tag!r}: a rerun skips every item: {r.stdout.count(b'skipped')}")

if "6" in CASES:
    import shutil
    v = os.path.join(tmp, b"c6.mp4")
    open(v, "wb").write(CLIP)
    sharded = make_model(os.path.join(tmp.decode(), "model2"), "--shards", "2").encode()
    shards = sorted(f for f in os.listdir(sharded) if f.endswith(b".safetensors"))
    check(len(shards) == 2, f"case 6: a 2-shard model: {shards}")
    for name, src, fifo in ((b"weights", model, b"model.safetensors"), (b"config", model, b"config.json"),
                            (b"shard2", sharded, shards[1])):
        m = os.path.join(tmp, b"m6" + name)
        shutil.copytree(src, m)
        os.unlink(os.path.join(m, fifo))
        os.mkfifo(os.path.join(m, fifo))
        cmd = [OVX.encode(), b"extract", b"-m", m, v, b"-o", os.path.join(tmp, b"o6" + name), b"--tokens", b"256"]
        t0 = time.time()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            o, e = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.send_signal(15)
            try:
                o, e = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
        dt = time.time() - t0
        check(dt < 5 and p.returncode not in (0, -9, -15, 143), f"case 6 {name!r}: refused at once: rc {p.returncode} "
              f"after {dt:.1f} s")
        check(b"FIFO" in e, f"case 6 {name!r}: says it is a FIFO: {e[-300:]!r}")
    d, out = os.path.join(tmp, b"c6"), os.path.join(tmp, b"o6")
    put(d, [b"a.mp4"])
    os.mkfifo(os.path.join(d, b"b.mp4"))
    r = run(d, b"-o", out, b"--jsonl", b"--threads", b"1")
    check(r.returncode == 1, f"case 6: a walked FIFO fails the run: {r.returncode}")
    fl = lines(os.path.join(out, b"failures.jsonl"))
    check(len(fl) == 1 and fl[0]["rel"] == "b.mp4" and "FIFO" in fl[0]["error"], f"case 6: the FIFO reported: {fl}")
    check(b"FIFO" in r.stderr, f"case 6: and said on stderr: {r.stderr[-300:]!r}")
    invariants(out, [b"a.mp4", b"b.mp4"], "case 6")

if "7" in CASES:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    gone = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.startswith("/stall"):  # accepts, reads the request, never answers
                gone.wait(120)
                return
            self.send_response(200)  # /trickle: a byte every 0.5 s
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(CLIP)))
            self.end_headers()
            try:
                for i in range(len(CLIP)):
                    if gone.wait(0.5):
                        return
                    self.wfile.write(CLIP[i:i + 1])
                    self.wfile.flush()
            except OSError:
                pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}".encode()

    def timed(url, *extra, term_after=None, limit=40):
        out = os.path.join(tmp, b"o7")
        p = run(url, b"-o", out, b"--jsonl", *extra, wait=False)
        t0 = time.time()
        if term_after is not None:
            time.sleep(term_after)
            p.send_signal(15)
            t0 = time.time()
        try:
            o, e = p.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        return p.returncode, time.time() - t0, o, e, out

    for path in (b"/stall/a.mp4", b"/trickle/b.mp4"):
        rc, dt, o, e, out = timed(base + path, term_after=2.0, limit=10)
        print(f"case 7 {path.decode()}: SIGTERM after 2 s -> exit {rc} in {dt:.2f} s")
        check(rc == 143 and dt < 2.5, f"case 7 {path!r}: SIGTERM stops it: rc {rc} after {dt:.1f} s {e[-200:]!r}")
        fl = lines(os.path.join(out, b"failures.jsonl"))
        check(not fl, f"case 7 {path!r}: a stopped input is not a failure: {fl}")
    rc, dt, o, e, out = timed(base + b"/trickle/c.mp4", b"--io-timeout", b"3", limit=40)
    print(f"case 7 trickle, --io-timeout 3: exit {rc} after {dt:.1f} s")
    fl = lines(os.path.join(out, b"failures.jsonl"))
    check(rc == 1 and dt < 15, f"case 7: the trickle times out with --io-timeout 3: rc {rc} after {dt:.1f} s")
    check(len(fl) == 1 and "timed out" in fl[0]["error"], f"case 7: its failure says so: {fl}")
    gone.set()
    srv.shutdown()

if "8" in CASES:
    d, out = os.path.join(tmp, b"c8"), os.path.join(tmp, b"o8")
    names = [b"n" * 251 + b".mp4", b"n" * 241 + b".mp4", b"m" * 235 + b"A.mp4", b"m" * 235 + b"B.mp4",
             "\u00e9".encode() * 125 + b".mp4", b"short.mp4"]
    check(all(len(n) <= 255 for n in names), "case 8: names fit NAME_MAX")
    put(d, names)
    r = run(d, b"-o", out, b"--hidden-state", b"-2")
    check(r.returncode == 0, f"case 8: every long name succeeds: {r.returncode} {r.stderr[-300:]!r}")
    man = lines(os.path.join(out, b"manifest.jsonl"))
    check(sorted(exact(m, "rel") for m in man) == sorted(names), "case 8: one manifest line per input")
    files = os.listdir(out)
    check(all(len(f) <= 255 for f in files), "case 8: every output name fits")
    jsons = [exact(m, "json") for m in man]
    check(len(set(jsons)) == len(names), f"case 8: distinct outputs per input: {jsons}")
    for m in man:
        if len(exact(m, "rel")) > 243:
            j = exact(m, "json")
            check(b"~" in j and len(j) - 5 == 239, f"case 8: a cut stem of 239 bytes with a hash: {j!r}")
    check(exact(next(m for m in man if exact(m, "rel") == b"short.mp4"), "json") == b"short.json",
          "case 8: short names unchanged")
    invariants(out, names, "case 8")
    r = run(d, b"-o", out, b"--hidden-state", b"-2", b"--jsonl")
    check(r.returncode == 0 and r.stdout.count(b'"skipped"') == len(names), "case 8: a rerun skips every item")

finish("extract lost " + ",".join(CASES))
