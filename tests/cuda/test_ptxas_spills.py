#!/usr/bin/python3
"""test_ptxas_spills.py --archs 80,90 LOG...: checks the -Xptxas -v resource
reports that the build saved for every .cu file (cuda/nvcc-compile): every
kernel was compiled for each architecture of the build (-Dcuda-arch, e.g.
80,86,89,90 or a single 90) and none spills
registers (0 bytes spill stores and loads). A stack frame alone is not a
spill (k_rope_tables has one: the slow-path argument reduction of double
cos/sin in libdevice) and is only reported. Skips (77) when ovx was built
without CUDA (no logs given)."""
import re
import sys

args = sys.argv[1:]
archs = ""
if args[:1] == ["--archs"]:
    archs, args = args[1], args[2:]
TARGETS = tuple("sm_" + a for a in archs.split(",") if a)
logs = [a for a in args if a]
if not logs:
    print("SKIP: ovx was built without the CUDA backend (no ptxas report)")
    sys.exit(77)

failures = 0
for path in logs:
    text = open(path).read()
    # "Compiling entry function 'NAME' for 'sm_XY'" then its "Function
    # properties" block with "N bytes stack frame, S bytes spill stores, L bytes spill loads"
    entries = re.findall(r"Compiling entry function '([^']+)' for '(sm_\d+)'", text)
    props = re.findall(r"Function properties for (\S+)\n\s*(\d+) bytes stack frame, (\d+) bytes spill stores, "
                       r"(\d+) bytes spill loads", text)
    regs = re.findall(r"Used (\d+) registers", text)
    kernels = sorted({name for name, _ in entries})
    if not kernels:
        print("FAIL %s: no kernels in the report" % path)
        failures += 1
        continue
    for k in kernels:
        archs = {a for n, a in entries if n == k}
        missing = [t for t in TARGETS if t not in archs]
        if missing:
            print("FAIL %s: kernel %s not compiled for %s" % (path, k, ", ".join(missing)))
            failures += 1
    if len(props) < len(entries):
        print("FAIL %s: %d entry functions but %d resource lines" % (path, len(entries), len(props)))
        failures += 1
    for name, stack, st, ld in props:
        if int(st) or int(ld):
            print("FAIL %s: %s: %s bytes spill stores, %s bytes spill loads" % (path, name, st, ld))
            failures += 1
    for name in sorted({n for n, stack, _, _ in props if int(stack)}):
        print("note: %s has a stack frame (no spills)" % name)
    print("%s: %d kernels x %d targets, max %d registers, %d resource lines, spills: %s"
          % (path, len(kernels), len(TARGETS), max(map(int, regs)) if regs else -1, len(props),
             "none" if not failures else "SEE ABOVE"))
sys.exit(1 if failures else 0)
