#!/usr/bin/python3
"""A run with --hidden-state killed between an item's hidden NPY and its JSON
leaves BASE.hidden_L.npy behind; the rerun (with or without --hidden-state)
must remove it, since no log line describes it. The fuzz test drew this about
once in 200 iterations; here it is made on purpose. And the removal is by
exact name: an input named BASE.hidden_L.mp4, whose tokens file is that same
BASE.hidden_L.npy, keeps it."""
import os

from xhelp import check, finish, make_clip, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
d = tmpdir("ovx-hidden-leftover-")
model = make_model(os.path.join(d, "model"))

# 1. a's hidden NPY without a's JSON (the kill), rerun without the hidden state
src = os.path.join(d, "in1")
out = os.path.join(d, "out1")
make_clip(os.path.join(src, "a.mp4"))
r = ovx("extract", "-m", model, "-o", out, "--hidden-state", "-2", "--precision", "fp32", src)
check(r.returncode == 0, f"first run: {r.stderr}")
check(os.path.exists(os.path.join(out, "a.hidden_-2.npy")), "the hidden NPY was written")
os.unlink(os.path.join(out, "a.json"))
r = ovx("extract", "-m", model, "-o", out, "--precision", "fp32", src)
check(r.returncode == 0, f"rerun: {r.stderr}")
check(os.path.exists(os.path.join(out, "a.json")), "the item is done again")
check(not os.path.exists(os.path.join(out, "a.hidden_-2.npy")),
      "the stale hidden NPY of the killed run is removed")
# the same with another layer kept on the rerun
os.unlink(os.path.join(out, "a.json"))
r = ovx("extract", "-m", model, "-o", out, "--hidden-state", "-2", "--precision", "fp32", src)
os.unlink(os.path.join(out, "a.json"))
r = ovx("extract", "-m", model, "-o", out, "--hidden-state", "-1", "--precision", "fp32", src)
check(r.returncode == 0, f"rerun with -1: {r.stderr}")
check(sorted(f for f in os.listdir(out) if ".hidden_" in f) == ["a.hidden_-1.npy"],
      f"only the new layer's NPY is left: {sorted(os.listdir(out))}")

# 2. an input whose own outputs carry that name keeps them
src = os.path.join(d, "in2")
out = os.path.join(d, "out2")
make_clip(os.path.join(src, "a.mp4"))
make_clip(os.path.join(src, "a.hidden_-2.mp4"), src="testsrc2")
r = ovx("extract", "-m", model, "-o", out, "--precision", "fp32", src)
check(r.returncode == 0, f"two inputs: {r.stderr}")
theirs = os.path.join(out, "a.hidden_-2.npy")
check(os.path.exists(theirs) and os.path.exists(os.path.join(out, "a.hidden_-2.json")),
      "a.hidden_-2.mp4 has its tokens in a.hidden_-2.npy")
before = open(theirs, "rb").read()
os.unlink(os.path.join(out, "a.json"))
r = ovx("extract", "-m", model, "-o", out, "--precision", "fp32", src)
check(r.returncode == 0, f"rerun: {r.stderr}")
check(os.path.exists(theirs) and open(theirs, "rb").read() == before,
      "a's rewrite leaves the other input's a.hidden_-2.npy alone")
finish("extract hidden leftover")
