#!/usr/bin/python3
"""Limits and signals of ovx extract: SIGTERM during a long CPU forward
exits 143 within seconds with nothing half-written (the forward stops
between layers); options the model cannot satisfy exit 2 before anything
is decoded; an unwritable -o fails before the first item; --max-tokens caps
--native images; --jsonl to a full stdout exits 1 with a message, and a
closed one (| head) stops like an interrupt (summary, exit 141)."""
import os
import signal
import subprocess
import time

from xhelp import OVX, check, finish, jsonl, make_clip, make_image, make_model, need_ffmpeg, ovx, temp_files, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-limits-")
model = make_model(os.path.join(tmp, "model"))
headless = make_model(os.path.join(tmp, "headless"), "--no-head")
data = os.path.join(tmp, "data")
clips = [os.path.join(data, f"c{i}.mp4") for i in range(3)]
for i, c in enumerate(clips):
    make_clip(c, src=["testsrc", "testsrc2", "smptebars"][i])
env = dict(os.environ, OVX_THREADS="2")


def lines(s):
    return [x for x in s.splitlines() if x.strip()]


# --- input-independent option errors: exit 2, one line, nothing listed or written
for what, m, extra in (("--hidden-state 99", model, ["--hidden-state", "99"]),
                       ("--hidden-state -4", model, ["--hidden-state", "-4"]),
                       ("--pooled-only without a head", headless, ["--pooled-only"])):
    out = os.path.join(tmp, "usage")
    r = ovx("extract", "-m", m, *extra, data, "-o", out, "--device", "cpu")
    check(r.returncode == 2 and len(lines(r.stderr)) == 1, f"{what}: exit 2, one line: {r.returncode} {r.stderr!r}")
    check(not os.path.exists(out), f"{what}: nothing written")
r = ovx("extract", "-m", model, "--hidden-state", "-3", clips[0], "-o", os.path.join(tmp, "hs-3"), "--device", "cpu",
        "--tokens", "64")
check(r.returncode == 0, f"--hidden-state -3 (= input of layer 0 for 2 layers) is fine: {r.stderr!r}")

# --- an unwritable output folder: exit 1 before any item is decoded
blocker = os.path.join(tmp, "a-file")
open(blocker, "w").write("x")
r = ovx("extract", "-m", model, data, "-o", os.path.join(blocker, "out"), "--device", "cpu", "--jsonl")
check(r.returncode == 1 and r.stdout == "" and "a-file" in r.stderr and len(lines(r.stderr)) == 1,
      f"unwritable -o: exit 1, one line naming it, no item: {r.returncode} {r.stdout!r} {r.stderr!r}")

# --- --max-tokens for --native images
img = os.path.join(tmp, "img", "big.png")
make_image(img, size="300x300")  # 21 x 21 = 441 native tokens
out = os.path.join(tmp, "native")
r = ovx("extract", "-m", model, img, "-o", out, "--native", "--max-tokens", "400", "--device", "cpu")
fl = jsonl(os.path.join(out, "failures.jsonl"))
check(r.returncode == 1 and len(fl) == 1 and "441 tokens" in fl[0]["error"] and "--max-tokens 400" in fl[0]["error"],
      f"--max-tokens 400: the 441-token image fails clearly: {fl}")
r = ovx("extract", "-m", model, img, "-o", out, "--native", "--max-tokens", "441", "--device", "cpu", "--jsonl")
rec = jsonl(r.stdout, is_text=True)
check(r.returncode == 0 and rec and rec[0]["outputs"]["tokens"]["shape"] == [441, 128], "--max-tokens 441: done")
check(jsonl(os.path.join(out, "failures.jsonl")) == [], "and no longer listed as failed")

# --- --jsonl to a full stdout: exit 1 with a message
with open("/dev/full", "w") as full:
    p = subprocess.run([OVX, "extract", "-m", model, data, "-o", os.path.join(tmp, "full"), "--jsonl", "--tokens",
                        "64", "--device", "cpu"], stdout=full, stderr=subprocess.PIPE, text=True, env=env,
                       timeout=300)
check(p.returncode == 1 and "stdout" in p.stderr, f"--jsonl > /dev/full: exit 1, said: {p.returncode} {p.stderr!r}")

# --- --jsonl | head -1: SIGPIPE stops like an interrupt (summary, 141)
p = subprocess.Popen([OVX, "extract", "-m", model, data, "-o", os.path.join(tmp, "pipe"), "--jsonl", "--tokens",
                      "64", "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
first = p.stdout.readline()
p.stdout.close()
err = p.stderr.read().decode()
p.wait(timeout=300)
check(first.startswith(b"{") and p.returncode == 141 and "interrupted" in err,
      f"| head -1: exit 141 with a summary: {p.returncode} {err!r}")

# --- SIGTERM during a long CPU forward: out within seconds, nothing half-written
big = make_model(os.path.join(tmp, "big"), "--hidden", "256", "--heads", "4", "--layers", "24")
out = os.path.join(tmp, "term")
p = subprocess.Popen([OVX, "extract", "-m", big, clips[0], "-o", out, "--tokens", "4096", "--threads", "2",
                      "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
time.sleep(4)  # decode + select take about a second; the forward far longer
t0 = time.time()
p.send_signal(signal.SIGTERM)
_, err = p.communicate(timeout=120)
dt = time.time() - t0
check(p.returncode == 143 and "interrupted" in err, f"SIGTERM in the forward: 143 and a summary: {p.returncode} {err!r}")
print(f"SIGTERM in the forward: out in {dt:.2f} s")
# one layer of this model takes ~0.4 s of CPU; 5 s leaves room for a loaded machine
# (without the check between layers the rest of the forward, ~10 s of CPU, runs first)
check(dt < 5.0, f"SIGTERM in the forward: out in {dt:.2f} s (< 5 s; the forward stops between layers)")
left = [f for _, _, fs in os.walk(out) for f in fs if f.endswith((".npy", ".json"))] if os.path.isdir(out) else []
check(not left and not temp_files(out), f"SIGTERM in the forward: nothing half-written: {left}")
check(jsonl(os.path.join(out, "failures.jsonl")) == [], "SIGTERM in the forward: the item is dropped, not failed")
finish("extract limits")
