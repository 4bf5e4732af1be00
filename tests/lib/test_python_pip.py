#!/usr/bin/python3
"""test_python_pip.py: the README's install path of the Python package
(issue 26): Debian's pip builds a wheel of this checkout offline through
meson-python (pip wheel --no-build-isolation; CPU-only to keep it short),
the wheel holds the package only (no binary, library or headers), installs
into a venv that sees Debian's numpy, and `import ovx` there, run from a
directory outside the repository, selects like `ovx select` (from a path
and from the file's bytes), and its ovx.Encoder, ovx.torch, ovx.data and
ovx.probe import and run (encode() of the clip with a tiny random model)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "select"))
from pycheck import check, expect, finish  # noqa: E402
import clips  # noqa: E402

root = os.environ["OVX_SOURCE_ROOT"]
ovx_bin = os.environ["OVX_BIN"]
r = subprocess.run(["/usr/bin/python3", "-c", "import mesonpy"], capture_output=True)
if r.returncode != 0:
    print("SKIP: Debian's python3-mesonpy is not installed (scripts/install-deps installs it)")
    sys.exit(77)

with tempfile.TemporaryDirectory(prefix="ovx-pip-") as tmp:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LD_LIBRARY_PATH"}
    w = subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                        "--config-settings", "setup-args=-Dcuda=disabled", "-w", os.path.join(tmp, "wheel"), root],
                       capture_output=True, text=True, timeout=1800, env=env)
    check(w.returncode == 0, f"pip wheel: {w.stdout[-2000:]} {w.stderr[-2000:]}")
    wheels = glob.glob(os.path.join(tmp, "wheel", "ovx-*.whl"))
    check(len(wheels) == 1, f"one wheel: {wheels}")
    names = zipfile.ZipFile(wheels[0]).namelist()
    expect(any(n.startswith("ovx/_ovx.") and n.endswith(".so") for n in names) and
           all(any(n.endswith(f"ovx/{m}.py") for n in names)
               for m in ("__init__", "encoder", "torch", "data", "probe")),
           f"the wheel holds the package: {names}")
    expect(not any("libovx.so" in n or n.endswith(".h") or "/scripts/" in n or n.endswith("ovx.1") for n in names),
           f"the wheel holds nothing else: {names}")
    venv = os.path.join(tmp, "venv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True, env=env)
    py = os.path.join(venv, "bin", "python")
    i = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-deps", wheels[0]],
                       capture_output=True, text=True, env=env)
    check(i.returncode == 0, f"pip install the wheel: {i.stderr[-1500:]}")

    clip = clips.moving_object(os.path.join(tmp, "clip"), "h264")
    outside = os.path.join(tmp, "elsewhere")
    os.mkdir(outside)
    model = os.path.join(tmp, "model")
    subprocess.run(["/usr/bin/python3", os.path.join(root, "scripts", "make-test-model"), model], check=True,
                   stdout=subprocess.DEVNULL)
    code = ("import json, sys, ovx, ovx.torch, ovx.data, ovx.probe\n"
            "r = ovx.select(sys.argv[1], tokens=1000)\n"
            "m = ovx.select(open(sys.argv[1], 'rb').read(), tokens=1000, name=sys.argv[1])\n"
            "e = ovx.Encoder(sys.argv[2]).encode(sys.argv[1], tokens=1000)['last_hidden_state']\n"
            "p = ovx.probe.AttentiveProbe(e.shape[-1], 4, heads=2)\n"
            "print(json.dumps({'file': ovx.__file__, 'idx': r.visible_indices.tolist(), 'json': r.json,\n"
            "                  'mem': m.json == r.json, 'enc': list(e.shape), 'probe': ovx.probe.__file__}))\n")
    p = subprocess.run([py, "-c", code, clip, model], capture_output=True, text=True, cwd=outside, env=env,
                       timeout=600)
    check(p.returncode == 0, f"import ovx in the venv: {p.stderr[-1500:]}")
    got = json.loads(p.stdout)
    expect(got["file"].startswith(venv) and not got["file"].startswith(root),
           f"ovx comes from the venv: {got['file']}")
    cli = subprocess.run([ovx_bin, "select", clip, "--tokens", "1000", "--no-timings"], capture_output=True, text=True)
    expect(got["json"] == cli.stdout and got["idx"] == json.loads(cli.stdout)["visible_indices"],
           "the installed ovx.select equals ovx select (report text, visible_indices)")
    expect(got["mem"] and got["enc"] == [1, 1000, 128] and got["probe"].startswith(venv),
           f"from the venv: select(bytes) == select(path), Encoder.encode {got['enc']}, ovx.probe {got['probe']}")
    print(f"wheel {os.path.basename(wheels[0])}: {len(names)} files; installed ovx selects {len(got['idx'])} "
          "tokens like the CLI")

sys.exit(finish("pip install of the ovx package"))
