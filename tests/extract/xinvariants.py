"""xinvariants.py: what an ovx extract output folder must always be, checked
from the logs and the disk alone (all names as exact bytes):
  - every input is in manifest.jsonl (with all its files present) or in
    failures.jsonl, exactly once, never in both;
  - every file in the folder (outside .ovx) is described by a manifest line;
  - no file a manifest line lists is missing;
  - nothing is left in the runs' private temp folders."""
import base64
import json
import os


def exact(obj, key):
    """obj[key] as exact bytes (KEY_bytes when the name is not UTF-8)."""
    if key + "_bytes" in obj:
        return base64.b64decode(obj[key + "_bytes"])
    v = obj.get(key)
    return v.encode() if isinstance(v, str) else None


def lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(x.decode("utf-8", errors="strict")) for x in open(path, "rb").read().splitlines() if x.strip()]


def listed_files(m):
    """The files (bytes, relative to the output folder) one manifest line describes."""
    files = [exact(m, "json")]
    for o in m.get("outputs", {}).values():
        files.append(exact(o, "file"))  # in the manifest: relative to the output folder
    return files


def problems(out, rels, temps_too=True):
    """The invariants above for output folder out (bytes) and input rels
    (bytes); returns a list of what is wrong (empty: all hold)."""
    bad = []
    man = lines(os.path.join(out, b"manifest.jsonl"))
    fail = lines(os.path.join(out, b"failures.jsonl"))
    mrels = [exact(m, "rel") for m in man]
    frels = [exact(f, "rel") for f in fail]
    for r in rels:
        n_m, n_f = mrels.count(r), frels.count(r)
        if n_m + n_f != 1:
            bad.append(f"{r!r}: {n_m} manifest and {n_f} failure lines")
    for r in set(mrels) | set(frels):
        if r not in rels:
            bad.append(f"{r!r}: logged but not an input")
    described = set()
    for m in man:
        for f in listed_files(m):
            described.add(f)
            if not os.path.isfile(os.path.join(out, f)):
                bad.append(f"{f!r}: listed but missing")
    for root, dirs, fs in os.walk(out):
        rel_root = os.path.relpath(root, out)
        if rel_root == b".":
            dirs[:] = [x for x in dirs if x != b".ovx"]
            rel_root = b""
        for f in fs:
            rf = os.path.join(rel_root, f) if rel_root else f
            if rf in (b"manifest.jsonl", b"failures.jsonl"):
                continue
            if rf not in described:
                bad.append(f"{rf!r}: a file no log line describes")
    t = os.path.join(out, b".ovx", b"tmp")
    if temps_too and os.path.isdir(t) and os.listdir(t):
        bad.append(f"temp folder not empty: {os.listdir(t)}")
    return bad
