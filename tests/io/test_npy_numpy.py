"""NPY interop: numpy reads what ovx writes, ovx reads what numpy writes."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

tool = sys.argv[1]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402


with tempfile.TemporaryDirectory() as d:
    subprocess.run([tool, "write", d], check=True)
    f = np.array([0.0, 1.5, -2.25, 3.0e-8, 65504.0, -1e10], dtype=np.float32).reshape(2, 3)
    a = np.load(Path(d) / "f32.npy")
    check(a.dtype == np.float32 and a.shape == (2, 3) and np.array_equal(a, f), "f32")
    h = np.load(Path(d) / "f16.npy")
    with np.errstate(over="ignore"):
        want16 = f.astype(np.float16)
    check(h.dtype == np.float16 and np.array_equal(h, want16), "f16 rounding matches numpy")
    i = np.load(Path(d) / "i64.npy")
    check(i.dtype == np.int64 and i.tolist() == [0, 7, 255, 4095, 16383], "i64")
    e = np.load(Path(d) / "empty.npy")
    check(e.shape == (0, 4, 2), "empty")

    # numpy -> ovx, including 1-d, 0-d-adjacent and f16 inputs
    for name, arr in [("n1", np.arange(7, dtype=np.float32) / 3),
                      ("n2", np.random.default_rng(0).standard_normal((3, 2, 5)).astype(np.float32)),
                      ("n3", np.array([[1, -2], [3, 1 << 40]], dtype=np.int64)),
                      ("n4", (np.arange(5, dtype=np.float32) / 7).astype(np.float16))]:
        p = Path(d) / f"{name}.npy"
        np.save(p, arr)
        out = subprocess.run([tool, "read", str(p)], check=True, capture_output=True, text=True).stdout.split("\n")
        head = out[0].split()
        check(head[1:] == [str(s) for s in arr.shape], f"{name} shape {head}")
        # %.9g round-trips float32 exactly; int64 values are printed as integers
        kind = np.float32 if arr.dtype.kind == "f" else np.int64
        vals = np.array([kind(float(x)) if kind is np.float32 else int(x) for x in out[1:] if x], dtype=kind)
        check(np.array_equal(vals, arr.astype(kind).ravel()), f"{name} values")

    # format versions 2.0 and 3.0 (4-byte header length) as numpy writes them
    for version in [(1, 0), (2, 0), (3, 0)]:
        arr = (np.arange(12, dtype=np.float32) - 5.5).reshape(3, 4)
        p = Path(d) / f"v{version[0]}.npy"
        with open(p, "wb") as fh:
            np.lib.format.write_array(fh, arr, version=version)
        check(open(p, "rb").read(8)[6] == version[0], f"numpy wrote version {version}")
        out = subprocess.run([tool, "read", str(p)], capture_output=True, text=True).stdout.split("\n")
        head = out[0].split()
        vals = np.array([np.float32(float(x)) for x in out[1:] if x], dtype=np.float32)
        check(head[1:] == ["3", "4"] and np.array_equal(vals, arr.ravel()), f"version {version}: {head}")

    # fortran order is refused
    p = Path(d) / "fortran.npy"
    np.save(p, np.asfortranarray(np.ones((2, 3), dtype=np.float32)))
    out = subprocess.run([tool, "read", str(p)], capture_output=True, text=True).stdout
    check(out.startswith("error:") and "Fortran" in out, "fortran refused")

sys.exit(finish("numpy interop"))
