#!/usr/bin/python3
"""test_extract_precision.py: `ovx extract --precision bf16` on the CPU gives
tokens and pooled vectors within rel L2 1e-2 of the fp32 run of the same
items (and not the same bytes: the bf16 path really ran), records the
precision in REL.json, and gives the same bytes for --threads 1 and 3.
Without oneDNN in the build (`ovx_have_dnnl` false) it checks the clear
refusal instead."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from xhelp import check, finish, make_clip, make_image, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402


def rel(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def main():
    need_ffmpeg()
    have_dnnl = sys.argv[1] == "1"
    t = tmpdir("ovx-xprec-")
    model = make_model(os.path.join(t, "m"))
    data = os.path.join(t, "data")
    make_clip(os.path.join(data, "a.mp4"), size="160x120")
    make_image(os.path.join(data, "b.png"), size="160x120")
    if not have_dnnl:
        r = ovx("extract", "-m", model, data, "-o", os.path.join(t, "o"), "--device", "cpu", "--precision", "bf16")
        check(r.returncode == 1 and "oneDNN" in r.stderr, "bf16 without oneDNN fails clearly: %r" % r.stderr)
        finish("extract --precision (no oneDNN)")
    outs = {}
    for name, args in (("fp32", ["--precision", "fp32"]), ("bf16", ["--precision", "bf16"]), ("bf16t3", ["--precision", "bf16",
                                                                                     "--threads", "3"]),
                       ("bf16t1", ["--precision", "bf16", "--threads", "1"])):
        o = os.path.join(t, name)
        r = ovx("extract", "-m", model, data, "-o", o, "--device", "cpu", "--tokens", "512", "--quiet", *args)
        check(r.returncode == 0, "%s run exits 0: %s" % (name, r.stderr.strip()))
        outs[name] = o
    for base in ("a", "b"):
        f = {n: np.load(os.path.join(o, base + ".npy")) for n, o in outs.items()}
        p = {n: np.load(os.path.join(o, base + ".pooled.npy")) for n, o in outs.items()}
        e, ep = rel(f["bf16"], f["fp32"]), rel(p["bf16"], p["fp32"])
        check(0 < e <= 1e-2 and ep <= 1e-2, "%s: bf16 vs fp32 rel L2 tokens %.2e pooled %.2e" % (base, e, ep))
        print("%s: bf16 vs fp32 rel L2 tokens %.2e pooled %.2e" % (base, e, ep))
        check(np.array_equal(f["bf16t1"], f["bf16t3"]) and np.array_equal(p["bf16t1"], p["bf16t3"]),
              "%s: bf16 bytes equal for --threads 1 and 3" % base)
        for n in outs:
            js = json.load(open(os.path.join(outs[n], base + ".json")))
            want = "fp32" if n == "fp32" else "bf16"
            check(js.get("precision") == want, "%s/%s.json precision %r" % (n, base, js.get("precision")))
    r = ovx("extract", "-m", model, data, "-o", outs["fp32"], "--precision", "fp16")
    check(r.returncode == 2, "--precision fp16 is a usage error (exit %d)" % r.returncode)
    finish("extract --precision")


if __name__ == "__main__":
    main()
