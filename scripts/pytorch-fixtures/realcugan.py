"""Real-CUGAN (bilibili/ailab, Real-CUGAN upcunet_v3): forward passes of UpCunet2x/3x/4x and fixtures.

Regenerate (from the repo root): /usr/bin/python3 scripts/pytorch-fixtures/realcugan.py
Writes test/fixtures/pytorch/realcugan-*.safetensors, their .io.safetensors and realcugan.json.

The released networks have fixed widths (32/64/128/256 channels, ~1.3 M parameters); the
fixtures divide every width by `shrink` so they stay small. Keys, kernels, strides, crops and
paddings are the real ones, and the importer reads widths from the weights' shapes.
"""

import torch
import torch.nn.functional as F
from torch import nn

from common import random_input, randomize, reflect_pad, save_manifest, write_case


def lrelu(x):
    return F.leaky_relu(x, 0.1)


def crop(x, n):
    return x[:, :, n:-n, n:-n]


class SEBlock(nn.Module):
    def __init__(self, c, reduction=8):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c // reduction, 1, 1, 0)
        self.conv2 = nn.Conv2d(c // reduction, c, 1, 1, 0)

    def forward(self, x):
        return x * torch.sigmoid(self.conv2(F.relu(self.conv1(x.mean(dim=(2, 3), keepdim=True)))))


class UNetConv(nn.Module):
    def __init__(self, cin, mid, cout, se):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, mid, 3, 1, 0), nn.LeakyReLU(0.1), nn.Conv2d(mid, cout, 3, 1, 0), nn.LeakyReLU(0.1))
        self.seblock = SEBlock(cout) if se else None

    def forward(self, x):
        z = self.conv(x)
        return self.seblock(z) if self.seblock is not None else z


class UNet1(nn.Module):
    def __init__(self, cin, cout, w, x3):
        super().__init__()
        self.conv1 = UNetConv(cin, w // 2, w, se=False)
        self.conv1_down = nn.Conv2d(w, w, 2, 2, 0)
        self.conv2 = UNetConv(w, 2 * w, w, se=True)
        self.conv2_up = nn.ConvTranspose2d(w, w, 2, 2, 0)
        self.conv3 = nn.Conv2d(w, w, 3, 1, 0)
        self.conv_bottom = nn.ConvTranspose2d(w, cout, 5, 3, 2) if x3 else nn.ConvTranspose2d(w, cout, 4, 2, 3)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(lrelu(self.conv1_down(x1)))
        x2 = lrelu(self.conv2_up(x2))
        return self.conv_bottom(lrelu(self.conv3(crop(x1, 4) + x2)))


class UNet2(nn.Module):
    def __init__(self, cin, cout, w):
        super().__init__()
        self.conv1 = UNetConv(cin, w // 2, w, se=False)
        self.conv1_down = nn.Conv2d(w, w, 2, 2, 0)
        self.conv2 = UNetConv(w, w, 2 * w, se=True)
        self.conv2_down = nn.Conv2d(2 * w, 2 * w, 2, 2, 0)
        self.conv3 = UNetConv(2 * w, 4 * w, 2 * w, se=True)
        self.conv3_up = nn.ConvTranspose2d(2 * w, 2 * w, 2, 2, 0)
        self.conv4 = UNetConv(2 * w, w, w, se=True)
        self.conv4_up = nn.ConvTranspose2d(w, w, 2, 2, 0)
        self.conv5 = nn.Conv2d(w, w, 3, 1, 0)
        self.conv_bottom = nn.Conv2d(w, cout, 3, 1, 0)

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(lrelu(self.conv1_down(x1)))
        x3 = self.conv3(lrelu(self.conv2_down(x2)))
        x3 = lrelu(self.conv3_up(x3))
        x4 = lrelu(self.conv4_up(self.conv4(crop(x2, 4) + x3)))
        return self.conv_bottom(lrelu(self.conv5(crop(x1, 16) + x4)))


class UpCunet(nn.Module):
    def __init__(self, scale=2, channels=3, pro=False, shrink=8):
        super().__init__()
        w = 64 // shrink
        self.scale = scale
        if pro:
            self.register_buffer("pro", torch.zeros(1))
        self.is_pro = pro
        if scale == 4:
            self.unet1 = UNet1(channels, w, w, x3=False)
            self.unet2 = UNet2(w, w, w)
            self.conv_final = nn.Conv2d(w, 4 * channels, 3, 1, 0)
        else:
            self.unet1 = UNet1(channels, channels, w, x3=scale == 3)
            self.unet2 = UNet2(channels, channels, w)

    def forward(self, x):
        h0, w0 = x.shape[2:]
        if self.is_pro:
            x = x * 0.7 + 0.15
        x00 = x
        m, border = {2: (2, 18), 3: (4, 14), 4: (2, 19)}[self.scale]
        ph, pw = ((h0 - 1) // m + 1) * m, ((w0 - 1) // m + 1) * m
        x = reflect_pad(x, border, border + pw - w0, border, border + ph - h0)
        x = self.unet1(x)
        x = self.unet2(x) + crop(x, 20)
        if self.scale == 4:
            x = F.pixel_shuffle(crop(self.conv_final(x), 1), 2)
        x = x[:, :, : h0 * self.scale, : w0 * self.scale]
        if self.scale == 4:
            x = x + F.interpolate(x00, scale_factor=4, mode="nearest")
        if self.is_pro:
            x = (x - 0.15) / 0.7
        return x


CASES = [
    ("realcugan-x2", dict(scale=2), (21, 22)),
    ("realcugan-pro-x3", dict(scale=3, pro=True), (18, 23)),
    ("realcugan-x4", dict(scale=4), (21, 23)),
    # Smaller than the 18 px reflect border: the extended padding repeats the edge.
    ("realcugan-tiny-input-x2", dict(scale=2), (6, 5)),
]

PTH = {"realcugan-x2": "zip"}


def detection(args):
    a = dict(scale=2, pro=False)
    a.update(args)
    return {
        "arch": "realcugan",
        "variantIncludes": "Real-CUGAN",
        "scale": a["scale"],
        "inputChannels": 3,
        "outputChannels": 3,
        "sizeMultiple": 1,
        "params": {"pro": a["pro"]},
    }


def main():
    manifest = []
    for i, (name, args, (h, w)) in enumerate(CASES):
        torch.manual_seed(i)
        model = UpCunet(**args)
        randomize(model, 11000 + i)
        write_case(manifest, name, model, random_input(11500 + i, 3, h, w), detection(args), PTH.get(name))
    save_manifest(manifest, "realcugan.json")


if __name__ == "__main__":
    main()
