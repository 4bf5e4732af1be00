#!/usr/bin/python3
"""make-seeds.py: regenerates the committed seed corpora in seeds/ (small,
deterministic): safetensors files, shard indexes, config.json files, NPY
files of each version and dtype, path lists, and tiny clips of each codec
the video path handles (the clips need the ffmpeg CLI)."""
import json
import os
import struct
import subprocess
import sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(kind, name, data):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, pad=0, meta=None):
    header, blobs, off = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    h = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + blobs


def main():
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
    put("safetensors", "one_f32", safetensors({"w": ("F32", [2, 2], f32)}))
    put("safetensors", "mixed_padded", safetensors(
        {"a.weight": ("BF16", [3], b"\x80\x3f\x00\x40\x00\xc0"), "b": ("F16", [2, 1], b"\x00\x3c\x00\xbc"),
         "c": ("F32", [0], b"")}, pad=5, meta={"format": "pt"}))
    put("safetensors", "scalar", safetensors({"s": ("F32", [], f32[:4])}))
    put("safetensors", "empty", safetensors({}))

    put("shard_index", "two", json.dumps({"metadata": {"total_size": 16}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
        "c": "model-00001-of-00002.safetensors"}}))
    put("shard_index", "one", '{"weight_map":{"x":"model.safetensors"}}')

    large = {"model_type": "onevision_encoder", "hidden_size": 1024, "intermediate_size": 4096,
             "num_hidden_layers": 24, "num_attention_heads": 16, "num_channels": 3, "patch_size": 14,
             "image_size": 448, "rope_temporal_size": 64, "layer_norm_eps": 1e-6, "rope_theta": 10000.0,
             "hidden_act": "gelu", "layer_norm_type": "layer_norm", "use_head": True, "head_dim": 64}
    put("config", "large", json.dumps(large, indent=2))
    put("config", "tiny", json.dumps({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                                      "num_attention_heads": 1, "patch_size": 14, "use_head": False}))

    def npy(version, descr, shape, raw):
        d = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
        lenfmt, pre = ("<H", 10) if version == 1 else ("<I", 12)
        total = pre + len(d) + 1
        d += " " * ((64 - total % 64) % 64) + "\n"
        return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(d)) + d.encode() + raw

    put("npy", "v1_f32", npy(1, "<f4", "(2, 2)", f32))
    put("npy", "v2_f16", npy(2, "<f2", "(1, 2, 1)", b"\x00\x3c\x00\xbc"))
    put("npy", "v3_i64", npy(3, "<i8", "(2,)", struct.pack("<2q", 5, -1)))
    put("npy", "v1_u8_scalar", npy(1, "|u1", "()", b"\x07"))

    put("pathlist", "plain", "a.mp4\nsub/b.mkv\n\n./c.avi\n")
    put("pathlist", "csv", 'path,label\n"x, y.mp4",cat\nz.mp4,"dog ""big"""\n/abs/w.webm,\n')

    clips = {
        "h264.mp4": ["-c:v", "libx264", "-bf", "2", "-g", "8", "-preset", "ultrafast"],
        "mpeg4.avi": ["-c:v", "mpeg4", "-bf", "1", "-q:v", "8", "-g", "8"],
        "mpeg2.mpg": ["-c:v", "mpeg2video", "-bf", "1", "-q:v", "8", "-g", "8"],
        "hevc.mkv": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:keyint=8"],
        "vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "100k"],
    }
    os.makedirs(os.path.join(HERE, "video"), exist_ok=True)
    for name, args in clips.items():
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=64x48:rate=10", "-t", "1.2", "-pix_fmt", "yuv420p", "-bitexact"]
                       + args + [os.path.join(HERE, "video", name)], check=True)
    # the H.264 clip in the containers datasets ship: AVI by stream copy (no
    # pts; FFmpeg's muxer puts empty chunks between the frames) and MPEG-TS
    # (packets found by parsing)
    for name in ("h264copy.avi", "h264.ts"):
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                        os.path.join(HERE, "video", "h264.mp4"), "-c", "copy", "-bitexact",
                        os.path.join(HERE, "video", name)], check=True)

    # h264order: Annex-B access units (x264 with AUDs) as 16-bit-length chunks
    # after a framing byte 0 and an empty extradata chunk (fuzz_h264order.c)
    os.makedirs(os.path.join(HERE, "h264order"), exist_ok=True)
    for name, args in (("pyramid", ["-bf", "3", "-b-pyramid", "normal", "-g", "12"]),
                       ("opengop", ["-bf", "2", "-x264-params", "aud=1:open-gop=1:keyint=6:min-keyint=6"]),
                       ("nob", ["-bf", "0", "-g", "5"])):
        if "-x264-params" not in args:
            args = args + ["-x264-params", "aud=1"]
        raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                              "testsrc2=size=32x32:rate=10", "-t", "1.6", "-pix_fmt", "yuv420p", "-bitexact",
                              "-c:v", "libx264", "-preset", "ultrafast"] + args + ["-f", "h264", "-"],
                             check=True, capture_output=True).stdout
        aus = [b"\x00\x00\x00\x01" + a for a in raw.split(b"\x00\x00\x00\x01\x09")[1:]]
        aus = [b"\x00\x00\x00\x01\x09" + a[4:] for a in aus]
        seed = b"\x00" + struct.pack(">H", 0) + b"".join(struct.pack(">H", len(a)) + a for a in aus if len(a) < 65536)
        put("h264order", name, seed)
    # the same for the HEVC reader (x265 with AUDs: NAL type 35, 46 01)
    for name, params in (("hevc_pyramid", "bframes=3:b-pyramid=1:keyint=12:aud=1:log-level=none"),
                         ("hevc_opengop", "bframes=2:open-gop=1:keyint=6:min-keyint=6:log2-max-poc-lsb=4:aud=1:"
                                          "log-level=none")):
        raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                              "testsrc2=size=32x32:rate=10", "-t", "1.6", "-pix_fmt", "yuv420p", "-bitexact",
                              "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", params, "-f", "hevc", "-"],
                             check=True, capture_output=True).stdout
        aus = [b"\x00\x00\x00\x01\x46\x01" + a for a in raw.split(b"\x00\x00\x00\x01\x46\x01")[1:]]
        seed = b"\x00" + struct.pack(">H", 0) + b"".join(struct.pack(">H", len(a)) + a for a in aus if len(a) < 65536)
        put("h264order", name, seed)
    # MPEG-4 Part 2 with B-VOPs for the VOP reader: the headers before the
    # first VOP (VOS, VO, VOL) as the extradata chunk, then one VOP a packet
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                          "testsrc2=size=32x32:rate=10", "-t", "1.6", "-pix_fmt", "yuv420p", "-bitexact",
                          "-c:v", "mpeg4", "-bf", "2", "-g", "8", "-f", "m4v", "-"],
                         check=True, capture_output=True).stdout
    parts = raw.split(b"\x00\x00\x01\xb6")
    vops = [b"\x00\x00\x01\xb6" + a for a in parts[1:]]
    seed = b"\x00" + b"".join(struct.pack(">H", len(a)) + a for a in [parts[0]] + vops if len(a) < 65536)
    put("h264order", "mpeg4_b", seed)


if __name__ == "__main__":
    sys.exit(main())
