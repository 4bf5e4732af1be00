"""ovx: codec-guided patch selection for video models, from Python.

    import ovx
    r = ovx.select("clip.mp4", tokens=2048)     # or ovx.select(data) with the file's bytes
    r.visible_indices   # int64 [K], ascending, slot*256 + row*16 + col
    r.positions         # int64 [K, 3]: (t, h, w) = (slot, patch row, patch column)
    r.scores            # float32 [64, 16, 16] patch scores
    r.frames            # uint8 [n_slots, 224, 224, 3] with keep_frames=True (row i is slot
                        # r.slots[i]), or the selected patches uint8 [K, 14, 14, 3] with
                        # patches=True (row k is visible_indices[k]); else None
    r.slots             # int64 [n_slots]: the temporal slot of each sampled frame
    r.report            # `ovx select`'s JSON as a dict (r.json: the text itself)

The video is a path (str, os.PathLike) or its bytes (bytes, bytearray,
memoryview, uint8 array), read from memory through libavformat's custom I/O;
name="clip.mp4" then stands for the path (the report's input and the format
probe's extension hint), giving the path's result byte for byte.
Every field of the C library's ovx_select_params is an option by its name
(frames, sampling="uniform", mv_source="estimate", iframe_policy, normalise,
threads, start, duration, fps, keep_frames, decode_all, ...). Failures raise
ovx.Error with .path, .stage ("options" or "select") and .code ("input",
"io", "usage", ...). The GIL is released while a video is decoded and
scored, so threads calling ovx.select run in parallel."""
import json
import os

import numpy as np

SLOTS, GRID, PATCH, SIZE = 64, 16, 14, 224  # the model's grid (ovx/select.h)
try:
    from . import _ovx
except ImportError as _e:  # the source tree (python/) without the built extension: ovx.data
    _ovx, _missing = None, _e  # and ovx.probe (torch, numpy) still work; select/Encoder say why

    class Error(Exception):
        """an ovx failure (see _ovx.Error)"""

    OPTIONS, version = (), "unknown"
else:
    from ._ovx import Error, OPTIONS, version  # noqa: F401
    assert (SLOTS, GRID, PATCH, SIZE) == (_ovx.SLOTS, _ovx.GRID, _ovx.PATCH, _ovx.SIZE)

__version__ = version
__all__ = ["select", "SelectResult", "Error", "Encoder", "pixel_values", "__version__"]


class SelectResult:
    """The outcome of ovx.select (see the package docstring)."""

    __slots__ = ("path", "visible_indices", "positions", "scores", "frames", "slots", "json", "_report")

    def __init__(self, path, raw, patches=False):
        self.path = path
        idx = np.frombuffer(raw["visible_indices"], dtype=np.int64)
        self.visible_indices = idx
        per_slot = GRID * GRID
        self.positions = np.stack([idx // per_slot, (idx % per_slot) // GRID, idx % GRID], axis=1)
        self.scores = np.frombuffer(raw["scores"], dtype=np.float32).reshape(SLOTS, GRID, GRID)
        self.json = raw["json"]
        self._report = None
        self.slots = np.array([s["slot"] for s in self.report["slots"]], dtype=np.int64)
        frames = raw.get("frames")
        self.frames = None if frames is None else \
            np.frombuffer(frames, dtype=np.uint8).reshape(raw["n_slots"], SIZE, SIZE, 3)
        if patches:
            self.frames = _patches(self.frames, self.slots, self.positions)

    @property
    def report(self):
        if self._report is None:
            self._report = json.loads(self.json)
        return self._report

    def __getitem__(self, key):
        if key not in ("visible_indices", "positions", "scores", "frames", "slots", "report", "json", "path"):
            raise KeyError(key)
        return getattr(self, key)

    def __repr__(self):
        return (f"ovx.SelectResult({self.path!r}, K={len(self.visible_indices)}, "
                f"frames={'kept' if self.frames is not None else 'no'})")


def _patches(frames, slots, positions):
    """uint8 [K, 14, 14, 3]: the patch of each selected token, cut from its slot's crop."""
    row = np.full(SLOTS, -1, dtype=np.int64)
    row[slots] = np.arange(len(slots))
    tiles = frames.reshape(len(frames), GRID, PATCH, GRID, PATCH, 3).transpose(0, 1, 3, 2, 4, 5)
    t, h, w = positions[:, 0], positions[:, 1], positions[:, 2]
    if len(t) and (row[t] < 0).any():
        raise Error("a selected token lies in a slot that was not sampled")
    return np.ascontiguousarray(tiles[row[t], h, w])


CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
# value -> normalised float per channel, the same float32 expression as ovx extract's
_LUT = ((np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0))[None, :] - CLIP_MEAN[:, None]) / CLIP_STD[:, None]


def pixel_values(result):
    """float32 [3, 64, 224, 224] from a keep_frames result: crop i at its slot
    (r.slots[i]), CLIP-normalised like ovx extract; zeros in unsampled slots."""
    if result.frames is None or result.frames.shape[1:] != (SIZE, SIZE, 3):
        raise ValueError("pixel_values needs ovx.select(..., keep_frames=True)")
    out = np.zeros((3, SLOTS, SIZE, SIZE), dtype=np.float32)
    for i, s in enumerate(result.slots):
        rgb = result.frames[i]
        for c in range(3):
            out[c, s] = _LUT[c][rgb[:, :, c]]
    return out


def select(path_or_bytes, tokens=2048, frames=64, *, patches=False, name=None, timings=False, **options):
    """Selects the top `tokens` patches of `frames` sampled frames of the video
    (a path, or its bytes: then `name` stands for the path); returns a
    SelectResult. keep_frames=True keeps the sampled 224x224 crops,
    patches=True only the selected 14x14 patches (as .frames). Every
    ovx_select_params field is an option by name (ovx.OPTIONS). timings=True
    adds the "timings" block to the report (then not byte-identical across
    runs)."""
    if _ovx is None:
        raise ImportError(f"ovx.select needs the built extension ovx._ovx: {_missing}")
    options["tokens"] = tokens
    options["frames"] = frames
    if patches:
        options["keep_frames"] = True
    path = path_or_bytes if isinstance(path_or_bytes, (str, os.PathLike)) else (name or "<bytes>")
    return SelectResult(path, _ovx.select(path_or_bytes, options, bool(timings), name), patches)


from .encoder import Encoder  # noqa: E402  (uses select and pixel_values above)
