"""PLKSR and RealPLKSR (Partial Large Kernel CNNs, github.com/dslisleedh/PLKSR): forward passes and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/plksr.py
Writes test/fixtures/pytorch/plksr-*.safetensors, realplksr-*, their .io.safetensors and plksr.json.
"""

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, save_manifest, write_case


def mixer(kind, dim, act):
    k0, k2 = {"CCM": (3, 1), "ICCM": (1, 3), "DCCM": (3, 3)}[kind]
    return nn.Sequential(nn.Conv2d(dim, 2 * dim, k0, 1, k0 // 2), act, nn.Conv2d(2 * dim, dim, k2, 1, k2 // 2))


class PartialConv(nn.Module):
    """PLKConv2d (one k×k conv) or RectSparsePLKConv2d (k×k/3 + k/3×k + k/3×k/3) on the first pdim channels."""

    def __init__(self, pdim, kernel, rect):
        super().__init__()
        self.pdim, self.rect = pdim, rect
        if rect:
            m, n = kernel, kernel // 3
            self.mn_conv = nn.Conv2d(pdim, pdim, (m, n), 1, (m // 2, n // 2))
            self.nm_conv = nn.Conv2d(pdim, pdim, (n, m), 1, (n // 2, m // 2))
            self.nn_conv = nn.Conv2d(pdim, pdim, (n, n), 1, (n // 2, n // 2))
        else:
            self.conv = nn.Conv2d(pdim, pdim, kernel, 1, kernel // 2)

    def forward(self, x):
        x1, x2 = x[:, : self.pdim], x[:, self.pdim :]
        y = self.mn_conv(x1) + self.nm_conv(x1) + self.nn_conv(x1) if self.rect else self.conv(x1)
        return torch.cat([y, x2], dim=1)


class EA(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.f(x)


class ChannelsFirstLayerNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class PLKBlock(nn.Module):
    def __init__(self, dim, kernel, split_ratio, use_ea, real, ccm="DCCM", rect=False, layer_norm=False):
        super().__init__()
        self.real = real
        mix = mixer("DCCM" if real else ccm, dim, nn.Mish() if real else nn.GELU())
        if real:
            self.layer_norm = ChannelsFirstLayerNorm(dim) if layer_norm else nn.Identity()
            self.channel_mixer = mix
        else:
            self.channe_mixer = mix  # sic: the reference's key name
        self.lk = PartialConv(int(dim * split_ratio), kernel, rect)
        self.attn = EA(dim) if use_ea else nn.Identity()
        self.refine = nn.Conv2d(dim, dim, 1, 1, 0)
        if real:
            self.norm = nn.Identity() if layer_norm else nn.GroupNorm(4, dim)

    def forward(self, x):
        if self.real:
            y = self.channel_mixer(self.layer_norm(x))
        else:
            y = self.channe_mixer(x)
        y = self.refine(self.attn(self.lk(y)))
        if self.real:
            y = self.norm(y)
        return y + x


class DySample(nn.Module):
    """Learned-offset upsampling (Liu et al. 2023) as RealPLKSR uses it: per group, a bilinear
    grid_sample of the input at pixel centres moved by offset·sigmoid(scope)/2 + a fixed pattern."""

    def __init__(self, cin, cout, scale, groups, end_convolution):
        super().__init__()
        self.scale, self.groups, self.end_convolution = scale, groups, end_convolution
        if end_convolution:
            self.end_conv = nn.Conv2d(cin, cout, 1)
        self.offset = nn.Conv2d(cin, 2 * groups * scale * scale, 1)
        self.scope = nn.Conv2d(cin, 2 * groups * scale * scale, 1, bias=False)
        h = torch.arange((-scale + 1) / 2, (scale - 1) / 2 + 1) / scale
        pos = torch.stack(torch.meshgrid([h, h], indexing="ij")).transpose(1, 2).repeat(1, groups, 1).reshape(1, -1, 1, 1)
        self.register_buffer("init_pos", pos)

    def forward(self, x):
        offset = self.offset(x) * self.scope(x).sigmoid() * 0.5 + self.init_pos
        b, _, h, w = offset.shape
        offset = offset.view(b, 2, -1, h, w)
        ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        coords = torch.stack([xs, ys]).view(1, 2, 1, h, w)
        norm = torch.tensor([w, h], dtype=x.dtype).view(1, 2, 1, 1, 1)
        coords = 2 * (coords + offset) / norm - 1
        coords = F.pixel_shuffle(coords.reshape(b, -1, h, w), self.scale)
        coords = coords.view(b, 2, -1, self.scale * h, self.scale * w).permute(0, 2, 3, 4, 1).flatten(0, 1)
        out = F.grid_sample(
            x.reshape(b * self.groups, -1, h, w), coords, mode="bilinear", align_corners=False, padding_mode="border"
        ).view(b, -1, self.scale * h, self.scale * w)
        return self.end_conv(out) if self.end_convolution else out


class PLKSR(nn.Module):
    def __init__(self, dim=16, n_blocks=2, scale=2, kernel=7, split_ratio=0.25, use_ea=True, real=False, dysample=False, **block):
        super().__init__()
        self.scale = scale
        layers = [nn.Conv2d(3, dim, 3, 1, 1)]
        layers += [PLKBlock(dim, kernel, split_ratio, use_ea, real, **block) for _ in range(n_blocks)]
        if real:
            layers.append(nn.Dropout2d(0))
        layers.append(nn.Conv2d(dim, 3 * scale * scale, 3, 1, 1))
        self.feats = nn.Sequential(*layers)
        self.dysample = dysample
        if dysample:
            self.to_img = DySample(3 * scale * scale, 3, scale, 3 if scale % 2 else 4, scale != 1)

    def forward(self, x):
        y = self.feats(x) + torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        return self.to_img(y) if self.dysample else F.pixel_shuffle(y, self.scale)


CASES = [
    ("plksr-ccm-x2", dict(scale=2, ccm="CCM"), (11, 9)),
    ("plksr-iccm-noea-x3", dict(scale=3, ccm="ICCM", use_ea=False, kernel=9, split_ratio=0.5), (8, 13)),
    ("plksr-dccm-rect-x4", dict(scale=4, ccm="DCCM", rect=True, kernel=9, n_blocks=3), (10, 7)),
    ("realplksr-groupnorm-x2", dict(real=True, scale=2, n_blocks=3), (9, 12)),
    ("realplksr-layernorm-x4", dict(real=True, scale=4, layer_norm=True, dim=24, kernel=9), (7, 10)),
    ("realplksr-dysample-x2", dict(real=True, scale=2, dysample=True), (9, 11)),
    ("realplksr-dysample-x3", dict(real=True, scale=3, dysample=True, layer_norm=True), (8, 7)),
]


def detection(args):
    a = dict(dim=16, n_blocks=2, scale=2, kernel=7, split_ratio=0.25, use_ea=True, real=False, ccm="DCCM", rect=False)
    a.update(args)
    params = {
        "dim": a["dim"],
        "blocks": a["n_blocks"],
        "kernelSize": a["kernel"],
        "splitRatio": a["split_ratio"],
        "useEa": a["use_ea"],
    }
    if a["real"]:
        params["norm"] = "layernorm" if a.get("layer_norm") else "groupnorm"
        params["dysample"] = a.get("dysample", False)
    else:
        params["ccmType"] = a["ccm"]
        params["lkType"] = "RectSparsePLK" if a["rect"] else "PLK"
    return {
        "arch": "realplksr" if a["real"] else "plksr",
        "variantIncludes": "RealPLKSR" if a["real"] else "PLKSR",
        "scale": a["scale"],
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": 1,
        "params": params,
    }


# Also saved as PyTorch checkpoints (zip, or the pre-1.6 legacy format) to exercise the readers.
PTH = {"plksr-ccm-x2": "zip", "realplksr-groupnorm-x2": "legacy"}


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = PLKSR(**args)
        randomize(model, 7000 + i)
        write_case(manifest, name, model, random_input(8000 + i, 3, h, w), detection(args), PTH.get(name))
    save_manifest(manifest, "plksr.json")


if __name__ == "__main__":
    main()
