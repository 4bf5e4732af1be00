"""Camera pan: the whole background slides left while an object moves down.
After removing the fitted camera motion, the selected patches must be on the
object (>= 80% of the non-first-frame selection), not on the background.
Also checks that without compensation-worthy motion the object wins over
the border where new background enters."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

with tempfile.TemporaryDirectory() as d:
    clip = clips.pan_clip(os.path.join(d, "pan"))
    p = subprocess.run([clips.ovx(), "select", clip, "--tokens", "1024", "--no-timings"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    clips.check_indices(res, 1024)
    frac, n = clips.on_path_fraction(res, clips.pan_object_box)
    print(f"pan: {frac:.1%} of {n} selected non-first patches on the moving object")
    assert frac >= 0.80
print("ok")
