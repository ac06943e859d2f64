#!/usr/bin/python3
"""
Reference fixtures for Pixelift's PyTorch importer (test/fixtures/pytorch/).

Defines each architecture's forward pass in PyTorch (written from the papers' and spandrel's
descriptions), builds tiny random-weight models of every variant Pixelift recognises, saves them
in each file format (safetensors, torch zip .pth, legacy pre-1.6 .pth, wrapped in params_ema /
module. etc.), and records an input and PyTorch's own output. Tests compare Pixelift's
onnxruntime output with these; CI needs no torch.

Also writes the refusal fixtures: pickles that would run code (os.system, posix.system,
builtins.eval), a pickled whole model object, and a state dict no architecture knows.

Regenerate (needs torch >= 1.6 and numpy; Debian: apt-get install python3-torch):
    /usr/bin/python3 scripts/pytorch-fixtures/make_fixtures.py
Deterministic: fixed seeds, so rerunning reproduces the files up to PyTorch version drift.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT = os.path.normpath(os.path.join(ROOT, 'test', 'fixtures', 'pytorch'))
# The marker every malicious fixture tries to create; the test asserts it never appears.
PWNED_MARKER = '/tmp/pixelift-pickle-pwned-marker'

torch.set_grad_enabled(False)


# --- architectures ---------------------------------------------------------------------------

class RDB(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)

    def forward(self, x):
        lrelu = lambda v: F.leaky_relu(v, 0.2)
        x1 = lrelu(self.conv1(x))
        x2 = lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = RDB(nf, gc), RDB(nf, gc), RDB(nf, gc)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """BasicSR key names; `ups` nearest+conv 2x stages; `shuffle` Real-ESRGAN pixel-unshuffle input."""

    def __init__(self, in_ch=3, out_ch=3, nf=4, nb=2, gc=2, ups=2, shuffle=1):
        super().__init__()
        self.ups, self.shuffle = ups, shuffle
        self.conv_first = nn.Conv2d(in_ch * shuffle * shuffle, nf, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
        for i in range(1, ups + 1):
            setattr(self, f'conv_up{i}', nn.Conv2d(nf, nf, 3, 1, 1))
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, out_ch, 3, 1, 1)

    def forward(self, x):
        h, w = x.shape[2:]
        r = self.shuffle
        if r > 1:
            x = F.pad(x, (0, (r - w % r) % r, 0, (r - h % r) % r), mode='reflect')
            x = F.pixel_unshuffle(x, r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.ups + 1):
            feat = F.leaky_relu(getattr(self, f'conv_up{i}')(F.interpolate(feat, scale_factor=2, mode='nearest')), 0.2)
        out = self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))
        if r > 1:
            s = 2 ** self.ups // r
            out = out[:, :, : h * s, : w * s]
        return out


def esrgan_keys(sd, layout, nb, ups):
    """BasicSR names → the ESRGAN (RRDB_trunk) or old ESRGAN (model.N) layout."""
    out = OrderedDict()
    for k, v in sd.items():
        if layout == 'esrgan':
            k = (k.replace('conv_body', 'trunk_conv').replace('body.', 'RRDB_trunk.').replace('.rdb', '.RDB')
                 .replace('conv_up', 'upconv').replace('conv_hr', 'HRconv'))
        elif layout == 'old':
            p, kind = k.rsplit('.', 1)
            if p == 'conv_first':
                p = 'model.0'
            elif p.startswith('body.'):
                _, b, rdb, conv = p.split('.')
                p = f'model.1.sub.{b}.RDB{rdb[3:]}.{conv}.0'
            elif p == 'conv_body':
                p = f'model.1.sub.{nb}'
            elif p.startswith('conv_up'):
                p = f'model.{3 * int(p[7:])}'
            elif p == 'conv_hr':
                p = f'model.{3 * ups + 2}'
            elif p == 'conv_last':
                p = f'model.{3 * ups + 4}'
            k = f'{p}.{kind}'
        out[k] = v
    return out


class SRVGGNetCompact(nn.Module):
    def __init__(self, in_ch=3, nf=8, num_conv=2, scale=4, act='prelu'):
        super().__init__()
        self.scale = scale
        make_act = lambda: nn.PReLU(num_parameters=nf) if act == 'prelu' else nn.ReLU()
        layers = [nn.Conv2d(in_ch, nf, 3, 1, 1), make_act()]
        for _ in range(num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), make_act()]
        layers.append(nn.Conv2d(nf, in_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        return F.pixel_shuffle(out, self.scale) + F.interpolate(x, scale_factor=self.scale, mode='nearest')


class Conv3XC(nn.Module):
    """SPAN's re-parameterisable conv; at inference the fused 3x3 is recomputed from conv/sk."""

    def __init__(self, c_in, c_out, gain=2):
        super().__init__()
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, c_in * gain, 1), nn.Conv2d(c_in * gain, c_out * gain, 3),
                                  nn.Conv2d(c_out * gain, c_out, 1))
        # Stored but stale, as in files whose eval_conv was saved before the last update.
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def fused(self):
        w1, b1 = self.conv[0].weight, self.conv[0].bias
        w2, b2 = self.conv[1].weight, self.conv[1].bias
        w3, b3 = self.conv[2].weight, self.conv[2].bias
        w = F.conv2d(w1.flip(2, 3).permute(1, 0, 2, 3), w2, padding=2).flip(2, 3).permute(1, 0, 2, 3)
        b = (w2 * b1.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b2
        w = F.conv2d(w.flip(2, 3).permute(1, 0, 2, 3), w3).flip(2, 3).permute(1, 0, 2, 3)
        b = (w3 * b.reshape(1, -1, 1, 1)).sum((1, 2, 3)) + b3
        return w + F.pad(self.sk.weight, [1, 1, 1, 1]), b + self.sk.bias

    def forward(self, x):
        w, b = self.fused()
        return F.conv2d(x, w, b, padding=1)


class SPAB(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r = Conv3XC(c, c), Conv3XC(c, c), Conv3XC(c, c)

    def forward(self, x):
        out1 = self.c1_r(x)
        out2 = self.c2_r(F.silu(out1))
        out3 = self.c3_r(F.silu(out2))
        att = torch.sigmoid(out3) - 0.5
        return (out3 + x) * att, out1


class SPAN(nn.Module):
    def __init__(self, in_ch=3, nf=4, scale=4, norm=True):
        super().__init__()
        self.norm, self.scale = norm, scale
        self.mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
        if not norm:
            self.register_buffer('no_norm', torch.zeros(1))
        self.conv_1 = Conv3XC(in_ch, nf)
        for i in range(1, 7):
            setattr(self, f'block_{i}', SPAB(nf))
        self.conv_cat = nn.Conv2d(nf * 4, nf, 1)
        self.conv_2 = Conv3XC(nf, nf)
        self.upsampler = nn.Sequential(nn.Conv2d(nf, in_ch * scale * scale, 3, 1, 1), nn.PixelShuffle(scale))

    def forward(self, x):
        if self.norm:
            x = (x - self.mean) * 255.0
        f = self.conv_1(x)
        b1, _ = self.block_1(f)
        b2, _ = self.block_2(b1)
        b3, _ = self.block_3(b2)
        b4, _ = self.block_4(b3)
        b5, _ = self.block_5(b4)
        b6, b5_2 = self.block_6(b5)
        b6 = self.conv_2(b6)
        return self.upsampler(self.conv_cat(torch.cat([f, b6, b1, b5_2], 1)))


# --- file formats ------------------------------------------------------------------------------

def save_safetensors(sd, path, dtype='F32'):
    header, blobs, offset = {}, [], 0
    for k, v in sd.items():
        v = v.detach().cpu()
        if dtype == 'BF16':
            b = v.bfloat16().view(torch.int16).numpy().tobytes()
        else:
            b = v.numpy().astype({'F32': np.float32, 'F16': np.float16}[dtype]).tobytes()
        header[k] = {'dtype': dtype, 'shape': list(v.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def save(obj, name, legacy=False):
    torch.save(obj, os.path.join(OUT, name), _use_new_zipfile_serialization=not legacy)


def write_f32(arr, name):
    np.ascontiguousarray(arr.detach().numpy(), dtype='<f4').tofile(os.path.join(OUT, name))


# --- the fixtures --------------------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f != 'README.md':
            os.remove(os.path.join(OUT, f))
    torch.manual_seed(1234)
    # Odd sides: the pixel-unshuffle variants pad (reflect) to a multiple and crop back.
    x = torch.rand(1, 3, 13, 10)
    write_f32(x, 'input-13x10.f32')
    cases = []

    def case(name, model, files, arch, scale, variant_params, sd_for=None, half=False):
        model.eval()
        if half:
            # The stored weights are fp16; PyTorch's reference runs them widened to fp32.
            for p in model.parameters():
                p.copy_(p.half().float())
        y = model(x)
        write_f32(y, f'{name}.out.f32')
        sd = model.state_dict()
        for fname, writer in files:
            writer(sd if sd_for is None else sd_for(sd), fname)
        cases.append({'name': name, 'arch': arch, 'scale': scale, 'params': variant_params,
                      'files': [f for f, _ in files], 'input': 'input-13x10.f32', 'inputShape': list(x.shape),
                      'output': f'{name}.out.f32', 'outputShape': list(y.shape),
                      'paramCount': sum(v.numel() for v in model.state_dict().values()
                                        if not isinstance(model, SPAN))})
        print(f'{name}: out {tuple(y.shape)} range [{y.min():.3f}, {y.max():.3f}]')

    st = lambda sd, f: save_safetensors(sd, os.path.join(OUT, f))
    st16 = lambda sd, f: save_safetensors(sd, os.path.join(OUT, f), 'F16')
    pth = lambda sd, f: save(sd, f)
    legacy = lambda sd, f: save(sd, f, legacy=True)

    # ESRGAN / RRDBNet: every layout and scale.
    m = RRDBNet(ups=2)
    case('esrgan-basicsr-x4', m, [('esrgan-basicsr-x4.safetensors', st), ('esrgan-basicsr-x4.pth', pth),
                                  ('esrgan-basicsr-x4.legacy.pth', legacy)], 'esrgan', 4,
         {'layout': 'basicsr', 'blocks': 2, 'nf': 4, 'gc': 2, 'shuffle': 1})
    # BasicSR training checkpoint: params_ema (what must be used) beside different params.
    other = RRDBNet(ups=2).state_dict()
    m = RRDBNet(ups=2)
    case('esrgan-basicsr-x4-ema', m, [('esrgan-basicsr-x4-ema.pth',
                                       lambda sd, f: save({'params': other, 'params_ema': sd, 'iter': 5000}, f))],
         'esrgan', 4, {'layout': 'basicsr'})
    m = RRDBNet(ups=2)
    case('esrgan-new-x4', m, [('esrgan-new-x4.pth', pth)], 'esrgan', 4, {'layout': 'esrgan'},
         sd_for=lambda sd: esrgan_keys(sd, 'esrgan', 2, 2))
    m = RRDBNet(ups=2)
    case('esrgan-old-x4', m, [('esrgan-old-x4.legacy.pth', legacy)], 'esrgan', 4, {'layout': 'old'},
         sd_for=lambda sd: esrgan_keys(sd, 'old', 2, 2))
    m = RRDBNet(ups=3)
    case('esrgan-old-x8', m, [('esrgan-old-x8.pth', pth)], 'esrgan', 8, {'layout': 'old'},
         sd_for=lambda sd: esrgan_keys(sd, 'old', 2, 3))
    m = RRDBNet(ups=0)
    case('esrgan-old-x1', m, [('esrgan-old-x1.safetensors', st)], 'esrgan', 1, {'layout': 'old', 'shuffle': 1},
         sd_for=lambda sd: esrgan_keys(sd, 'old', 2, 0))
    m = RRDBNet(ups=2, shuffle=2)
    case('esrgan-basicsr-x2-unshuffle', m, [('esrgan-basicsr-x2-unshuffle.pth', pth)], 'esrgan', 2,
         {'layout': 'basicsr', 'shuffle': 2})
    m = RRDBNet(ups=2, shuffle=4)
    case('esrgan-basicsr-x1-unshuffle', m, [('esrgan-basicsr-x1-unshuffle.safetensors', st)], 'esrgan', 1,
         {'layout': 'basicsr', 'shuffle': 4})
    # fp16 weights (safetensors F16, and a zip checkpoint of HalfStorage) under DataParallel's module.
    m = RRDBNet(ups=2)
    case('esrgan-basicsr-x4-fp16', m, [
        ('esrgan-basicsr-x4-fp16.safetensors', st16),
        ('esrgan-basicsr-x4-fp16-module.pth',
         lambda sd, f: save(OrderedDict(('module.' + k, v.half()) for k, v in sd.items()), f)),
    ], 'esrgan', 4, {'layout': 'basicsr'}, half=True)

    # bf16 weights: safetensors BF16 and a zip checkpoint of BFloat16Storage.
    m = SRVGGNetCompact(act='prelu', scale=4)
    for p in m.parameters():
        p.copy_(p.bfloat16().float())
    case('srvgg-prelu-x4-bf16', m, [
        ('srvgg-prelu-x4-bf16.safetensors', lambda sd, f: save_safetensors(sd, os.path.join(OUT, f), 'BF16')),
        ('srvgg-prelu-x4-bf16.pth', lambda sd, f: save(OrderedDict((k, v.bfloat16()) for k, v in sd.items()), f)),
    ], 'srvgg', 4, {'act': 'prelu'})
    # A training checkpoint as research code saves it: pickle protocol 4 (FRAME, MEMOIZE,
    # STACK_GLOBAL), numpy scalars and arrays and an argparse.Namespace beside the weights.
    import argparse
    m = SRVGGNetCompact(act='prelu', scale=4)
    case('srvgg-prelu-x4-training', m, [('srvgg-prelu-x4-training.pth', lambda sd, f: torch.save(
        {'net_g': sd, 'epoch': np.int64(12), 'psnr': np.float32(27.5), 'lr_history': np.array([1e-4, 5e-5]),
         'args': argparse.Namespace(lr=1e-4, scale=4, name='compact')},
        os.path.join(OUT, f), pickle_protocol=4))], 'srvgg', 4, {'act': 'prelu'})

    # SRVGGNetCompact: PReLU (released models) and ReLU.
    m = SRVGGNetCompact(act='prelu', scale=4)
    case('srvgg-prelu-x4', m, [('srvgg-prelu-x4.pth', pth), ('srvgg-prelu-x4.legacy.pth',
                                                           lambda sd, f: save({'params': sd}, f, legacy=True))],
         'srvgg', 4, {'act': 'prelu', 'numConv': 2, 'nf': 8})
    m = SRVGGNetCompact(act='relu', scale=2, num_conv=3)
    case('srvgg-relu-x2', m, [('srvgg-relu-x2.safetensors', st)], 'srvgg', 2, {'act': 'relu', 'numConv': 3})

    # SPAN, with DIV2K-mean normalisation and without (no_norm). Small weights keep the
    # x255-normalised activations in range.
    m = SPAN(scale=4)
    for p in m.parameters():
        p.mul_(0.25)
    case('span-x4', m, [('span-x4.pth', pth)], 'span', 4, {'norm': True, 'nf': 4})
    m = SPAN(scale=2, norm=False)
    case('span-x2-nonorm', m, [('span-x2-nonorm.safetensors', st)], 'span', 2, {'norm': False})

    write_refusals()
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=1)
        f.write('\n')


class Evil:
    """Pickles as a call of `fn(arg)`: what torch.load would execute."""

    def __init__(self, module, name, arg):
        self.module, self.name, self.arg = module, name, arg

    def __reduce__(self):
        import importlib
        return getattr(importlib.import_module(self.module), self.name), (self.arg,)


def zip_checkpoint(obj_pickle, path):
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', obj_pickle)
        z.writestr('archive/version', '3\n')


def write_refusals():
    touch = f'touch {PWNED_MARKER}'
    # A real state dict with one extra entry that runs a shell command when torch.load reads it.
    sd = SRVGGNetCompact().state_dict()
    buf = io.BytesIO()
    torch.save(OrderedDict(sd, payload=Evil('os', 'system', touch)), buf)
    with open(os.path.join(OUT, 'evil-os-system.pth'), 'wb') as f:
        f.write(buf.getvalue())
    # builtins.eval in a bare pickle inside a zip checkpoint.
    zip_checkpoint(pickle.dumps({'w': Evil('builtins', 'eval', f"__import__('os').system('{touch}')")}, protocol=2),
                   os.path.join(OUT, 'evil-builtins-eval.pth'))
    # posix.system in a legacy-format checkpoint (its header pickles are genuine).
    buf = io.BytesIO()
    torch.save({'w': torch.zeros(1)}, buf, _use_new_zipfile_serialization=False)
    head = buf.getvalue()
    # Keep the three header pickles, replace the object pickle with the payload.
    stream = io.BytesIO(head)
    for _ in range(3):
        pickle.load(stream)
    with open(os.path.join(OUT, 'evil-posix-system.legacy.pth'), 'wb') as f:
        f.write(head[: stream.tell()] + pickle.dumps(Evil('posix', 'system', touch), protocol=2)
                + pickle.dumps([], protocol=2))
    # A whole pickled model object (torch.save(model)): its class is a global outside the list.
    save(SRVGGNetCompact(), 'whole-model-object.pth')
    # A state dict no architecture recognises.
    save_safetensors(OrderedDict([('encoder.layer0.weight', torch.zeros(4, 3, 3, 3)),
                                  ('decoder.head.bias', torch.zeros(4))]),
                     os.path.join(OUT, 'unknown-arch.safetensors'))
    # The fixtures are armed: Python's pickle would create the marker. Prove it on one, then clean up.
    if os.path.exists(PWNED_MARKER):
        os.remove(PWNED_MARKER)
    with zipfile.ZipFile(os.path.join(OUT, 'evil-builtins-eval.pth')) as z:
        pickle.loads(z.read('archive/data.pkl'))
    assert os.path.exists(PWNED_MARKER), 'the malicious fixture should run code under plain pickle'
    os.remove(PWNED_MARKER)


if __name__ == '__main__':
    sys.exit(main())
