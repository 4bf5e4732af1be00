#!/usr/bin/python3
"""test_model_cli.py: `ovx forward` and `ovx inspect` error handling: each
bad input gives exit status 1 or 2 and one stderr line naming the file (and
the tensor or index at fault); the Hugging Face cache id and OVX_MODEL
resolve to a model folder."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("OVX_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
OVX = os.environ.get("OVX_BIN", os.path.join(ROOT, "build", "src", "cli", "ovx"))
failures = 0


def ovx(*args, env=None, timeout=None):
    e = dict(os.environ)
    e.pop("OVX_MODEL", None)
    e.update(env or {})
    return subprocess.run([OVX] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                          timeout=timeout)


def expect_error(what, r, codes, *needles):
    global failures
    lines = r.stderr.strip().splitlines()
    ok = r.returncode in codes and len(lines) == 1 and all(n in lines[0] for n in needles)
    print("%s %-40s exit %d: %s" % ("ok  " if ok else "FAIL", what, r.returncode, r.stderr.strip()))
    failures += not ok


def expect_ok(what, r, needle=""):
    global failures
    ok = r.returncode == 0 and needle in r.stdout + r.stderr
    print("%s %-40s exit %d" % ("ok  " if ok else "FAIL", what, r.returncode))
    if not ok:
        print(r.stdout + r.stderr)
    failures += not ok


def read_st(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def write_st(path, header, data):
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def variant(base, tmp, name, edit_header=None, edit_config=None, extra_data=b""):
    d = os.path.join(tmp, name)
    shutil.copytree(base, d)
    if edit_header:
        h, data = read_st(os.path.join(d, "model.safetensors"))
        edit_header(h, len(data)) if extra_data else edit_header(h)
        data += extra_data
        write_st(os.path.join(d, "model.safetensors"), h, data)
    if edit_config:
        cfg = json.load(open(os.path.join(d, "config.json")))
        edit_config(cfg)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    return d


def expect_quick(what, args, codes, *needles):
    """expect_error for a command that must not block (FIFOs): 30 s limit."""
    global failures
    try:
        r = ovx(*args, timeout=30)
    except subprocess.TimeoutExpired:
        print("FAIL %-40s hung (killed after 30 s)" % what)
        failures += 1
        return
    expect_error(what, r, codes, *needles)


def set_f32(d, name, value):
    """Sets every element of F32 tensor name in d/model.safetensors."""
    h, data = read_st(os.path.join(d, "model.safetensors"))
    b, e = h[name]["data_offsets"]
    data = data[:b] + struct.pack("<f", value) * ((e - b) // 4) + data[e:]
    write_st(os.path.join(d, "model.safetensors"), h, data)


def hostile_model_files(model, tmp, px, out):
    """FIFOs and devices in place of model files, bytes after the header JSON,
    NUL in tensor names, non-finite weights and outputs."""
    for name, kind in (("config.json", "FIFO"), ("model.safetensors", "FIFO")):
        d = variant(model, tmp, "fifo-" + name)
        os.remove(os.path.join(d, name))
        os.mkfifo(os.path.join(d, name))
        expect_quick("inspect: %s is a FIFO" % name, ("inspect", "-m", d), (1,), os.path.join(d, name), kind)
    d = variant(model, tmp, "device")
    os.remove(os.path.join(d, "model.safetensors"))
    os.symlink("/dev/zero", os.path.join(d, "model.safetensors"))
    expect_quick("inspect: shard is /dev/zero", ("inspect", "-m", d), (1,), "model.safetensors", "device")
    d = variant(model, tmp, "fifo-shard")
    os.rename(os.path.join(d, "model.safetensors"), os.path.join(d, "real.safetensors"))
    h, _ = read_st(os.path.join(d, "real.safetensors"))
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {k: "model-00001.safetensors" for k in h if k != "__metadata__"}}, f)
    os.mkfifo(os.path.join(d, "model-00001.safetensors"))
    expect_quick("inspect: indexed shard is a FIFO", ("inspect", "-m", d), (1,), "model-00001.safetensors", "FIFO")
    os.remove(os.path.join(d, "model.safetensors.index.json"))
    os.mkfifo(os.path.join(d, "model.safetensors.index.json"))
    expect_quick("inspect: index is a FIFO", ("inspect", "-m", d), (1,), "model.safetensors.index.json", "FIFO")

    def raw_header(d, tail):
        st = os.path.join(d, "model.safetensors")
        h, data = read_st(st)
        hj = json.dumps(h).encode() + tail
        with open(st, "wb") as f:
            f.write(struct.pack("<Q", len(hj)) + hj + data)
        return st
    d = variant(model, tmp, "pad-spaces")
    raw_header(d, b"    \n")
    expect_ok("inspect: header padded with whitespace", ovx("inspect", "-m", d), "checksum")
    d = variant(model, tmp, "pad-junk")
    st = raw_header(d, b"  {}")
    expect_error("inspect: bytes after the header JSON", ovx("inspect", "-m", d), (1,), st, "not whitespace padding")
    d = variant(model, tmp, "nul-name")
    st = os.path.join(d, "model.safetensors")
    h, data = read_st(st)
    hj = json.dumps(h).replace('"layernorm_pre.weight"', '"layernorm_pre.weight\\u0000x"', 1).encode()
    with open(st, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + data)
    expect_error("inspect: NUL in a tensor name", ovx("inspect", "-m", d), (1,), st, "NUL", "layernorm_pre.weight")

    f32 = os.path.join(tmp, "model-f32")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), f32,
                    "--hidden", "64", "--layers", "1", "--dtype", "f32"], check=True)
    d = variant(f32, tmp, "nan-weight")
    set_f32(d, "encoder.layers.0.mlp.fc1.bias", float("nan"))
    r = ovx("inspect", "-m", d)
    expect_ok("inspect: NaN weights load", r, "checksum")
    global failures
    warn = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    ok = len(warn) == 1 and "non-finite" in warn[0] and "encoder.layers.0.mlp.fc1.bias" in warn[0] and \
        "256 " in warn[0]
    print("%s %-40s %s" % ("ok  " if ok else "FAIL", "inspect: warns of NaN weights", warn))
    failures += not ok
    d = variant(f32, tmp, "inf-output")
    set_f32(d, "encoder.layers.0.mlp.fc2.weight", 3.0e38)  # finite, but the forward overflows
    o2 = os.path.join(tmp, "out-inf")
    r = ovx("forward", "-m", d, "--pixel-values", px, "-o", o2)
    expect_error("forward: Inf/NaN outputs refused", r, (1,), "model forward", "NaN/Inf", "nothing written")
    left = os.listdir(o2) if os.path.isdir(o2) else []
    ok = not any(n.endswith(".npy") for n in left)
    print("%s %-40s %s" % ("ok  " if ok else "FAIL", "forward: no NaN outputs on disk", left))
    failures += not ok
    # extract: the item fails at the model stage, nothing but the failure log written
    from PIL import Image
    img = os.path.join(tmp, "red.png")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(img)
    o3 = os.path.join(tmp, "out-extract")
    d = variant(d, tmp, "inf-output-nan-weight")
    set_f32(d, "encoder.layers.0.mlp.fc1.bias", float("nan"))
    r = ovx("extract", "-m", d, "-o", o3, img)
    warn = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    ok = len(warn) == 1 and "non-finite weight" in warn[0]
    print("%s %-40s %s" % ("ok  " if ok else "FAIL", "extract: warns of NaN weights", warn))
    failures += not ok
    lines = [json.loads(ln) for ln in open(os.path.join(o3, "failures.jsonl"))] \
        if os.path.exists(os.path.join(o3, "failures.jsonl")) else []
    ok = r.returncode == 1 and len(lines) == 1 and lines[0]["stage"] == "model" and \
        "model forward" in lines[0]["error"] and "NaN/Inf" in lines[0]["error"] and \
        not [n for n in os.listdir(o3) if n.endswith(".npy") or n.startswith("red")]
    print("%s %-40s exit %d %s" % ("ok  " if ok else "FAIL", "extract: Inf/NaN outputs fail the item",
                                   r.returncode, lines))
    failures += not ok


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model")
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "make-test-model"), model,
                        "--hidden", "64", "--layers", "1"], check=True)
        px = os.path.join(tmp, "px.npy")
        np.save(px, np.zeros((1, 3, 28, 42), np.float32))
        out = os.path.join(tmp, "out")
        expect_ok("forward works", ovx("forward", "-m", model, "--pixel-values", px, "-o", out))

        # forward errors
        expect_error("forward: missing model folder", ovx("forward", "-m", tmp + "/nope", "--pixel-values", px,
                                                          "-o", out), (1,), tmp + "/nope")
        expect_error("forward: no model at all", ovx("forward", "--pixel-values", px, "-o", out), (2,), "OVX_MODEL")
        expect_error("forward: missing npy", ovx("forward", "-m", model, "--pixel-values", tmp + "/x.npy", "-o", out),
                     (1, 2), tmp + "/x.npy")
        bad = os.path.join(tmp, "bad.npy")
        np.save(bad, np.zeros((3, 28, 28), np.float32))
        expect_error("forward: 3-D pixel values", ovx("forward", "-m", model, "--pixel-values", bad, "-o", out),
                     (1, 2), bad)
        np.save(bad, np.zeros((1, 4, 28, 28), np.float32))
        expect_error("forward: 4 channels", ovx("forward", "-m", model, "--pixel-values", bad, "-o", out), (1, 2), bad)
        vi = os.path.join(tmp, "vi.npy")
        np.save(vi, np.array([[0, 1, 6]], np.int64))
        expect_error("forward: index out of range", ovx("forward", "-m", model, "--pixel-values", px,
                                                        "--visible-indices", vi, "-o", out), (1, 2), vi, "6")
        np.save(vi, np.array([[0], [1]], np.int64))
        expect_error("forward: indices batch mismatch", ovx("forward", "-m", model, "--pixel-values", px,
                                                            "--visible-indices", vi, "-o", out), (1, 2), vi)
        np.save(vi, np.array([[0.5]], np.float32))
        expect_error("forward: float indices", ovx("forward", "-m", model, "--pixel-values", px,
                                                   "--visible-indices", vi, "-o", out), (1, 2), vi)
        expect_error("forward: hidden state out of range", ovx("forward", "-m", model, "--pixel-values", px,
                                                               "--hidden-state", "5", "-o", out), (2,), "5")
        expect_error("forward: bad option", ovx("forward", "--frobnicate"), (2,), "ovx forward")

        # inspect errors
        expect_ok("inspect works", ovx("inspect", "-m", model), "checksum")
        d = variant(model, tmp, "missing", lambda h: h.pop("encoder.layers.0.mlp.fc1.bias"))
        expect_error("inspect: missing tensor", ovx("inspect", "-m", d), (1,), "encoder.layers.0.mlp.fc1.bias",
                     "missing", d)

        def add_extra(h, end):
            h["rotary.inv_freq"] = {"dtype": "F32", "shape": [2], "data_offsets": [end, end + 8]}
        d = variant(model, tmp, "extra", add_extra, extra_data=bytes(8))
        expect_error("inspect: unexpected tensor", ovx("inspect", "-m", d), (1,), "rotary.inv_freq", "unexpected")
        d = variant(model, tmp, "nohead", edit_config=lambda c: c.update(use_head=False))
        expect_error("inspect: head tensors, use_head false", ovx("inspect", "-m", d), (1,), "12 unexpected", "head.")

        def reshape(h):
            h["layernorm_pre.weight"]["shape"] = [8, 8]
        d = variant(model, tmp, "shape", reshape)
        expect_error("inspect: wrong shape", ovx("inspect", "-m", d), (1,), "layernorm_pre.weight", "[8,8]", "[64]")

        def dtype(h):
            h["layernorm_pre.weight"]["dtype"] = "I16"
        d = variant(model, tmp, "dtype", dtype)
        expect_error("inspect: unsupported dtype", ovx("inspect", "-m", d), (1,), "layernorm_pre.weight", "I16")

        def oob(h):
            h["layernorm_pre.weight"]["data_offsets"][1] += 10 ** 9
        d = variant(model, tmp, "oob", oob)
        expect_error("inspect: offsets out of bounds", ovx("inspect", "-m", d), (1,), "layernorm_pre.weight",
                     "model.safetensors")
        d = variant(model, tmp, "trunc")
        st = os.path.join(d, "model.safetensors")
        os.truncate(st, os.path.getsize(st) - 100)
        expect_error("inspect: truncated file", ovx("inspect", "-m", d), (1,), st)
        d = variant(model, tmp, "heads", edit_config=lambda c: c.update(num_attention_heads=2))
        expect_error("inspect: head_dim 32", ovx("inspect", "-m", d), (1,), "config.json", "head_dim")
        d = variant(model, tmp, "act", edit_config=lambda c: c.update(hidden_act="silu"))
        expect_error("inspect: hidden_act silu", ovx("inspect", "-m", d), (1,), "config.json", "silu")
        d = variant(model, tmp, "ln", edit_config=lambda c: c.update(layer_norm_type="rms_norm"))
        expect_error("inspect: layer_norm_type", ovx("inspect", "-m", d), (1,), "config.json", "rms_norm")
        d = variant(model, tmp, "garbage")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write("{not json")
        expect_error("inspect: config not JSON", ovx("inspect", "-m", d), (1,), "config.json", "JSON")

        hostile_model_files(model, tmp, px, out)

        # Hugging Face cache and OVX_MODEL
        hf = os.path.join(tmp, "hf")
        snap = os.path.join(hf, "hub", "models--acme--tiny-encoder", "snapshots", "0123abcd")
        shutil.copytree(model, snap)
        os.makedirs(os.path.join(hf, "hub", "models--acme--tiny-encoder", "refs"))
        with open(os.path.join(hf, "hub", "models--acme--tiny-encoder", "refs", "main"), "w") as f:
            f.write("0123abcd")
        env = {"HF_HOME": hf, "HF_HUB_CACHE": ""}
        expect_ok("inspect: HF cache id", ovx("inspect", "-m", "acme/tiny-encoder", env=env), snap)
        expect_ok("forward: OVX_MODEL id", ovx("forward", "--pixel-values", px, "-o", out,
                                               env=dict(env, OVX_MODEL="acme/tiny-encoder")))
        os.remove(os.path.join(hf, "hub", "models--acme--tiny-encoder", "refs", "main"))
        expect_ok("inspect: HF cache id, only snapshot", ovx("inspect", "-m", "acme/tiny-encoder", env=env), snap)
        expect_error("inspect: id not in cache", ovx("inspect", "-m", "acme/other", env=env), (1,), "acme/other",
                     "Hugging Face cache", "huggingface-cli download acme/other", "git lfs clone")
        # -m a cache repo folder (models--ORG--NAME) or its snapshots/HASH, laid out as the hub
        # client leaves it: snapshot files are symlinks into blobs/
        repo = os.path.join(tmp, "hf2", "hub", "models--acme--linked")
        os.makedirs(os.path.join(repo, "blobs"))
        os.makedirs(os.path.join(repo, "refs"))
        for rev in ("1111aaaa", "2222bbbb"):  # two snapshots: refs/main picks one
            os.makedirs(os.path.join(repo, "snapshots", rev))
            for name in os.listdir(model):
                blob = os.path.join(repo, "blobs", rev + name)
                shutil.copyfile(os.path.join(model, name), blob)
                os.symlink(os.path.join("..", "..", "blobs", rev + name), os.path.join(repo, "snapshots", rev, name))
        with open(os.path.join(repo, "refs", "main"), "w") as f:
            f.write("2222bbbb\n")
        want = os.path.join(repo, "snapshots", "2222bbbb")
        expect_ok("inspect: -m models--ORG--NAME folder", ovx("inspect", "-m", repo), want)
        expect_ok("forward: -m models--ORG--NAME folder", ovx("forward", "-m", repo, "--pixel-values", px, "-o", out))
        expect_ok("inspect: -m snapshots/HASH folder", ovx("inspect", "-m", os.path.join(repo, "snapshots", "1111aaaa")),
                  os.path.join(repo, "snapshots", "1111aaaa"))
        os.remove(os.path.join(repo, "refs", "main"))
        expect_error("inspect: repo folder, two snapshots, no refs/main", ovx("inspect", "-m", repo), (1,),
                     "refs/main", "not exactly one snapshot")
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
