#!/usr/bin/python3
"""--dtype bf16: tokens and hidden states stored as NPY uint16 holding the
bfloat16 bit patterns, "dtype": "bfloat16" in REL.json and the manifest; the
bits equal torch's float32 -> bfloat16 rounding of the float32 run's
outputs, the documented numpy and torch loads give those values, and resume
validates bf16 files (skip with bf16, redo with f32)."""
import json
import os

import numpy as np
import torch

from xhelp import check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-bf16-")
model = make_model(os.path.join(tmp, "model"))
data = os.path.join(tmp, "data")
rels = ["a/one.mp4", "b/two.mp4"]
for i, rel in enumerate(rels):
    make_clip(os.path.join(data, rel), src=["testsrc", "smptebars"][i])
ARGS = ["extract", "-m", model, data, "--tokens", "128", "--hidden-state", "-2", "--device", "cpu"]

r32 = ovx(*ARGS, "-o", os.path.join(tmp, "f32"))
check(r32.returncode == 0, f"f32 run: {r32.stderr}")
out = os.path.join(tmp, "bf16")
r = ovx(*ARGS, "-o", out, "--dtype", "bf16", "--jsonl")
check(r.returncode == 0, f"bf16 run: {r.stderr}")
recs = {x["rel"]: x for x in jsonl(r.stdout, is_text=True)}
for rel in rels:
    base = rel[:-4]
    js = json.load(open(os.path.join(out, base + ".json")))
    check(js["dtype"] == "bfloat16", f"{rel}: REL.json dtype {js['dtype']}")
    outs = js["outputs"]
    check(outs["tokens"]["dtype"] == "bfloat16" and outs["hidden"]["dtype"] == "bfloat16"
          and outs["pooled"]["dtype"] == "float32", f"{rel}: outputs dtypes {outs}")
    check(recs[rel]["outputs"]["tokens"]["dtype"] == "bfloat16", f"{rel}: --jsonl record says bfloat16")
    for key, suffix in (("tokens", ".npy"), ("hidden", ".hidden_-2.npy")):
        a = np.load(os.path.join(out, base + suffix))
        ref = np.load(os.path.join(tmp, "f32", base + suffix))
        check(a.dtype == np.uint16 and a.shape == ref.shape == (128, 128), f"{rel} {key}: {a.dtype} {a.shape}")
        want = torch.from_numpy(ref).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        check(np.array_equal(a, want), f"{rel} {key}: bits = torch's bfloat16 rounding of the f32 run "
              f"({int((a != want).sum())} differ)")
        # the two loads documented in ovx help extract / man ovx
        as_np = (a.astype(np.uint32) << 16).view(np.float32)
        as_torch = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
        check(np.array_equal(as_np, as_torch.float().numpy()), f"{rel} {key}: numpy and torch loads agree")
        rel_err = np.linalg.norm(as_np - ref) / np.linalg.norm(ref)
        check(0 < rel_err < 4e-3, f"{rel} {key}: bf16 vs f32 relative error {rel_err:.2e}")
    pooled = np.load(os.path.join(out, base + ".pooled.npy"))
    check(np.array_equal(pooled, np.load(os.path.join(tmp, "f32", base + ".pooled.npy"))), f"{rel}: pooled f32")
man = jsonl(os.path.join(out, "manifest.jsonl"))
check(all(m["outputs"]["tokens"]["dtype"] == "bfloat16" for m in man) and len(man) == 2, "manifest: bfloat16")

# resume: the bf16 files validate, f32 is another setting
r = ovx(*ARGS, "-o", out, "--dtype", "bfloat16", "--jsonl")
check([x["status"] for x in jsonl(r.stdout, is_text=True)] == ["skipped"] * 2, f"bf16 rerun skips: {r.stdout}")
np.save(os.path.join(out, "a/one.npy"), np.zeros((128, 128), np.float16))   # right shape, wrong dtype
r = ovx(*ARGS, "-o", out, "--dtype", "bf16", "--jsonl")
st = {x["rel"]: x["status"] for x in jsonl(r.stdout, is_text=True)}
check(st == {"a/one.mp4": "done", "b/two.mp4": "skipped"}, f"a float16 file under a bfloat16 JSON is redone: {st}")
r = ovx(*ARGS, "-o", out, "--jsonl")
check([x["status"] for x in jsonl(r.stdout, is_text=True)] == ["done"] * 2, "f32 after bf16 redoes")
r = ovx(*ARGS, "-o", out, "--dtype", "bf8")
check(r.returncode == 2 and "bf16" in r.stderr, f"bad --dtype: {r.returncode} {r.stderr}")
finish("extract --dtype bf16")
