"""PyTorch peer for `npm run bench:e2e`: Real-ESRGAN's two architectures and idealo ISR's RRDN,
written from the papers' and the projects' published structure (RRDBNet: ESRGAN, Wang et al. 2018;
SRVGGNetCompact: Real-ESRGAN general-x4v3; RRDN: idealo image-super-resolution, the network behind
@upscalerjs/esrgan-thick), loading the very weights Pixelift runs (exported by bench/e2e.ts from
the converted ONNX graph: convolutions in graph order, each with its node name).

    /usr/bin/python3 bench/torch_sr.py --arch rrdbnet|srvgg|rrdn --weights W.json --input X.f32 \
        --width W --height H --threads N [--output Y.f32]

Runs the whole image at once (Real-ESRGAN's default, no tiling) in fp32 on the CPU and prints one
JSON line: forward time (ms, median of --rounds), peak RSS and the RSS before the forward pass (bytes).
--bf16 (a reference for docs/int8.md, not used by bench:e2e) alternates each fp32 round with one under
CPU bf16 autocast and adds its median time and its largest difference from the fp32 output; peak RSS
then covers both.
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


class DenseBlock(nn.Module):
    """RRDN's residual dense block: `convs` 3x3 convs of `growth` channels, each (ReLU'd) reading
    the block input and every earlier output, then a 3x3 local-fusion conv back to `feat`."""

    def __init__(self, feat, growth, convs):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(feat + i * growth, growth, 3, 1, 1) for i in range(convs)])
        self.fuse = nn.Conv2d(feat + convs * growth, feat, 3, 1, 1)

    def forward(self, x):
        y = x
        for conv in self.convs:
            y = torch.cat([y, F.relu(conv(y))], 1)
        return x + 0.2 * self.fuse(y)


class RRDN(nn.Module):
    """idealo ISR's RRDN as @upscalerjs/esrgan-thick ships it (x4): T=10 residual-in-residual
    blocks of D=3 dense blocks with C=4 convs, growth G=32, G0=64 features, beta 0.2, a global
    residual, then a 3x3 conv to 3*4*4 channels, TF's depth_to_space and a 3x3 conv."""

    def __init__(self, blocks=10, dense=3, convs=4, feat=64, growth=32, scale=4):
        super().__init__()
        self.scale = scale
        self.pre = nn.Conv2d(3, feat, 3, 1, 1)
        self.blocks = nn.ModuleList(
            [nn.ModuleList([DenseBlock(feat, growth, convs) for _ in range(dense)]) for _ in range(blocks)]
        )
        self.post = nn.Conv2d(feat, feat, 3, 1, 1)
        self.pre_shuffle = nn.Conv2d(feat, 3 * scale * scale, 3, 1, 1)
        self.sr = nn.Conv2d(3, 3, 3, 1, 1)

    def named_convs(self):
        """The convs under the Keras layer names the TF.js model (and so our ONNX graph) uses."""
        out = {"Pre_blocks_conv": self.pre, "post_blocks_conv": self.post, "PreShuffle": self.pre_shuffle, "SR": self.sr}
        for t, rrdb in enumerate(self.blocks, 1):
            for d, rdb in enumerate(rrdb, 1):
                for c, conv in enumerate(rdb.convs, 1):
                    out[f"F_{t}_{d}_{c}"] = conv
                out[f"LFF_{t}_{d}"] = rdb.fuse
        return out

    def forward(self, x):
        shallow = self.pre(x)
        y = shallow
        for rrdb in self.blocks:
            z = y
            for rdb in rrdb:
                z = rdb(z)
            y = y + 0.2 * z
        y = self.pre_shuffle(self.post(y) + shallow)
        # TF's depth_to_space (ONNX DepthToSpace DCR): channel (dy*r + dx)*C + c, not
        # PyTorch's pixel_shuffle order (c*r*r + dy*r + dx).
        n, _, h, w = y.shape
        r = self.scale
        y = y.reshape(n, r, r, 3, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, 3, h * r, w * r)
        return self.sr(y)


def load(arch, manifest_path):
    with open(manifest_path) as f:
        manifest = json.load(f)
    blob = np.fromfile(manifest_path[: -len(".json")] + ".bin", dtype=np.float32)

    def tensor(entry):
        return torch.from_numpy(blob[entry["offset"] : entry["offset"] + entry["count"]].copy()).reshape(entry["dims"])

    convs = manifest["convs"]
    if arch == "rrdn":
        # By name: every conv of the graph must find its module and every module its conv.
        model = RRDN()
        targets = model.named_convs()
        names = [entry["name"] for entry in convs]
        if sorted(names) != sorted(targets):
            missing = sorted(set(targets) - set(names))[:5]
            extra = sorted(set(names) - set(targets))[:5]
            raise SystemExit(f"rrdn: the weights lack {missing} and have unexpected {extra}")
        with torch.no_grad():
            for entry in convs:
                targets[entry["name"]].weight.copy_(tensor(entry["weight"]))
                targets[entry["name"]].bias.copy_(tensor(entry["bias"]))
        return model.eval()
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
    p.add_argument("--arch", choices=["rrdbnet", "srvgg", "rrdn"], required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--output")
    p.add_argument("--bf16", action="store_true")
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
    bf16_times = []
    bf16_diff = 0.0
    with torch.inference_mode():
        for _ in range(a.rounds):
            t0 = time.perf_counter()
            y = model(x)
            times.append((time.perf_counter() - t0) * 1000)
            if a.bf16:
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    yb = model(x)
                bf16_times.append((time.perf_counter() - t0) * 1000)
                bf16_diff = max(bf16_diff, (yb.float() - y).abs().max().item())
                del yb
    if a.output:
        y.numpy().astype(np.float32).tofile(a.output)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"ms": median(times), "all": times, "peak": peak, "start": start, "torch": torch.__version__}
    if a.bf16:
        result.update({"bf16_ms": median(bf16_times), "bf16_all": bf16_times, "bf16_max_diff": bf16_diff})
    print(json.dumps(result))


def median(values):
    return sorted(values)[len(values) // 2]


if __name__ == "__main__":
    main()
