"""Shared helpers of the PyTorch reference programs: a free loopback port, the BLAS torch loaded."""
import os
import socket


def free_loopback_port():
    """A TCP port free on 127.0.0.1 right now (the RPC rendezvous binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_env(port):
    """Keeps torch.distributed.rpc (its rendezvous and TensorPipe's sockets) on loopback."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    os.environ["TP_SOCKET_IFNAME"] = "lo"
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"


def set_threads(threads):
    """One compute thread per process unless told otherwise (threads 0: torch's default)."""
    import torch
    if threads > 0:
        torch.set_num_threads(threads)


def blas_in_use():
    """Which BLAS library this process has mapped, after one matrix product made torch load it.

    Debian's torch links libblas.so.3, which the alternatives system points at the reference BLAS
    (libblas3), OpenBLAS (libopenblas0-*) or BLIS; /proc/self/maps names the real file.
    """
    import torch
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "mkl", "blis")) and path not in found:
                    found.append(path)
    except OSError:
        pass
    real = [os.path.realpath(p) for p in found]
    text = " ".join(real).lower()
    if "openblas" in text:
        kind = "OpenBLAS"
    elif "mkl" in text:
        kind = "MKL"
    elif "blis" in text:
        kind = "BLIS"
    elif "/blas/libblas" in text or "libblas.so" in text:
        kind = "reference BLAS (netlib libblas3)"
    else:
        kind = "none mapped (torch's own kernels)"
    return {"blas": kind, "blas_libraries": real,
            "torch_blas_info": _config_value(torch.__config__.show(), "BLAS_INFO")}


def _config_value(show, key):
    import re
    m = re.search(re.escape(key) + r"=([^,\s]*)", show)
    return m.group(1) if m else None
