"""Bad inputs to `ovx select`: missing, unreadable, not a video, audio-only,
truncated, corrupt, 0 bytes, --max-pixels exceeded. Each must exit 1 with
exactly one stderr line naming the file, within a timeout (no crash, no
hang). Also usage errors exit 2."""
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import clips  # noqa: E402

OVX = clips.ovx()


def expect_fail(path, extra=(), code=1, name=None):
    p = subprocess.run([OVX, "select", path, *extra], capture_output=True, text=True, timeout=60)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == code, f"{path}: exit {p.returncode}, want {code}: {p.stderr}"
    assert len(lines) == 1, f"{path}: want one stderr line, got {lines}"
    assert (name or path) in lines[0], f"{path} not named in {lines[0]!r}"
    assert p.stdout == "", "nothing on stdout on failure"
    print(f"{os.path.basename(path)} {' '.join(extra)}: exit {code}: {lines[0]}")


with tempfile.TemporaryDirectory() as d:
    good = os.path.join(d, "good.mp4")
    clips.ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=2",
                  "-c:v", "libx264", "-bf", "2", "-movflags", "+faststart", good])
    data = open(good, "rb").read()

    expect_fail(os.path.join(d, "missing.mp4"))

    unreadable = os.path.join(d, "unreadable.mp4")
    with open(unreadable, "wb") as f:
        f.write(data)
    os.chmod(unreadable, 0)
    if os.geteuid() == 0:
        # root reads anything: make it a directory-backed failure instead
        print("running as root: chmod 000 does not stop reads; using a directory instead")
        os.chmod(unreadable, 0o644)
        unreadable = os.path.join(d, "a_directory.mp4")
        os.mkdir(unreadable)
    expect_fail(unreadable)

    text = os.path.join(d, "notes.txt")
    with open(text, "w") as f:
        f.write("this is not a video\n" * 50)
    expect_fail(text)

    audio = os.path.join(d, "audio.m4a")
    clips.ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", audio])
    expect_fail(audio)

    trunc = os.path.join(d, "truncated.mp4")
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 3])
    expect_fail(trunc)

    corrupt = os.path.join(d, "corrupt.mp4")
    rng = random.Random(5)
    b = bytearray(data)
    for i in range(len(b) // 4, len(b)):
        b[i] = rng.randrange(256)
    with open(corrupt, "wb") as f:
        f.write(b)
    expect_fail(corrupt)

    empty = os.path.join(d, "empty.mp4")
    open(empty, "wb").close()
    expect_fail(empty)

    expect_fail(good, ["--max-pixels", "10000"])

    # outputs that cannot be written: one line naming the output file
    for opt, name in (("-o", "x.json"), ("--scores", "s.npy"), ("--viz", "v.png")):
        bad_out = os.path.join(d, "no_such_dir", name)
        expect_fail(good, [opt, bad_out], name=bad_out)

    # usage errors: exit 2, one line
    for args in (["--tokens", "0"], ["--frames", "65"], ["--sampling", "x"], ["--bogus"]):
        p = subprocess.run([OVX, "select", good, *args], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    p = subprocess.run([OVX, "select"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
print("ok")
