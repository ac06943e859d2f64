"""OmniSR (Wang et al. 2023, github.com/Francis0625/Omni-SR): forward pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/omnisr.py
Writes test/fixtures/pytorch/omnisr-*.safetensors, their .io.safetensors and omnisr.json.
"""

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, save_manifest, write_case
from swinir import attention, relative_position_index


class LayerNorm2d(nn.Module):
    """Channels-first LayerNorm, eps 1e-6."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / (var + 1e-6).sqrt()
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)


class SqueezeExcitation(nn.Module):
    def __init__(self, dim):
        super().__init__()
        hidden = int(dim * 0.25)
        self.gate = nn.Sequential(
            nn.Identity(), nn.Linear(dim, hidden, bias=False), nn.SiLU(), nn.Linear(hidden, dim, bias=False), nn.Sigmoid()
        )

    def forward(self, x):
        return x * self.gate(x.mean(dim=(2, 3)))[:, :, None, None]


class MBConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fn = nn.Sequential(
            nn.Conv2d(dim, dim, 1),
            nn.GELU(),
            nn.Conv2d(dim, dim, 3, 1, 1, groups=dim),
            nn.GELU(),
            SqueezeExcitation(dim),
            nn.Conv2d(dim, dim, 1),
        )

    def forward(self, x):
        return self.fn(x) + x


class WindowAttention(nn.Module):
    """`Attention` on (B, X, Y, w1, w2, C) windows; relative-position bias from an Embedding table."""

    def __init__(self, dim, ws, with_pe):
        super().__init__()
        self.heads, self.ws, self.with_pe = 4, ws, with_pe
        self.scale = (dim // 4) ** -0.5
        self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim, bias=False))
        if with_pe:
            self.rel_pos_bias = nn.Embedding((2 * ws - 1) ** 2, 4)
            self.register_buffer("rel_pos_indices", relative_position_index(ws), persistent=False)

    def forward(self, x):
        b, nx, ny, w1, w2, c = x.shape
        t = x.reshape(-1, w1 * w2, c)
        q, k, v = self.to_qkv(t).chunk(3, dim=-1)
        if self.with_pe:
            table, index = self.rel_pos_bias.weight, self.rel_pos_indices
        else:
            table, index = torch.zeros(1, self.heads), torch.zeros(w1 * w2, w1 * w2, dtype=torch.long)
        out = attention(q * self.scale, k, v, table, index, None, self.heads)
        return self.to_out(out).view(b, nx, ny, w1, w2, c)


class PreNormResidual(nn.Module):
    def __init__(self, dim, fn, conv):
        super().__init__()
        self.norm = LayerNorm2d(dim) if conv else nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x)) + x


class GatedFFN(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.project_in = nn.Conv2d(dim, 2 * dim, 1, bias=False)
        self.dwconv = nn.Conv2d(2 * dim, 2 * dim, 3, 1, 1, groups=2 * dim, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x):
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class ChannelAttention(nn.Module):
    """Attention across channels inside each ws×ws block (grid=False) or across blocks per position (grid=True)."""

    def __init__(self, dim, ws, grid):
        super().__init__()
        self.heads, self.ps, self.grid = 4, ws, grid
        self.temperature = nn.Parameter(torch.ones(4, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, 1, 1, groups=3 * dim, bias=False)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        p, nh, nw, heads = self.ps, h // self.ps, w // self.ps, self.heads
        d = c // heads

        def split(t):  # b, head, d, nh, ph, nw, pw
            t = t.reshape(b, heads, d, nh, p, nw, p)
            if self.grid:  # b (ph pw) head d (h w)
                return t.permute(0, 4, 6, 1, 2, 3, 5).reshape(b, p * p, heads, d, nh * nw)
            return t.permute(0, 3, 5, 1, 2, 4, 6).reshape(b, nh * nw, heads, d, p * p)

        q, k, v = [split(t) for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)]
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        out = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1) @ v
        if self.grid:
            out = out.reshape(b, p, p, heads, d, nh, nw).permute(0, 3, 4, 5, 1, 6, 2)
        else:
            out = out.reshape(b, nh, nw, heads, d, p, p).permute(0, 3, 4, 1, 5, 2, 6)
        return self.project_out(out.reshape(b, c, h, w))


class Rearrange(nn.Module):
    """Image (B, C, H, W) <-> windows (B, X, Y, w1, w2, C); grid windows take every (H/ws)-th row."""

    def __init__(self, ws, grid, to_windows):
        super().__init__()
        self.ws, self.grid, self.to_windows = ws, grid, to_windows

    def forward(self, x):
        ws = self.ws
        if self.to_windows:
            b, c, h, w = x.shape
            if self.grid:  # b d (w1 x) (w2 y) -> b x y w1 w2 d
                return x.reshape(b, c, ws, h // ws, ws, w // ws).permute(0, 3, 5, 2, 4, 1)
            return x.reshape(b, c, h // ws, ws, w // ws, ws).permute(0, 2, 4, 3, 5, 1)
        b, nx, ny, w1, w2, c = x.shape
        if self.grid:
            return x.permute(0, 5, 3, 1, 4, 2).reshape(b, c, w1 * nx, w2 * ny)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, nx * w1, ny * w2)


class OSABlock(nn.Module):
    def __init__(self, dim, ws, pe):
        super().__init__()
        self.layer = nn.Sequential(
            MBConv(dim),
            Rearrange(ws, False, True),
            PreNormResidual(dim, WindowAttention(dim, ws, pe), conv=False),
            Rearrange(ws, False, False),
            PreNormResidual(dim, GatedFFN(dim), conv=True),
            PreNormResidual(dim, ChannelAttention(dim, ws, grid=False), conv=True),
            PreNormResidual(dim, GatedFFN(dim), conv=True),
            Rearrange(ws, True, True),
            PreNormResidual(dim, WindowAttention(dim, ws, pe), conv=False),
            Rearrange(ws, True, False),
            PreNormResidual(dim, GatedFFN(dim), conv=True),
            PreNormResidual(dim, ChannelAttention(dim, ws, grid=True), conv=True),
            PreNormResidual(dim, GatedFFN(dim), conv=True),
        )

    def forward(self, x):
        return self.layer(x)


class ESA(nn.Module):
    def __init__(self, f, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv2 = nn.Conv2d(f, f, 3, 2, 0)
        self.conv3 = nn.Conv2d(f, f, 3, 1, 1)
        self.conv4 = nn.Conv2d(f, c, 1)

    def forward(self, x):
        c1_ = self.conv1(x)
        c3 = self.conv3(F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3))
        c3 = F.interpolate(c3, (x.size(2), x.size(3)), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class OSAG(nn.Module):
    def __init__(self, dim, bias, blocks, ws, pe):
        super().__init__()
        self.residual_layer = nn.Sequential(*[OSABlock(dim, ws, pe) for _ in range(blocks)], nn.Conv2d(dim, dim, 1, 1, 0, bias=bias))
        self.esa = ESA(max(dim // 4, 16), dim)

    def forward(self, x):
        return self.esa(self.residual_layer(x) + x)


class OmniSR(nn.Module):
    def __init__(self, num_feat=16, block_num=1, pe=True, window_size=4, res_num=1, up_scale=2, bias=True):
        super().__init__()
        self.ws, self.scale = window_size, up_scale
        self.residual_layer = nn.Sequential(*[OSAG(num_feat, bias, block_num, window_size, pe) for _ in range(res_num)])
        self.input = nn.Conv2d(3, num_feat, 3, 1, 1, bias=bias)
        self.output = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=bias)
        self.up = nn.Sequential(nn.Conv2d(num_feat, 3 * up_scale**2, 3, 1, 1, bias=bias), nn.PixelShuffle(up_scale))

    def forward(self, x):
        h, w = x.shape[2:]
        # Zeros to a window multiple; at least ESA's 15 px (rounded to a window multiple), which
        # only changes inputs the reference cannot run.
        least = -(-15 // self.ws) * self.ws
        ph, pw = max(h + (self.ws - h % self.ws) % self.ws, least) - h, max(w + (self.ws - w % self.ws) % self.ws, least) - w
        x = F.pad(x, (0, pw, 0, ph), "constant")
        residual = self.input(x)
        out = self.output(self.residual_layer(residual)) + residual
        return self.up(out)[:, :, : h * self.scale, : w * self.scale]


CASES = [
    ("omnisr-x2", dict(num_feat=16, window_size=4, res_num=2), (27, 22)),
    ("omnisr-tiny-input-x2", dict(num_feat=16, window_size=4), (5, 3)),
    ("omnisr-nope-nobias-x3", dict(num_feat=20, window_size=8, pe=False, bias=False, up_scale=3, block_num=2), (21, 30)),
]

PTH = {"omnisr-x2": "zip"}


def detection(args):
    a = dict(num_feat=16, block_num=1, pe=True, window_size=4, res_num=1, up_scale=2, bias=True)
    a.update(args)
    return {
        "arch": "omnisr",
        "variantIncludes": "OmniSR",
        "scale": a["up_scale"],
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": a["window_size"],
        "params": {
            "numFeat": a["num_feat"],
            "blockNum": a["block_num"],
            "resNum": a["res_num"],
            "windowSize": a["window_size"],
            "pe": a["pe"],
            "bias": a["bias"],
        },
    }


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = OmniSR(**args)
        randomize(model, 9000 + i)
        write_case(manifest, name, model, random_input(9500 + i, 3, h, w), detection(args), PTH.get(name))
    save_manifest(manifest, "omnisr.json")


if __name__ == "__main__":
    main()
