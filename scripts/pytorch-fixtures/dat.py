"""DAT, the Dual Aggregation Transformer (Chen et al. 2023, github.com/zhengchen1999/DAT): forward pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/dat.py
Writes test/fixtures/pytorch/dat-*.safetensors, their .io.safetensors and dat.json.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, save_manifest, write_case
from swinir import RGB_MEAN, PatchEmbed, attention, pixelshuffle_upsample, resi_conv, to_image, to_tokens


def rect_mask(h, w, wh, ww, sh, sw):
    """Shift mask for wh×ww windows shifted by (sh, sw) on an h×w image: [nW, N, N] of 0/-100."""
    img = torch.zeros((1, h, w, 1))
    label = 0
    for hs in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None)):
        for ws in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None)):
            img[:, hs, ws, :] = label
            label += 1
    m = img.view(1, h // wh, wh, w // ww, ww, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1, wh * ww)
    diff = m.unsqueeze(1) - m.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def rect_partition(x, wh, ww):
    """(B, H, W, C) -> (B*nW, wh*ww, C)."""
    b, h, w, c = x.shape
    return x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, wh * ww, c)


def rect_reverse(x, wh, ww, h, w):
    c = x.shape[-1]
    return x.view(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class DynamicPosBias(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        pos_dim = dim // 4
        self.pos_proj = nn.Linear(2, pos_dim)
        self.pos1 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, pos_dim))
        self.pos2 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, pos_dim))
        self.pos3 = nn.Sequential(nn.LayerNorm(pos_dim), nn.ReLU(), nn.Linear(pos_dim, num_heads))

    def forward(self, biases):
        return self.pos3(self.pos2(self.pos1(self.pos_proj(biases))))


class SpatialBranch(nn.Module):
    """One of the two rectangle-window attentions (idx 0: wh×ww = s0×s1, idx 1: s1×s0)."""

    def __init__(self, dim, idx, split, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.wh, self.ww = (split[0], split[1]) if idx == 0 else (split[1], split[0])
        self.scale = (dim // num_heads) ** -0.5
        self.pos = DynamicPosBias(dim // 4, num_heads)
        dy, dx = torch.meshgrid(torch.arange(1 - self.wh, self.wh), torch.arange(1 - self.ww, self.ww), indexing="ij")
        self.register_buffer("rpe_biases", torch.stack([dy.flatten(), dx.flatten()], dim=1).float())
        ys, xs = [t.flatten() for t in torch.meshgrid(torch.arange(self.wh), torch.arange(self.ww), indexing="ij")]
        index = (ys[:, None] - ys[None, :] + self.wh - 1) * (2 * self.ww - 1) + (xs[:, None] - xs[None, :] + self.ww - 1)
        self.register_buffer("relative_position_index", index)

    def forward(self, q, k, v, h, w, mask):
        """q, k, v: (B, h, w, C) images; returns the attended (B, h, w, C)."""
        wins = [rect_partition(t, self.wh, self.ww) for t in (q, k, v)]
        table = self.pos(self.rpe_biases)
        out = attention(wins[0] * self.scale, wins[1], wins[2], table, self.relative_position_index, mask, self.num_heads)
        return rect_reverse(out, self.wh, self.ww, h, w)


def interactions(dim):
    channel = nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Conv2d(dim, dim // 8, 1),
        nn.BatchNorm2d(dim // 8),
        nn.GELU(),
        nn.Conv2d(dim // 8, dim, 1),
    )
    spatial = nn.Sequential(nn.Conv2d(dim, dim // 16, 1), nn.BatchNorm2d(dim // 16), nn.GELU(), nn.Conv2d(dim // 16, 1, 1))
    dwconv = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.BatchNorm2d(dim), nn.GELU())
    return channel, spatial, dwconv


class SpatialAttention(nn.Module):
    """Adaptive_Spatial_Attention: two rectangle-window branches on half the channels each, plus the conv branch."""

    def __init__(self, dim, num_heads, split, shifted, qkv_bias):
        super().__init__()
        self.split, self.shifted = split, shifted
        self.shift = (split[0] // 2, split[1] // 2)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attns = nn.ModuleList([SpatialBranch(dim // 2, i, split, num_heads // 2) for i in range(2)])
        self.channel_interaction, self.spatial_interaction, self.dwconv = interactions(dim)

    def forward(self, x, h, w):
        b, n, c = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        v_img = to_image(v, (h, w))
        m = max(self.split)
        ph, pw = (m - h % m) % m, (m - w % m) % m
        pad = lambda t: F.pad(t.view(b, h, w, c), (0, 0, 0, pw, 0, ph))  # noqa: E731  zeros after the projection
        q, k, v = pad(q), pad(k), pad(v)
        hp, wp = h + ph, w + pw
        outs = []
        for i, branch in enumerate(self.attns):
            part = slice(0, c // 2) if i == 0 else slice(c // 2, c)
            sh, sw = self.shift if i == 0 else (self.shift[1], self.shift[0])
            tq, tk, tv = q[..., part], k[..., part], v[..., part]
            mask = None
            if self.shifted:
                tq, tk, tv = [torch.roll(t, shifts=(-sh, -sw), dims=(1, 2)) for t in (tq, tk, tv)]
                mask = rect_mask(hp, wp, branch.wh, branch.ww, sh, sw)
            y = branch(tq, tk, tv, hp, wp, mask)
            if self.shifted:
                y = torch.roll(y, shifts=(sh, sw), dims=(1, 2))
            outs.append(y[:, :h, :w, :].reshape(b, n, c // 2))
        attended = torch.cat(outs, dim=2)
        conv = self.dwconv(v_img)
        channel_map = self.channel_interaction(conv).view(b, 1, c)
        spatial_map = self.spatial_interaction(to_image(attended, (h, w)))
        attended = attended * torch.sigmoid(channel_map)
        conv = to_tokens(torch.sigmoid(spatial_map) * conv)
        return self.proj(attended + conv)


class ChannelAttention(nn.Module):
    """Adaptive_Channel_Attention: attention across channels (transposed), plus the conv branch."""

    def __init__(self, dim, num_heads, qkv_bias):
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.channel_interaction, self.spatial_interaction, self.dwconv = interactions(dim)

    def forward(self, x, h, w):
        b, n, c = x.shape
        heads = self.num_heads
        q, k, v = [t.reshape(b, n, heads, c // heads).permute(0, 2, 3, 1) for t in self.qkv(x).chunk(3, dim=-1)]
        v_img = v.reshape(b, c, h, w)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        attended = (attn @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        conv = self.dwconv(v_img)
        channel_map = self.channel_interaction(to_image(attended, (h, w)))
        spatial_map = to_tokens(self.spatial_interaction(conv))
        attended = attended * torch.sigmoid(spatial_map)
        conv = to_tokens(conv * torch.sigmoid(channel_map))
        return self.proj(attended + conv)


class SpatialGate(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x, h, w):
        x1, x2 = x.chunk(2, dim=-1)
        return x1 * to_tokens(self.conv(to_image(self.norm(x2), (h, w))))


class SGFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.sg = SpatialGate(hidden // 2)
        self.fc2 = nn.Linear(hidden // 2, dim)

    def forward(self, x, h, w):
        return self.fc2(self.sg(F.gelu(self.fc1(x)), h, w))


class DATB(nn.Module):
    def __init__(self, dim, num_heads, split, expansion, qkv_bias, rg_idx, b_idx):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        if b_idx % 2 == 0:
            shifted = (rg_idx % 2 == 0 and b_idx > 0 and (b_idx - 2) % 4 == 0) or (rg_idx % 2 == 1 and b_idx % 4 == 0)
            self.attn = SpatialAttention(dim, num_heads, split, shifted, qkv_bias)
        else:
            self.attn = ChannelAttention(dim, num_heads, qkv_bias)
        self.ffn = SGFN(dim, int(dim * expansion))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, h, w):
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.ffn(self.norm2(x), h, w)


class ResidualGroup(nn.Module):
    def __init__(self, dim, num_heads, split, expansion, qkv_bias, depth, resi, rg_idx):
        super().__init__()
        self.blocks = nn.ModuleList([DATB(dim, num_heads, split, expansion, qkv_bias, rg_idx, i) for i in range(depth)])
        self.conv = resi_conv(dim, resi)

    def forward(self, x, h, w):
        y = x
        for blk in self.blocks:
            y = blk(y, h, w)
        return x + to_tokens(self.conv(to_image(y, (h, w))))


class DAT(nn.Module):
    def __init__(
        self,
        in_chans=3,
        embed_dim=16,
        split_size=(2, 4),
        depth=(2,),
        num_heads=(2,),
        expansion_factor=2.0,
        qkv_bias=True,
        upscale=2,
        resi_connection="1conv",
        upsampler="pixelshuffle",
        num_feat=16,
    ):
        super().__init__()
        self.scale, self.upsampler = upscale, upsampler
        self.mean = torch.tensor(RGB_MEAN if in_chans == 3 else (0.0,) * in_chans).view(1, in_chans, 1, 1)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.before_RG = nn.Sequential(nn.Identity(), nn.LayerNorm(embed_dim))
        self.layers = nn.ModuleList(
            [
                ResidualGroup(embed_dim, h, split_size, expansion_factor, qkv_bias, d, resi_connection, i)
                for i, (d, h) in enumerate(zip(depth, num_heads))
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
            self.upsample = pixelshuffle_upsample(upscale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        else:
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, upscale * upscale * in_chans, 3, 1, 1), nn.PixelShuffle(upscale)
            )

    def forward(self, x):
        h, w = x.shape[2:]
        x = self.conv_first(x - self.mean)
        t = self.before_RG[1](to_tokens(x))
        for layer in self.layers:
            t = layer(t, h, w)
        x = self.conv_after_body(to_image(self.norm(t), (h, w))) + x
        if self.upsampler == "pixelshuffle":
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.upsample(x)
        return x + self.mean


def randomize_batchnorm(model, seed):
    """Eval-mode BatchNorm statistics that are not the identity, so folding them is exercised."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(0.1 * torch.randn(mod.running_mean.shape, generator=g))
            mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=g))


CASES = [
    # Spatial blocks 0, 2 (2 shifted in group 0) and 4 (shifted in group 1), channel blocks 1, 3.
    ("dat-x2", dict(embed_dim=32, split_size=(2, 4), depth=(3, 1), num_heads=(4, 2)), (11, 9)),
    (
        "dat-light-x3-3conv",
        dict(
            embed_dim=32,
            split_size=(4, 8),
            depth=(3,),
            num_heads=(4,),
            upscale=3,
            resi_connection="3conv",
            upsampler="pixelshuffledirect",
            qkv_bias=False,
        ),
        (10, 13),
    ),
    # 3×3, padded to 4×4: one row (2×4 windows) or one column (4×2) of windows, shifted in block 2.
    ("dat-tiny-input-x2", dict(embed_dim=32, split_size=(2, 4), depth=(3,), num_heads=(4,)), (3, 3)),
]


def detection(args):
    a = dict(
        embed_dim=16,
        split_size=(2, 4),
        depth=(2,),
        num_heads=(2,),
        expansion_factor=2.0,
        qkv_bias=True,
        upscale=2,
        resi_connection="1conv",
        upsampler="pixelshuffle",
        num_feat=16,
    )
    a.update(args)
    params = {
        "upsampler": a["upsampler"],
        "embedDim": a["embed_dim"],
        "depths": list(a["depth"]),
        "numHeads": list(a["num_heads"]),
        "splitSize": list(a["split_size"]),
        "expansionFactor": a["expansion_factor"],
        "resiConnection": a["resi_connection"],
        "qkvBias": a["qkv_bias"],
    }
    if a["upsampler"] == "pixelshuffle":
        params["numFeat"] = a["num_feat"]
    return {
        "arch": "dat",
        "variantIncludes": "DAT",
        "scale": a["upscale"],
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": max(a["split_size"]),
        "params": params,
    }


# Also saved as PyTorch checkpoints (zip, or the pre-1.6 legacy format) to exercise the readers.
PTH = {"dat-x2": "zip"}


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = DAT(**args)
        randomize(model, 5000 + i)
        randomize_batchnorm(model, 5500 + i)
        write_case(manifest, name, model, random_input(6000 + i, 3, h, w), detection(args), PTH.get(name))
    save_manifest(manifest, "dat.json")


if __name__ == "__main__":
    main()
