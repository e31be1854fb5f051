# Minimal safetensors reader/writer for tiny-r1 (F32 and BF16 only): an 8-byte little-endian header
# length, a JSON header mapping names to dtype/shape/data_offsets, then the raw little-endian data.
import json
import struct

import numpy as np
import torch


def bf16_bits(t):
    """float32 tensor -> uint16 numpy array of its bf16 values (round to nearest even)."""
    u = t.detach().to(torch.float32).contiguous().numpy().view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def to_bf16_float(t):
    """Rounds a float32 tensor to bf16 and returns it as float32 (what a reader of the file sees)."""
    bits = bf16_bits(t).astype(np.uint32) << 16
    return torch.from_numpy(bits.view(np.float32).copy()).view(t.shape)


def save(path, tensors, dtypes, metadata=None):
    """tensors: name -> float tensor; dtypes: name -> "BF16" or "F32". Names are written sorted."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        dt = dtypes[name]
        if dt == "BF16":
            data = bf16_bits(t).tobytes()
        elif dt == "F32":
            data = t.numpy().astype("<f4").tobytes()
        else:
            raise ValueError(dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns name -> (float32 tensor, stored dtype)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = raw[base + a:base + b]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float32)
        else:
            raise ValueError("unsupported dtype %s of %s" % (info["dtype"], name))
        out[name] = (torch.from_numpy(arr.copy()).view(info["shape"]), info["dtype"])
    return out
