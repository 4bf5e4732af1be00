#!/usr/bin/python3
"""onevision_ref.py: an independent PyTorch (float32) implementation of the
OneVision Encoder forward, written from ../shared/spec/model.md, used only by
tests as the oracle for `ovx forward`.

usage: onevision_ref.py MODEL_DIR --pixel-values X.npy [--visible-indices I.npy]
                        [--hidden-state L] -o OUT_DIR
Writes last_hidden_state.npy, pooler_output.npy (with head) and
hidden_state_L.npy, like `ovx forward`.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- loading
def _read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        raw = blob[base + b: base + en]
        if e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            raise ValueError("dtype " + e["dtype"])
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        w = _read_safetensors(single)
    else:
        with open(os.path.join(folder, "model.safetensors.index.json")) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        w = {}
        for fn in files:
            w.update(_read_safetensors(os.path.join(folder, fn)))
    return cfg, w


# ---------------------------------------------------------------- model
def rope_angles(t, h, w, theta):
    """angle[N, 64] for integer tensors t, h, w [N] (spec: j/n, not 2j/n)."""
    inv_t = theta ** (-torch.arange(8, dtype=torch.float64) / 8.0)
    inv_hw = theta ** (-torch.arange(12, dtype=torch.float64) / 12.0)
    freqs = torch.cat([t.double()[:, None] * inv_t[None, :],
                       h.double()[:, None] * inv_hw[None, :],
                       w.double()[:, None] * inv_hw[None, :]], dim=1)  # [N, 32]
    return torch.cat([freqs, freqs], dim=1)  # [N, 64]


def apply_rope(x, cos, sin):
    """x [B, H, N, 64]; cos/sin [B, 1, N, 64]; interleaved partner."""
    partner = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    return x * cos + partner * sin


def layer_norm(x, w, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), w[prefix + ".weight"], w[prefix + ".bias"], eps)


def mlp(x, w, prefix):
    x = F.linear(x, w[prefix + ".fc1.weight"], w[prefix + ".fc1.bias"])
    x = F.gelu(x)
    return F.linear(x, w[prefix + ".fc2.weight"], w[prefix + ".fc2.bias"])


def self_attention(x, w, prefix, heads, cos, sin):
    B, N, D = x.shape
    hd = D // heads

    def proj(n):
        y = F.linear(x, w["%s.%s_proj.weight" % (prefix, n)], w["%s.%s_proj.bias" % (prefix, n)])
        return y.view(B, N, heads, hd).transpose(1, 2)  # [B, H, N, hd]

    q = apply_rope(proj("q"), cos, sin)
    k = apply_rope(proj("k"), cos, sin)
    v = proj("v")
    att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (hd ** -0.5), dim=-1)
    o = torch.matmul(att, v).transpose(1, 2).reshape(B, N, D)
    return F.linear(o, w[prefix + ".out_proj.weight"], w[prefix + ".out_proj.bias"])


def forward(cfg, w, pixel_values, visible_indices=None):
    """pixel_values float32 [B,3,H,W] or [B,3,T,H,W]; visible_indices int [B,N]."""
    P, D = cfg["patch_size"], cfg["hidden_size"]
    heads, eps = cfg["num_attention_heads"], cfg["layer_norm_eps"]
    x = torch.as_tensor(pixel_values, dtype=torch.float32)
    if x.dim() == 4:
        x = x.unsqueeze(2)
    B, C, T, H, W = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)
    emb = F.conv2d(frames, w["embeddings.patch_embedding.weight"], stride=P)  # [B*T, D, Hp, Wp]
    Hp, Wp = emb.shape[-2], emb.shape[-1]
    emb = emb.reshape(B, T, D, Hp, Wp).permute(0, 1, 3, 4, 2).reshape(B, T * Hp * Wp, D)
    h = layer_norm(emb, w, "layernorm_pre", eps)

    total = T * Hp * Wp
    if visible_indices is None:
        flat = torch.arange(total).unsqueeze(0).expand(B, total)
    else:
        flat = torch.as_tensor(np.asarray(visible_indices), dtype=torch.int64)
        if flat.shape[1] < total:  # gather mode
            h = torch.gather(h, 1, flat.unsqueeze(-1).expand(-1, -1, D))
    t, hh, ww = flat // (Hp * Wp), (flat // Wp) % Hp, flat % Wp
    ang = rope_angles(t.reshape(-1), hh.reshape(-1), ww.reshape(-1), float(cfg["rope_theta"]))
    ang = ang.reshape(B, 1, flat.shape[1], 64)
    cos, sin = torch.cos(ang).float(), torch.sin(ang).float()

    hidden_states = [h]
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layers.%d" % i
        h = h + self_attention(layer_norm(h, w, p + ".layer_norm1", eps), w, p + ".self_attn", heads, cos, sin)
        h = h + mlp(layer_norm(h, w, p + ".layer_norm2", eps), w, p + ".mlp")
        hidden_states.append(h)

    out = {"hidden_states": hidden_states, "last_hidden_state": h, "pooler_output": None}
    if cfg.get("use_head", True):
        last = layer_norm(h, w, "layernorm_post", eps)
        out["last_hidden_state"] = last
        probe = w["head.probe"].reshape(1, 1, D).expand(1, B, D)  # [L=1, B, D] seq-first
        kv = last.transpose(0, 1)  # [N, B, D]
        a, _ = F.multi_head_attention_forward(
            probe, kv, kv, D, heads,
            w["head.attention.in_proj_weight"], w["head.attention.in_proj_bias"],
            None, None, False, 0.0,
            w["head.attention.out_proj.weight"], w["head.attention.out_proj.bias"],
            training=False, need_weights=False)
        a = a[0]  # [B, D]
        n = a * torch.rsqrt(a.pow(2).mean(-1, keepdim=True) + 1e-6) * w["head.norm.weight"]
        out["pooler_output"] = a + mlp(n, w, "head.mlp")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--pixel-values", required=True)
    ap.add_argument("--visible-indices")
    ap.add_argument("--hidden-state")
    ap.add_argument("-o", "--output")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads")
    ap.add_argument("--time", type=int, default=0,
                    help="print the forward time of N runs (benchmarks; no untimed warm-up run without -o)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg, w = load_model(a.model)
    px = np.load(a.pixel_values)
    vi = np.load(a.visible_indices) if a.visible_indices else None
    with torch.no_grad():
        out = forward(cfg, w, px, vi) if a.output or not a.time else None
        for _ in range(a.time):
            t0 = time.perf_counter()
            forward(cfg, w, px, vi)
            print("forward_seconds %.4f" % (time.perf_counter() - t0), flush=True)
    if not a.output:
        return 0
    os.makedirs(a.output, exist_ok=True)
    np.save(os.path.join(a.output, "last_hidden_state.npy"), out["last_hidden_state"].numpy().astype(np.float32))
    if out["pooler_output"] is not None:
        np.save(os.path.join(a.output, "pooler_output.npy"), out["pooler_output"].numpy().astype(np.float32))
    if a.hidden_state is not None:
        hs = out["hidden_states"][int(a.hidden_state)]
        np.save(os.path.join(a.output, "hidden_state_%s.npy" % a.hidden_state), hs.numpy().astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
