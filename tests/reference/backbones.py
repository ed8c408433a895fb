#!/usr/bin/python3
"""Writes backbone fixtures: torchvision ViTs and Swins with random (non-trivial) weights, saved
in torchvision naming and in timm naming, plus inputs, logits and input gradients.

    /usr/bin/python3 tests/reference/backbones.py [vit|swin ...]   (no argument: all)

Outputs tests/fixtures/<name>_{torchvision,timm,io}.safetensors for each config below. The C++
tests (tests/test_vit.cpp) load both namings and must reproduce the logits and the input
gradient. Full-size ViT-B/16 weights (330 MB) are not committed: tests/reference/backbones_full.py
checks ViT-B/16 and Swin-T against torchvision with formula weights (only the logits are kept).

Swin (tests/test_swin.cpp): torchvision 0.14's SwinTransformer and timm's agree on every
convention the fixtures exercise — the relative-position index, cyclic shift by -window/2 (rolled
back by +window/2) on odd blocks, the -100 mask over the 3x3 shift regions, scale head_dim^-0.5,
and PatchMerging's channel order x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2] — so the
converter is a pure key rename (plus dropping torchvision's relative_position_index buffer).
They differ only where a stage's resolution is not a multiple of the window or is smaller than
it: torchvision zero-pads the map to the window (padded tokens take part in attention, unmasked)
and keeps the full (2W-1)^2 bias table, while timm shrinks the window to the resolution (table
(2r-1)^2, no shift). No key map can make those equal, so the test configs (and the 224-px
ImageNet configs) keep every stage resolution a multiple of the window and >= it; the C++ model
pads maps that do not divide into windows as torchvision does (checked at 48 px, where the two
agree on window and shift).
"""
import os
import re
import sys

import torch
from torchvision.models.swin_transformer import SwinTransformer
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


# torchvision Swin -> current timm. features.0 is the stem, features.{2s+1} stage s's blocks,
# features.{2s} (s >= 1) the PatchMerging that opens stage s (current timm: layers.{s}.downsample).
SWIN_BLOCK = {"norm1": "norm1", "attn.qkv": "attn.qkv", "attn.proj": "attn.proj", "norm2": "norm2",
              "mlp.0": "mlp.fc1", "mlp.3": "mlp.fc2"}


def swin_to_timm(sd):
    out = {}
    for k, v in sd.items():
        m = re.fullmatch(r"features\.(\d+)\.(\d+)\.(.+)", k)
        if k.endswith("relative_position_index"):
            continue  # a buffer, recomputed by the model
        if k.startswith("features.0.0."):
            nk = "patch_embed.proj." + k.split(".")[-1]
        elif k.startswith("features.0.2."):
            nk = "patch_embed.norm." + k.split(".")[-1]
        elif m:  # a block: features.{2s+1}.{b}.<sub>.<p>
            f, b, rest = int(m.group(1)), m.group(2), m.group(3)
            assert f % 2 == 1, k
            if rest == "attn.relative_position_bias_table":
                nk = f"layers.{f // 2}.blocks.{b}.{rest}"
            else:
                sub, p = rest.rsplit(".", 1)
                nk = f"layers.{f // 2}.blocks.{b}.{SWIN_BLOCK[sub]}.{p}"
        elif re.fullmatch(r"features\.(\d+)\.(reduction|norm)\.(weight|bias)", k):
            f, rest = k.split(".", 2)[1:]
            assert int(f) % 2 == 0, k
            nk = f"layers.{int(f) // 2}.downsample.{rest}"
        elif k.startswith("norm."):
            nk = k
        elif k.startswith("head."):
            nk = "head.fc." + k.split(".")[-1]
        else:
            raise KeyError(k)
        out[nk] = v
    return out


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


def swin_case(name, img, patch, window, dim, depths, heads, classes, batch=2, other_sizes=()):
    gen = torch.Generator().manual_seed(11)
    m = SwinTransformer(patch_size=[patch, patch], embed_dim=dim, depths=depths, num_heads=heads,
                        window_size=[window, window], stochastic_depth_prob=0.0,
                        num_classes=classes)
    randomise(m, gen)
    m.eval()
    sd = {k: v.detach().clone() for k, v in m.state_dict().items()}
    st.save(os.path.join(OUT, f"{name}_torchvision.safetensors"), sd)
    st.save(os.path.join(OUT, f"{name}_timm.safetensors"), swin_to_timm(sd))
    images = torch.randn((batch, 3, img, img), generator=gen).requires_grad_(True)
    logits = m(images)
    gout = torch.randn(logits.shape, generator=gen)
    logits.backward(gout)
    io = {"images": images.detach(), "logits": logits.detach(), "gout": gout,
          "grad_images": images.grad.detach()}
    # Other input sizes, where stage maps no longer divide into windows and get padded.
    for s in other_sizes:
        x = torch.randn((batch, 3, s, s), generator=gen).requires_grad_(True)
        y = m(x)
        g = torch.randn(y.shape, generator=gen)
        y.backward(g)
        io.update({f"images_{s}": x.detach(), f"logits_{s}": y.detach(), f"gout_{s}": g,
                   f"grad_images_{s}": x.grad.detach()})
    st.save(os.path.join(OUT, f"{name}_io.safetensors"), io)
    print(f"wrote {name}: logits {tuple(logits.shape)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    which = sys.argv[1:] or ["vit", "swin"]
    if "vit" in which:
        # matches ViTConfig "vit_test_tiny": 32 px, patch 8, 4 blocks, 4 heads, D 64, MLP 256
        vit_case("vit_test_tiny", 32, 8, 4, 4, 64, 256, 10)
    if "swin" in which:
        # SwinConfig "swin_test_tiny": 56 px, patch 4 -> 14x14 (2x2 windows of 7, shifted), then
        # one merge to 7x7 (window = resolution, no shift)
        # and at 48 px: 12x12 padded to 14x14 (shifted), then 6x6 padded to one 7x7 window
        swin_case("swin_test_tiny", 56, 4, 7, 32, [2, 2], [2, 4], 10, other_sizes=(48,))
        # SwinConfig "swin_test_micro": four stages 16, 8, 4, 2 px with window 2 (three merges)
        swin_case("swin_test_micro", 32, 2, 2, 4, [2, 2, 2, 2], [1, 1, 2, 2], 10)


if __name__ == "__main__":
    main()
