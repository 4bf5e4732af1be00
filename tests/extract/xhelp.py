"""xhelp.py: shared helpers of the ovx extract CLI tests: a tiny random model
(scripts/make-test-model), tiny synthetic clips made with the ffmpeg CLI,
running ovx, and checking an output folder."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import pycheck  # noqa: E402
from pycheck import expect as check  # noqa: E402,F401  (the tests call xhelp.check)

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
OVX = os.path.abspath(os.environ.get("OVX_BIN", os.path.join(ROOT, "build", "src", "cli", "ovx")))
PY = "/usr/bin/python3"
HIDDEN = 128
_tmpdirs = []


def tmpdir(prefix):
    """A scratch folder, removed by finish() when every check passed."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def finish(name):
    if pycheck.failures == 0:
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    else:
        print("kept for inspection:", " ".join(_tmpdirs))
    sys.exit(pycheck.finish(name))


def need_ffmpeg():
    if not shutil.which("ffmpeg"):
        print("SKIP: ffmpeg CLI not found")
        sys.exit(77)


def make_model(d, *extra):
    subprocess.run([PY, os.path.join(ROOT, "scripts", "make-test-model"), d, "--hidden", str(HIDDEN),
                    "--layers", "2", "--heads", "2", *extra], check=True, stdout=subprocess.DEVNULL)
    return d


def make_clip(path, seconds=1.2, size="96x72", codec="libx264", src="testsrc", rate=10):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{src}=size={size}:rate={rate}",
                    "-t", str(seconds), "-c:v", codec, "-pix_fmt", "yuv420p", path], check=True)


def make_image(path, size="96x72"):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}",
                    "-frames:v", "1", path], check=True)


def ovx(*args, stdin=None, env=None, timeout=300):
    e = dict(os.environ)
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN"):
        e.pop(k, None)
    if env:
        e.update(env)
    return subprocess.run([OVX, *args], input=stdin, capture_output=True, text=True, env=e, timeout=timeout)


def jsonl(path_or_text, is_text=False):
    text = path_or_text if is_text else (open(path_or_text).read() if os.path.exists(path_or_text) else "")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def temp_files(d):
    """Temp files left in output folder d: anything in the runs' private temp
    folders (DIR/.ovx/tmp) and old-style "NAME.tmp.PID.XXXXXX" names beside
    the outputs (the tests that call this use no such input names)."""
    t = os.path.join(d, ".ovx", "tmp")
    private = [os.path.join(r, f) for r, _, fs in os.walk(t) for f in fs] + [
        os.path.join(t, x) for x in (os.listdir(t) if os.path.isdir(t) else [])]
    beside = [os.path.join(r, f) for r, _, fs in os.walk(d) if not r.startswith(t) for f in fs if ".tmp." in f]
    return sorted(set(private)) + beside


def check_item(out, base, k, d=HIDDEN, pooled=True, dtype=np.float32):
    """Outputs of one item exist, load with numpy and have the right shapes."""
    npy = os.path.join(out, base + ".npy")
    ok = os.path.exists(npy)
    check(ok, f"{base}.npy exists")
    if ok:
        a = np.load(npy)
        check(a.shape == (k, d) and a.dtype == dtype and np.isfinite(a).all(), f"{base}.npy shape {a.shape}")
    if pooled:
        p = os.path.join(out, base + ".pooled.npy")
        check(os.path.exists(p) and np.load(p).shape == (d,), f"{base}.pooled.npy")
    j = os.path.join(out, base + ".json")
    check(os.path.exists(j), f"{base}.json exists")
    if os.path.exists(j):
        js = json.load(open(j))
        check(js["n_tokens"] == k and len(js["positions"]) == k, f"{base}.json tokens/positions")
        return js
    return None
