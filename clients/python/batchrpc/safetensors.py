"""Reads and writes float32 safetensors files (the format Hugging Face and PyTorch users exchange
weights in) with torch alone: an 8-byte little-endian header length, a JSON header, raw data.

``save({"0.weight": t, ...}, path)`` and ``load(path) -> OrderedDict`` (tensors in data order),
e.g. ``module.load_state_dict(load(path), strict=False)``. The parameter server reads the same
files with ``ps --init-from``.
"""
import collections
import json
import os
import struct
import tempfile

import torch

MAX_HEADER_BYTES = 100_000_000


def save(tensors, path, metadata=None):
    """Writes the tensors (name -> float32 tensor, in the given order) atomically."""
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    blobs = []
    for name, t in tensors.items():
        t = t.detach()
        if t.dtype != torch.float32:
            raise ValueError("tensor %r is %s: only float32 is supported (convert with .float())" % (name, t.dtype))
        blob = t.contiguous().cpu().numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path):
    """The file's tensors (name -> float32 tensor) in data order; ValueError naming the problem."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ValueError("%s: header length %d is over the cap or past the end of the file" % (path, n))

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("%s: the header names a key twice" % path)
        return collections.OrderedDict(pairs)

    header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    header.pop("__metadata__", None)
    body = data[8 + n:]
    slots = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    out = collections.OrderedDict()
    at = 0
    for name, spec in slots:
        if spec.get("dtype") != "F32":
            raise ValueError("%s: tensor %r has dtype %s, only F32 is supported" % (path, name, spec.get("dtype")))
        begin, end = spec["data_offsets"]
        shape = spec["shape"]
        count = 1
        for d in shape:
            count *= d
        if begin != at or end - begin != 4 * count or end > len(body):
            raise ValueError("%s: tensor %r has bad data_offsets %s for shape %s" % (path, name, [begin, end], shape))
        out[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float32).reshape(shape).clone()
        at = end
    if at != len(body):
        raise ValueError("%s: %d bytes of data follow the last tensor" % (path, len(body) - at))
    return out
