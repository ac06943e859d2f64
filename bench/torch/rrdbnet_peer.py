#!/usr/bin/python3
"""
The PyTorch column of `npm run bench:byo`: load the BYO ESRGAN's safetensors file into the
reference RRDBNet (scripts/pytorch-fixtures/make_fixtures.py), run it on the same random tiles
with the same thread count, and print {"torch": version, "tiles": {side: [ms, ...]}} as JSON.

    /usr/bin/python3 bench/torch/rrdbnet_peer.py FILE.safetensors THREADS RUNS SIDE [SIDE ...]
"""
import importlib.util
import json
import os
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'make_fixtures', os.path.join(HERE, '..', '..', 'scripts', 'pytorch-fixtures', 'make_fixtures.py'))
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)


def read_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[8 + n + a: 8 + n + b], dtype='<f4').reshape(v['shape']).copy())
    return out


def main():
    path, threads, runs, sides = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [int(s) for s in sys.argv[4:]]
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    sd = read_safetensors(path)
    nf = sd['conv_first.weight'].shape[0]
    gc = sd['body.0.rdb1.conv1.weight'].shape[0]
    nb = 1 + max(int(k.split('.')[1]) for k in sd if k.startswith('body.'))
    model = fixtures.RRDBNet(nf=nf, nb=nb, gc=gc, ups=2).eval()
    model.load_state_dict(sd)
    tiles = {}
    for side in sides:
        x = torch.rand(1, 3, side, side)
        model(x)  # warm-up
        ms = []
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            ms.append((time.perf_counter() - t) * 1000)
        tiles[side] = ms
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'tiles': tiles}))


if __name__ == '__main__':
    main()
