"""Full-size random-weight networks for bench/pytorch-archs.ts: saves each state dict, an input
tile and PyTorch's output for it, and prints PyTorch's own timing (one JSON line per model).

    /usr/bin/python3 scripts/pytorch-fixtures/bench_models.py OUT_DIR SIDE RUNS [id ...]

The configurations are the published ones (SwinIR-light/-M, HAT-S, DAT-light, RealPLKSR,
OmniSR); only the weights are random. Nothing here is committed.
"""

import json
import os
import sys
import time

import torch

from common import randomize, save_safetensors
from dat import DAT, randomize_batchnorm
from hat import HAT
from omnisr import OmniSR
from plksr import PLKSR
from swinir import SwinIR

MODELS = {
    "swinir-light-x2": lambda: SwinIR(
        embed_dim=60, depths=(6,) * 4, num_heads=(6,) * 4, window_size=8, mlp_ratio=2.0, upscale=2,
        upsampler="pixelshuffledirect", img_size=64,
    ),
    "swinir-m-x2": lambda: SwinIR(
        embed_dim=180, depths=(6,) * 6, num_heads=(6,) * 6, window_size=8, mlp_ratio=2.0, upscale=2,
        upsampler="pixelshuffle", num_feat=64, img_size=64,
    ),
    "hat-s-x2": lambda: HAT(
        embed_dim=144, depths=(6,) * 6, num_heads=(6,) * 6, window_size=16, compress_ratio=24,
        squeeze_factor=24, overlap_ratio=0.5, mlp_ratio=2.0, upscale=2, num_feat=64,
    ),
    "dat-light-x2": lambda: DAT(
        embed_dim=60, split_size=(8, 32), depth=(18,), num_heads=(6,), expansion_factor=2.0, upscale=2,
        resi_connection="3conv", upsampler="pixelshuffledirect",
    ),
    "realplksr-x4": lambda: PLKSR(dim=64, n_blocks=28, scale=4, kernel=17, split_ratio=0.25, real=True),
    "omnisr-x4": lambda: OmniSR(num_feat=64, block_num=1, pe=True, window_size=8, res_num=5, up_scale=4),
}


def main():
    out_dir, side, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ids = sys.argv[4:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    for i, model_id in enumerate(ids):
        torch.manual_seed(i)
        model = MODELS[model_id]()
        randomize(model, 100 + i)
        randomize_batchnorm(model, 200 + i)
        model.eval()
        x = torch.rand((1, 3, side, side), generator=torch.Generator().manual_seed(300 + i))
        with torch.no_grad():
            y = model(x)  # warm-up, and the reference output
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t) * 1000)
        save_safetensors(os.path.join(out_dir, f"{model_id}.safetensors"), model.state_dict())
        save_safetensors(os.path.join(out_dir, f"{model_id}.io.safetensors"), {"input": x, "output": y})
        print(json.dumps({"id": model_id, "torchMs": times, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
