"""gpuenv.py: what the device tests (tests/cuda, tests/extract) need to know
about this machine, decided without asking ovx:
- gpu_present(): a GPU is there (/dev/nvidiactl, or `nvidia-smi -L` lists
  one); then a CUDA build MUST use it: the real-device comparisons run and
  fail loudly instead of skipping;
- driver_loadable(): libcuda.so.1 can be loaded (the NVIDIA driver's library);
- devices(): the CUDA devices to compare against the CPU: the real GPU when
  present, and always the emulated device of the test hook OVX_CUDA_EMULATE
  (the same ovx code path, from device open to the downloaded outputs, with
  the host emulation of the kernels and cuBLAS in place of the GPU);
- fallback_cases(): the ways opening a device fails, each with the
  environment that causes it and the text its one-line message must hold.
"""
import ctypes
import os
import subprocess

import numpy as np

EMULATED = {"OVX_CUDA_EMULATE": "8.6"}


def gpu_present():
    """A short reason string when a GPU is present, else None."""
    if os.path.exists("/dev/nvidiactl"):
        return "/dev/nvidiactl exists"
    try:
        r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return "nvidia-smi lists a GPU" if "GPU " in r.stdout else None


def driver_loadable():
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def devices(have_cuda, log=print):
    """[(label, env)] of CUDA devices to compare with the CPU."""
    out = []
    why = gpu_present()
    if why and have_cuda:
        out.append(("the real GPU (%s)" % why, {}))
    elif why:
        log("SKIPPED real-GPU comparisons: a GPU is present (%s) but this ovx was built without CUDA" % why)
    else:
        log("SKIPPED real-GPU comparisons: no GPU on this machine (no /dev/nvidiactl, no nvidia-smi "
            "GPU); the same comparisons run on the emulated device (OVX_CUDA_EMULATE)")
    out.append(("the emulated device (OVX_CUDA_EMULATE=8.6)", dict(EMULATED)))
    return out


def fallback_cases(have_cuda, cuda_root):
    """[(name, env, text the one-line message holds)] of device-open failures.
    Where a real GPU exists, the hooks act on it; elsewhere on the emulated
    device (which needs no driver), and the driver case is the real one."""
    real = gpu_present() and have_cuda
    dev = {} if real else dict(EMULATED)
    cases = []
    if not real:
        if not have_cuda:
            cases.append(("no CUDA backend", {}, "built without the CUDA backend"))
        elif driver_loadable():
            cases.append(("no device (driver present)", {}, "no CUDA device found"))
        else:
            cases.append(("no driver", {}, "no NVIDIA driver (libcuda.so.1 not found)"))
    stub = os.path.join(cuda_root, "lib64", "stubs", "libcuda.so") if cuda_root else ""
    if have_cuda and os.path.exists(stub):
        cases.append(("the toolkit's stub libcuda", {"OVX_TEST_STUB": stub},
                      "libcuda.so.1 is the CUDA toolkit's stub, not an NVIDIA driver"))
    if have_cuda:
        cases.append(("cuBLAS not loadable", dict(dev, OVX_CUBLAS="/nonexistent/libcublas.so.99"),
                      "cannot load cuBLAS: /nonexistent/libcublas.so.99"))
    cases += [
        ("forced open failure", dict(dev, OVX_CUDA_FAIL="open"),
         "open failed (forced by the test hook OVX_CUDA_FAIL=open)"),
        ("out of memory at upload", dict(dev, OVX_CUDA_FAIL="upload"),
         "): uploading the weights: cudaMalloc of"),
        ("a kernel fault (named with OVX_CUDA_SYNC=1)",  # the first kernel or GEMM of the forward
         dict(dev, OVX_CUDA_FAIL="fault:any", OVX_CUDA_SYNC="1"),
         "failed (device synced after each op, OVX_CUDA_SYNC=1): "),
    ]
    if not real:  # properties only the emulated device can take
        cases += [
            ("compute capability 7.5", {"OVX_CUDA_EMULATE": "7.5"},
             "compute capability 7.5 not supported: needs 8.0+"),
            ("a busy GPU (0.25 MiB free)", {"OVX_CUDA_EMULATE": "9.0:0.25"},
             "0.2 MiB free of 0.2 MiB): not enough free memory for the model's weights"),
        ]
    return cases


def case_env(env, tmp):
    """The process environment of a case (the stub case: a folder with
    libcuda.so.1 -> the stub, first on LD_LIBRARY_PATH)."""
    e = dict(os.environ)
    for k in ("OVX_CUDA_EMULATE", "OVX_CUDA_FAIL", "OVX_CUDA_SYNC", "OVX_CUBLAS"):
        e.pop(k, None)
    e.update(env)
    stub = e.pop("OVX_TEST_STUB", None)
    if stub:
        d = os.path.join(tmp, "stubdir")
        os.makedirs(d, exist_ok=True)
        if not os.path.lexists(os.path.join(d, "libcuda.so.1")):
            os.symlink(stub, os.path.join(d, "libcuda.so.1"))
        e["LD_LIBRARY_PATH"] = d + (":" + e["LD_LIBRARY_PATH"] if e.get("LD_LIBRARY_PATH") else "")
    return e


def rel_l2(got, ref):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
