"""ovx.Encoder: the OneVision Encoder from Python, numpy in and out.

    enc = ovx.Encoder("path/to/model", device="auto", precision="auto")
    out = enc.forward(pixel_values, visible_indices)   # float32 [B,3,T,H,W], int64 [B,N]
    out["last_hidden_state"]   # float32 [B, N, D]
    out["pooler_output"]       # float32 [B, D] (models with a head), else None
    feats = enc.encode("clip.mp4", tokens=2048)        # select + forward of one video

The weights are loaded once and shared by every call (threads may share an
encoder: its forwards run one at a time, with the GIL released). device:
"auto" (CUDA device 0 when usable, else the CPU), "cpu", "cuda" or "cuda:N";
precision: "auto" (the default, as `ovx forward`'s: bf16 where this CPU runs it
faster, the choice kept per machine), "fp32" (exact) or "bf16".
forward() gives what `ovx forward` writes for the same arrays."""
import numpy as np

from . import _ovx, select, pixel_values as _pixel_values


class Encoder:
    """See the module docstring."""

    def __init__(self, model, device="auto", precision="auto", threads=0):
        if _ovx is None:
            raise ImportError("ovx.Encoder needs the built extension ovx._ovx")
        self._enc = _ovx.Encoder(model, device=device, precision=precision, threads=threads)
        self.model = model

    @property
    def device(self):
        """the device forwards run on ("cpu" or "cuda:N", after any fallback)"""
        return self._enc.device

    @property
    def config(self):
        return self._enc.config

    def forward(self, pixel_values, visible_indices=None, hidden_state=None):
        """pixel_values float32 [B,3,H,W] or [B,3,T,H,W] (normalised); visible_indices
        int64 [B,N] or [N] (N == T*Hp*Wp: positions only; shorter: those tokens).
        Returns a dict: last_hidden_state [B,N,D], pooler_output [B,D] or None,
        hidden_state [B,N,D] (HF index hidden_state) or None."""
        px = np.ascontiguousarray(pixel_values, dtype=np.float32)
        idx, n = None, 0
        if visible_indices is not None:
            idx = np.ascontiguousarray(visible_indices, dtype=np.int64)
            if idx.ndim == 1:
                idx = idx[None, :]
            if idx.ndim != 2 or idx.shape[0] != px.shape[0]:
                e = _ovx.Error(f"{self.model}: visible indices must be [B={px.shape[0]}, N], not {idx.shape}")
                e.path, e.stage, e.code, e.status = self.model, "forward", "usage", -4  # OVX_EUSAGE
                raise e
            n = idx.shape[1]
        raw = self._enc.forward(px, tuple(int(s) for s in px.shape), idx, n, hidden_state)
        b, t, d = raw["batch"], raw["tokens"], raw["dim"]

        def arr(key, shape):
            v = raw[key]
            return None if v is None else np.frombuffer(v, dtype=np.float32).reshape(shape)
        return {"last_hidden_state": arr("last_hidden_state", (b, t, d)),
                "pooler_output": arr("pooler_output", (b, d)),
                "hidden_state": arr("hidden_state", (b, t, d))}

    def encode(self, path_or_bytes, tokens=2048, frames=64, hidden_state=None, **options):
        """ovx.select(path_or_bytes, tokens, frames, keep_frames=True, **options), then
        forward() of its kept crops (CLIP-normalised at their slots, like ovx extract)
        and visible_indices. Returns forward()'s dict for the one video (batch 1)
        plus "visible_indices" and "select" (the SelectResult)."""
        options["keep_frames"] = True
        r = select(path_or_bytes, tokens=tokens, frames=frames, **options)
        out = self.forward(_pixel_values(r)[None], r.visible_indices[None], hidden_state)
        out["visible_indices"] = r.visible_indices
        out["select"] = r
        return out
