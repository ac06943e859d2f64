"""PyTorch peer for `npm run bench:e2e`: Real-ESRGAN's two architectures, written from the
papers' and Real-ESRGAN's published structure (RRDBNet: ESRGAN, Wang et al. 2018; SRVGGNetCompact:
Real-ESRGAN general-x4v3), loading the very weights Pixelift runs (exported by bench/e2e.ts from
the converted ONNX graph, convolutions in graph order).

    /usr/bin/python3 bench/torch_sr.py --arch rrdbnet|srvgg --weights W.json --input X.f32 \
        --width W --height H --threads N [--output Y.f32]

Runs the whole image at once (Real-ESRGAN's default, no tiling) in fp32 on the CPU and prints one
JSON line: forward time (ms, median of --rounds), peak RSS and the RSS before the forward pass (bytes).
"""

import argparse
import json
import resource
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class RDB(nn.Module):
    def __init__(self, nf=64, gc=32):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(nf + i * gc, gc if i < 4 else nf, 3, 1, 1) for i in range(5)])

    def forward(self, x):
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, 1))
            if i < 4:
                feats.append(F.leaky_relu(y, 0.2))
        return y * 0.2 + x


class RRDB(nn.Module):
    def __init__(self):
        super().__init__()
        self.rdbs = nn.ModuleList([RDB() for _ in range(3)])

    def forward(self, x):
        y = x
        for rdb in self.rdbs:
            y = rdb(y)
        return y * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, blocks=23):
        super().__init__()
        self.conv_first = nn.Conv2d(3, 64, 3, 1, 1)
        self.body = nn.ModuleList([RRDB() for _ in range(blocks)])
        self.conv_body = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def convs(self):
        out = [self.conv_first]
        for b in self.body:
            for r in b.rdbs:
                out.extend(r.convs)
        return out + [self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last]

    def forward(self, x):
        feat = self.conv_first(x)
        body = feat
        for b in self.body:
            body = b(body)
        feat = feat + self.conv_body(body)
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


class SRVGGNetCompact(nn.Module):
    def __init__(self, num_conv=32, feat=64, scale=4):
        super().__init__()
        self.scale = scale
        self.body = nn.ModuleList([nn.Conv2d(3, feat, 3, 1, 1), nn.PReLU(feat)])
        for _ in range(num_conv):
            self.body.extend([nn.Conv2d(feat, feat, 3, 1, 1), nn.PReLU(feat)])
        self.body.append(nn.Conv2d(feat, 3 * scale * scale, 3, 1, 1))

    def convs(self):
        return [m for m in self.body if isinstance(m, nn.Conv2d)]

    def forward(self, x):
        y = x
        for m in self.body:
            y = m(y)
        y = F.pixel_shuffle(y, self.scale)
        return y + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def load(arch, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    blob = np.fromfile(manifest_path[: -len(".json")] + ".bin", dtype=np.float32)

    def tensor(entry):
        return torch.from_numpy(blob[entry["offset"] : entry["offset"] + entry["count"]].copy()).reshape(entry["dims"])

    convs = manifest["convs"]
    model = RRDBNet() if arch == "rrdbnet" else SRVGGNetCompact(num_conv=len(convs) - 2)
    targets = model.convs()
    if len(targets) != len(convs):
        raise SystemExit(f"{arch} has {len(targets)} convolutions, the weights {len(convs)}")
    with torch.no_grad():
        for conv, entry in zip(targets, convs):
            conv.weight.copy_(tensor(entry["weight"]))
            conv.bias.copy_(tensor(entry["bias"]))
        if arch == "srvgg":
            prelus = [m for m in model.body if isinstance(m, nn.PReLU)]
            for prelu, entry in zip(prelus, manifest["prelus"]):
                prelu.weight.copy_(tensor(entry).reshape(-1))
    return model.eval()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", choices=["rrdbnet", "srvgg"], required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--output")
    a = p.parse_args()
    if a.rounds < 1:
        p.error("--rounds must be at least 1 (bench:e2e skips PyTorch at --torch-rounds=0)")
    torch.set_num_threads(a.threads)
    model = load(a.arch, a.weights)
    x = torch.from_numpy(np.fromfile(a.input, dtype=np.float32).reshape(1, 3, a.height, a.width))
    # RSS before the forward pass: the interpreter, torch, the weights and the input.
    with open("/proc/self/status") as f:
        start = int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024
    times = []
    with torch.inference_mode():
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - t0) * 1000)
    if a.output:
        y.numpy().astype(np.float32).tofile(a.output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {"ms": sorted(times)[len(times) // 2], "all": times, "peak": peak, "start": start, "torch": torch.__version__}
        )
    )


if __name__ == "__main__":
    main()
