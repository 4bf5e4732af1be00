#!/usr/bin/python3
"""test_python_torch.py: ovx.torch.CodecVideoDataset and collate (issue 26,
item 2), imported from the build dir:
- each item's pixel_values and visible_indices are byte-identical to what
  `ovx extract --save-pixels` (tiny random model) feeds the model for the
  same clip and tokens;
- a DataLoader with num_workers=2 and collate over the clips, two epochs:
  the same batches both times, K padded with -1 under a mask;
- a damaged file raises ovx.Error in the worker, its path in the message."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "select"))
sys.path.insert(0, os.path.join(here, "..", "extract"))
from pycheck import check, expect, finish  # noqa: E402
import clips  # noqa: E402
import xhelp  # noqa: E402

import ovx  # noqa: E402
import ovx.torch  # noqa: E402

OVX = os.environ["OVX_BIN"]

with tempfile.TemporaryDirectory(prefix="ovx-torch-") as tmp:
    model = os.path.join(tmp, "model")
    xhelp.make_model(model)
    paths = [clips.moving_object(os.path.join(tmp, "h264"), "h264"),
             clips.moving_object(os.path.join(tmp, "mpeg4"), "mpeg4"),
             clips.pan_clip(os.path.join(tmp, "pan"))]
    tokens = [300, 700, 300]
    for path, k in zip(paths, tokens):
        out = os.path.join(tmp, "out-" + os.path.basename(path))
        r = subprocess.run([OVX, "extract", "-m", model, path, "-o", out, "--save-pixels", "--tokens", str(k)],
                           capture_output=True, text=True, timeout=600)
        check(r.returncode == 0, f"ovx extract {path}: {r.stderr}")
        stem = os.path.join(out, os.path.splitext(os.path.basename(path))[0])
        want_px, want_idx = np.load(stem + ".pixels.npy"), np.load(stem + ".indices.npy")
        item = ovx.torch.CodecVideoDataset([path], labels=[3], tokens=k)[0]
        px = item["pixel_values"]
        expect(px.dtype == torch.float32 and tuple(px.shape) == (3, 64, 224, 224) and
               want_px.shape == (1, 3, 64, 224, 224) and px.numpy().tobytes() == want_px[0].tobytes(),
               f"{os.path.basename(path)}: pixel_values byte-identical to extract's --save-pixels "
               f"({tuple(px.shape)} vs {want_px.shape})")
        expect(item["visible_indices"].numpy().tobytes() == want_idx[0].astype(np.int64).tobytes() and
               item["label"] == 3 and item["path"] == path, f"{os.path.basename(path)}: indices, label, path")

    ds = ovx.torch.CodecVideoDataset(paths * 2, labels=[0, 1, 2, 0, 1, 2], tokens=500, frames=16)
    dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=ovx.torch.collate)
    epochs = [[(b["visible_indices"].clone(), b["mask"].clone(), b["label"].clone(), b["path"],
                float(b["pixel_values"].double().sum())) for b in dl] for _ in range(2)]
    same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and torch.equal(a[2], b[2]) and
               a[3] == b[3] and a[4] == b[4] for a, b in zip(*epochs))
    expect(len(epochs[0]) == 3 and same, "DataLoader(num_workers=2): two epochs give the same batches")
    for idx, mask, labels, bpaths, _ in epochs[0]:
        expect(idx.shape[0] == 2 and mask.sum(1).tolist() == [500, 500] and bool((idx[~mask] == -1).all())
               and labels.dtype == torch.int64, f"batch {bpaths}: K under the mask, padding -1")
    mixed = ovx.torch.collate([ovx.torch.CodecVideoDataset([paths[0]], tokens=t)[0] for t in (100, 250)])
    expect(tuple(mixed["visible_indices"].shape) == (2, 250) and mixed["mask"].sum(1).tolist() == [100, 250] and
           bool((mixed["visible_indices"][0, 100:] == -1).all()) and mixed["label"] == [None, None],
           "collate pads different K with -1 under the mask")

    bad = os.path.join(tmp, "damaged.mp4")
    with open(paths[0], "rb") as f:
        head = f.read(3000)
    with open(bad, "wb") as f:
        f.write(b"\0" * 64 + head[64:])
    dl = torch.utils.data.DataLoader(ovx.torch.CodecVideoDataset([paths[0], bad], tokens=300), batch_size=1,
                                     num_workers=2, collate_fn=ovx.torch.collate)
    try:
        list(dl)
        expect(False, "the damaged clip raised nothing")
    except ovx.Error as e:
        expect(bad in str(e), f"the worker's ovx.Error names the path: {str(e)[-300:]}")
    print(f"{len(paths)} clips: items == extract --save-pixels; DataLoader 2 workers x 2 epochs equal")

sys.exit(finish("ovx.torch dataset and collate"))
