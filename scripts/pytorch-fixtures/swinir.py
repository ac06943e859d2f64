"""SwinIR (Liang et al. 2021, github.com/JingyunLiang/SwinIR) forward pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/swinir.py
Writes test/fixtures/pytorch/swinir-*.safetensors, their .io.safetensors (input, output) and
swinir.json (the hyperparameters each model was built with, which detection must recover).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, reflect_pad, save_manifest, write_case

RGB_MEAN = (0.4488, 0.4371, 0.4040)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def window_partition(x, ws):
    """(B, H, W, C) -> (B * H/ws * W/ws, ws, ws, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws, ws, c)


def window_reverse(windows, ws, h, w):
    c = windows.shape[-1]
    x = windows.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


def relative_position_index(ws):
    """[ws*ws, ws*ws] index into the (2ws-1)^2 table: (dy + ws-1) * (2ws-1) + (dx + ws-1)."""
    ys, xs = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + ws - 1
    dx = xs[:, None] - xs[None, :] + ws - 1
    return dy * (2 * ws - 1) + dx


def shifted_window_mask(h, w, ws, shift):
    """[nW, N, N]: -100 where two tokens of a shifted window came from different image regions."""
    img = torch.zeros((1, h, w, 1))
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wsl in cuts:
            img[:, hs, wsl, :] = label
            label += 1
    m = window_partition(img, ws).view(-1, ws * ws)
    diff = m.unsqueeze(1) - m.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def attention(q, k, v, table, index, mask, num_heads):
    """q [B_, N, C] (already scaled), k/v [B_, M, C]; table[index] is the [N, M] per-head bias."""
    b_, n, c = q.shape
    m = k.shape[1]
    d = c // num_heads
    q = q.reshape(b_, n, num_heads, d).permute(0, 2, 1, 3)
    k = k.reshape(b_, m, num_heads, d).permute(0, 2, 1, 3)
    v = v.reshape(b_, m, num_heads, d).permute(0, 2, 1, 3)
    attn = q @ k.transpose(-2, -1)
    bias = table[index.reshape(-1)].view(n, m, -1).permute(2, 0, 1)
    attn = attn + bias.unsqueeze(0)
    if mask is not None:
        nw = mask.shape[0]
        attn = attn.view(b_ // nw, nw, num_heads, n, m) + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, num_heads, n, m)
    attn = attn.softmax(dim=-1)
    return (attn @ v).transpose(1, 2).reshape(b_, n, c)


class WindowAttention(nn.Module):
    def __init__(self, dim, ws, num_heads, qkv_bias=True, own_index=True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, num_heads))
        if own_index:
            self.register_buffer("relative_position_index", relative_position_index(ws))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask, index=None):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        index = self.relative_position_index if index is None else index
        out = attention(q * self.scale, k, v, self.relative_position_bias_table, index, mask, self.num_heads)
        return self.proj(out)


class SwinBlock(nn.Module):
    def __init__(self, dim, img_size, num_heads, ws, shift, mlp_ratio, qkv_bias):
        super().__init__()
        if img_size <= ws:  # the reference's rule: one window covers the training patch
            ws, shift = img_size, 0
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(img_size, img_size, ws, shift) if shift > 0 else None
        self.register_buffer("attn_mask", mask)

    def forward(self, x, size):
        h, w = size
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.ws).view(-1, self.ws * self.ws, c)
        mask = shifted_window_mask(h, w, self.ws, self.shift) if self.shift else None
        x = window_reverse(self.attn(windows, mask), self.ws, h, w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


def resi_conv(dim, kind):
    if kind == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, 1, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
        nn.LeakyReLU(0.2),
        nn.Conv2d(dim // 4, dim, 3, 1, 1),
    )


def to_image(x, size):
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], size[0], size[1])


def to_tokens(x):
    return x.flatten(2).transpose(1, 2)


class ResidualGroup(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class RSTB(nn.Module):
    def __init__(self, dim, img_size, depth, num_heads, ws, mlp_ratio, qkv_bias, resi):
        super().__init__()
        self.residual_group = ResidualGroup(
            [
                SwinBlock(dim, img_size, num_heads, ws, 0 if i % 2 == 0 else ws // 2, mlp_ratio, qkv_bias)
                for i in range(depth)
            ]
        )
        self.conv = resi_conv(dim, resi)

    def forward(self, x, size):
        y = x
        for blk in self.residual_group.blocks:
            y = blk(y, size)
        return to_tokens(self.conv(to_image(y, size))) + x


class PatchEmbed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)


def pixelshuffle_upsample(scale, nf):
    layers = []
    if scale == 3:
        layers += [nn.Conv2d(nf, 9 * nf, 3, 1, 1), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log2(scale))):
            layers += [nn.Conv2d(nf, 4 * nf, 3, 1, 1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class SwinIR(nn.Module):
    def __init__(
        self,
        in_chans=3,
        embed_dim=16,
        depths=(2,),
        num_heads=(2,),
        window_size=4,
        mlp_ratio=2.0,
        upscale=2,
        upsampler="pixelshuffle",
        resi_connection="1conv",
        num_feat=16,
        img_size=16,
        img_range=1.0,
        qkv_bias=True,
    ):
        super().__init__()
        self.ws, self.scale, self.upsampler, self.img_range = window_size, upscale, upsampler, img_range
        mean = RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
        self.mean = torch.tensor(mean).view(1, in_chans, 1, 1)  # not a buffer: absent from state dicts
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim)
        self.layers = nn.ModuleList(
            [
                RSTB(embed_dim, img_size, d, h, window_size, mlp_ratio, qkv_bias, resi_connection)
                for d, h in zip(depths, num_heads)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = resi_conv(embed_dim, resi_connection)
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
            self.upsample = pixelshuffle_upsample(upscale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, upscale * upscale * in_chans, 3, 1, 1), nn.PixelShuffle(upscale)
            )
        elif upsampler == "nearest+conv":
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            if upscale == 4:
                self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        else:
            self.conv_last = nn.Conv2d(embed_dim, in_chans, 3, 1, 1)

    def features(self, x):
        size = (x.shape[2], x.shape[3])
        t = self.patch_embed.norm(to_tokens(x))
        for layer in self.layers:
            t = layer(t, size)
        return to_image(self.norm(t), size)

    def forward(self, x):
        h, w = x.shape[2:]
        ph, pw = (self.ws - h % self.ws) % self.ws, (self.ws - w % self.ws) % self.ws
        x = reflect_pad(x, 0, pw, 0, ph)
        x = (x - self.mean) * self.img_range
        lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        up2 = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        if self.upsampler == "pixelshuffle":
            x = self.conv_first(x)
            x = self.conv_after_body(self.features(x)) + x
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        elif self.upsampler == "pixelshuffledirect":
            x = self.conv_first(x)
            x = self.upsample(self.conv_after_body(self.features(x)) + x)
        elif self.upsampler == "nearest+conv":
            x = self.conv_first(x)
            x = self.conv_before_upsample(self.conv_after_body(self.features(x)) + x)
            x = lrelu(self.conv_up1(up2(x)))
            if self.scale == 4:
                x = lrelu(self.conv_up2(up2(x)))
            x = self.conv_last(lrelu(self.conv_hr(x)))
        else:
            first = self.conv_first(x)
            x = x + self.conv_last(self.conv_after_body(self.features(first)) + first)
        x = x / self.img_range + self.mean
        return x[:, :, : h * self.scale, : w * self.scale]


CASES = [
    # name, constructor arguments, input (channels, height, width); no side is a window multiple
    ("swinir-classical-x2", dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4), window_size=4), (13, 11)),
    (
        "swinir-classical-x3-3conv",
        dict(
            embed_dim=16, depths=(3,), num_heads=(2,), window_size=5, upscale=3, resi_connection="3conv", img_size=10
        ),
        (12, 9),
    ),
    (
        "swinir-lightweight-x4",
        dict(
            embed_dim=12,
            depths=(2, 2),
            num_heads=(3, 2),
            window_size=8,
            upscale=4,
            upsampler="pixelshuffledirect",
            img_size=16,
        ),
        (19, 10),
    ),
    (
        "swinir-realsr-x4-3conv",
        dict(
            embed_dim=16,
            depths=(2,),
            num_heads=(2,),
            window_size=4,
            mlp_ratio=1.5,
            upscale=4,
            upsampler="nearest+conv",
            resi_connection="3conv",
        ),
        (9, 14),
    ),
    (
        "swinir-realsr-x2",
        dict(embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, upscale=2, upsampler="nearest+conv"),
        (7, 6),
    ),
    # The JPEG artifact-removal models: no upsampler, window 7, 0-255 range (spandrel's rule).
    (
        "swinir-jpeg-gray",
        dict(
            in_chans=1,
            embed_dim=12,
            depths=(2,),
            num_heads=(2,),
            window_size=7,
            upscale=1,
            upsampler="",
            img_size=14,
            img_range=255.0,
            qkv_bias=False,
        ),
        (15, 9),
    ),
    # A 2×3 input with window 8: too small for F.pad's reflect, so the extended padding runs.
    (
        "swinir-tiny-input-x2",
        dict(embed_dim=12, depths=(2,), num_heads=(3,), window_size=8, upsampler="pixelshuffledirect"),
        (2, 3),
    ),
    # A 3×3 input: one window after padding, so that window is the last row and column at once.
    (
        "swinir-one-window-x2",
        dict(embed_dim=12, depths=(2,), num_heads=(2,), window_size=4, upsampler="pixelshuffledirect"),
        (3, 3),
    ),
]


def detection(args, channels):
    a = dict(
        in_chans=3,
        embed_dim=16,
        depths=(2,),
        num_heads=(2,),
        window_size=4,
        mlp_ratio=2.0,
        upscale=2,
        upsampler="pixelshuffle",
        resi_connection="1conv",
        num_feat=16,
        img_size=16,
        img_range=1.0,
        qkv_bias=True,
    )
    a.update(args)
    variant = {
        "pixelshuffle": "classical (pixelshuffle)",
        "pixelshuffledirect": "lightweight (pixelshuffledirect)",
        "nearest+conv": "real-SR (nearest+conv)",
        "": "restoration (no upsampler)",
    }[a["upsampler"]]
    params = {
        "upsampler": a["upsampler"],
        "embedDim": a["embed_dim"],
        "depths": list(a["depths"]),
        "numHeads": list(a["num_heads"]),
        "windowSize": a["window_size"],
        "mlpRatio": a["mlp_ratio"],
        "resiConnection": a["resi_connection"],
        "imgRange": a["img_range"],
        "qkvBias": a["qkv_bias"],
    }
    if a["upsampler"] in ("pixelshuffle", "nearest+conv"):
        params["numFeat"] = a["num_feat"]
    return {
        "arch": "swinir",
        "variantIncludes": variant,
        "scale": a["upscale"],
        "inputChannels": channels,
        "outputChannels": channels,
        "sizeMultiple": a["window_size"],
        "params": params,
    }


# Also saved as PyTorch checkpoints (zip, or the pre-1.6 legacy format) to exercise the readers.
PTH = {"swinir-classical-x2": "zip", "swinir-lightweight-x4": "legacy"}


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = SwinIR(**args)
        randomize(model, 1000 + i)
        channels = args.get("in_chans", 3)
        write_case(manifest, name, model, random_input(2000 + i, channels, h, w), detection(args, channels), PTH.get(name))
    save_manifest(manifest, "swinir.json")


if __name__ == "__main__":
    main()
