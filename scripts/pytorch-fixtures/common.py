"""Shared helpers for the PyTorch reference fixtures (tiny random-weight models, an input, PyTorch's output).

The forward passes in the sibling scripts are written from the public reference implementations
(the architectures' papers' repositories and spandrel); parameter and buffer names match theirs
exactly, because the state-dict layout is what the importer recognises.

Run with Debian's torch (`/usr/bin/python3`, torch 1.13); nothing here needs the network.
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "test", "fixtures", "pytorch")


SAFETENSORS_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.int64: ("I64", "<i8"),
    torch.bool: ("BOOL", "|b1"),
}


def save_safetensors(path, tensors):
    """Write a .safetensors file (8-byte header length, JSON header, raw little-endian data).

    Tensors keep their dtype as real checkpoints do: float32 weights, int64 index buffers.
    """
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        dtype, np_dtype = SAFETENSORS_DTYPES[t.dtype]
        data = t.detach().contiguous().numpy().astype(np_dtype).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def randomize(model, seed):
    """Seeded random weights large enough that every branch changes the output.

    Trained-looking magnitudes: convolutions and linears ~ 1/sqrt(fan_in), norm gains near 1,
    small biases, and relative-position tables of order 1 so the attention bias is visible.
    """
    g = torch.Generator().manual_seed(seed)
    norms = set()
    for mod in model.modules():
        if isinstance(mod, (torch.nn.LayerNorm, torch.nn.BatchNorm2d, torch.nn.GroupNorm)) or type(mod).__name__.endswith("LayerNorm"):
            norms.update(id(p) for p in mod.parameters())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if id(p) in norms:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def write_case(manifest, name, model, x, detection, pth=None):
    """Save model.state_dict(), the input and PyTorch's output, and the expected detection.

    `pth`: also save the state dict as a PyTorch checkpoint, "zip" (torch >= 1.6 default) or
    "legacy" (the pre-1.6 format), nested under `params_ema` as BasicSR releases do.
    """
    model.eval()
    with torch.no_grad():
        y = model(x)
    sd = model.state_dict()
    save_safetensors(os.path.join(FIXTURES, f"{name}.safetensors"), sd)
    save_safetensors(os.path.join(FIXTURES, f"{name}.io.safetensors"), {"input": x, "output": y})
    entry = {"name": name, "file": f"{name}.safetensors", "io": f"{name}.io.safetensors"}
    if pth:
        suffix = ".legacy.pth" if pth == "legacy" else ".pth"
        torch.save(
            {"params_ema": sd},
            os.path.join(FIXTURES, name + suffix),
            _use_new_zipfile_serialization=pth != "legacy",
        )
        entry["pth"] = name + suffix
    manifest.append({**entry, **detection})
    print(f"{name}: input {list(x.shape)} -> output {list(y.shape)}")


def save_manifest(manifest, filename):
    with open(os.path.join(FIXTURES, filename), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def random_input(seed, channels, height, width):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((1, channels, height, width), generator=g)


def reflect_pad(x, left, right, top, bottom):
    """F.pad(x, (left, right, top, bottom), "reflect"), extended to inputs too small to reflect.

    PyTorch refuses a reflect pad >= the side; each side then reflects min(pad, side - 1) and
    repeats the edge for the rest. Identical to F.pad wherever F.pad runs (the Pixelift graphs do
    the same, so a 1x1 image gets an output instead of an error).
    """
    h, w = x.shape[2], x.shape[3]
    r = [min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1)]
    x = F.pad(x, tuple(r), "reflect")
    rest = (left - r[0], right - r[1], top - r[2], bottom - r[3])
    return F.pad(x, rest, "replicate") if any(rest) else x
