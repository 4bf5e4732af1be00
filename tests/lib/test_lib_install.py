#!/usr/bin/python3
"""test_lib_install.py: the installed C library works for a program outside
the project (issue 26, item 1). `meson install --destdir` of this build into
a temporary folder, then:
- bin/ovx, man1/ovx.1, libovx.so -> libovx.so.0 (the SONAME) -> libovx.so.X.Y.Z,
  include/ovx/*.h and ovx.pc are there;
- libovx.so exports exactly the functions the installed headers mark
  OVX_API (parsed from the headers), nothing internal;
- tests/lib/select_demo.c, compiled with -Werror against
  `pkg-config --cflags --libs ovx` of that prefix only, runs ovx_select_run
  on generated clips: its visible_indices (read from the result struct)
  equal `ovx select`'s JSON, and the result's JSON is byte-identical to
  `ovx select --no-timings`; a damaged file fails with status input and a message."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
sys.path.insert(0, os.path.join(here, "..", "select"))
from pycheck import check, expect, finish  # noqa: E402
import clips  # noqa: E402

ovx = os.environ["OVX_BIN"]
builddir = os.path.dirname(os.path.dirname(os.path.dirname(ovx)))
opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
    ["meson", "introspect", "--buildoptions", builddir], capture_output=True, text=True, check=True).stdout)}
prefix, libdir = opts["prefix"], opts["libdir"]
# under ASan/UBSan (build-asan) the demo is instrumented too: the runtime must come first
sanitize = [] if opts["b_sanitize"] == "none" else ["-fsanitize=" + opts["b_sanitize"]]
version = json.loads(subprocess.run(["meson", "introspect", "--projectinfo", builddir],
                                    capture_output=True, text=True, check=True).stdout)["version"]


# meson test points LD_LIBRARY_PATH at the build's libovx.so: the installed one must be used
os.environ.pop("LD_LIBRARY_PATH", None)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


with tempfile.TemporaryDirectory(prefix="ovx-lib-") as tmp:
    dest = os.path.join(tmp, "dest")
    r = run(["meson", "install", "-C", builddir, "--no-rebuild", "--destdir", dest])
    check(r.returncode == 0, f"meson install --destdir: {r.returncode} {r.stderr[-500:]}")
    root = dest + prefix
    lib = os.path.join(root, libdir)
    inc = os.path.join(root, "include", "ovx")

    expect(os.access(os.path.join(root, "bin", "ovx"), os.X_OK), "bin/ovx installed")
    expect(os.path.isfile(os.path.join(root, "share", "man", "man1", "ovx.1")), "man1/ovx.1 installed")
    real = os.path.join(lib, f"libovx.so.{version}")
    check(os.path.isfile(real) and not os.path.islink(real), f"{real} installed")
    expect(os.readlink(os.path.join(lib, "libovx.so.0")) == f"libovx.so.{version}", "libovx.so.0 -> the library")
    expect(os.readlink(os.path.join(lib, "libovx.so")) == "libovx.so.0", "libovx.so -> libovx.so.0")
    dyn = run(["objdump", "-p", real]).stdout
    soname = re.search(r"SONAME\s+(\S+)", dyn)
    check(soname and soname.group(1) == "libovx.so.0", f"SONAME libovx.so.0: {soname and soname.group(1)}")
    headers = sorted(os.path.basename(h) for h in glob.glob(os.path.join(inc, "*.h")))
    check("select.h" in headers and "error.h" in headers, f"include/ovx headers: {headers}")
    pcs = glob.glob(os.path.join(lib, "pkgconfig", "ovx.pc"))
    check(len(pcs) == 1, f"ovx.pc in {lib}/pkgconfig")

    # the exported functions are those marked OVX_API in the installed headers
    marked = set()
    for h in glob.glob(os.path.join(inc, "*.h")):
        text = open(h).read()
        check('#include "' not in text, f"{h}: no project-relative include left")
        marked |= set(re.findall(r"^OVX_API\s[^;(]*?\b(\w+)\s*\(", text, re.M))
    syms = [ln.split() for ln in run(["nm", "-D", "--defined-only", real]).stdout.split("\n")]
    syms = [(s[1], s[2].split("@")[0]) for s in syms if len(s) == 3]  # name@@OVX_0
    funcs = {n for t, n in syms if t in "TtWi"}
    other = {n for t, n in syms if t not in "TtWiA"}
    check("ovx_select_run" in marked, f"headers mark ovx_select_run OVX_API: {sorted(marked)}")
    expect(funcs == marked, f"exported functions == OVX_API ones: extra {sorted(funcs - marked)[:20]} "
           f"missing {sorted(marked - funcs)}")
    expect(not other, f"no exported data symbols: {sorted(other)[:20]}")
    print(f"libovx.so.{version}: {len(funcs)} exported functions, headers {headers}")

    # a program outside the project, built through pkg-config of the prefix
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(lib, "pkgconfig"))
    pc = run(["pkg-config", f"--define-variable=prefix={root}", "--cflags", "--libs", "ovx"], env=env)
    check(pc.returncode == 0, f"pkg-config ovx: {pc.stderr}")
    flags = pc.stdout.split()
    check(any(f == "-I" + os.path.join(root, "include") for f in flags) and "-lovx" in flags,
          f"pkg-config --cflags --libs ovx: {flags}")
    demo = os.path.join(tmp, "select_demo")
    cc = run([os.environ.get("CC", "cc"), "-std=c17", "-Wall", "-Wextra", "-Werror", "-pedantic",
              *sanitize, os.path.join(here, "select_demo.c"), "-o", demo, *flags, "-Wl,-rpath," + lib], cwd=tmp)
    check(cc.returncode == 0, f"select_demo compiles against the installed headers: {cc.stderr[-1500:]}")
    ldd = run(["ldd", demo]).stdout
    check(re.search(r"libovx\.so\.0 => " + re.escape(os.path.join(lib, "libovx.so.0")), ldd),
          f"select_demo loads the installed libovx.so.0: {ldd}")

    clip_dir = os.path.join(tmp, "clips")
    os.mkdir(clip_dir)
    cases = [(clips.moving_object(os.path.join(clip_dir, "h264"), "h264"), 2048),
             (clips.moving_object(os.path.join(clip_dir, "mpeg4"), "mpeg4"), 500),
             (clips.pan_clip(os.path.join(clip_dir, "pan")), 4096)]
    for clip, tokens in cases:
        cli = run([ovx, "select", clip, "--tokens", str(tokens), "--no-timings"])
        check(cli.returncode == 0, f"ovx select {clip}: {cli.stderr}")
        want = json.loads(cli.stdout)["visible_indices"]
        out = os.path.join(tmp, "demo.json")
        d = run([demo, clip, str(tokens), out])
        check(d.returncode == 0, f"select_demo {clip}: {d.returncode} {d.stdout} {d.stderr}")
        got = [int(v) for v in d.stdout.split("\n")[0].split(":")[1].split()]
        expect(got == want, f"{os.path.basename(clip)} K={tokens}: visible_indices from the struct "
               f"({len(got)}) == ovx select's ({len(want)})")
        expect(len(want) == min(tokens, 64 * 256) and got == sorted(set(got)), "K ascending distinct indices")
        expect(open(out).read() == cli.stdout, f"{os.path.basename(clip)}: result JSON byte-identical to the CLI's")
        print(f"{os.path.basename(clip)} K={tokens}: {len(got)} indices equal, JSON {len(cli.stdout)} bytes equal")

    bad = os.path.join(tmp, "damaged.mp4")
    with open(cases[0][0], "rb") as f:
        head = f.read(3000)
    with open(bad, "wb") as f:
        f.write(b"\0" * 64 + head[64:])
    d = run([demo, bad, "2048", os.path.join(tmp, "bad.json")])
    expect(d.returncode == 1 and d.stdout.startswith("error input: ") and len(d.stdout) > 20,
           f"a damaged file fails as bad input with a message: {d.returncode} {d.stdout!r}")

sys.exit(finish("installed libovx through pkg-config"))
