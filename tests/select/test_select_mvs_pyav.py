"""The motion vectors ovx reads (mv_dump: ovx_video_* + ovx_mv_from_frame)
agree with PyAV's MOTION_VECTORS side data on the same H.264 clip with
B-frames: same per-frame counts and the same block/vector values (both
single-threaded)."""
import os
import subprocess
import sys
import tempfile

import av
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

dump = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    clip = clips.moving_object(os.path.join(d, "obj"), "h264")
    out = subprocess.run([dump, clip], capture_output=True, text=True, check=True, timeout=120).stdout
    ours = []
    for line in out.splitlines():
        f = line.split()
        if f[0] == "F":
            ours.append((f[2], []))
        else:
            ours[-1][1].append(tuple(float(x) for x in f))

    c = av.open(clip)
    st = c.streams.video[0]
    st.codec_context.options = {"flags2": "+export_mvs"}
    st.thread_type = "SLICE"
    st.thread_count = 1
    theirs = []
    for fr in c.decode(st):
        sd = fr.side_data.get("MOTION_VECTORS")
        rows = []
        if sd is not None:
            a = sd.to_ndarray()
            for m in a:
                w, h = int(m["w"]), int(m["h"])
                if w == 0 or h == 0:
                    continue
                x0, y0 = int(m["dst_x"]) - w // 2, int(m["dst_y"]) - h // 2
                x1, y1 = x0 + w, y0 + h
                x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, fr.width), min(y1, fr.height)
                if x1 <= x0 or y1 <= y0:
                    continue
                sc = int(m["motion_scale"]) or 1
                rows.append((x0, y0, x1 - x0, y1 - y0, int(m["motion_x"]) / sc,
                             int(m["motion_y"]) / sc, -1 if int(m["source"]) < 0 else 1))
        theirs.append((fr.pict_type.name, rows))
    c.close()

    assert len(ours) == len(theirs), (len(ours), len(theirs))
    total = 0
    for i, ((pt, a), (_, b)) in enumerate(zip(ours, theirs)):
        assert len(a) == len(b), f"frame {i}: {len(a)} vs {len(b)} vectors"
        if a:
            assert np.allclose(np.array(a), np.array(b), atol=1e-4), f"frame {i}: values differ"
        total += len(a)
    types = "".join(p for p, _ in ours)
    assert "B" in types, "clip should have B-frames"
    print(f"{len(ours)} frames ({types.count('B')} B), {total} vectors: counts and values "
          f"identical to PyAV")
print("ok")
