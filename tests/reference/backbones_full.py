#!/usr/bin/python3
"""Full-size parity without committing full-size weights: torchvision's vit_b_16 and swin_t with
every parameter set by a formula that the C++ test evaluates too, so only the logits are stored.

    /usr/bin/python3 tests/reference/backbones_full.py    (Debian's python: torch 1.13)

Writes tests/fixtures/full_size_logits.safetensors: for vit_b_16 and swin_t the logits (1, 1000),
computed in float64, the image gradient of sum(logits * G) with G = cos(0.5 k) (float32), and in
the metadata the torchvision name of every timm name (so the C++ test can load both namings). tests/test_full_size.cpp builds vit_base_patch16_224 and
swin_tiny_patch4_window7_224, fills them by the same formula and compares.

The formula, keyed by the timm name (the C++ model's own names, sorted as std::map sorts them):
for the tensor with index j in the sorted list of parameter names and element k in row-major
order, t = sin(0.61803 * k + 1.3 * j + 0.5), and the value is
    1 + 0.1 t   for LayerNorm scales (1-D tensors named *weight),
    0.02 t      for everything else (biases, matrices, tokens, position and bias tables).
The image (1, 3, 224, 224) is 0.5 sin(0.37 k + 0.1). Values are computed in float64 and
rounded to float32 before use, on both sides.
"""
import json
import math
import os
import sys

import torch
from torchvision.models import swin_t, vit_b_16

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402
from backbones import swin_to_timm, to_timm  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")


def formula(j, shape, layer_norm_scale):
    k = torch.arange(math.prod(shape), dtype=torch.float64)
    t = torch.sin(0.61803 * k + 1.3 * j + 0.5)
    v = 1 + 0.1 * t if layer_norm_scale else 0.02 * t
    return v.float().double().reshape(shape)


def fill(model, to_timm_names):
    """Sets every parameter by the formula; returns {timm name: torchvision name}."""
    params = dict(model.named_parameters())
    timm = to_timm_names({k: v for k, v in params.items()})  # same tensors, timm keys
    tv_of = {}
    for tv_key, p in params.items():
        for timm_key, q in timm.items():
            if q is p:
                tv_of[timm_key] = tv_key
    assert len(tv_of) == len(params), "every parameter needs its timm name"
    with torch.no_grad():
        for j, key in enumerate(sorted(tv_of)):
            p = params[tv_of[key]]
            p.copy_(formula(j, tuple(p.shape), p.dim() == 1 and key.endswith("weight")))
    return tv_of


def image():
    k = torch.arange(3 * 224 * 224, dtype=torch.float64)
    return (0.5 * torch.sin(0.37 * k + 0.1)).float().double().reshape(1, 3, 224, 224)


def main():
    out, meta = {}, {}
    for name, build, conv in [("vit_b_16", vit_b_16, to_timm), ("swin_t", swin_t, swin_to_timm)]:
        torch.manual_seed(0)
        m = build().double().eval()
        meta[f"{name}.torchvision_names"] = json.dumps(fill(m, conv), sort_keys=True)
        x = image().requires_grad_(True)
        logits = m(x)
        G = torch.cos(0.5 * torch.arange(logits.numel(), dtype=torch.float64)).reshape(logits.shape)
        (logits * G).sum().backward()
        out[f"{name}.logits"] = logits.detach()
        out[f"{name}.grad_images"] = x.grad.float()
        print(f"{name}: logits {tuple(logits.shape)}, |max| {logits.abs().max():.4f}")
    st.save(os.path.join(OUT, "full_size_logits.safetensors"), out, meta)


if __name__ == "__main__":
    main()
