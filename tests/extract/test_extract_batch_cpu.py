#!/usr/bin/python3
"""test_extract_batch_cpu.py HAVE_DNNL: `ovx extract --batch N` on the CPU runs
several items through one packed forward (ovx_model_forward_packed: linear
layers over all items' rows, attention per item) and writes NPYs
byte-identical to `--batch 1`, over items of different token counts: native
images of 35, 360, 1024 and 2400 tokens (2400 > the MLP's row block of 2048 at
2 threads, so one item is cut in two blocks; partial 256-row chunks
everywhere) and two clips of 300 codec tokens. Checked for fp32 (oneDNN's
matmuls, one call per run of samples of equal length, or OpenBLAS without
oneDNN) at --batch 3 and with all six items in one forward, at --threads 3
(other row blocks), and, with oneDNN, for OVX_CPU_GEMM=openblas (one loop
over all samples' chunks) and --precision bf16, each at --batch 3. The
tokens per item are read back from the NPYs, so the test fails if the items
do not really differ."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from xhelp import check, finish, make_clip, make_image, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402
import numpy as np  # noqa: E402
import filecmp  # noqa: E402


def npys(d):
    return sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
                  if f.endswith(".npy"))


def same(a, b, what):
    fa, fb = npys(a), npys(b)
    check(fa == fb and len(fa) >= 12, f"{what}: same NPY files ({len(fa)} vs {len(fb)})")
    diff = [f for f in fa if f in fb and not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
    check(not diff, f"{what}: byte-identical NPYs (differ: {diff})")
    print(f"{what}: {len(fa)} NPYs compared, {len(diff)} differ", flush=True)


def main():
    need_ffmpeg()
    have_dnnl = len(sys.argv) > 1 and sys.argv[1] == "1"
    t = tmpdir("ovx-xbatch-")
    model = make_model(os.path.join(t, "m"))
    data = os.path.join(t, "data")
    sizes = {"i35.png": "98x70", "i360.png": "280x252", "i1024.png": "448x448", "i2400.png": "672x700"}
    for name, size in sizes.items():
        make_image(os.path.join(data, name), size=size)
    make_clip(os.path.join(data, "v1.mp4"), seconds=1.2, size="96x72")
    make_clip(os.path.join(data, "v2.mp4"), seconds=0.9, size="120x90", src="testsrc2")
    common = ["-m", model, data, "--device", "cpu", "--native", "--tokens", "300", "--hidden-state", "-2",
              "--quiet"]
    ob = {"OVX_CPU_GEMM": "openblas"}
    cases = [("b1", ["--batch", "1", "--threads", "2"], None), ("b3", ["--batch", "3", "--threads", "2"], None),
             ("b6", ["--batch", "6", "--threads", "2"], None), ("b3t3", ["--batch", "3", "--threads", "3"], None)]
    if have_dnnl:  # the default fp32 above ran on oneDNN: OpenBLAS too, and bf16
        cases += [("ob1", ["--batch", "1"], ob), ("ob3", ["--batch", "3"], ob),
                  ("bf16b1", ["--batch", "1", "--precision", "bf16"], None),
                  ("bf16b3", ["--batch", "3", "--precision", "bf16"], None)]
    out = {}
    for name, extra, env in cases:
        out[name] = os.path.join(t, name)
        r = ovx("extract", *common, "-o", out[name], *extra, env=env)
        check(r.returncode == 0, f"{name}: exit 0 ({r.returncode}: {r.stderr.strip()})")
    n = {f: np.load(os.path.join(out["b1"], f), mmap_mode="r").shape[0]
         for f in npys(out["b1"]) if not f.endswith((".pooled.npy", ".hidden.npy")) and "." not in f[:-4]}
    print("tokens per item:", n)
    check(sorted(n.values()) == [35, 300, 300, 360, 1024, 2400], f"items of 35 to 2400 tokens: {n}")
    for name, want in (("b1", 1), ("b6", 6)):
        got = {f: json.load(open(os.path.join(out[name], f[:-4] + ".json")))["timings_ms"]["model_batch_items"]
               for f in n}
        check(set(got.values()) == {want}, f"{name}: every item ran in a forward of {want} items: {got}")
    same(out["b1"], out["b3"], "fp32 --batch 3 vs --batch 1")
    same(out["b1"], out["b6"], "fp32 --batch 6 (one forward) vs --batch 1")
    same(out["b1"], out["b3t3"], "fp32 --batch 3 --threads 3 vs --batch 1 --threads 2")
    if have_dnnl:
        same(out["ob1"], out["ob3"], "fp32 OpenBLAS --batch 3 vs --batch 1")
        same(out["bf16b1"], out["bf16b3"], "bf16 --batch 3 vs --batch 1")
    else:
        print("no oneDNN in this build: fp32 ran on OpenBLAS; bf16 not checked")
    finish("extract --batch on the CPU")


if __name__ == "__main__":
    main()
