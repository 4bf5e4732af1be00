"""ovx: codec-guided patch selection for video models, from Python.

    import ovx
    r = ovx.select("clip.mp4", tokens=2048)
    r.visible_indices   # int64 [K], ascending, slot*256 + row*16 + col
    r.positions         # int64 [K, 3]: (t, h, w) = (slot, patch row, patch column)
    r.scores            # float32 [64, 16, 16] patch scores
    r.frames            # uint8 [n_slots, 224, 224, 3] with keep_frames=True, else None
    r.report            # `ovx select`'s JSON as a dict (r.json: the text itself)

Every field of the C library's ovx_select_params is an option by its name
(frames, sampling="uniform", mv_source="estimate", iframe_policy, normalise,
threads, start, duration, fps, keep_frames, decode_all, ...). Failures raise
ovx.Error with .path, .stage ("options" or "select") and .code ("input",
"io", "usage", ...). The GIL is released while a video is decoded and
scored, so threads calling ovx.select run in parallel."""
import json

import numpy as np

from ._ovx import Error, GRID, PATCH, SIZE, SLOTS, version  # noqa: F401
from . import _ovx

__version__ = version
__all__ = ["select", "SelectResult", "Error", "__version__"]


class SelectResult:
    """The outcome of ovx.select (see the package docstring)."""

    __slots__ = ("path", "visible_indices", "positions", "scores", "frames", "json", "_report")

    def __init__(self, path, raw):
        self.path = path
        idx = np.frombuffer(raw["visible_indices"], dtype=np.int64)
        self.visible_indices = idx
        per_slot = GRID * GRID
        self.positions = np.stack([idx // per_slot, (idx % per_slot) // GRID, idx % GRID], axis=1)
        self.scores = np.frombuffer(raw["scores"], dtype=np.float32).reshape(SLOTS, GRID, GRID)
        frames = raw.get("frames")
        self.frames = None if frames is None else \
            np.frombuffer(frames, dtype=np.uint8).reshape(raw["n_slots"], SIZE, SIZE, 3)
        self.json = raw["json"]
        self._report = None

    @property
    def report(self):
        if self._report is None:
            self._report = json.loads(self.json)
        return self._report

    def __getitem__(self, key):
        if key not in ("visible_indices", "positions", "scores", "frames", "report", "json", "path"):
            raise KeyError(key)
        return getattr(self, key)

    def __repr__(self):
        return (f"ovx.SelectResult({self.path!r}, K={len(self.visible_indices)}, "
                f"frames={'kept' if self.frames is not None else 'no'})")


def select(path, tokens=2048, frames=64, *, timings=False, **options):
    """Selects the top `tokens` patches of `frames` sampled frames of the video
    at `path`; returns a SelectResult. timings=True adds the "timings" block
    to the report (then not byte-identical across runs)."""
    options["tokens"] = tokens
    options["frames"] = frames
    return SelectResult(path, _ovx.select(path, options, bool(timings)))
