#!/usr/bin/python3
"""test_cli_first_run.py: what a new user reads first holds (issue 24,
item 2).
- README's binary path is where meson puts ovx, and `meson install` (the
  README's install step) puts ovx in bin/ and ovx.1 in man1/ (DESTDIR run
  of this build, no root needed), the installed ovx runs;
- README gives both ways to get the real weights, and says which Python the
  scripts use; every script with a python shebang names /usr/bin/python3;
- scripts/test builds into its own folder: no `meson setup build` of the
  quickstart's build/ (the folder the README and quickstart use);
- the "not in the Hugging Face cache" error gives the download command
  (the model tests check -m with models--ORG--NAME and snapshots/HASH)."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pycheck import expect as check, finish  # noqa: E402

ovx = os.environ["OVX_BIN"]
root = os.environ["OVX_SOURCE_ROOT"]
readme = open(os.path.join(root, "README.md")).read()

check("build/src/cli/ovx" in readme, "README names the binary build/src/cli/ovx")
check(ovx.endswith(os.path.join("src", "cli", "ovx")), f"meson builds ovx at BUILD/src/cli/ovx ({ovx})")
check("meson install -C build" in readme, "README says how to install")
builddir = os.path.dirname(os.path.dirname(os.path.dirname(ovx)))
with tempfile.TemporaryDirectory(prefix="ovx-install-") as dest:
    r = subprocess.run(["meson", "install", "-C", builddir, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    found = {f: os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs if f in ("ovx", "ovx.1")}
    check(r.returncode == 0 and "ovx" in found and "ovx.1" in found,
          f"meson install puts ovx and ovx.1 in place: {r.returncode} {sorted(found.values())} {r.stderr[-300:]}")
    if "ovx" in found:
        check(found["ovx"].endswith(os.path.join("bin", "ovx")) and
              found.get("ovx.1", "").endswith(os.path.join("man1", "ovx.1")), f"bin/ovx, man1/ovx.1: {found}")
        v = subprocess.run([found["ovx"], "--version"], capture_output=True, text=True)
        check(v.returncode == 0 and v.stdout.startswith("ovx "), f"the installed ovx runs: {v.stdout!r}")

check("huggingface-cli download lmms-lab-encoder/onevision-encoder-large" in readme and
      "git lfs clone https://huggingface.co/lmms-lab-encoder/onevision-encoder-large" in readme,
      "README: both ways to get the weights")
check("models--lmms-lab-encoder--onevision-encoder-large" in readme, "README: -m a cache folder")
check("/usr/bin/python3" in readme, "README says which Python the scripts use")
check(re.search(r"about \d+ min", readme) is not None and "../shared" in readme and "skip" in readme,
      "README: how long the suite takes, real-clip tests skip without ../shared")
for name in sorted(os.listdir(os.path.join(root, "scripts"))):
    path = os.path.join(root, "scripts", name)
    first = open(path, errors="replace").readline() if os.path.isfile(path) else ""
    if "python" in first:
        check(first.strip() == "#!/usr/bin/python3", f"scripts/{name}: shebang /usr/bin/python3 ({first.strip()})")

test_script = open(os.path.join(root, "scripts", "test")).read()
setups = re.findall(r"meson setup (\S+)", test_script)
check(setups and "build" not in setups and "build-test" in setups,
      f"scripts/test sets up its own folders, not build/: {setups}")
check(not re.search(r"-C build(\s|$)", test_script), "scripts/test compiles/tests nothing in build/")

env = dict(os.environ, HF_HOME=tempfile.gettempdir() + "/ovx-no-such-hf", HF_HUB_CACHE="")
r = subprocess.run([ovx, "inspect", "-m", "lmms-lab-encoder/onevision-encoder-large"], capture_output=True,
                   text=True, env=env)
check(r.returncode == 1 and "huggingface-cli download lmms-lab-encoder/onevision-encoder-large" in r.stderr,
      f"not-in-cache error gives the download command: {r.stderr!r}")
sys.exit(finish("first run"))
