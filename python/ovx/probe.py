"""ovx.probe: the probes trained by scripts/train-probe and scored by
scripts/eval-probe, and what both share (device and seed set-up, split
resolution, loaders, evaluation, checkpoints, messages).

AttentiveProbe is the encoder authors' evaluation probe: one learnable query
attends over the frozen tokens with multi-head attention, then
a = a + MLP(RMSNorm(a)) exactly like the model's own pooling head
(shared/spec/model.md, step 6), then LayerNorm and a linear classifier.
LinearProbe is one linear layer over the pooled vector (or the token mean).
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn

from . import data as ovx_data


class Fail(Exception):
    """A run-time failure: message printed, exit status 1."""


class RMSNorm(nn.Module):
    """RMSNorm with a weight and no bias (torch 1.13 has none built in)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class AttentiveProbe(nn.Module):
    def __init__(self, dim, num_classes, heads=16, mlp_ratio=4.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"--heads {heads} does not divide the token width {dim}")
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        hidden = int(round(dim * mlp_ratio))
        self.norm = RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.out_norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, batch):
        x, mask = batch["tokens"], batch["mask"]
        q = self.query.expand(x.shape[0], -1, -1)
        a, _ = self.attn(q, x, x, key_padding_mask=mask, need_weights=False)
        a = a + self.mlp(self.norm(a))
        return self.fc(self.out_norm(a[:, 0]))


class LinearProbe(nn.Module):
    def __init__(self, dim, num_classes, source="pooled"):
        super().__init__()
        self.source = source
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, batch):
        if self.source == "pooled":
            return self.fc(batch["pooled"])
        keep = (~batch["mask"]).unsqueeze(-1).to(batch["tokens"].dtype)
        return self.fc((batch["tokens"] * keep).sum(1) / keep.sum(1).clamp(min=1))


def build_probe(cfg):
    """cfg: {"kind": "attentive"|"linear", "dim", "num_classes", "heads",
    "mlp_ratio", "linear_input"} (as stored in checkpoints)."""
    if cfg["kind"] == "attentive":
        return AttentiveProbe(cfg["dim"], cfg["num_classes"], cfg["heads"], cfg["mlp_ratio"])
    return LinearProbe(cfg["dim"], cfg["num_classes"], cfg["linear_input"])


def needs(cfg):
    """(tokens, pooled): which arrays the probe reads."""
    if cfg["kind"] == "attentive" or cfg.get("linear_input") == "mean":
        return True, False
    return False, True


# -- set-up -------------------------------------------------------------------

def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise Fail(f"--device {name}: torch finds no usable CUDA device")
    return dev


def seed_all(seed):
    """Same seed, same device, same data -> same run."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if hasattr(torch.backends, "cudnn"):
        torch.backends.cudnn.benchmark = False


def warn(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)


def split_rels(args, manifest, prog):
    """(train RELs, val RELs) from --train-list/--val-list, --split-csv,
    --hmdb-splits or --val-fraction (default 0.1 of the manifest, seeded,
    per class)."""
    rels = list(manifest)
    w = lambda m: warn(prog, m)  # noqa: E731
    if args.split_csv:
        groups = ovx_data.read_split_csv(args.split_csv)
        if args.train_split not in groups:
            raise Fail(f"{args.split_csv}: no rows with split '{args.train_split}' (has: {', '.join(sorted(groups))})")
        train = ovx_data.match_paths(rels, groups[args.train_split], f"{args.split_csv} ({args.train_split})",
                                     args.skip_missing, w)
        val = []
        if args.val_split in groups:
            val = ovx_data.match_paths(rels, groups[args.val_split], f"{args.split_csv} ({args.val_split})",
                                       args.skip_missing, w)
        return train, val
    if args.hmdb_splits:
        groups = ovx_data.read_hmdb_splits(args.hmdb_splits, args.hmdb_split)
        what = f"{args.hmdb_splits} (split {args.hmdb_split}"
        return (ovx_data.match_paths(rels, groups["train"], what + ", train)", args.skip_missing, w),
                ovx_data.match_paths(rels, groups["test"], what + ", test)", args.skip_missing, w))
    if args.train_list:
        train = ovx_data.match_paths(rels, ovx_data.read_list(args.train_list), args.train_list,
                                     args.skip_missing, w)
        val = []
        if args.val_list:
            val = ovx_data.match_paths(rels, ovx_data.read_list(args.val_list), args.val_list,
                                       args.skip_missing, w)
        return train, val
    frac = 0.1 if args.val_fraction is None else args.val_fraction
    return ovx_data.fraction_split(manifest.values(), frac, args.split_seed)


def labelled(ds, what, prog):
    """Indices of the samples of DS that have a class; says how many do not."""
    labs = ds.labels()
    keep = [i for i, y in enumerate(labs) if y >= 0]
    if len(keep) < len(labs):
        warn(prog, f"{what}: {len(labs) - len(keep)} item(s) without a label left out")
    if not keep:
        raise Fail(f"{what}: no labelled items (extract with --label-from-dir or --labels)")
    return keep


class EpochSampler(torch.utils.data.Sampler):
    """0..n-1, shuffled per epoch from (seed, epoch) alone, so the order does
    not depend on --workers or on how many loaders drew random numbers."""

    def __init__(self, n, seed, shuffle):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator()
        g.manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self):
        return self.n


def loader(ds, idx, batch, shuffle, seed, workers):
    """Batches of the samples IDX of DS (padding collate); with shuffle, call
    .sampler.set_epoch(e) before each epoch."""
    return torch.utils.data.DataLoader(torch.utils.data.Subset(ds, idx), batch_size=batch,
                                       sampler=EpochSampler(len(idx), seed, shuffle),
                                       collate_fn=ovx_data.collate, num_workers=workers,
                                       persistent_workers=workers > 0, drop_last=False)


def to_device(batch, dev):
    out = dict(batch)
    for k in ("tokens", "pooled"):
        if batch[k] is not None:
            out[k] = batch[k].to(dev, non_blocking=True).float()
    if batch["mask"] is not None:
        out["mask"] = batch["mask"].to(dev)
    out["label"] = batch["label"].to(dev)
    return out


def check_inputs(batch, cfg, what):
    tokens, pooled = needs(cfg)
    if pooled and batch["pooled"] is None:
        raise Fail(f"{what}: some items have no pooled vector (model without head?); "
                   "use the attentive probe or --linear-input mean")
    if tokens and batch["tokens"] is None:
        raise Fail(f"{what}: some items have no token file (extracted with --pooled-only?)")


def clock(seconds):
    """0:07, 12:34, 1:02:03"""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress bar on stderr when it is a terminal, with the time
    left at the pace so far (ETA); silent otherwise."""

    def __init__(self, total, label):
        self.on = sys.stderr.isatty()
        self.total, self.label, self.t0 = total, label, time.time()

    def step(self, n, extra=""):
        if self.on:
            w = 30
            fill = int(w * n / max(self.total, 1))
            spent = time.time() - self.t0
            eta = f"ETA {clock(spent / n * (self.total - n))}" if n > 0 else "ETA ?"
            sys.stderr.write(f"\r{self.label} [{'#' * fill}{'.' * (w - fill)}] {n}/{self.total} {eta} "
                             f"{extra}\x1b[K")
            sys.stderr.flush()

    def done(self):
        if self.on:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


@torch.no_grad()
def evaluate(model, dl, dev, cfg, loss_fn=None, label="eval"):
    """Logits of every sample in loader order, with ids and labels."""
    model.eval()
    logits, labels, ids = [], [], []
    bar = Progress(len(dl), label)
    for n, b in enumerate(dl, 1):
        check_inputs(b, cfg, label)
        b = to_device(b, dev)
        logits.append(model(b).float().cpu())
        labels.append(b["label"].cpu())
        ids += b["id"]
        bar.step(n)
    bar.done()
    return torch.cat(logits), torch.cat(labels), ids


def scores(logits, labels, loss_fn=None):
    """{"loss", "top1", "top5", "n"} over the samples with a class (label >= 0)."""
    keep = labels >= 0
    lg, y = logits[keep], labels[keep]
    if len(y) == 0:
        return {"n": 0}
    k = min(5, lg.shape[1])
    top = lg.topk(k, dim=1).indices
    out = {"n": int(len(y)), "top1": float((top[:, 0] == y).float().mean()),
           "top5": float((top == y[:, None]).any(1).float().mean())}
    if loss_fn is not None:
        out["loss"] = float(loss_fn(lg, y))
    return out


def save_checkpoint(path, meta, state, **extra):
    """A checkpoint: the weights plus META (config, classes, epoch, metrics)
    as a JSON string, so that loading needs no pickled Python objects
    (torch.load(weights_only=True)); EXTRA (tensors only: the optimizer's
    per-parameter state, the RNG state: what --resume needs) beside them.
    Written under a temporary name first."""
    tmp = path + ".tmp"
    torch.save(dict(extra, meta=json.dumps(meta), state=state), tmp)
    os.replace(tmp, path)


def keep_metrics_until(path, epoch):
    """Drops the lines of metrics.jsonl after EPOCH (a run killed between
    writing an epoch's line and its checkpoint)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if l.strip() and json.loads(l).get("epoch", 0) <= epoch]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, path)


def load_checkpoint(path):
    """{"config", "classes", ..., "state"} of a save_checkpoint file."""
    if not os.path.isfile(path):
        raise Fail(f"{path}: no such file")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(ck["meta"])
        meta["config"], meta["classes"]  # noqa: B018 (presence check)
    except Exception as e:  # torch raises many kinds for a bad file
        raise Fail(f"{path}: not a train-probe checkpoint ({type(e).__name__})") from None
    return dict(meta, state=ck["state"], **{k: ck[k] for k in ("optim", "rng") if k in ck})


def write_json_line(path, obj):
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(obj) + "\n")


def _short(e):
    """The message of an error, without the traceback torch adds to errors
    raised in DataLoader worker processes."""
    msg = str(e)
    if "Original Traceback" in msg:
        last = [ln for ln in msg.splitlines() if ln.strip()][-1]
        msg = last.split(": ", 1)[1] if last.split(": ", 1)[0].endswith(("Error", "Fail")) else last
    return msg


def run_main(prog, main, args):
    """MAIN(ARGS) with the scripts' exit statuses: 0 ok, 1 failure (message
    "PROG: cause" on stderr), 130 interrupted (usage errors, 2, come from
    argparse before)."""
    try:
        return main(args)
    except (Fail, ovx_data.OvxDataError) as e:
        print(f"{prog}: {_short(e)}", file=sys.stderr)
    except OSError as e:
        print(f"{prog}: {e.filename + ': ' if e.filename else ''}{e.strerror or e}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 1
