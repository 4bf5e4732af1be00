#!/usr/bin/python3
"""test_cli_precision_default.py HAVE_DNNL: --precision auto is the default
of `ovx extract` and `ovx forward` (issue 24, item 9), and it decides the
same way in every run on one machine.
- --help of both says auto is the default;
- extract without --precision, -v: one line "precision auto: P (...)";
  REL.json records P; the tokens are byte-identical to an explicit
  --precision P run; forward without --precision likewise;
- the calibration is kept per machine: with a fresh OVX_CACHE_DIR the first
  run writes precision-auto.tsv, one line "cpu=<this CPU's model name>;...
  <TAB>ratio" with the ratio -v printed, the second run reads it ("measured
  earlier") and chooses the same; a ratio written into that line decides
  (0.5: fp32, 3: bf16, in REL.json and bytes), so no later timing can flip
  the choice; OVX_CACHE_DIR="" keeps nothing. Without a bf16 path (no
  oneDNN or no AVX512_BF16/AMX) auto is fp32 and nothing is measured: the
  cache part is skipped, saying so."""
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "extract"))
from xhelp import check, finish, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

HAVE_DNNL = len(sys.argv) > 1 and sys.argv[1] == "1"
need_ffmpeg()
tmp = tmpdir("ovx-prec-default-")
model = make_model(os.path.join(tmp, "model"))
flags = open("/proc/cpuinfo").read()
BF16 = HAVE_DNNL and ("avx512_bf16" in flags or "amx_bf16" in flags)
AMX = "amx_bf16" in flags
cpu_name = next((l.split(":", 1)[1].strip() for l in flags.splitlines() if l.startswith("model name")), "unknown")

for cmd in ("extract", "forward"):
    h = ovx("help", cmd).stdout
    check(re.search(r"--precision P\s+(CPU matmuls: )?auto \(default", h) is not None, f"{cmd} --help: auto default")

src = os.path.join(tmp, "clips")
make_clip(os.path.join(src, "c0.mp4"), seconds=1.0, size="64x48")
make_clip(os.path.join(src, "c1.mp4"), seconds=1.0, size="80x60", src="testsrc2")
cache = os.path.join(tmp, "cache")


def extract(name, *extra, cache_dir=cache, env=None):
    """cache_dir None: OVX_CACHE_DIR unset (the suite sets one)"""
    saved = os.environ.pop("OVX_CACHE_DIR", None)
    try:
        e = dict(env or {}, **({} if cache_dir is None else {"OVX_CACHE_DIR": cache_dir}))
        r = ovx("extract", "-m", model, "--tokens", "32", "--threads", "1", "--device", "cpu", src,
                "-o", os.path.join(tmp, name), *extra, env=e)
    finally:
        if saved is not None:
            os.environ["OVX_CACHE_DIR"] = saved
    said = re.findall(r"precision auto: (bf16|fp32) \((.*)\)", r.stderr)
    rel = {}
    for c in ("c0", "c1"):
        p = os.path.join(tmp, name, c)
        if os.path.exists(p + ".json"):
            rel[c] = (json.load(open(p + ".json")).get("precision"), open(p + ".npy", "rb").read())
    return r, said, rel


r, said, rel = extract("default", "-v")
check(r.returncode == 0 and len(said) == 1, f"default extract -v says once what auto chose: {r.stderr!r}")
chose = said[0][0] if said else "?"
check(chose == ("bf16" if BF16 else "fp32") or (BF16 and chose == "fp32" and "measured at" in said[0][1]),
      f"auto's choice fits this CPU: {said}")
_, _, exp = extract("explicit", "--precision", chose)
check(len(rel) == 2 and all(rel[c][0] == chose and rel[c][1] == exp[c][1] for c in rel),
      f"default = explicit --precision {chose}: REL.json and bytes")

# forward: the same default
px = os.path.join(tmp, "px.npy")
np.save(px, np.random.default_rng(3).standard_normal((1, 3, 2, 56, 56)).astype(np.float32))
outs = {}
for name, extra in (("f_default", ["-v"]), ("f_explicit", ["--precision", chose])):
    rf = ovx("forward", "-m", model, "--pixel-values", px, "-o", os.path.join(tmp, name), "--device", "cpu", *extra,
             env={"OVX_CACHE_DIR": cache})
    f = os.path.join(tmp, name, "last_hidden_state.npy")
    outs[name] = open(f, "rb").read() if rf.returncode == 0 and os.path.exists(f) else None
    if name == "f_default":
        check(f"precision auto: {chose}" in rf.stderr, f"forward default: auto, {chose}: {rf.stderr!r}")
check(outs["f_default"] is not None and outs["f_default"] == outs["f_explicit"], "forward default = explicit")

tsv = os.path.join(cache, "precision-auto.tsv")
if BF16 and not AMX:
    lines = open(tsv).read().splitlines() if os.path.exists(tsv) else []
    check(len(lines) == 1 and lines[0].startswith(f"cpu={cpu_name};") and "\t" in lines[0],
          f"the calibration is kept, one line for this CPU: {lines}")
    ratio = re.search(r"measured at ([0-9.]+)x", said[0][1]) if said else None
    check(ratio is not None and lines and abs(float(lines[0].split("\t")[1]) - float(ratio.group(1))) < 0.006,
          f"the kept ratio is the one -v printed: {lines} {said}")
    r2, said2, rel2 = extract("second", "-v")
    check(said2 and said2[0][0] == chose and "measured earlier" in said2[0][1] and rel2 == rel,
          f"the second run reads it and decides the same (same bytes): {said2}")
    key = lines[0].split("\t")[0] if lines else ""
    for forced, want in (("0.5", "fp32"), ("3.0", "bf16")):
        open(tsv, "w").write(f"{key}\t{forced}\n")
        r3, said3, rel3 = extract("forced" + forced, "-v")
        _, _, exp3 = extract("forced_exp" + forced, "--precision", want)
        check(said3 and said3[0][0] == want and len(rel3) == 2 and
              all(rel3[c][0] == want and rel3[c][1] == exp3[c][1] for c in rel3),
              f"the kept ratio {forced} decides {want}: {said3}")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    kept = open(tsv).read()
    r4, said4, _ = extract("nocache", "-v", cache_dir="", env={"HOME": home, "XDG_CACHE_HOME": ""})
    check(r4.returncode == 0 and said4 and "kept in" not in said4[0][1] and not os.listdir(home)
          and open(tsv).read() == kept, f'OVX_CACHE_DIR="": measured, nothing kept: {said4}')
    r5, said5, _ = extract("homecache", "-v", cache_dir=None, env={"HOME": home, "XDG_CACHE_HOME": ""})
    check(said5 and f"kept in {home}/.cache/ovx/precision-auto.tsv" in said5[0][1] and
          os.path.isfile(os.path.join(home, ".cache", "ovx", "precision-auto.tsv")),
          f"no OVX_CACHE_DIR: kept in ~/.cache/ovx: {said5}")
elif AMX:
    print("SKIPPED: the cache checks (this CPU has AMX-BF16: auto takes bf16 without measuring)")
else:
    check(not os.path.exists(tsv), "no bf16 path: nothing measured, nothing kept")
    print("SKIPPED: the cache checks (no bf16 path here: auto is fp32 without measuring)")
finish("--precision auto is the default, kept per machine")
