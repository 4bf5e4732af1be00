"""Reference-picture detection (src/video/refpic.c) against independent
oracles: for H.264 with x264's default B-pyramid, the nal_ref_idc of each
access unit's first slice as FFmpeg's trace_headers bitstream filter prints
it, and each decoded frame's packet found through ffprobe's frame pkt_pos;
for MPEG-2 and MPEG-4 Part 2 with B-frames, "not a B-frame" from ffprobe's
picture types. argv[1]: the refpic_dump tool."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

tool = sys.argv[1]


def dump(path):
    out = subprocess.run([tool, path], capture_output=True, text=True, check=True, timeout=60).stdout
    pk = [int(l.split()[2]) for l in out.splitlines() if l.startswith("packet ")]
    fr = [(int(a), int(b), int(c), d) for _, a, b, c, d in
          (l.split() for l in out.splitlines() if l.startswith("frame "))]
    return pk, fr


def probe(path, what, entries):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          f"{what}={entries}", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    return [l.split(",") for l in out.splitlines() if l.strip()]


with tempfile.TemporaryDirectory() as d:
    # H.264, x264 defaults (-bf 3, b-pyramid normal, -refs 3)
    src = clips.moving_object(os.path.join(d, "obj"), "h264", seconds=1.2)
    h = os.path.join(d, "pyr.mp4")
    clips.ffmpeg(["-i", src, "-c:v", "libx264", h])
    trace = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", h, "-map", "0:v:0", "-c", "copy",
                            "-bsf:v", "trace_headers", "-f", "null", "-"],
                           capture_output=True, text=True, check=True).stderr
    want, cur, idc = [], None, None
    for line in trace.splitlines():
        if "Packet:" in line:
            if cur is not None:
                want.append(cur)
            cur = -1
        m = re.search(r"nal_ref_idc\s+\S+ = (\d+)", line)
        if m:
            idc = int(m.group(1))
        m = re.search(r"nal_unit_type\s+\S+ = (\d+)", line)
        if m and cur == -1 and int(m.group(1)) in (1, 5):
            cur = 1 if idc else 0
    want.append(cur)
    pk, fr = dump(h)
    assert pk == want, (pk, want)
    types = [t for _, _, _, t in fr]
    nonref_b = sum(1 for _, _, r, t in fr if t == "B" and r == 0)
    ref_b = sum(1 for _, _, r, t in fr if t == "B" and r == 1)
    assert nonref_b > 0 and ref_b > 0, "the clip must have reference and non-reference B-frames"
    # frame -> packet through ffprobe's pkt_pos and packet pos
    ppos = [int(p[0]) for p in probe(h, "packet", "pos")]
    fpos = [int(p[0]) for p in probe(h, "frame", "pkt_pos")]
    assert len(fr) == len(fpos) == len(ppos)
    for (i, pkt, ref, _), pos in zip(fr, fpos):
        assert pkt == ppos.index(pos), (i, pkt, pos)
        assert ref == want[pkt], (i, ref)
    print(f"h264 b-pyramid: {len(pk)} packets match trace_headers' nal_ref_idc; "
          f"{ref_b} reference and {nonref_b} non-reference B-frames; frames found by pkt_pos")

    # MPEG-2 and MPEG-4 Part 2: B-pictures are never references
    for codec in ("mpeg2", "mpeg4"):
        c = clips.moving_object(os.path.join(d, "m" + codec), codec, seconds=1.2)
        pk, fr = dump(c)
        pt = [p[0] for p in probe(c, "frame", "pict_type")]
        assert [t for _, _, _, t in fr] == pt, codec
        assert [r for _, _, r, _ in fr] == [int(t != "B") for t in pt], codec
        known = [r for r in pk if r >= 0]
        assert known.count(0) == pt.count("B") or not known, (codec, known.count(0), pt.count("B"))
        if codec == "mpeg4":  # the VOP reader reads every packet of a plain stream
            assert len(known) == len(pk), (len(known), len(pk))
        print(f"{codec}: {len(fr)} frames, {pt.count('B')} B (non-reference), "
              f"{len(known)} of {len(pk)} packets read")

    # MPEG-4 Part 2: a VOP that is not coded (vop_coded 0, an "N-VOP", which
    # the decoder answers with no frame) after the first P-VOP of a raw
    # stream: its packet's type is unknown, and the decode plan then skips
    # nothing and gives the same JSON as --decode all
    raw = os.path.join(d, "m.m4v")
    clips.ffmpeg(["-i", os.path.join(d, "mmpeg4.avi"), "-c", "copy", "-f", "m4v", raw])
    data = open(raw, "rb").read()
    vops = [i for i in range(len(data) - 4) if data[i:i + 4] == b"\x00\x00\x01\xb6"]
    p1 = next(k for k, i in enumerate(vops) if data[i + 4] >> 6 == 1)
    tbits = max((clips.FPS - 1).bit_length(), 1)  # vop_time_increment_resolution = the frame rate
    hdr = "01" + "0" + "1" + "0" * tbits + "1" + "0"  # P, modulo_time_base, marker, increment, marker, not coded
    hdr += "0" + "1" * (-(len(hdr) + 1) % 8)  # stuffing: a 0, then 1s to the byte boundary
    nvop = b"\x00\x00\x01\xb6" + int(hdr, 2).to_bytes(len(hdr) // 8, "big")
    cut = vops[p1 + 1]
    nv = os.path.join(d, "nvop.m4v")
    open(nv, "wb").write(data[:cut] + nvop + data[cut:])
    pk2, fr2 = dump(nv)
    assert pk2.count(-1) == 1 and pk2[p1 + 1] == -1, pk2[:p1 + 3]
    assert len(fr2) < len(pk2), (len(fr2), len(pk2))  # frames no longer one per packet
    runs = [subprocess.run([clips.ovx(), "select", "--no-timings", "--threads", "1", nv] + m,
                           capture_output=True, text=True, timeout=120) for m in ([], ["--decode", "all"])]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert runs[0].stdout == runs[1].stdout, "N-VOP stream: --decode plan and all differ"
    print(f"mpeg4 with an N-VOP: packet {p1 + 1} of {len(pk2)} unknown, {len(fr2)} frames; plan = all")
print("ok")
