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


def ovx(*args, env=None):
    e = dict(os.environ)
    e.pop("OVX_MODEL", None)
    e.update(env or {})
    return subprocess.run([OVX] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)


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
                     "Hugging Face cache")
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
