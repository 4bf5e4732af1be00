#!/usr/bin/python3
"""src/io/tar against Python's tarfile and GNU tar: archives ovx writes
(short, 100-byte, long pax and UTF-8 names, empty and odd-sized members,
rollback, no-replace commit) read back byte-exact; archives Python writes
(ustar, GNU long names, pax) list with the right names, offsets and sizes;
truncated or corrupted archives are refused."""
import io
import os
import subprocess
import sys
import tarfile
import tempfile

tool = sys.argv[1]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402


def listing(path):
    r = subprocess.run([tool, "list", path], capture_output=True, text=True)
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    return r.returncode, [(n, int(o), int(s)) for n, o, s in rows], r.stderr


with tempfile.TemporaryDirectory() as d:
    contents = {
        "a.tokens.npy": os.urandom(1000),
        "x" * 100: b"exactly one hundred bytes of name",
        "k%2Fv%2E1%2F" + "long" * 40 + ".json": b'{"rel": "k/v.1/long"}\n',
        "caf\u00e9 \u65e5\u672c.pooled.npy": os.urandom(512),
        "empty.json": b"",
        "odd.bin": os.urandom(513),
    }
    specs = []
    for i, (name, data) in enumerate(contents.items()):
        p = os.path.join(d, f"in{i}")
        open(p, "wb").write(data)
        specs.append(f"{name}={p}")
    out = os.path.join(d, "ovx.tar")
    r = subprocess.run([tool, "write", out, *specs, specs[0].replace("a.tokens", "dropped"), "--rollback-last"])
    check(r.returncode == 0, "write")
    check(not [f for f in os.listdir(d) if ".tmp." in f], "no temp file after commit")
    with tarfile.open(out) as t:
        got = {m.name: t.extractfile(m).read() for m in t.getmembers()}
        check(all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in t.getmembers()), "deterministic headers")
    check(got == contents, f"tarfile reads every member byte-exact, rolled-back one absent: {sorted(got)}")
    gnu = subprocess.run(["tar", "tf", out], capture_output=True, text=True)
    check(gnu.returncode == 0 and gnu.stdout.splitlines() == list(contents), f"GNU tar lists: {gnu.stdout}")
    rc, rows, err = listing(out)
    raw = open(out, "rb").read()
    check(rc == 0 and [n for n, _, _ in rows] == list(contents), f"ovx lists its own archive: {rows} {err}")
    check(all(raw[o:o + s] == contents[n] for n, o, s in rows), "offsets and sizes point at the data")
    before = raw
    r = subprocess.run([tool, "exists", out, specs[0]], capture_output=True)
    check(r.returncode == 3 and open(out, "rb").read() == before, "commit never replaces an existing archive")
    check(not [f for f in os.listdir(d) if ".tmp." in f], "no temp file after a refused commit")

    # archives written by Python in each format
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        p = os.path.join(d, f"py{fmt}.tar")
        names = {"short.npy": os.urandom(10), "d/" + "n" * 90 + "/leaf.json": b"{}"}
        if fmt != tarfile.USTAR_FORMAT:
            names["L" * 300 + ".npy"] = os.urandom(2000)
        with tarfile.open(p, "w", format=fmt) as t:
            di = tarfile.TarInfo("adir")
            di.type = tarfile.DIRTYPE
            t.addfile(di)
            for n, b in names.items():
                ti = tarfile.TarInfo(n)
                ti.size = len(b)
                t.addfile(ti, io.BytesIO(b))
        rc, rows, err = listing(p)
        raw = open(p, "rb").read()
        check(rc == 0 and sorted(n for n, _, _ in rows) == sorted(names), f"format {fmt}: names {rows} {err}")
        check(all(raw[o:o + s] == names[n] for n, o, s in rows), f"format {fmt}: data at the offsets")

    # damaged archives are refused
    good = open(out, "rb").read()

    def with_size(h, size):   # a first header claiming size bytes, checksum fixed
        h = bytearray(h[:512])
        h[124:136] = b"%011o\0" % size
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        return bytes(h) + good[512:]
    cases = {"size past the end": with_size(good, 10 ** 9), "truncated in a member": good[:700], "no end marker": good[:len(good) - 1024],
             "bad checksum": good[:20] + b"Z" + good[21:],
             "garbage": os.urandom(4096), "empty": b""}
    for what, data in cases.items():
        p = os.path.join(d, "bad.tar")
        open(p, "wb").write(data)
        rc, rows, err = listing(p)
        check(rc == 1 and err.strip(), f"{what}: refused ({rc}, {err.strip()})")

sys.exit(finish("tar writer/reader vs tarfile"))
