#!/usr/bin/python3
"""test_extract_known_failures.py: a rerun does not redo known failures
(issue 24, item 5). Generated clips: two good ones, a broken one (a good
MP4 with its first 64 bytes zeroed, so it cannot be opened) and a junk file.
- the first run fails both; their failures.jsonl lines carry the input's
  size and mtime (as os.stat gives them) and the run's fail_settings;
- the broken file is then repaired in place with its size and mtime kept
  (os.utime with the old nanoseconds): a rerun that decoded it would succeed,
  so a rerun that reports it failed, with the old error, did not decode it.
  The rerun says "2 known failures skipped", prints no per-item error, exits
  1, --jsonl marks both known_failure with their failure lines, --dry-run says
  fail, failures.jsonl keeps both lines;
- --retry-failed tries them: the repaired file is done, the junk fails again;
- touching the junk file (new mtime) retries it, changed settings (--tokens,
  or --max-corrupt, which decides failures) retry it, --overwrite does too;
- --format wds: the same (a known failure in a shard folder is skipped);
- with a failures.jsonl of an older ovx (no size/mtime) every item is tried."""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xhelp import check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir  # noqa: E402

need_ffmpeg()
tmp = tmpdir("ovx-known-")
model = make_model(os.path.join(tmp, "model"))
src = os.path.join(tmp, "clips")
make_clip(os.path.join(src, "good0.mp4"))
make_clip(os.path.join(src, "good1.mp4"), size="64x48", src="testsrc2")
fixed = os.path.join(tmp, "fixed.mp4")
make_clip(fixed, seconds=1.0, src="smptebars")
broken = os.path.join(src, "broken.mp4")
data = open(fixed, "rb").read()
open(broken, "wb").write(b"\0" * 64 + data[64:])
junk = os.path.join(src, "junk.mp4")
open(junk, "wb").write(b"not a video\n" * 40)


def mtime_str(path):
    ns = os.stat(path).st_mtime_ns
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def fail_lines(out):
    return {x["rel"]: x for x in jsonl(os.path.join(out, "failures.jsonl"))}


def known_count(stderr):
    m = re.search(r"(\d+) known failures? skipped", stderr)
    return int(m.group(1)) if m else 0


def run(out, *extra):
    return ovx("extract", "-m", model, "--tokens", "64", "--threads", "2", "--precision", "fp32", src, "-o", out,
               *extra)


for fmt in ("files", "wds"):
    what = fmt
    out = os.path.join(tmp, "out-" + fmt)
    shutil.copyfile(fixed, broken)  # the broken clip again, with a new mtime
    open(broken, "r+b").write(b"\0" * 64)
    fmt_args = ("--format", "wds") if fmt == "wds" else ()
    r = run(out, *fmt_args)
    check(r.returncode == 1, f"{what}: first run exits 1: {r.returncode} {r.stderr}")
    fl = fail_lines(out)
    check(sorted(fl) == ["broken.mp4", "junk.mp4"], f"{what}: both failed: {sorted(fl)}")
    for rel, path in (("broken.mp4", broken), ("junk.mp4", junk)):
        line = fl.get(rel, {})
        check(line.get("size") == os.path.getsize(path) and line.get("mtime") == mtime_str(path)
              and re.fullmatch(r"[0-9a-f]{16}", line.get("fail_settings", "")) is not None,
              f"{what}: {rel}'s line has its size, mtime and settings: {line} vs {os.stat(path)}")
    check(known_count(r.stderr) == 0, f"{what}: the first run knows no failure: {r.stderr}")

    # repaired in place, size and mtime kept: a decode would succeed now
    st = os.stat(broken)
    open(broken, "r+b").write(data[:64])
    os.utime(broken, ns=(st.st_atime_ns, st.st_mtime_ns))
    check(ovx("select", broken, "-o", os.path.join(tmp, "sel.json")).returncode == 0,
          f"{what}: the repaired clip decodes")
    before = open(os.path.join(out, "failures.jsonl")).read()
    r = run(out, *fmt_args, "--jsonl")
    recs = {x["rel"]: x for x in jsonl(r.stdout, is_text=True)}
    check(r.returncode == 1, f"{what}: a rerun with known failures exits 1: {r.returncode}")
    check(known_count(r.stderr) == 2 and "--retry-failed" in r.stderr, f"{what}: says 2 known failures: {r.stderr}")
    check("broken.mp4: " not in r.stderr and "junk.mp4: " not in r.stderr, f"{what}: no per-item lines: {r.stderr}")
    check(re.search(r"0 done, 2 skipped, 2 failed, 0 not run", r.stderr) is not None, f"{what}: counts: {r.stderr}")
    for rel in ("broken.mp4", "junk.mp4"):
        x = recs.get(rel, {})
        check(x.get("status") == "failed" and x.get("known_failure") is True and x.get("error") == fl[rel]["error"]
              and x.get("size") == fl[rel]["size"] and x.get("mtime") == fl[rel]["mtime"],
              f"{what}: {rel} not tried again, its failure line in --jsonl: {x}")
    check(open(os.path.join(out, "failures.jsonl")).read() == before, f"{what}: failures.jsonl unchanged")
    d = ovx("extract", "-m", model, "--tokens", "64", "--precision", "fp32", src, "-o", out, *fmt_args, "--dry-run",
            "--jsonl")
    acts = {x["rel"]: (x["action"], x.get("known_failure")) for x in jsonl(d.stdout, is_text=True)}
    check(acts.get("broken.mp4") == ("fail", True) and acts.get("junk.mp4") == ("fail", True)
          and acts.get("good0.mp4") == ("skip", None), f"{what}: dry run: {acts}")

    # --retry-failed: tried again
    r = run(out, *fmt_args, "--jsonl", "--retry-failed")
    recs = {x["rel"]: x for x in jsonl(r.stdout, is_text=True)}
    check(recs.get("broken.mp4", {}).get("status") == "done", f"{what}: --retry-failed decodes the repaired clip: "
          f"{recs.get('broken.mp4')} {r.stderr}")
    check(recs.get("junk.mp4", {}).get("status") == "failed" and "known_failure" not in recs.get("junk.mp4", {})
          and "junk.mp4: " in r.stderr and known_count(r.stderr) == 0, f"{what}: --retry-failed tries junk: {r.stderr}")
    check(sorted(fail_lines(out)) == ["junk.mp4"], f"{what}: failures.jsonl: the junk file only")

    # touched: a new mtime is a new file
    r = run(out, *fmt_args)
    check(known_count(r.stderr) == 1, f"{what}: junk known again: {r.stderr}")
    os.utime(junk)
    r = run(out, *fmt_args)
    check(known_count(r.stderr) == 0 and "junk.mp4: " in r.stderr, f"{what}: a touched file is tried: {r.stderr}")
    check(fail_lines(out).get("junk.mp4", {}).get("mtime") == mtime_str(junk), f"{what}: its line has the new mtime")
    r = run(out, *fmt_args)
    check(known_count(r.stderr) == 1, f"{what}: and is known again: {r.stderr}")
    # settings that change the outputs or the failures retry it
    r = run(out, *fmt_args, "--max-corrupt", "0.5")
    check(known_count(r.stderr) == 0 and "junk.mp4: " in r.stderr, f"{what}: --max-corrupt changed: tried: {r.stderr}")
    r = run(out, *fmt_args, "--max-corrupt", "0.5")
    check(known_count(r.stderr) == 1, f"{what}: known with --max-corrupt 0.5 now: {r.stderr}")
    r = run(out, *fmt_args, "--tokens", "32")
    check(known_count(r.stderr) == 0 and "junk.mp4: " in r.stderr, f"{what}: --tokens changed: tried: {r.stderr}")
    if fmt == "files":
        r = run(out, "--tokens", "32")
        check(known_count(r.stderr) == 1, f"{what}: known with --tokens 32: {r.stderr}")
        r = run(out, "--tokens", "32", "--overwrite")
        check(known_count(r.stderr) == 0 and "junk.mp4: " in r.stderr, f"{what}: --overwrite tries it: {r.stderr}")
    # a failures.jsonl written before these fields: every item is tried
    old = [{k: v for k, v in x.items() if k in ("path", "rel", "stage", "error")} for x in
           jsonl(os.path.join(out, "failures.jsonl"))]
    with open(os.path.join(out, "failures.jsonl"), "w") as f:
        f.writelines(json.dumps(x) + "\n" for x in old)
    r = run(out, *fmt_args, "--tokens", "32")
    check(known_count(r.stderr) == 0 and "junk.mp4: " in r.stderr, f"{what}: old lines: tried: {r.stderr}")

finish("extract known failures")
