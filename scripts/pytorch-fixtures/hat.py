"""HAT, the Hybrid Attention Transformer (Chen et al. 2023, github.com/XPixelGroup/HAT): forward pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/hat.py
Writes test/fixtures/pytorch/hat-*.safetensors, their .io.safetensors and hat.json.
"""

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, reflect_pad, save_manifest, write_case
from swinir import (
    RGB_MEAN,
    Mlp,
    PatchEmbed,
    ResidualGroup,
    WindowAttention,
    attention,
    pixelshuffle_upsample,
    relative_position_index,
    shifted_window_mask,
    to_image,
    to_tokens,
    window_partition,
    window_reverse,
)


def overlap_index(ws, ows):
    """The reference's `calculate_rpi_oca`: [ws*ws, ows*ows] indices, some negative (PyTorch wraps them)."""
    yo, xo = [t.flatten() for t in torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")]
    ye, xe = [t.flatten() for t in torch.meshgrid(torch.arange(ows), torch.arange(ows), indexing="ij")]
    dy = ye[None, :] - yo[:, None] + ws - ows + 1
    dx = xe[None, :] - xo[:, None] + ws - ows + 1
    return dy * (ws + ows - 1) + dx


class ChannelAttention(nn.Module):
    def __init__(self, dim, squeeze):
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(dim, squeeze, 1),
            nn.ReLU(),
            nn.Conv2d(squeeze, dim, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.attention(x)


class CAB(nn.Module):
    def __init__(self, dim, compressed, squeeze):
        super().__init__()
        self.cab = nn.Sequential(
            nn.Conv2d(dim, compressed, 3, 1, 1),
            nn.GELU(),
            nn.Conv2d(compressed, dim, 3, 1, 1),
            ChannelAttention(dim, squeeze),
        )

    def forward(self, x):
        return self.cab(x)


class HAB(nn.Module):
    def __init__(self, dim, num_heads, ws, shift, compressed, squeeze, mlp_ratio, conv_scale):
        super().__init__()
        self.ws, self.shift, self.conv_scale = ws, shift, conv_scale
        self.norm1 = nn.LayerNorm(dim)
        self.conv_block = CAB(dim, compressed, squeeze)
        self.attn = WindowAttention(dim, ws, num_heads, own_index=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, size, rpi, mask):
        h, w = size
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        conv = self.conv_block(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.ws).view(-1, self.ws * self.ws, c)
        x = window_reverse(self.attn(windows, mask if self.shift else None, rpi), self.ws, h, w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.reshape(b, h * w, c) + conv * self.conv_scale
        return x + self.mlp(self.norm2(x))


class OCAB(nn.Module):
    """Overlapping cross-attention: queries from ws×ws windows, keys/values from ows×ows windows around them."""

    def __init__(self, dim, ws, overlap_ratio, num_heads, mlp_ratio):
        super().__init__()
        self.ws, self.num_heads = ws, num_heads
        self.ows = int(ws * overlap_ratio) + ws
        self.scale = (dim // num_heads) ** -0.5
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((ws + self.ows - 1) ** 2, num_heads))
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, size, rpi):
        h, w = size
        b, _, c = x.shape
        ws, ows = self.ws, self.ows
        shortcut = x
        qkv = self.qkv(self.norm1(x).view(b, h, w, c))
        q, k, v = qkv.chunk(3, dim=-1)
        q = window_partition(q, ws).view(-1, ws * ws, c)
        kv = torch.cat((k, v), dim=-1).permute(0, 3, 1, 2)  # b, 2c, h, w
        cols = F.unfold(kv, kernel_size=ows, stride=ws, padding=(ows - ws) // 2)  # b, 2c*ows*ows, nW
        cols = cols.view(b, 2, c, ows * ows, -1).permute(1, 0, 4, 3, 2).reshape(2, -1, ows * ows, c)
        out = attention(q * self.scale, cols[0], cols[1], self.relative_position_bias_table, rpi, None, self.num_heads)
        x = window_reverse(out.view(-1, ws, ws, c), ws, h, w).reshape(b, h * w, c)
        x = self.proj(x) + shortcut
        return x + self.mlp(self.norm2(x))


class AttenBlocks(ResidualGroup):
    def __init__(self, blocks, overlap_attn):
        super().__init__(blocks)
        self.overlap_attn = overlap_attn


class RHAG(nn.Module):
    def __init__(self, dim, depth, num_heads, ws, compressed, squeeze, overlap_ratio, mlp_ratio, resi, conv_scale):
        super().__init__()
        self.residual_group = AttenBlocks(
            [
                HAB(dim, num_heads, ws, 0 if i % 2 == 0 else ws // 2, compressed, squeeze, mlp_ratio, conv_scale)
                for i in range(depth)
            ],
            OCAB(dim, ws, overlap_ratio, num_heads, mlp_ratio),
        )
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1) if resi == "1conv" else nn.Identity()

    def forward(self, x, size, rpi_sa, rpi_oca, mask):
        y = x
        for blk in self.residual_group.blocks:
            y = blk(y, size, rpi_sa, mask)
        y = self.residual_group.overlap_attn(y, size, rpi_oca)
        return to_tokens(self.conv(to_image(y, size))) + x


class HAT(nn.Module):
    def __init__(
        self,
        in_chans=3,
        embed_dim=16,
        depths=(2,),
        num_heads=(2,),
        window_size=4,
        compress_ratio=2,
        squeeze_factor=4,
        overlap_ratio=0.5,
        mlp_ratio=2.0,
        upscale=2,
        resi_connection="1conv",
        num_feat=16,
        conv_scale=0.01,
    ):
        super().__init__()
        self.ws, self.scale = window_size, upscale
        self.mean = torch.tensor(RGB_MEAN if in_chans == 3 else (0.0,) * in_chans).view(1, in_chans, 1, 1)
        ows = int(window_size * overlap_ratio) + window_size
        self.register_buffer("relative_position_index_SA", relative_position_index(window_size))
        self.register_buffer("relative_position_index_OCA", overlap_index(window_size, ows))
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        compressed, squeeze = embed_dim // compress_ratio, embed_dim // squeeze_factor
        self.layers = nn.ModuleList(
            [
                RHAG(embed_dim, d, h, window_size, compressed, squeeze, overlap_ratio, mlp_ratio, resi_connection, conv_scale)
                for d, h in zip(depths, num_heads)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = nn.Conv2d(embed_dim, embed_dim, 3, 1, 1) if resi_connection == "1conv" else nn.Identity()
        self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
        self.upsample = pixelshuffle_upsample(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        x = x - self.mean
        x = reflect_pad(x, 0, (self.ws - w % self.ws) % self.ws, 0, (self.ws - h % self.ws) % self.ws)
        size = (x.shape[2], x.shape[3])
        mask = shifted_window_mask(size[0], size[1], self.ws, self.ws // 2)
        x = self.conv_first(x)
        t = self.patch_embed.norm(to_tokens(x))
        for layer in self.layers:
            t = layer(t, size, self.relative_position_index_SA, self.relative_position_index_OCA, mask)
        x = self.conv_after_body(to_image(self.norm(t), size)) + x
        x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        return (x + self.mean)[:, :, : h * self.scale, : w * self.scale]


CASES = [
    ("hat-x2", dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4, upscale=2), (13, 11)),
    # HAT-S-like: one compressed channel in the CAB, identity residuals, ×4 in two stages.
    (
        "hat-s-x4-identity",
        dict(
            embed_dim=24,
            depths=(3,),
            num_heads=(3,),
            window_size=8,
            compress_ratio=24,
            squeeze_factor=24,
            upscale=4,
            resi_connection="identity",
        ),
        (19, 10),
    ),
    # Overlap ratio 0.25 (ows 10 for ws 8), ×3 in one stage, 4 heads.
    (
        "hat-x3-overlap-0.25",
        dict(
            embed_dim=16,
            depths=(2,),
            num_heads=(4,),
            window_size=8,
            compress_ratio=4,
            squeeze_factor=8,
            overlap_ratio=0.25,
            upscale=3,
            num_feat=8,
        ),
        (9, 17),
    ),
    # A 1×2 input: the reflect padding has to repeat the edge.
    ("hat-tiny-input-x2", dict(embed_dim=16, depths=(2,), num_heads=(2,), window_size=4), (1, 2)),
]


def detection(args):
    a = dict(
        embed_dim=16,
        depths=(2,),
        num_heads=(2,),
        window_size=4,
        compress_ratio=2,
        squeeze_factor=4,
        overlap_ratio=0.5,
        mlp_ratio=2.0,
        upscale=2,
        resi_connection="1conv",
        num_feat=16,
    )
    a.update(args)
    ws = a["window_size"]
    return {
        "arch": "hat",
        "variantIncludes": "HAT",
        "scale": a["upscale"],
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": ws,
        "params": {
            "embedDim": a["embed_dim"],
            "depths": list(a["depths"]),
            "numHeads": list(a["num_heads"]),
            "windowSize": ws,
            "overlapWindowSize": int(ws * a["overlap_ratio"]) + ws,
            "overlapRatio": a["overlap_ratio"],
            "compressRatio": a["compress_ratio"],
            "squeezeFactor": a["squeeze_factor"],
            "mlpRatio": a["mlp_ratio"],
            "resiConnection": a["resi_connection"],
            "numFeat": a["num_feat"],
            "convScale": 0.01,
        },
    }


# Also saved as PyTorch checkpoints (zip, or the pre-1.6 legacy format) to exercise the readers.
PTH = {"hat-x2": "zip"}


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = HAT(**args)
        randomize(model, 3000 + i)
        write_case(manifest, name, model, random_input(4000 + i, 3, h, w), detection(args), PTH.get(name))
    save_manifest(manifest, "hat.json")


if __name__ == "__main__":
    main()
