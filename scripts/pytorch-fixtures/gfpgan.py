"""GFPGAN v1.3/v1.4 "clean" (TencentARC/GFPGAN, gfpgan/archs/gfpganv1_clean_arch.py and
stylegan2_clean_arch.py): forward pass of GFPGANv1Clean and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/gfpgan.py
Writes test/fixtures/pytorch/gfpgan-*.safetensors, their .io.safetensors, gfpgan.json and
gfpgan-v1.4-shapes.json (every key and shape of the released 512² network, for detection).

The released models are GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2,
input_is_latent=True, different_w=True, narrow=1, sft_half=True), as GFPGANer builds them. The
fixtures keep that structure and key layout but shrink it by the architecture's own knobs:
out_size 64 or 32 (two fewer U-Net/StyleGAN levels than 512's), narrow 1/16 and a 16-wide style.

Forward as GFPGANer runs it (input normalised to [-1, 1], return_rgb=False) except for the noise:
GFPGANer leaves randomize_noise=True, so every call draws fresh N(0, 1) noise for each StyleConv;
a deterministic graph instead uses the noise buffers stored in the checkpoint
(stylegan_decoder.noises.noise{i}), which is randomize_noise=False. The fixtures give the noise
weights visible magnitudes so that this path is checked. The model here takes [0, 1] RGB and
returns [0, 1]: (x − 0.5)/0.5 in, (y + 1)/2 clamped out, as GFPGANer's normalize and tensor2img.
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from common import FIXTURES, random_input, randomize, save_manifest, write_case


def lrelu(x):
    return F.leaky_relu(x, 0.2)


def resize(x, factor):
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class ModulatedConv2d(nn.Module):
    def __init__(self, cin, cout, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.modulation = nn.Linear(style_dim, cin)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.demodulate = demodulate
        self.upsample = upsample

    def forward(self, x, style):
        s = self.modulation(style).view(1, 1, -1, 1, 1)
        w = self.weight * s
        if self.demodulate:
            w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(1, -1, 1, 1, 1)
        if self.upsample:
            x = resize(x, 2)
        k = w.shape[-1]
        return F.conv2d(x, w[0], padding=k // 2)


class StyleConv(nn.Module):
    def __init__(self, cin, cout, style_dim, upsample=False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(cin, cout, 3, style_dim, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x, style, noise):
        out = self.modulated_conv(x, style) * 2**0.5
        return lrelu(out + self.weight * noise + self.bias)


class ToRGB(nn.Module):
    def __init__(self, cin, style_dim, upsample=True):
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (resize(skip, 2) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, c, 4, 4))


def channel_table(narrow, multiplier):
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier,
            256: 64 * multiplier, 512: 32 * multiplier, 1024: 16 * multiplier}
    return {k: int(v * narrow) for k, v in base.items()}


class StyleGAN2GeneratorCSFT(nn.Module):
    def __init__(self, out_size, style_dim, num_mlp, multiplier, narrow, sft_half):
        super().__init__()
        layers = []
        for _ in range(num_mlp):
            layers += [nn.Linear(style_dim, style_dim), nn.LeakyReLU(0.2)]
        # index 0 is NormStyleCode (no parameters), so the Linears are style_mlp.1, .3, …
        self.style_mlp = nn.Sequential(nn.Identity(), *layers)
        ch = channel_table(narrow, multiplier)
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.sft_half = sft_half
        self.constant_input = ConstantInput(ch[4])
        self.style_conv1 = StyleConv(ch[4], ch[4], style_dim)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise{i}", torch.randn(1, 1, r, r))
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2**i]
            self.style_convs.append(StyleConv(cin, cout, style_dim, upsample=True))
            self.style_convs.append(StyleConv(cout, cout, style_dim))
            self.to_rgbs.append(ToRGB(cout, style_dim))
            cin = cout

    def forward(self, latent, conditions):
        noise = [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]
        out = self.style_conv1(self.constant_input.weight, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, n1, n2, to_rgb in zip(self.style_convs[::2], self.style_convs[1::2], noise[1::2],
                                                noise[2::2], self.to_rgbs):
            out = conv1(out, latent[:, i], n1)
            if i < len(conditions):
                if self.sft_half:
                    same, sft = torch.split(out, out.size(1) // 2, dim=1)
                    out = torch.cat([same, sft * conditions[i - 1] + conditions[i]], dim=1)
                else:
                    out = out * conditions[i - 1] + conditions[i]
            out = conv2(out, latent[:, i + 1], n2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


class ResBlock(nn.Module):
    def __init__(self, cin, cout, factor):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.factor = factor

    def forward(self, x):
        out = lrelu(self.conv2(resize(lrelu(self.conv1(x)), self.factor)))
        return out + self.skip(resize(x, self.factor))


class GFPGANv1Clean(nn.Module):
    def __init__(self, out_size=512, style_dim=512, multiplier=2, num_mlp=8, different_w=True, narrow=1,
                 sft_half=True):
        super().__init__()
        self.different_w = different_w
        self.style_dim = style_dim
        ch = channel_table(narrow * 0.5, multiplier)
        self.log_size = int(math.log2(out_size))
        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList()
        cin = ch[out_size]
        for i in range(self.log_size, 2, -1):
            self.conv_body_down.append(ResBlock(cin, ch[2 ** (i - 1)], 0.5))
            cin = ch[2 ** (i - 1)]
        self.final_conv = nn.Conv2d(cin, ch[4], 3, 1, 1)
        self.conv_body_up = nn.ModuleList()
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            self.conv_body_up.append(ResBlock(cin, ch[2**i], 2))
            cin = ch[2**i]
        self.toRGB = nn.ModuleList([nn.Conv2d(ch[2**i], 3, 1) for i in range(3, self.log_size + 1)])
        latents = (self.log_size * 2 - 2) if different_w else 1
        self.final_linear = nn.Linear(ch[4] * 16, latents * style_dim)
        self.stylegan_decoder = StyleGAN2GeneratorCSFT(out_size, style_dim, num_mlp, multiplier, narrow, sft_half)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for i in range(3, self.log_size + 1):
            c = ch[2**i]
            sft = c if sft_half else 2 * c
            for lst in (self.condition_scale, self.condition_shift):
                lst.append(nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, sft, 3, 1, 1)))

    def forward(self, x01):
        x = (x01 - 0.5) / 0.5
        feat = lrelu(self.conv_body_first(x))
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.insert(0, feat)
        feat = lrelu(self.final_conv(feat))
        style = self.final_linear(feat.reshape(1, -1))
        n_latent = self.log_size * 2 - 2
        # input_is_latent=True (GFPGANer): the style MLP is not run.
        latent = style.view(1, -1, self.style_dim) if self.different_w else style.unsqueeze(1).repeat(1, n_latent, 1)
        conditions = []
        for i, up in enumerate(self.conv_body_up):
            feat = up(feat + skips[i])
            conditions.append(self.condition_scale[i](feat))
            conditions.append(self.condition_shift[i](feat))
        image = self.stylegan_decoder(latent, conditions)
        return ((image + 1) / 2).clamp(0, 1)


CASES = [
    # v1.3/v1.4 layout (different_w, sft_half, channel multiplier 2), 64² instead of 512².
    ("gfpgan-v1.4-64", dict(out_size=64, style_dim=16, narrow=1 / 16, different_w=True, sft_half=True)),
    # One latent for every layer, SFT on all channels, multiplier 1 (GFPGANv1Clean's defaults).
    ("gfpgan-samew-fullsft-32", dict(out_size=32, style_dim=16, multiplier=1, narrow=1 / 16, different_w=False,
                                     sft_half=False)),
]

PTH = {"gfpgan-v1.4-64": "zip"}


def detection(args):
    a = dict(multiplier=2)
    a.update(args)
    return {
        "arch": "gfpgan",
        "variantIncludes": "GFPGAN",
        "scale": 1,
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": a["out_size"],
        "params": {
            "face": True,
            "size": a["out_size"],
            "styleDim": a["style_dim"],
            "differentW": a["different_w"],
            "sftHalf": a["sft_half"],
            "narrow": a["narrow"],
        },
    }


def stylegan_init(model, seed):
    """Modulated weights ~ 1/sqrt(fan_in) per output channel as StyleGAN2 initialises them (the
    generic fixture init would divide by the output channels too), and noise strengths of order
    0.3 (trained GFPGANs have small non-zero ones), so the noise path is visible."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("modulated_conv.weight"):
                # to-RGB layers (not demodulated) smaller, so the image stays mostly inside [-1, 1]
                gain = 0.3 if "to_rgb" in name else 1.0
                p.copy_(gain * torch.randn(p.shape, generator=g) / math.sqrt(p[0, 0].numel()))
            elif "to_rgb" in name and name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith(".weight") and p.shape == (1,):
                p.copy_(0.3 * torch.randn(1, generator=g))


def main():
    manifest = []
    for i, (name, args) in enumerate(CASES):
        torch.manual_seed(i)
        model = GFPGANv1Clean(**args)
        randomize(model, 12000 + i)
        stylegan_init(model, 12100 + i)
        size = args["out_size"]
        write_case(manifest, name, model, random_input(12500 + i, 3, size, size), detection(args), PTH.get(name))
    save_manifest(manifest, "gfpgan.json")
    # The released network's keys and shapes (no weights), for detection at the real size.
    with torch.no_grad():
        real = GFPGANv1Clean()
    shapes = {k: list(v.shape) for k, v in real.state_dict().items()}
    with open(os.path.join(FIXTURES, "gfpgan-v1.4-shapes.json"), "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in shapes.items()) + "\n}\n")
    print(f"gfpgan-v1.4-shapes.json: {len(shapes)} keys, {sum(math.prod(s) for s in shapes.values())} values")


if __name__ == "__main__":
    main()
