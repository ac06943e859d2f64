"""RestoreFormer++ and RestoreFormer (wzhouxiff/RestoreFormerPlusPlus, VQVAEGANMultiHeadTransformer):
forward pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/restoreformer.py
Writes test/fixtures/pytorch/restoreformer-*.safetensors, their .io.safetensors, restoreformer.json
and restoreformer-pp-shapes.json (every key and shape of the released 512² RestoreFormer++).

The released models are VQVAEGANMultiHeadTransformer(ch=64, ch_mult=(1, 2, 2, 4, 4, 8),
z_channels=256, embed_dim=256, n_embed=1024, attn_resolutions=(16,)) with head_size=4 and
ex_multi_scale_num=1 (RestoreFormer++: the decoder also cross-attends at 32²) or head_size=8 and
ex_multi_scale_num=0 (RestoreFormer). The fixtures keep the block structure and keys with fewer
levels (64² in, the same 16×16 latent), ch 32 (GroupNorm keeps its 32 groups) and a small codebook.
The released RestoreFormer++.ckpt nests the weights under state_dict with a `vqvae.` prefix
beside training-only keys; one fixture is saved that way.

Forward as the repository's RestoreFormer helper runs it: input normalised to [-1, 1], the
decoder's output read with min_max (-1, 1); here the model takes [0, 1] RGB and returns [0, 1].
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from common import FIXTURES, random_input, randomize, save_manifest, write_case


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.project = cin != cout
        if self.project:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv2(swish(self.norm2(self.conv1(swish(self.norm1(x))))))
        return (self.nin_shortcut(x) if self.project else x) + h


class MultiHeadAttnBlock(nn.Module):
    """Self-attention, or cross-attention with queries from `y` (normalised by norm2)."""

    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = norm(c)
        self.norm2 = norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, y=None):
        h = self.norm1(x)
        y = h if y is None else self.norm2(y)
        b, c, hh, ww = x.shape
        d = c // self.heads

        def split(t):  # b, heads, hw, d
            return t.reshape(b, self.heads, d, hh * ww).permute(0, 1, 3, 2)

        q = split(self.q(y)) * (int(d) ** -0.5)
        k = split(self.k(h))
        v = split(self.v(h))
        a = F.softmax(q @ k.transpose(2, 3), dim=3) @ v  # b, heads, hw, d
        out = a.permute(0, 2, 1, 3).reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return x + self.proj_out(out)


class Level(nn.Module):
    pass


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, res_blocks, attn_res, size, z, heads):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, 1, 1)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(ch_mult):
            lvl = Level()
            lvl.block = nn.ModuleList()
            lvl.attn = nn.ModuleList()
            for _ in range(res_blocks):
                lvl.block.append(ResnetBlock(cin, ch * m))
                cin = ch * m
                if size in attn_res:
                    lvl.attn.append(MultiHeadAttnBlock(cin, heads))
            if i != len(ch_mult) - 1:
                lvl.downsample = Level()
                lvl.downsample.conv = nn.Conv2d(cin, cin, 3, 2, 0)
                size //= 2
            self.down.append(lvl)
        self.mid = Level()
        self.mid.block_1 = ResnetBlock(cin, cin)
        self.mid.attn_1 = MultiHeadAttnBlock(cin, heads)
        self.mid.block_2 = ResnetBlock(cin, cin)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, z, 3, 1, 1)

    def forward(self, x):
        hs = {}
        h = self.conv_in(x)
        last = len(self.down) - 1
        for i, lvl in enumerate(self.down):
            for j, block in enumerate(lvl.block):
                h = block(h)
                if len(lvl.attn) > 0:
                    h = lvl.attn[j](h)
            if i != last:
                hs[f"block_{i}"] = h
                h = lvl.downsample.conv(F.pad(h, (0, 1, 0, 1)))
        h = self.mid.block_1(h)
        hs[f"block_{last}_atten"] = h
        h = self.mid.block_2(self.mid.attn_1(h))
        hs["mid_atten"] = h
        hs["out"] = self.conv_out(swish(self.norm_out(h)))
        return hs


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, res_blocks, attn_res, size, z, heads):
        super().__init__()
        cin = ch * ch_mult[-1]
        size //= 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z, cin, 3, 1, 1)
        self.mid = Level()
        self.mid.block_1 = ResnetBlock(cin, cin)
        self.mid.attn_1 = MultiHeadAttnBlock(cin, heads)
        self.mid.block_2 = ResnetBlock(cin, cin)
        self.up = nn.ModuleList()
        for i in reversed(range(len(ch_mult))):
            lvl = Level()
            lvl.block = nn.ModuleList()
            lvl.attn = nn.ModuleList()
            for _ in range(res_blocks + 1):
                lvl.block.append(ResnetBlock(cin, ch * ch_mult[i]))
                cin = ch * ch_mult[i]
                if size in attn_res:
                    lvl.attn.append(MultiHeadAttnBlock(cin, heads))
            if i != 0:
                lvl.upsample = Level()
                lvl.upsample.conv = nn.Conv2d(cin, cin, 3, 1, 1)
                size *= 2
            self.up.insert(0, lvl)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, 1, 1)

    def forward(self, z, hs):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h), hs["mid_atten"]))
        for i in reversed(range(len(self.up))):
            lvl = self.up[i]
            for j, block in enumerate(lvl.block):
                h = block(h)
                if len(lvl.attn) > 0:
                    key = f"block_{i}_atten" if f"block_{i}_atten" in hs else f"block_{i}"
                    h = lvl.attn[j](h, hs[key])
            if i != 0:
                h = lvl.upsample.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.conv_out(swish(self.norm_out(h)))


class Quantizer(nn.Module):
    def __init__(self, n, dim):
        super().__init__()
        self.embedding = nn.Embedding(n, dim)

    def forward(self, z):
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        e = self.embedding.weight
        d = (flat**2).sum(1, keepdim=True) + (e**2).sum(1) - 2 * flat @ e.t()
        idx = torch.min(d, dim=1)[1]
        return e[idx].view(b, h, w, c).permute(0, 3, 1, 2), d


class VQVAEGANMultiHeadTransformer(nn.Module):
    def __init__(self, n_embed=1024, embed_dim=256, ch=64, ch_mult=(1, 2, 2, 4, 4, 8), res_blocks=2, size=512,
                 z_channels=256, head_size=4, ex_multi_scale_num=1):
        super().__init__()
        latent = size // 2 ** (len(ch_mult) - 1)
        self.encoder = Encoder(ch, ch_mult, res_blocks, [latent], size, z_channels, head_size)
        dec_attn = [latent]
        for _ in range(ex_multi_scale_num):
            dec_attn = [dec_attn[0], dec_attn[-1] * 2]
        self.decoder = Decoder(ch, ch_mult, res_blocks, dec_attn, size, z_channels, head_size)
        self.quantize = Quantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)

    def forward(self, x01):
        hs = self.encoder((x01 - 0.5) / 0.5)
        quant, self.distances = self.quantize(self.quant_conv(hs["out"]))
        dec = self.decoder(self.post_quant_conv(quant), hs)
        return ((dec + 1) / 2).clamp(0, 1)


CASES = [
    ("restoreformer-pp-64", dict(ch=32, ch_mult=(1, 1, 2), size=64, z_channels=32, embed_dim=32, n_embed=64,
                                 head_size=4, ex_multi_scale_num=1)),
    ("restoreformer-64", dict(ch=32, ch_mult=(1, 1, 2), size=64, z_channels=32, embed_dim=16, n_embed=48,
                              head_size=8, ex_multi_scale_num=0)),
]


def detection(a):
    plus = a["ex_multi_scale_num"] == 1
    return {
        "arch": "restoreformer",
        "variantIncludes": "RestoreFormer++" if plus else "RestoreFormer",
        "scale": 1,
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": a["size"],
        "params": {
            "face": True,
            "size": a["size"],
            "latent": a["size"] // 2 ** (len(a["ch_mult"]) - 1),
            "plusPlus": plus,
            "heads": a["head_size"],
            "codebook": a["n_embed"],
            "prefix": "",
        },
    }


def main():
    manifest = []
    for i, (name, args) in enumerate(CASES):
        torch.manual_seed(i)
        model = VQVAEGANMultiHeadTransformer(**args)
        randomize(model, 14000 + i)
        with torch.no_grad():
            model.decoder.conv_out.weight.mul_(0.25)
        x = random_input(14500 + i, 3, args["size"], args["size"])
        write_case(manifest, name, model, x, detection(args))
        top2 = torch.topk(-model.distances, 2, dim=1)[0]
        print(f"  smallest nearest/second-nearest distance gap {(top2[:, 0] - top2[:, 1]).min().item():.3g}")
        if i == 0:
            # As the released RestoreFormer++.ckpt: under state_dict, with a vqvae. prefix, beside other keys.
            sd = {f"vqvae.{k}": v for k, v in model.state_dict().items()}
            sd["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
            torch.save({"state_dict": sd, "epoch": 1}, os.path.join(FIXTURES, f"{name}.ckpt"))
            manifest[-1]["ckpt"] = f"{name}.ckpt"
    save_manifest(manifest, "restoreformer.json")
    real = VQVAEGANMultiHeadTransformer()
    shapes = {k: list(v.shape) for k, v in real.state_dict().items()}
    with open(os.path.join(FIXTURES, "restoreformer-pp-shapes.json"), "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in shapes.items()) + "\n}\n")
    print(f"restoreformer-pp-shapes.json: {len(shapes)} keys, {sum(math.prod(s) for s in shapes.values())} values")


if __name__ == "__main__":
    main()
