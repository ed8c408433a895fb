#!/usr/bin/python3
"""Writes backbone fixtures: torchvision ViTs with random (non-trivial) weights, saved in
torchvision naming and in timm naming, plus inputs, logits and input gradients.

    /usr/bin/python3 tests/reference/backbones.py

Outputs tests/fixtures/<name>_{torchvision,timm,io}.safetensors for each config below. The C++
tests (tests/test_vit.cpp) load both namings and must reproduce the logits and the input
gradient. Full-size ViT-B/16 weights (330 MB) are not committed: for it the tests check the
parameter count and the key set against tests/fixtures/vit_base_keys.txt written here.
"""
import os
import re
import sys

import torch
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")

TV_TO_TIMM = [
    (r"class_token", "cls_token"),
    (r"conv_proj\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"encoder\.pos_embedding", "pos_embed"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.ln_1\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_weight", r"blocks.\1.attn.qkv.weight"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_bias", r"blocks.\1.attn.qkv.bias"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.self_attention\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.ln_2\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.mlp\.0\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"encoder\.layers\.encoder_layer_(\d+)\.mlp\.3\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"encoder\.ln\.(weight|bias)", r"norm.\1"),
    (r"heads\.head\.(weight|bias)", r"head.\1"),
]


def to_timm(sd):
    out = {}
    for k, v in sd.items():
        for pat, rep in TV_TO_TIMM:
            if re.fullmatch(pat, k):
                k = re.sub(pat, rep, k)
                break
        else:
            raise KeyError(k)
        out[k] = v
    return out


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() == 1:  # LayerNorm scale around 1
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def vit_case(name, img, patch, layers, heads, dim, mlp, classes, batch=2):
    gen = torch.Generator().manual_seed(7)
    m = VisionTransformer(image_size=img, patch_size=patch, num_layers=layers, num_heads=heads,
                          hidden_dim=dim, mlp_dim=mlp, num_classes=classes)
    randomise(m, gen)
    m.eval()
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    st.save(os.path.join(OUT, f"{name}_torchvision.safetensors"), sd)
    st.save(os.path.join(OUT, f"{name}_timm.safetensors"), to_timm(sd))
    images = torch.randn((batch, 3, img, img), generator=gen).requires_grad_(True)
    logits = m(images)
    gout = torch.randn(logits.shape, generator=gen)
    logits.backward(gout)
    st.save(os.path.join(OUT, f"{name}_io.safetensors"),
            {"images": images.detach(), "logits": logits.detach(), "gout": gout,
             "grad_images": images.grad.detach()})
    print(f"wrote {name}: logits {tuple(logits.shape)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    # matches ViTConfig "vit_test_tiny": 32 px, patch 8, 4 blocks, 4 heads, D 64, MLP 256
    vit_case("vit_test_tiny", 32, 8, 4, 4, 64, 256, 10)


if __name__ == "__main__":
    main()
