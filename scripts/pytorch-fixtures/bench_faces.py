"""Full-size random-weight face restorers for bench/face-restorers.ts: GFPGAN v1.4 (GFPGANv1Clean as
GFPGANer builds it), CodeFormer (as inference_codeformer.py builds it) and RestoreFormer++, 512² faces. Saves each
state dict, an input face and PyTorch's output for it (CodeFormer at w = 0.5), and prints
PyTorch's own timing, one JSON line per model.

    /usr/bin/python3 scripts/pytorch-fixtures/bench_faces.py OUT_DIR RUNS [id ...]

Only the weights are random; nothing here is committed.
"""

import json
import os
import sys
import time

import torch

from codeformer import CodeFormer
from common import randomize, save_safetensors
from gfpgan import GFPGANv1Clean, stylegan_init
from restoreformer import VQVAEGANMultiHeadTransformer

W = 0.5


def make_gfpgan(seed):
    model = GFPGANv1Clean()
    randomize(model, seed)
    stylegan_init(model, seed + 1)
    return model, lambda x: model(x)


def make_codeformer(seed):
    model = CodeFormer()
    randomize(model, seed)
    with torch.no_grad():
        model.position_emb.copy_(torch.randn(model.position_emb.shape, generator=torch.Generator().manual_seed(seed)))
        model.generator.blocks[-1].weight.mul_(0.25)
    return model, lambda x: model(x, W)[0]


def make_restoreformer_pp(seed):
    model = VQVAEGANMultiHeadTransformer()
    randomize(model, seed)
    with torch.no_grad():
        model.decoder.conv_out.weight.mul_(0.25)
    return model, lambda x: model(x)


MODELS = {"gfpgan-v1.4": make_gfpgan, "codeformer": make_codeformer, "restoreformer-pp": make_restoreformer_pp}


def main():
    out_dir, runs = sys.argv[1], int(sys.argv[2])
    ids = sys.argv[3:] or list(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    for i, model_id in enumerate(ids):
        torch.manual_seed(i)
        model, forward = MODELS[model_id](400 + 10 * i)
        model.eval()
        x = torch.rand((1, 3, 512, 512), generator=torch.Generator().manual_seed(500 + i))
        with torch.no_grad():
            y = forward(x)  # warm-up, and the reference output
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                forward(x)
                times.append((time.perf_counter() - t) * 1000)
        save_safetensors(os.path.join(out_dir, f"{model_id}.safetensors"), model.state_dict())
        save_safetensors(os.path.join(out_dir, f"{model_id}.io.safetensors"), {"input": x, "output": y})
        params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"id": model_id, "torchMs": times, "threads": torch.get_num_threads(), "w": W,
                          "params": params}), flush=True)


if __name__ == "__main__":
    main()
