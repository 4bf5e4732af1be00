"""ovx.data: a PyTorch dataset over an `ovx extract` output folder (read
from its manifest.jsonl), its padding collate function, and the train/val
split readers (UCF101/HMDB51-style lists, CSV path,split, seeded fraction).
Only torch and numpy; arrays are memory-mapped, so a folder of 100k videos
costs the manifest in RAM, not the tokens.

    from ovx.data import OvxDataset, collate, read_manifest
    ds = OvxDataset("feats")                     # every item of the manifest
    dl = torch.utils.data.DataLoader(ds, batch_size=128, collate_fn=collate)
    for b in dl: b["tokens"] [B,Kmax,D], b["mask"] [B,Kmax] (True = padding),
                 b["positions"] [B,Kmax,3] (t,h,w), b["pooled"] [B,D] or None,
                 b["label"] [B] (class index, -1 = no label), b["id"] (RELs)

Token files are float32, float16, or bfloat16 stored as NPY uint16 with
"dtype": "bfloat16" in REL.json / the manifest (NPY has no bf16); all come
out as float32 tensors. With `ovx extract --views V` the arrays have a leading
view axis: `view=v` picks one, `view="all"` makes each view its own sample
(id "REL#v"). `--format wds` folders read the same: a manifest record with a
"shard" names the tar holding its members, read in place (memory-mapped at
the member's offset) through an index of the tar built once and cached beside
it as shards/.NAME.tar.index.json (rebuilt when the tar changes).
"""
import base64
import csv
import json
import math
import os
import random
import re
import tarfile

import numpy as np
import torch


class OvxDataError(Exception):
    """Bad or missing data; the message names the file and the cause."""


# -- manifest -----------------------------------------------------------------

def read_manifest(root):
    """{rel: record} of ROOT/manifest.jsonl in first-seen order; when a REL
    has several lines the last one wins (older ovx appended one line per
    run)."""
    path = os.path.join(root, "manifest.jsonl")
    if not os.path.isfile(path):
        raise OvxDataError(f"{path}: no such file (is {root} an `ovx extract -o` folder?)")
    items = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8", "surrogateescape"))
                rel = rec["rel"]
            except (ValueError, KeyError, TypeError) as e:
                raise OvxDataError(f"{path}:{n}: not a manifest record ({e})") from None
            items.pop(rel, None)  # re-insert: order of the line that wins
            items[rel] = rec
    if not items:
        raise OvxDataError(f"{path}: no items")
    return items


def class_list(records):
    """Sorted distinct labels of manifest records (None = unlabelled, left out)."""
    return sorted({str(r["label"]) for r in records if r.get("label") is not None})


def save_classes(path, classes):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(list(classes), f, ensure_ascii=False, indent=0)
        f.write("\n")
    os.replace(tmp, path)


def load_classes(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise OvxDataError(f"{path}: {e.strerror}") from None


# -- arrays -------------------------------------------------------------------

_SHARDS = {}  # (tar path, size, mtime) -> {member name: (data offset, size)}


def shard_members(tar):
    """{member name: (offset of its data, size)} of a tar shard: from the
    index cached beside it (.NAME.index.json, for the tar's size and mtime),
    else read from the tar and cached (where the folder is writable)."""
    try:
        st = os.stat(tar)
    except OSError as e:
        raise OvxDataError(f"{tar}: {e.strerror}") from None
    key = (tar, st.st_size, st.st_mtime_ns)
    if key in _SHARDS:
        return _SHARDS[key]
    index = os.path.join(os.path.dirname(tar), "." + os.path.basename(tar) + ".index.json")
    members = None
    try:
        with open(index, encoding="utf-8") as f:
            js = json.load(f)
        if js.get("size") == st.st_size and js.get("mtime_ns") == st.st_mtime_ns:
            members = {m: tuple(v) for m, v in js["members"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        members = None
    if members is None:
        try:
            with tarfile.open(tar, "r:") as t:
                members = {m.name: (m.offset_data, m.size) for m in t if m.isfile()}
        except (tarfile.TarError, OSError) as e:
            raise OvxDataError(f"{tar}: not a readable tar shard ({e})") from None
        try:  # a read-only dataset keeps the index in memory only
            tmp = f"{index}.tmp.{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                           "members": {m: list(v) for m, v in members.items()}}, f)
            os.replace(tmp, index)
        except OSError:
            pass
    _SHARDS[key] = members
    return members


def _member(tar, name):
    """(offset, size) of member NAME of shard TAR."""
    m = shard_members(tar).get(name)
    if m is None:
        raise OvxDataError(f"{tar}: no member {name}")
    return m


def _member_array(tar, name):
    """The NPY member NAME of TAR, memory-mapped in place."""
    off, size = _member(tar, name)
    what = f"{tar}({name})"
    try:
        with open(tar, "rb") as f:
            f.seek(off)
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            start = f.tell()
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if dtype.hasobject or start - off + n > size:
            raise ValueError("header does not fit the member")
        if n == 0:
            return np.zeros(shape, dtype)
        return np.memmap(tar, dtype=dtype, mode="r", offset=start, shape=shape, order="F" if fortran else "C")
    except (ValueError, OSError) as e:
        raise OvxDataError(f"{what}: not a readable NPY member ({e})") from None


def member_bytes(tar, name):
    """The bytes of member NAME of shard TAR (a REL.json)."""
    off, size = _member(tar, name)
    with open(tar, "rb") as f:
        f.seek(off)
        return f.read(size)


def load_array(path, dtype=None, member=None):
    """Memory-mapped NPY -> (numpy array, kind) with kind "float32",
    "float16" or "bfloat16" (uint16 bit patterns: dtype "bfloat16" in the
    JSON, or any uint16 file). With MEMBER, PATH is a tar shard and MEMBER
    the NPY in it."""
    if member is not None:
        a = _member_array(path, member)
        path = f"{path}({member})"
    elif not os.path.isfile(path):
        raise OvxDataError(f"{path}: no such file")
    else:
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as e:
            raise OvxDataError(f"{path}: not a readable NPY file ({e})") from None
    if dtype == "bfloat16" or a.dtype == np.uint16:
        if a.dtype != np.uint16:
            raise OvxDataError(f"{path}: recorded as bfloat16 but stored as {a.dtype}, not uint16")
        return a, "bfloat16"
    if a.dtype == np.float32 or a.dtype == np.float16:
        return a, str(a.dtype)
    raise OvxDataError(f"{path}: unsupported dtype {a.dtype}")


def to_tensor(a, kind, native=False):
    """A (memory-mapped) array of load_array as a torch tensor in memory:
    float32, or with native=True float16 / bfloat16 as stored (half the
    bytes; convert on the device)."""
    if kind == "bfloat16":
        t = torch.from_numpy(np.array(a, dtype=np.uint16).view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(np.array(a))
    return t if native else t.float()


def name_of(obj, key):
    """A file name field of ovx JSON: ovx writes a name that is not UTF-8
    with U+FFFD replacements and its exact bytes as KEY_bytes (base64)."""
    raw = obj.get(key + "_bytes")
    return os.fsdecode(base64.b64decode(raw)) if raw else obj[key]


def _output(rec, key):
    """(file, dtype, shape) of output KEY ("tokens", "pooled") of a manifest
    record, or None when the item has no such output."""
    o = (rec.get("outputs") or {}).get(key)
    if not o:
        return None
    return name_of(o, "file"), o.get("dtype"), o.get("shape")


# -- the dataset --------------------------------------------------------------

class OvxDataset(torch.utils.data.Dataset):
    """Items of an ovx output folder.

    root     the folder given to `ovx extract -o`
    rels     RELs to use, in this order (default: all, manifest order)
    classes  class names (index = position); default: sorted manifest labels
    tokens   load tokens and positions (False: only pooled vectors, e.g. for
             a linear probe; much less I/O)
    pooled   load the pooled vector when the item has one
    view     int: that view of multi-view outputs; "all": one sample per view
    native   tokens as stored (float16/bfloat16 stay so) instead of float32
    """

    def __init__(self, root, rels=None, classes=None, tokens=True, pooled=True, view=0, native=False):
        self.root = root
        manifest = read_manifest(root)
        if rels is None:
            rels = list(manifest)
        missing = [r for r in rels if r not in manifest]
        if missing:
            raise OvxDataError(f"{os.path.join(root, 'manifest.jsonl')}: {len(missing)} item(s) not listed, "
                               f"e.g. {missing[0]}")
        self.records = [manifest[r] for r in rels]
        self.classes = list(classes) if classes is not None else class_list(manifest.values())
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self.want_tokens, self.want_pooled, self.native = tokens, pooled, native
        self.all_views = view == "all"
        self.samples = []  # (record index, view or None)
        for i, rec in enumerate(self.records):
            nv = self._views(rec)
            if view == "all":
                self.samples += [(i, v if nv else None) for v in range(max(nv, 1))]
            else:
                if nv and not 0 <= int(view) < nv:
                    raise OvxDataError(f"{self._path(name_of(rec, 'json'))}: view {view} of {nv}")
                self.samples.append((i, int(view) if nv else None))

    def _path(self, rel_file):
        return os.path.join(self.root, rel_file)

    def _load(self, rec, name, dtype):
        """load_array of output file NAME of record REC: a file under root,
        or a member of the record's tar shard (--format wds)."""
        if rec.get("shard"):
            return load_array(self._path(rec["shard"]), dtype, member=name)
        return load_array(self._path(name), dtype)

    @staticmethod
    def _views(rec):
        """Number of views of a record (0 = single-view layout [K,D] / [D])."""
        for key, ndim in (("tokens", 3), ("pooled", 2)):
            o = _output(rec, key)
            if o and o[2] is not None:
                return o[2][0] if len(o[2]) == ndim else 0
        return 0

    def label_of(self, rec):
        lab = rec.get("label")
        if lab is None:
            return -1
        return self.class_index.get(str(lab), -1)

    def labels(self):
        """Class index of every sample (-1: unlabelled or not in classes)."""
        return [self.label_of(self.records[i]) for i, _ in self.samples]

    def __len__(self):
        return len(self.samples)

    def item_id(self, idx):
        i, v = self.samples[idx]
        rel = self.records[i]["rel"]
        return f"{rel}#{v}" if self.all_views and v is not None else rel

    def __getitem__(self, idx):
        i, v = self.samples[idx]
        rec = self.records[i]
        out = {"id": self.item_id(idx), "rel": rec["rel"], "label": self.label_of(rec),
               "tokens": None, "positions": None, "pooled": None}
        if self.want_tokens:
            t = _output(rec, "tokens")
            if t is None:
                raise OvxDataError(f"{self._path(name_of(rec, 'json'))}: no token file (extracted with --pooled-only?)")
            a, kind = self._load(rec, t[0], t[1])
            if v is not None:
                a = a[v]
            if a.ndim != 2:
                raise OvxDataError(f"{self._path(t[0])}: tokens of shape {a.shape}, want [K,D]")
            out["tokens"] = to_tensor(a, kind, self.native)
            out["positions"] = self._positions(rec, v, a.shape[0])
        if self.want_pooled:
            p = _output(rec, "pooled")
            if p is not None:
                a, kind = self._load(rec, p[0], p[1])
                if v is not None:
                    a = a[v]
                out["pooled"] = to_tensor(a, kind).reshape(-1)
        return out

    def _positions(self, rec, v, k):
        path = self._path(name_of(rec, "json"))
        try:
            if rec.get("shard"):
                path = f"{self._path(rec['shard'])}({name_of(rec, 'json')})"
                raw = member_bytes(self._path(rec["shard"]), name_of(rec, "json"))
            else:
                with open(path, "rb") as f:
                    raw = f.read()
            js = json.loads(raw.decode("utf-8", "surrogateescape"))
        except FileNotFoundError:
            raise OvxDataError(f"{path}: no such file") from None
        except (OSError, ValueError) as e:
            raise OvxDataError(f"{path}: not readable JSON ({e})") from None
        src = js["views"][v] if v is not None and "views" in js else js
        pos = src.get("positions")
        if pos is None:
            raise OvxDataError(f"{path}: no token positions")
        pos = torch.tensor(pos, dtype=torch.long)
        if pos.shape != (k, 3):
            raise OvxDataError(f"{path}: {tuple(pos.shape)} positions for {k} tokens")
        return pos


def collate(batch):
    """Pad a list of samples to the longest K: tokens [B,Kmax,D] (zeros),
    positions [B,Kmax,3] (-1), mask [B,Kmax] bool (True = padding, as
    torch's key_padding_mask), pooled [B,D] (None unless every sample has
    one), label [B] long, id / rel lists."""
    out = {"id": [b["id"] for b in batch], "rel": [b["rel"] for b in batch],
           "label": torch.tensor([b["label"] for b in batch], dtype=torch.long),
           "tokens": None, "positions": None, "mask": None, "pooled": None}
    if all(b["tokens"] is not None for b in batch):
        ks = [b["tokens"].shape[0] for b in batch]
        dims = {b["tokens"].shape[1] for b in batch}
        if len(dims) != 1:
            raise OvxDataError(f"token widths differ within a batch: {sorted(dims)} ({out['id']})")
        kmax, d = max(ks), dims.pop()
        types = {b["tokens"].dtype for b in batch}
        tok = torch.zeros(len(batch), kmax, d, dtype=types.pop() if len(types) == 1 else torch.float32)
        pos = torch.full((len(batch), kmax, 3), -1, dtype=torch.long)
        mask = torch.ones(len(batch), kmax, dtype=torch.bool)
        for j, b in enumerate(batch):
            tok[j, :ks[j]] = b["tokens"]
            pos[j, :ks[j]] = b["positions"]
            mask[j, :ks[j]] = False
        out.update(tokens=tok, positions=pos, mask=mask)
    if all(b["pooled"] is not None for b in batch):
        out["pooled"] = torch.stack([b["pooled"] for b in batch])
    return out


# -- splits -------------------------------------------------------------------

HMDB_SPLIT = re.compile(r"^(.+)_test_split(\d+)\.txt$")


def read_list(path):
    """A UCF101-style list: one relative path per line, optionally followed
    by whitespace and a class index (ignored: labels come from the
    manifest); or CSV "path,label" lines (label ignored likewise). Returns
    the paths. HMDB51's official split files (CLASS_test_splitN.txt, a
    0/1/2 flag per video) are refused: read them with read_hmdb_splits."""
    if HMDB_SPLIT.match(os.path.basename(path)):
        raise OvxDataError(f"{path}: an HMDB51 split file (flags 1 train, 2 test, 0 unused): "
                           "give its folder to --hmdb-splits instead")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise OvxDataError(f"{path}: {e.strerror}") from None
    out = []
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "," in s:
            s = next(csv.reader([s]))[0].strip()
        else:
            parts = s.rsplit(None, 1)
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                s = parts[0]
        if s.lower() == "path":
            continue  # CSV header
        out.append(s)
    return out


def read_hmdb_splits(folder, number):
    """HMDB51's official splits: FOLDER/CLASS_test_splitNUMBER.txt, lines
    "VIDEO.avi FLAG" (1 train, 2 test, 0 unused) -> {"train": [...],
    "test": [...]} with paths CLASS/VIDEO.avi."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise OvxDataError(f"{folder}: {e.strerror}") from None
    out = {"train": [], "test": []}
    files = [n for n in names if (m := HMDB_SPLIT.match(n)) and int(m.group(2)) == number]
    if not files:
        raise OvxDataError(f"{folder}: no *_test_split{number}.txt files")
    for n in files:
        cls = HMDB_SPLIT.match(n).group(1)
        with open(os.path.join(folder, n), encoding="utf-8", errors="surrogateescape") as f:
            for k, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise OvxDataError(f"{os.path.join(folder, n)}:{k}: want 'VIDEO FLAG' with flag 0, 1 or 2")
                if parts[1] != "0":
                    out["train" if parts[1] == "1" else "test"].append(f"{cls}/{parts[0]}")
    return out


def read_split_csv(path):
    """CSV "path,split" (header optional) -> {split: [paths]}."""
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise OvxDataError(f"{path}: {e.strerror}") from None
    out = {}
    for n, row in enumerate(rows, 1):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if len(row) < 2:
            raise OvxDataError(f"{path}:{n}: want path,split")
        p, s = row[0].strip(), row[1].strip()
        if n == 1 and p.lower() == "path" and s.lower() == "split":
            continue
        out.setdefault(s, []).append(p)
    return out


def _norm(p):
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p.lstrip("/")


class Matcher:
    """Finds the manifest REL of a list path: the exact REL, else the one REL
    with the same path minus extension (a list may name .avi files that were
    re-encoded before extraction), else the one REL that ends with the path
    or that the path ends with (a list relative to another root than the
    folder given to ovx extract). Ambiguous matches count as not found."""

    def __init__(self, rels):
        self.exact = {_norm(r): r for r in rels}
        self.stem = {}
        for r in rels:
            self.stem.setdefault(os.path.splitext(_norm(r))[0], []).append(r)
        self.tail = {}
        for r in rels:
            parts = os.path.splitext(_norm(r))[0].split("/")
            for i in range(len(parts)):
                self.tail.setdefault("/".join(parts[i:]), []).append(r)

    def find(self, path):
        p = _norm(path)
        if p in self.exact:
            return self.exact[p]
        s = os.path.splitext(p)[0]
        for table in (self.stem, self.tail):
            hit = table.get(s)
            if hit and len(hit) == 1:
                return hit[0]
        parts = s.split("/")
        for i in range(1, len(parts)):  # the list's path has a longer prefix
            hit = self.stem.get("/".join(parts[i:]))
            if hit and len(hit) == 1:
                return hit[0]
        return None


def match_paths(rels, paths, what, skip_missing=False, warn=None):
    """RELs of the list PATHS. Paths not in the manifest raise OvxDataError
    naming the list WHAT and the first ones, unless skip_missing (then they
    are reported through warn and left out)."""
    m = Matcher(rels)
    found, missing, seen = [], [], set()
    for p in paths:
        r = m.find(p)
        if r is None:
            missing.append(p)
        elif r not in seen:
            seen.add(r)
            found.append(r)
    if missing:
        msg = (f"{what}: {len(missing)} of {len(paths)} entries not in the manifest "
               f"(not extracted or failed), e.g. {', '.join(missing[:3])}")
        if not skip_missing:
            raise OvxDataError(msg + " (--skip-missing leaves them out)")
        if warn:
            warn(msg + ": left out")
    if not found:
        raise OvxDataError(f"{what}: no entry matches an extracted item")
    return found


def fraction_split(records, fraction, seed):
    """Seeded split of the labelled manifest records, stratified by label:
    (train RELs, val RELs). Same seed and same set of items -> same split,
    whatever the manifest order."""
    by = {}
    for r in records:
        if r.get("label") is not None:
            by.setdefault(str(r["label"]), []).append(r["rel"])
    train, val = [], []
    rng = random.Random(seed)
    for lab in sorted(by):
        rels = sorted(by[lab])
        rng.shuffle(rels)
        nv = int(math.floor(len(rels) * fraction + 0.5)) if len(rels) > 1 else 0
        val += rels[:nv]
        train += rels[nv:]
    return sorted(train), sorted(val)
