"""ovx.torch: codec-selected video tokens for torch.utils.data.DataLoader.

    ds = ovx.torch.CodecVideoDataset(paths, labels, tokens=2048)
    dl = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, collate_fn=ovx.torch.collate)

Each item is a dict: pixel_values float32 [3, 64, 224, 224] (the kept crops
at their slots, zeros elsewhere, rescaled by 1/255 and normalised with the
CLIP mean/std like `ovx extract`), visible_indices int64 [K], label, path.
temporal_jitter=True draws the frames at random inside their sampling
intervals, seeded per epoch (set_epoch) and item. No state is shared between items: each call opens its own decoder, so
DataLoader workers and threads are safe. collate() pads the variable K
with -1 and returns a boolean mask (True: a real token)."""
import hashlib

import numpy as np
import torch

from . import select, pixel_values, CLIP_MEAN, CLIP_STD  # noqa: F401  (pixel_values: ovx.torch API)

def jitter_seed(seed, epoch, index):
    """The select seed of item `index` in `epoch` (a signed 64-bit int)."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class CodecVideoDataset(torch.utils.data.Dataset):
    """See the module docstring. temporal_jitter=True (training): each of the
    `frames` sampled frames is drawn uniformly inside its share of the video,
    seeded from (seed, epoch, item index): the same items for the same seed
    and epoch in any worker, different ones from epoch to epoch; call
    set_epoch(e) before each epoch (as with DistributedSampler)."""

    def __init__(self, paths, labels=None, tokens=2048, transform=None, temporal_jitter=False, frames=64, seed=0,
                 **options):
        if labels is not None and len(labels) != len(paths):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths = list(paths)
        self.labels = None if labels is None else list(labels)
        self.tokens, self.frames, self.transform, self.options = tokens, frames, transform, dict(options)
        self.temporal_jitter, self.seed, self.epoch = bool(temporal_jitter), int(seed), 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        opts = dict(self.options)
        if self.temporal_jitter:
            opts.update(temporal_jitter=True, jitter_seed=jitter_seed(self.seed, self.epoch, i))
        r = select(path, tokens=self.tokens, frames=self.frames, keep_frames=True, **opts)
        item = {"pixel_values": torch.from_numpy(pixel_values(r)),
                "visible_indices": torch.from_numpy(r.visible_indices.copy()),
                "label": None if self.labels is None else self.labels[i],
                "path": path}
        return self.transform(item) if self.transform else item


def collate(items):
    """Batches items of different K: visible_indices [B, Kmax] padded with -1,
    mask [B, Kmax] (True where real), pixel_values [B, 3, 64, 224, 224],
    labels as a tensor when every item has a numeric label, paths a list."""
    kmax = max(len(it["visible_indices"]) for it in items)
    idx = torch.full((len(items), kmax), -1, dtype=torch.int64)
    mask = torch.zeros((len(items), kmax), dtype=torch.bool)
    for b, it in enumerate(items):
        k = len(it["visible_indices"])
        idx[b, :k] = it["visible_indices"]
        mask[b, :k] = True
    labels = [it["label"] for it in items]
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in labels):
        labels = torch.tensor(labels, dtype=torch.int64)
    return {"pixel_values": torch.stack([it["pixel_values"] for it in items]), "visible_indices": idx,
            "mask": mask, "label": labels, "path": [it["path"] for it in items]}
