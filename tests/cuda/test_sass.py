#!/usr/bin/python3
"""test_sass.py --archs 80,90 --probe PROBE.cubins NAME=CUBINS...: checks
the machine code (SASS) of the attention kernels, read from the cubins that
cuda/nvcc-compile saved (ELF files; cuobjdump and nvdisasm are not part of
the toolkit here, so the instructions are read directly: 16 bytes each on
sm_80..sm_90, the opcode in the low 12 bits).

The opcode values are not taken on trust: tests/cuda/sass_probe.cu is
compiled for the same architectures and its kernels must show exactly 2
LDSM and 2 HMMA (probe_mma: 2 ldmatrix, 2 mma.m16n8k16), LDL and STL
(probe_local: a local array) and a generic LD (probe_generic); an
architecture where they do not fails the test (the reading would be wrong
there). Then, for every architecture of the build:
  - k_flash_attention_mma (attention_mma.cu) uses LDSM and HMMA (64 + 4 per
    64-key tile and warp), LDGSTS (cp.async), no local memory (LDL, STL) and
    no generic loads (LD);
  - no attention kernel uses local memory;
and the instruction mix of the mma kernel's key loop (the backward branch
whose range holds all its HMMA; branch offsets read as sm_80..sm_89 encode
them) is printed for BENCHMARKS.md. The issue's
reading of the WMMA kernel (208 LD, 0 LDSM, 64 HMMA on sm_80 and sm_90,
from cuobjdump) is printed beside it as a cross-check. Skips (77) when ovx
was built without CUDA."""
import collections
import re
import struct
import sys

# checked by the probe kernels: HMMA, LDSM, LD, LDL, STL; the others only
# printed, their counts match the source (LDGSTS: the cp.async of the PTX,
# BAR: the __syncthreads, SHFL: the shuffles, MUFU: ex2 and rcp)
OPS = {0x23c: "HMMA", 0x83b: "LDSM", 0x980: "LD", 0x983: "LDL", 0x387: "STL", 0xfae: "LDGSTS",
       0x947: "BRA", 0xb1d: "BAR", 0x308: "MUFU", 0xf89: "SHFL"}
NAME = {v: k for k, v in OPS.items()}


def read_bundle(path):
    """{'attention_mma.compute_80.cubin': bytes, ...} from nvcc-compile's CUBINS file"""
    data = open(path, "rb").read()
    out, at = {}, 0
    while at < len(data):
        end = data.index(b"\n", at)
        tag, name, size = data[at:end].decode().split(" ")
        assert tag == "==", path
        out[name] = data[end + 1:end + 1 + int(size)]
        at = end + 1 + int(size)
    return out


def cubin(bundle, arch):
    """the sm_XY image of a bundle: nvcc -keep names it NAME.compute_XY.cubin,
    NAME.compute_XY.sm_XY.cubin (the architecture whose PTX is embedded too) or,
    in a single-architecture build, NAME.sm_XY.cubin"""
    hits = [n for n in bundle if re.search(r"\.(compute|sm)_%s(\.sm_%s)?\.cubin$" % (arch, arch), n)]
    if len(hits) != 1:
        raise SystemExit("FAIL: no single sm_%s image among %s" % (arch, sorted(bundle)))
    return bundle[hits[0]]


def kernels(elf):
    """{mangled kernel name: [(lo, hi) 64-bit halves of each instruction]}"""
    assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF"
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    secs = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = secs[shstrndx][4]
    out = {}
    for name, _typ, _flags, _addr, off, size in secs:
        n = elf[strtab + name:elf.index(b"\0", strtab + name)].decode()
        if n.startswith(".text."):
            out[n[6:]] = [struct.unpack_from("<QQ", elf, off + i) for i in range(0, size - size % 16, 16)]
    return out


def hist(insns):
    return collections.Counter(lo & 0xfff for lo, _ in insns)


def find(ks, part):
    hits = [k for k in ks if part in k]
    return ks[hits[0]] if len(hits) == 1 else None


def key_loop(insns):
    """(start, end) of the backward branch whose range holds every HMMA"""
    hmma = [i for i, (lo, _) in enumerate(insns) if lo & 0xfff == NAME["HMMA"]]
    best = None
    for i, (lo, hi) in enumerate(insns):
        if lo & 0xfff != NAME["BRA"]:
            continue
        off = (lo >> 32) | ((hi & 0x3ffff) << 32)  # signed byte offset from the next instruction
        if off >> 49:
            off -= 1 << 50
        if off >= 0 or off % 16:
            continue
        start = i + 1 + off // 16
        if hmma and start <= hmma[0] and hmma[-1] < i and (best is None or i - start < best[1] - best[0]):
            best = (start, i)
    return best


def fmt(h):
    named = ["%s %d" % (OPS[k], v) for k, v in sorted(h.items(), key=lambda kv: -kv[1]) if k in OPS]
    return ", ".join(named)


def main(argv):
    archs, probe, bundles, i = [], None, {}, 0
    while i < len(argv):
        if argv[i] == "--archs":
            archs = [a for a in argv[i + 1].split(",") if a]
            i += 2
        elif argv[i] == "--probe":
            probe = argv[i + 1]
            i += 2
        else:
            name, path = argv[i].split("=", 1)
            bundles[name] = path
            i += 1
    if not archs or not probe:
        print("SKIP: ovx was built without the CUDA backend (no cubins)")
        return 77
    failures = []
    probe_cubins = read_bundle(probe)
    for a in archs:
        ks = kernels(cubin(probe_cubins, a))
        m, loc, gen = (hist(find(ks, k) or []) for k in ("probe_mma", "probe_local", "probe_generic"))
        ok = (m[NAME["LDSM"]] == 2 and m[NAME["HMMA"]] == 2 and loc[NAME["LDL"]] >= 1 and
              loc[NAME["STL"]] >= 1 and gen[NAME["LD"]] >= 1)
        print("sm_%s probe: mma kernel %s; local %s; generic %s -> opcode table %s" %
              (a, fmt(m), fmt(loc), fmt(gen), "confirmed" if ok else "WRONG"))
        if not ok:
            failures.append("sm_%s: the probe kernels do not show the expected opcodes" % a)
    for cu in ("attention_mma", "attention"):
        cubins = read_bundle(bundles[cu])
        for a in archs:
            ks = kernels(cubin(cubins, a))
            for kname, insns in ks.items():
                h = hist(insns)
                print("sm_%s %s: %d instructions: %s" % (a, kname, len(insns), fmt(h)))
                if h[NAME["LDL"]] or h[NAME["STL"]]:
                    failures.append("sm_%s %s: local memory (%d LDL, %d STL)" %
                                    (a, kname, h[NAME["LDL"]], h[NAME["STL"]]))
                if "flash_attention_mma" not in kname:
                    continue
                if not h[NAME["LDSM"]] or h[NAME["HMMA"]] < 64 or not h[NAME["LDGSTS"]] or h[NAME["LD"]]:
                    failures.append("sm_%s %s: expected LDSM, >= 64 HMMA, LDGSTS and no generic LD "
                                    "(%s)" % (a, kname, fmt(h)))
                loop = key_loop(insns)
                if not loop:  # the branch offsets are read as on sm_80 (not sm_90's encoding)
                    print("  key loop: not located (branch encoding)")
                    continue
                lh = hist(insns[loop[0]:loop[1] + 1])
                print("  key loop: instructions %d..%d (%d): %s" %
                      (loop[0], loop[1], loop[1] - loop[0] + 1, fmt(lh)))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
