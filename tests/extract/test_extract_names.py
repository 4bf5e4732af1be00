#!/usr/bin/python3
"""File names that are not UTF-8, hold a newline, or are 250 bytes long:
outputs are written under the exact names, every JSON ovx writes (REL.json,
manifest.jsonl, failures.jsonl, --jsonl, ovx select) decodes as strict UTF-8
and parses, the exact bytes come back from KEY_bytes (base64), a rerun skips
everything, and no temp file is left (the temp name of a 255-byte output
name is cut to fit)."""
import base64
import json
import os
import subprocess

import numpy as np

from xhelp import OVX, check, finish, make_clip, make_model, need_ffmpeg, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-names-").encode()
model = make_model(os.path.join(tmp.decode(), "model"))
data = os.path.join(tmp, b"data")
grun = os.path.join(data, b"gr\xfcn")           # latin-1 folder name: the label
odd = os.path.join(grun, b"caf\xe9 \xff.mp4")    # not UTF-8
nl = os.path.join(data, b"new\nline.mp4")        # a newline
broken = os.path.join(grun, b"kaputt \xfe.mp4")  # not UTF-8, not a video
long_name = os.path.join(tmp, b"n" * 244 + b".clip1")  # 250 bytes: its outputs' stem is cut to 239 bytes
os.makedirs(grun)
for p in (odd, nl, long_name):
    t = os.path.join(tmp, b"t.mp4")
    make_clip(t.decode())
    os.rename(t, p)
open(broken, "wb").write(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 500)
out = os.path.join(tmp, b"out")
env = dict(os.environb, OVX_THREADS="1")


def run(*args):
    return subprocess.run([OVX.encode(), *args], capture_output=True, env=env, timeout=300)


def strict(raw, what):
    """bytes -> parsed JSON, decoding UTF-8 strictly; None (and a failure) when not."""
    try:
        return json.loads(raw.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        check(False, f"{what}: not strict UTF-8 JSON: {e}: {raw[:200]!r}")
        return None


def lines(path):
    return [strict(x, path) for x in open(path, "rb").read().splitlines() if x.strip()] if os.path.exists(path) else []


def exact(obj, key):
    """The exact bytes of obj[key]: from KEY_bytes when present."""
    if key + "_bytes" in obj:
        return base64.b64decode(obj[key + "_bytes"])
    return obj[key].encode()


ARGS = [b"extract", b"-m", model.encode(), data, long_name, b"-o", out, b"--tokens", b"256", b"--label-from-dir",
        b"--jsonl", b"--threads", b"1", b"--device", b"cpu"]
r = run(*ARGS)
check(r.returncode == 1, f"one broken input: exit 1 ({r.returncode}) {r.stderr[-500:]!r}")
recs = [strict(x, "--jsonl") for x in r.stdout.splitlines()]
by_path = {exact(x, "path"): x for x in recs if x}
check(by_path.get(odd, {}).get("status") == "done", f"non-UTF-8 name extracted: {list(by_path)}")
check(by_path.get(nl, {}).get("status") == "done", "name with a newline extracted")
check(by_path.get(long_name, {}).get("status") == "done", f"250-byte name extracted: {r.stderr[-400:]!r}")
check(by_path.get(broken, {}).get("status") == "failed", "broken non-UTF-8 file failed")
check(by_path.get(odd, {}).get("path") == odd.decode("utf-8", "replace"), "path with U+FFFD replacements")

# outputs under the exact names (a stem over 239 bytes cut, with "~" and the
# FNV-1a 64 of REL), valid
def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


stems = {odd: os.path.join(out, b"gr\xfcn", b"caf\xe9 \xff"), nl: os.path.join(out, b"new\nline"),
         long_name: os.path.join(out, b"n" * 222 + b"~%016x" % fnv1a64(os.path.basename(long_name)))}
for src, stem in stems.items():
    try:
        a = np.load(stem + b".npy")
        p = np.load(stem + b".pooled.npy")
        ok = a.shape == (256, 128) and p.shape == (128,)
    except Exception as e:
        ok = False
        print(e)
    check(ok, f"outputs of {src!r} valid")
    j = strict(open(stem + b".json", "rb").read(), stem + b".json")
    if j:
        check(exact(j, "input") == src, f"REL.json input bytes recovered for {src!r}")
        check(exact(j, "rel") == os.path.basename(src) or exact(j, "rel").endswith(os.path.basename(src)),
              f"REL.json rel bytes for {src!r}")
check(len(os.path.basename(stems[long_name])) == 239, "a cut 239-byte output stem")

# every JSON file under out parses strictly
n_json = 0
for root, _, fs in os.walk(out):
    for f in fs:
        if f.endswith(b".json"):
            strict(open(os.path.join(root, f), "rb").read(), os.path.join(root, f))
            n_json += 1
check(n_json == 3, f"three REL.json files ({n_json})")
man = lines(os.path.join(out, b"manifest.jsonl"))
check(sorted(exact(m, "path") for m in man if m) == sorted(stems), f"manifest: one line per item")
mo = [m for m in man if m and exact(m, "path") == odd]
check(bool(mo) and exact(mo[0], "label") == b"gr\xfcn", "label from a non-UTF-8 folder kept exactly")
check(bool(mo) and exact(mo[0]["outputs"]["tokens"], "file") == b"gr\xfcn/caf\xe9 \xff.npy",
      "manifest output file bytes recovered")
fl = lines(os.path.join(out, b"failures.jsonl"))
check(len(fl) == 1 and fl[0] and exact(fl[0], "path") == broken, f"failures.jsonl: the broken file, exact bytes")
temps = [os.path.join(r_, f) for r_, _, fs in os.walk(out) for f in fs if b".tmp." in f]
check(not temps, f"no temp files: {temps}")

# a rerun skips every good item (resume reads the exact names back)
r = run(*ARGS)
recs = [strict(x, "--jsonl rerun") for x in r.stdout.splitlines()]
st = sorted((exact(x, "path"), x["status"]) for x in recs if x)
check(st == sorted([(odd, "skipped"), (nl, "skipped"), (long_name, "skipped"), (broken, "failed")]),
      f"rerun: skips, the broken one fails again: {st}")
check(len(lines(os.path.join(out, b"manifest.jsonl"))) == 3, "rerun: still one manifest line per item")

# ovx select prints strict UTF-8 JSON for a non-UTF-8 path
r = run(b"select", odd, b"--tokens", b"64")
j = strict(r.stdout, "ovx select")
check(r.returncode == 0 and j is not None and exact(j, "input") == odd, "ovx select: input bytes recovered")
finish("extract names")
