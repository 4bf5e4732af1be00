#!/usr/bin/python3
"""URL inputs: an HTTP server on 127.0.0.1 started here serves MP4s with the
index at the end (so Range requests are needed), one URL returns 404, one
stalls (accepts and never answers) and one drops the connection mid-body
once. `ovx extract` over a --list of URLs plus a URL argument: the good ones
give the same bytes as the local files, REL is the URL path (host, query and
fragment removed), the 404 and the stalled one fail (the stalled one after
--io-timeout) and the run goes on; URLs differing only in host or query
collide (as files do, the later one fails)."""
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from xhelp import check, finish, jsonl, make_clip, make_model, need_ffmpeg, ovx, tmpdir

need_ffmpeg()
tmp = tmpdir("ovx-extract-url-")
model = make_model(os.path.join(tmp, "model"))
www = os.path.join(tmp, "www")
clips = ["a/clip0.mp4", "b/clip1.mp4", "c/clip2.mp4"]
for i, rel in enumerate(clips):
    make_clip(os.path.join(www, rel), seconds=0.8, size="64x48", src=["testsrc", "smptebars", "testsrc2"][i])
raw = open(os.path.join(www, clips[0]), "rb").read()
check(raw.find(b"moov") > raw.find(b"mdat") > 0, "test clips have their index (moov) after the data")

stop = threading.Event()
log = []   # (path, range header)
dropped = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0].split("#")[0]
        log.append((path, self.headers.get("Range")))
        if path.startswith("/stall/"):
            stop.wait(120)   # never answers
            return
        if not path.startswith("/files/") and not path.startswith("/drop/"):
            self.send_error(404)
            return
        fs = os.path.join(www, path.split("/", 2)[2])
        if not os.path.isfile(fs):
            self.send_error(404)
            return
        data = open(fs, "rb").read()
        start, end = 0, len(data) - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a) if a else 0
            end = min(int(b), end) if b else end
        if start > end:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if rng else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(end - start + 1))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        body = data[start:end + 1]
        if path.startswith("/drop/") and path not in dropped and len(body) > 2000:
            dropped.add(path)   # once: half the body, then the connection is cut
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{srv.server_address[1]}"

# local reference outputs
ref = os.path.join(tmp, "ref")
ARGS = ["extract", "-m", model, "--tokens", "64", "--device", "cpu", "--threads", "1"]
r = ovx(*ARGS, www, "-o", ref)
check(r.returncode == 0, f"local run: {r.stderr}")

lst = os.path.join(tmp, "urls.csv")
with open(lst, "w") as f:
    f.write(f"{base}/files/a/clip0.mp4,cat\n")
    f.write(f"{base}/missing/gone.mp4\n")
    f.write(f"{base}/stall/slow.mp4\n")
    f.write(f"\"{base}/files/b/clip1.mp4?token=a,b&x=1#t=3\",dog\n")
    f.write(f"{base}/drop/c/clip2.mp4\n")
out = os.path.join(tmp, "out")
t0 = time.time()
r = ovx(*ARGS, "--list", lst, f"{base}/files/c/clip2.mp4", "-o", out, "--jsonl", "--io-timeout", "2",
        "--decode-threads", "0")
elapsed = time.time() - t0
check(r.returncode == 1, f"exit 1 (two inputs failed): {r.returncode} {r.stderr}")
recs = {x["rel"]: x for x in jsonl(r.stdout, is_text=True)}
want_done = {"files/a/clip0.mp4": "a/clip0", "files/b/clip1.mp4": "b/clip1", "drop/c/clip2.mp4": "c/clip2",
             "files/c/clip2.mp4": "c/clip2"}
for rel, local in want_done.items():
    rec = recs.get(rel, {})
    check(rec.get("status") == "done", f"{rel}: done: {rec}")
    outbase = os.path.join(out, rel.rsplit(".", 1)[0])
    for suffix in (".npy", ".pooled.npy"):
        same = os.path.exists(outbase + suffix) and \
            open(outbase + suffix, "rb").read() == open(os.path.join(ref, local + suffix), "rb").read()
        check(same, f"{rel}{suffix}: the same bytes as the local file")
check(recs.get("files/b/clip1.mp4", {}).get("label") == "dog", "label from the CSV")
js = json.load(open(os.path.join(out, "files/b/clip1.json")))
check(js["input"].endswith("?token=a,b&x=1#t=3") and js["rel"] == "files/b/clip1.mp4", f"JSON keeps the URL: {js['input']}")
fails = {x["rel"]: x for x in jsonl(os.path.join(out, "failures.jsonl"))}
check(set(fails) == {"missing/gone.mp4", "stall/slow.mp4"}, f"failures: {sorted(fails)}")
check("404" in fails.get("missing/gone.mp4", {}).get("error", ""), f"404 named: {fails.get('missing/gone.mp4')}")
stall_err = fails.get("stall/slow.mp4", {}).get("error", "")
check("timed out" in stall_err.lower() or "timeout" in stall_err.lower(), f"stall fails by timeout: {stall_err}")
check(any(p == "/stall/slow.mp4" for p, _ in log), "the stalled URL was requested")
check(elapsed < 60, f"the stall cost about the timeout, not forever: run took {elapsed:.1f} s")
check(any(rg and rg != "bytes=0-" for _, rg in log), f"Range requests were used: {[x for x in log if x[1]]}")
check("/drop/c/clip2.mp4" in dropped and sum(p == "/drop/c/clip2.mp4" for p, _ in log) >= 2,
      "the dropped connection was retried")
print(f"URL run: {elapsed:.1f} s, {len(log)} requests, {sum(1 for _, rg in log if rg)} with Range")

# names: host and query do not make names, so these collide
r = ovx("extract", "--dry-run", "--jsonl", "-o", os.path.join(tmp, "dry"), f"{base}/files/a/clip0.mp4?v=1",
        f"http://localhost:{srv.server_address[1]}/files/a/clip0.mp4", f"{base}/", f"{base}/x/../y.mp4")
acts = [(x["rel"], x["action"], x.get("error", "")) for x in jsonl(r.stdout, is_text=True)]
check([a for _, a, _ in acts] == ["extract", "fail", "fail", "fail"], f"the first is taken, the others fail: {acts}")
check(acts[0][0] == acts[1][0] == "files/a/clip0.mp4" and "collide" in acts[1][2],
      f"same path, other host and query: collide: {acts[:2]}")
check("no path" in acts[2][2] and ".." in acts[3][2], f"no path / '..' refused: {acts[2:]}")
stop.set()
srv.shutdown()
finish("extract URL inputs")
