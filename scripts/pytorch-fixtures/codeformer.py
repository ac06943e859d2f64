"""CodeFormer (sczhou/CodeFormer, basicsr/archs/codeformer_arch.py and vqgan_arch.py): forward
pass and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/codeformer.py
Writes test/fixtures/pytorch/codeformer-*.safetensors, their .io.safetensors, codeformer.json and
codeformer-shapes.json (every key and shape of the released 512² network, for detection).

The released model is CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024,
connect_list=['32', '64', '128', '256']) over VQAutoEncoder(512, nf=64, ch_mult=[1, 2, 2, 4, 4, 8],
res_blocks=2, attn_resolutions=[16], emb_dim=256): five downsamplings from 512² to a 16×16
latent. CodeFormer hard-codes those; this class takes them as arguments so the fixtures can keep
the block structure and key layout with fewer levels (64² or 32² in, the same 16×16 latent),
nf 32 (GroupNorm keeps its 32 groups), a 32-wide latent, 64 codes and a 64-wide, 2-layer
transformer. The encoder/generator blocks whose features the fuse layers use are derived by the
rule the released tables follow (checked below against those tables).

Forward as inference_codeformer.py runs it: input normalised to [-1, 1], net(x, w=w, adain=True),
output clamped from [-1, 1]; here the model takes [0, 1] RGB and returns [0, 1].
"""

import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from common import FIXTURES, random_input, randomize, save_manifest, save_safetensors


def group_norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


def swish(x):
    return x * torch.sigmoid(x)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.conv_out = nn.Conv2d(cin, cout, 1)
        self.project = cin != cout

    def forward(self, x):
        y = self.conv2(swish(self.norm2(self.conv1(swish(self.norm1(x))))))
        return y + (self.conv_out(x) if self.project else x)


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = group_norm(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        b, c, hh, ww = x.shape
        q = self.q(h).reshape(b, c, -1).permute(0, 2, 1)
        k = self.k(h).reshape(b, c, -1)
        v = self.v(h).reshape(b, c, -1)
        attn = F.softmax(torch.bmm(q, k) * (int(c) ** (-0.5)), dim=2)
        out = torch.bmm(v, attn.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def encoder_blocks(nf, emb_dim, ch_mult, res_blocks, size, attn_sizes):
    blocks = [nn.Conv2d(3, nf, 3, 1, 1)]
    cin = nf
    for i, m in enumerate(ch_mult):
        for _ in range(res_blocks):
            blocks.append(ResBlock(cin, nf * m))
            cin = nf * m
            if size in attn_sizes:
                blocks.append(AttnBlock(cin))
        if i != len(ch_mult) - 1:
            blocks.append(Downsample(cin))
            size //= 2
    blocks += [ResBlock(cin, cin), AttnBlock(cin), ResBlock(cin, cin), group_norm(cin), nn.Conv2d(cin, emb_dim, 3, 1, 1)]
    return nn.ModuleList(blocks)


def generator_blocks(nf, emb_dim, ch_mult, res_blocks, size, attn_sizes):
    cin = nf * ch_mult[-1]
    size //= 2 ** (len(ch_mult) - 1)
    blocks = [nn.Conv2d(emb_dim, cin, 3, 1, 1), ResBlock(cin, cin), AttnBlock(cin), ResBlock(cin, cin)]
    for i in reversed(range(len(ch_mult))):
        for _ in range(res_blocks):
            blocks.append(ResBlock(cin, nf * ch_mult[i]))
            cin = nf * ch_mult[i]
            if size in attn_sizes:
                blocks.append(AttnBlock(cin))
        if i != 0:
            blocks.append(Upsample(cin))
            size *= 2
    blocks += [group_norm(cin), nn.Conv2d(cin, 3, 3, 1, 1)]
    return nn.ModuleList(blocks)


class Stack(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = blocks


class Quantizer(nn.Module):
    def __init__(self, n, dim):
        super().__init__()
        self.embedding = nn.Embedding(n, dim)


class TransformerSALayer(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads)
        self.linear1 = nn.Linear(dim, mlp)
        self.linear2 = nn.Linear(mlp, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x, pos):
        h = self.norm1(x)
        q = k = h + pos
        x = x + self.self_attn(q, k, value=h)[0]
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class FuseSftBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encode_enc = ResBlock(2 * c, c)
        self.scale = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1))
        self.shift = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, enc, dec, w):
        enc = self.encode_enc(torch.cat([enc, dec], dim=1))
        return dec + w * (dec * self.scale(enc) + self.shift(enc))


def block_sizes(blocks, size):
    """Spatial side of each block's output."""
    out = []
    for b in blocks:
        if isinstance(b, Downsample):
            size //= 2
        elif isinstance(b, Upsample):
            size *= 2
        out.append(size)
    return out


def fuse_indices(blocks, size, latent, encoder):
    """Block index after which each side's features are taken (encoder) or fused (generator).

    The rule behind CodeFormer's tables: the encoder's second ResBlock at that side; the
    generator's first ResBlock at that side, except at the latent side, its fourth (after the
    non-local ResBlock-Attn-ResBlock and the level's own first ResBlock and attention).
    """
    sizes = block_sizes(blocks, size)
    res = {}
    for i, (b, s) in enumerate(zip(blocks, sizes)):
        if isinstance(b, ResBlock):
            res.setdefault(s, []).append(i)
    pick = (lambda s: 1) if encoder else (lambda s: 3 if s == latent else 0)
    return {s: idx[pick(s)] for s, idx in res.items() if len(idx) > pick(s)}


def adain(content, style):
    def stats(f):
        flat = f.reshape(f.shape[0], f.shape[1], -1)
        return flat.mean(2).view(f.shape[0], -1, 1, 1), (flat.var(dim=2) + 1e-5).sqrt().view(f.shape[0], -1, 1, 1)

    sm, ss = stats(style)
    cm, cs = stats(content)
    return (content - cm) / cs * ss + sm


class CodeFormer(nn.Module):
    def __init__(self, size=512, nf=64, ch_mult=(1, 2, 2, 4, 4, 8), emb_dim=256, codebook_size=1024, dim_embd=512,
                 n_head=8, n_layers=9, connect_list=("32", "64", "128", "256")):
        super().__init__()
        self.latent = size // 2 ** (len(ch_mult) - 1)
        self.size = size
        self.emb_dim = emb_dim
        self.connect_list = list(connect_list)
        self.encoder = Stack(encoder_blocks(nf, emb_dim, ch_mult, 2, size, [self.latent]))
        self.quantize = Quantizer(codebook_size, emb_dim)
        self.generator = Stack(generator_blocks(nf, emb_dim, ch_mult, 2, size, [self.latent]))
        self.position_emb = nn.Parameter(torch.zeros(self.latent**2, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(*[TransformerSALayer(dim_embd, n_head, 2 * dim_embd) for _ in range(n_layers)])
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))
        channels = {}
        for b, s in zip(self.encoder.blocks, block_sizes(self.encoder.blocks, size)):
            if isinstance(b, ResBlock):
                channels[s] = b.conv2.out_channels
        self.fuse_convs_dict = nn.ModuleDict({s: FuseSftBlock(channels[int(s)]) for s in self.connect_list})
        self.enc_index = fuse_indices(self.encoder.blocks, size, self.latent, True)
        self.gen_index = fuse_indices(self.generator.blocks, self.latent, self.latent, False)

    def forward(self, x01, w):
        x = (x01 - 0.5) / 0.5
        taken = {self.enc_index[int(s)]: s for s in self.connect_list}
        enc = {}
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in taken:
                enc[taken[i]] = x.clone()
        lq = x
        tokens = self.feat_emb(lq.flatten(2).permute(2, 0, 1))
        pos = self.position_emb.unsqueeze(1)
        for layer in self.ft_layers:
            tokens = layer(tokens, pos)
        logits = self.idx_pred_layer(tokens).permute(1, 0, 2)
        top = torch.topk(F.softmax(logits, dim=2), 1, dim=2)[1].view(-1)
        quant = self.quantize.embedding.weight[top].view(1, self.latent, self.latent, self.emb_dim).permute(0, 3, 1, 2)
        x = adain(quant, lq)
        fuse = {self.gen_index[int(s)]: s for s in self.connect_list}
        for i, block in enumerate(self.generator.blocks):
            x = block(x)
            if i in fuse and w > 0:
                x = self.fuse_convs_dict[fuse[i]](enc[fuse[i]], x, w)
        return ((x + 1) / 2).clamp(0, 1), logits


# The released model's tables (codeformer_arch.py), which fuse_indices must reproduce.
RELEASED_ENCODER = {512: 2, 256: 5, 128: 8, 64: 11, 32: 14, 16: 18}
RELEASED_GENERATOR = {16: 6, 32: 9, 64: 12, 128: 15, 256: 18, 512: 21}

CASES = [
    # Three of the released five levels (64² → 16×16), connected at 32 and 64 as the release is.
    ("codeformer-64", dict(size=64, nf=32, ch_mult=(1, 1, 2), emb_dim=32, codebook_size=64, dim_embd=64, n_layers=2,
                           connect_list=("32", "64"))),
    # Two levels (32² → 16×16), also fused at the latent side (the tables' special case).
    ("codeformer-32-fuse16", dict(size=32, nf=32, ch_mult=(1, 1), emb_dim=32, codebook_size=48, dim_embd=32,
                                  n_layers=1, connect_list=("16", "32"))),
]
WEIGHTS = (0.0, 0.5, 1.0)
PTH = {"codeformer-32-fuse16": "zip"}


def detection(a):
    return {
        "arch": "codeformer",
        "variantIncludes": "CodeFormer",
        "scale": 1,
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": a["size"],
        "params": {
            "face": True,
            "size": a["size"],
            "latent": a["size"] // 2 ** (len(a["ch_mult"]) - 1),
            "dim": a["dim_embd"],
            "heads": 8,
            "layers": a["n_layers"],
            "codebook": a["codebook_size"],
            "connect": sorted(int(s) for s in a["connect_list"]),
        },
    }


def main():
    real = CodeFormer()
    assert real.enc_index == RELEASED_ENCODER, real.enc_index
    assert real.gen_index == RELEASED_GENERATOR, real.gen_index
    manifest = []
    for i, (name, args) in enumerate(CASES):
        torch.manual_seed(i)
        model = CodeFormer(**args)
        randomize(model, 13000 + i)
        with torch.no_grad():
            model.position_emb.copy_(torch.randn(model.position_emb.shape, generator=torch.Generator().manual_seed(13200 + i)))
            # a smaller last convolution keeps most of the image inside [-1, 1], off the clamp
            model.generator.blocks[-1].weight.mul_(0.25)
        model.eval()
        x = random_input(13500 + i, 3, args["size"], args["size"])
        io = {"input": x}
        with torch.no_grad():
            for w in WEIGHTS:
                y, logits = model(x, w)
                io[f"output_w{w}"] = y
            top2 = torch.topk(logits, 2, dim=2)[0]
            gap = (top2[..., 0] - top2[..., 1]).min().item()
            assert not torch.equal(io["output_w0.0"], io["output_w1.0"])
        sd = model.state_dict()
        save_safetensors(os.path.join(FIXTURES, f"{name}.safetensors"), sd)
        save_safetensors(os.path.join(FIXTURES, f"{name}.io.safetensors"), io)
        entry = {"name": name, "file": f"{name}.safetensors", "io": f"{name}.io.safetensors", "weights": list(WEIGHTS)}
        if name in PTH:
            torch.save({"params_ema": sd}, os.path.join(FIXTURES, f"{name}.pth"))
            entry["pth"] = f"{name}.pth"
        manifest.append({**entry, **detection(args)})
        print(f"{name}: {list(x.shape)}, smallest top-1/top-2 logit gap {gap:.3g}")
    save_manifest(manifest, "codeformer.json")
    shapes = {k: list(v.shape) for k, v in real.state_dict().items()}
    with open(os.path.join(FIXTURES, "codeformer-shapes.json"), "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in shapes.items()) + "\n}\n")
    print(f"codeformer-shapes.json: {len(shapes)} keys, {sum(math.prod(s) for s in shapes.values())} values")


if __name__ == "__main__":
    main()
