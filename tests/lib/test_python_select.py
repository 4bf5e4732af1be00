#!/usr/bin/python3
"""test_python_select.py: the Python package's ovx.select (issue 26, item 2),
imported from the build dir (PYTHONPATH=BUILD/python), against the CLI:
- on generated clips (H.264, MPEG-4, a pan) and every clip of
  ../shared/videos (skipped loudly when absent): visible_indices are
  `ovx select`'s, int64 bytes equal; the report's text is byte-identical to
  `ovx select --no-timings`; positions decompose the indices; scores are
  byte-identical to `ovx select --scores FILE.npy`;
- options by name equal the CLI's flags (sampling, mv_source, normalise,
  decode_all); unknown names and values raise ovx.Error (stage "options");
- keep_frames: the crops are byte-identical to tests/select/frames_dump's
  (which test_select_frames checks against a PIL oracle);
- a damaged file and a missing one raise ovx.Error with .path, .stage,
  .code; a failing clip does not disturb the next call;
- 4 threads calling ovx.select at once give the sequential results;
- ovx.select(bytes, name=path) reads the video from memory (custom
  AVIOContext) and gives the path's result byte for byte on every clip
  above (and the errors of the path, a cut buffer fails cleanly);
- patches=True: uint8 [K,14,14,3], patch k cut from keep_frames' crop of
  its slot at its (h, w); OPTIONS names every ovx_select_params field the
  CLI's flags set.
In the sanitizer build (second argument "sanitizer") the real clips are read
from memory only (ovx.select(bytes, name=path) against the CLI): the path
reading runs there on the generated clips, and the normal pass compares
both readings on every clip."""
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "select"))
from pycheck import check, expect, finish  # noqa: E402
import clips  # noqa: E402

import ovx  # noqa: E402

OVX = os.environ["OVX_BIN"]
frames_dump = sys.argv[1]
SANITIZER = len(sys.argv) > 2 and sys.argv[2] == "sanitizer"
build_python = os.environ["PYTHONPATH"].split(os.pathsep)[0]
check(os.path.abspath(ovx.__file__).startswith(os.path.abspath(build_python)),
      f"ovx imported from the build dir: {ovx.__file__}")


def cli(clip, args, tmp):
    npy = os.path.join(tmp, "scores.npy")
    r = subprocess.run([OVX, "select", clip, "--no-timings", "--scores", npy] + args,
                       capture_output=True, text=True, timeout=300)
    return r, (np.load(npy) if r.returncode == 0 else None)


def compare(clip, tmp, cli_args, memory_only=False, **kw):
    """ovx.select(clip, **kw) against `ovx select clip CLI_ARGS`, then from
    memory against that (memory_only: only from memory); True when equal."""
    name = f"{os.path.basename(clip)} {' '.join(cli_args)}"
    r, scores = cli(clip, cli_args, tmp)
    with open(clip, "rb") as f:
        data = f.read()
    try:
        res = ovx.select(data, name=clip, **kw) if memory_only else ovx.select(clip, **kw)
    except ovx.Error as e:
        expect(r.returncode != 0, f"{name}: ovx.select failed ({e}) where the CLI did not")
        expect(e.path == clip and e.stage == "select" and e.code in ("input", "io", "unsupported"),
               f"{name}: ovx.Error attributes {e.path!r} {e.stage!r} {e.code!r}")
        expect(r.stderr.strip().endswith(str(e)), f"{name}: same message as the CLI: {r.stderr!r} vs {e}")
        return "error"
    if not expect(r.returncode == 0, f"{name}: the CLI failed ({r.stderr.strip()}) where ovx.select did not"):
        return False
    want = json.loads(r.stdout)
    idx = np.asarray(want["visible_indices"], dtype=np.int64)
    ok = expect(res.visible_indices.dtype == np.int64 and res.visible_indices.tobytes() == idx.tobytes(),
                f"{name}: visible_indices equal the CLI's ({len(res.visible_indices)} vs {len(idx)})")
    ok &= expect(res.json == r.stdout, f"{name}: report text byte-identical to the CLI's")
    ok &= expect(res.report == want, f"{name}: report dict equals the CLI's JSON")
    t, h, w = res.positions.T
    ok &= expect(res.positions.shape == (len(idx), 3) and np.array_equal(t * 256 + h * 16 + w, idx) and
                 h.max(initial=0) < 16 and w.max(initial=0) < 16 and t.max(initial=0) < 64,
                 f"{name}: positions (t, h, w) decompose the indices")
    ok &= expect(res.scores.dtype == np.float32 and res.scores.shape == (64, 16, 16) and
                 res.scores.tobytes() == scores.astype(np.float32).tobytes(),
                 f"{name}: scores byte-identical to --scores")
    ok &= expect(res.frames is None, f"{name}: no frames without keep_frames")
    if memory_only:
        return ok & expect(res.path == clip, f"{name}: read from memory, .path is the name given")
    mem = ovx.select(data, name=clip, **kw)
    ok &= expect(mem.json == res.json and mem.visible_indices.tobytes() == res.visible_indices.tobytes() and
                 mem.scores.tobytes() == res.scores.tobytes() and mem.path == clip,
                 f"{name}: ovx.select(bytes, name=path) byte-identical to the path")
    return ok


with tempfile.TemporaryDirectory(prefix="ovx-py-") as tmp:
    gen = [clips.moving_object(os.path.join(tmp, "h264"), "h264"),
           clips.moving_object(os.path.join(tmp, "mpeg4"), "mpeg4"),
           clips.pan_clip(os.path.join(tmp, "pan"))]
    n_ok = 0
    for clip in gen:
        n_ok += compare(clip, tmp, ["--tokens", "2048"]) is True   # the package's default: 2048 tokens, 64 frames
        n_ok += compare(clip, tmp, ["--tokens", "300", "--frames", "16"], tokens=300, frames=16) is True
    c = gen[0]
    n_ok += compare(c, tmp, ["--tokens", "1000", "--sampling", "uniform"], tokens=1000, sampling="uniform") is True
    n_ok += compare(c, tmp, ["--tokens", "1000", "--mv-source", "estimate", "--normalise", "frame"],
                    tokens=1000, mv_source="estimate", normalise="frame") is True
    n_ok += compare(c, tmp, ["--tokens", "700", "--decode", "all", "--start", "0.5"],
                    tokens=700, decode_all=True, start=0.5) is True
    n_ok += compare(c, tmp, ["--tokens", "900", "--motion-sides", "past"], tokens=900, motion_sides="past") is True
    print(f"generated clips: {n_ok} of {len(gen) * 2 + 4} cases equal to the CLI")

    # option errors
    for kw, what in [({"tokenz": 5}, "unknown option"), ({"sampling": "random"}, "unknown value"),
                     ({"tokens": 1.5}, "expected an integer"), ({"frames": 65}, "--frames must be 1..64"),
                     ({"start": "x"}, "expected a number")]:
        try:
            ovx.select(c, **kw)
            expect(False, f"{kw}: no error")
        except ovx.Error as e:
            expect(what in str(e) and e.code == "usage" and e.path == c,
                   f"{kw}: ovx.Error {e} (stage {e.stage}, code {e.code})")

    # kept pixels: byte-identical to frames_dump (8 frames, 512 tokens)
    for clip in gen[:2]:
        rgb = os.path.join(tmp, "f.rgb")
        d = subprocess.run([frames_dump, clip, rgb], capture_output=True, text=True, timeout=300)
        check(d.returncode == 0, f"frames_dump {clip}: {d.stderr}")
        res = ovx.select(clip, tokens=512, frames=8, keep_frames=True)
        raw = open(rgb, "rb").read()
        expect(res.frames is not None and res.frames.dtype == np.uint8 and
               res.frames.shape == (len(raw) // (224 * 224 * 3), 224, 224, 3) and
               res.frames.tobytes() == raw and res.json == d.stdout,
               f"{os.path.basename(clip)}: keep_frames crops and report == frames_dump's")

    # patches=True: each selected token's 14x14 RGB patch; from memory too
    for clip in gen[:2]:
        full = ovx.select(clip, tokens=600, frames=16, keep_frames=True)
        with open(clip, "rb") as f:
            pt = ovx.select(memoryview(f.read()), tokens=600, frames=16, patches=True)
        t, h, w = full.positions.T
        row = {int(s): i for i, s in enumerate(full.slots)}
        want = np.stack([full.frames[row[int(a)], b * 14:b * 14 + 14, c * 14:c * 14 + 14] for a, b, c in zip(t, h, w)])
        expect(pt.frames.dtype == np.uint8 and pt.frames.shape == (600, 14, 14, 3) and
               np.array_equal(pt.frames, want) and pt.path == "<bytes>" and
               pt.visible_indices.tobytes() == full.visible_indices.tobytes(),
               f"{os.path.basename(clip)}: patches=True == the kept crops' patches at the positions")
        expect(list(full.slots) == [s["slot"] for s in full.report["slots"]] and full.slots.dtype == np.int64,
               f"{os.path.basename(clip)}: slots name each kept crop's slot")
    # every CLI flag that sets a selection parameter has its keyword
    flags = {"tokens", "frames", "sampling", "mv_source", "iframe_policy", "inconsistency", "normalise", "light",
             "noise_k", "residual_scale", "motion_scale", "residual_weight", "motion_floor", "prior_weight",
             "fps", "start", "duration", "threads", "decode_all", "max_pixels", "max_corrupt", "row_step", "texture_k", "fit_frame",
             "motion_sides"}
    expect(flags <= set(ovx.OPTIONS), f"OPTIONS holds the CLI's flags: missing {sorted(flags - set(ovx.OPTIONS))}")

    # memory input: a cut buffer and garbage fail cleanly with the name; an
    # empty buffer too; a buffer that is not bytes-like is refused
    with open(gen[0], "rb") as f:
        data = f.read()
    for buf, nm in [(data[:4000], "cut.mp4"), (b"\x00garbage" * 50, None), (b"", "empty.mp4")]:
        try:
            ovx.select(buf, name=nm)
            expect(False, f"{nm}: no error from a broken buffer")
        except ovx.Error as e:
            expect(e.path == (nm or "<bytes>") and e.stage == "select" and e.code == "input",
                   f"memory {nm}: ovx.Error .path {e.path!r} .stage {e.stage!r} .code {e.code!r}: {e}")
    arr = np.frombuffer(data, dtype=np.uint8)
    expect(ovx.select(arr, name=gen[0]).json == ovx.select(gen[0]).json, "a uint8 numpy array as the bytes")

    # errors with their path; the next call still works
    bad = os.path.join(tmp, "damaged.mp4")
    with open(gen[0], "rb") as f:
        head = f.read(3000)
    with open(bad, "wb") as f:
        f.write(b"\0" * 64 + head[64:])
    for path, codes in [(bad, ("input",)), (os.path.join(tmp, "missing.mp4"), ("io", "input"))]:
        try:
            ovx.select(path)
            expect(False, f"{path}: no error")
        except ovx.Error as e:
            expect(e.path == path and e.stage == "select" and e.code in codes and e.status < 0 and
                   isinstance(e, Exception),
                   f"{os.path.basename(path)}: ovx.Error .path {e.path!r} .stage {e.stage!r} .code {e.code!r}: {e}")
    expect(ovx.select(gen[0]).visible_indices.size == 2048, "a call after a failure works")

    # 4 threads at once == sequential
    jobs = [(p, k) for p in gen for k in (2048, 500)] + [(bad, 2048)]
    blobs = {p: open(p, "rb").read() for p in gen}

    def one(job):
        try:
            src = blobs[job[0]] if job[1] == 500 else job[0]  # from memory and by path at once
            r = ovx.select(src, tokens=job[1], name=job[0])
            return r.json, r.visible_indices.tobytes(), r.scores.tobytes()
        except ovx.Error as e:
            return ("error", e.path, e.code)

    seq = [one(j) for j in jobs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        par = list(pool.map(one, jobs * 2))
    expect(par == seq * 2, f"4 threads: {sum(a == b for a, b in zip(par, seq * 2))} of {len(par)} results "
           "equal the sequential ones")
    expect(seq[-1] == ("error", bad, "input"), f"the damaged clip fails in threads too: {seq[-1]}")

    # the real clips
    shared = os.path.join(os.environ.get("OVX_SHARED_DIR", os.path.join(here, "..", "..", "..", "shared")),
                          "videos")
    if not os.path.isdir(shared):
        print(f"SKIP (loudly): {shared} is absent: the real-clip comparison did not run")
    else:
        names = sorted(n for n in os.listdir(shared) if n not in ("MANIFEST.tsv", "README.md"))
        res = [compare(os.path.join(shared, n), tmp, ["--tokens", "2048"], memory_only=SANITIZER) for n in names]
        print(f"../shared/videos: {sum(r is True for r in res)} of {len(names)} clips equal to the CLI, "
              f"{sum(r == 'error' for r in res)} failing in both alike "
              f"({', '.join(n for n, r in zip(names, res) if r == 'error')})")
        expect(sum(r is True for r in res) >= len(names) - 3, "most real clips select")

sys.exit(finish("ovx.select against ovx select"))
