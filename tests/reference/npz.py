#!/usr/bin/python3
"""Writes the .npz fixtures: the vit_test_tiny weights in Google's Flax ViT layout, and a small
archive of every .npy dtype the reader takes.

    /usr/bin/python3 tests/reference/npz.py

Outputs (tests/fixtures/):
  vit_test_tiny_google.npz           np.savez (members stored), plus pre_logits/* that the loader
                                     must drop, as Google's in21k files carry them
  vit_test_tiny_google_deflated.npz  np.savez_compressed (members deflated), no pre_logits
  npz_dtypes.npz                     f4, f8, f2, i4, i8, u1, b1, a 0-d and an empty array
The weights come from vit_test_tiny_timm.safetensors (written by backbones.py), so the C++ test
must reproduce the logits in vit_test_tiny_io.safetensors from either npz.

The Google layout is written as the inverse of timm's _load_weights, and then read back here
with timm's rules (_n2p: HWIO -> OIHW, (in, out) -> (out, in), q/k/v (D, H, Dh) flattened and
transposed, out (H, Dh, D) -> (D, H*Dh)) to check that timm would load the same tensors.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")
HEADS = 4  # vit_test_tiny: dim 64, depth 4, heads 4, patch 8


def timm_to_google(sd, heads):
    # C order: numpy would save a transposed (Fortran-contiguous) array with fortran_order True,
    # which the C++ reader refuses (as Google's files never use it).
    n = lambda t: np.ascontiguousarray(t.detach().numpy().astype(np.float32))  # noqa: E731
    g = {
        "embedding/kernel": n(sd["patch_embed.proj.weight"].permute(2, 3, 1, 0)),  # OIHW -> HWIO
        "embedding/bias": n(sd["patch_embed.proj.bias"]),
        "cls": n(sd["cls_token"]),
        "Transformer/posembed_input/pos_embedding": n(sd["pos_embed"]),
        "Transformer/encoder_norm/scale": n(sd["norm.weight"]),
        "Transformer/encoder_norm/bias": n(sd["norm.bias"]),
        "head/kernel": n(sd["head.weight"].t()),
        "head/bias": n(sd["head.bias"]),
    }
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    for i in range(depth):
        b, p = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        D = sd[b + "norm1.weight"].shape[0]
        g[p + "LayerNorm_0/scale"] = n(sd[b + "norm1.weight"])
        g[p + "LayerNorm_0/bias"] = n(sd[b + "norm1.bias"])
        g[p + "LayerNorm_2/scale"] = n(sd[b + "norm2.weight"])
        g[p + "LayerNorm_2/bias"] = n(sd[b + "norm2.bias"])
        w = sd[b + "attn.qkv.weight"].chunk(3, 0)  # (H*Dh, D) each
        bias = sd[b + "attn.qkv.bias"].chunk(3, 0)
        for j, name in enumerate(("query", "key", "value")):
            g[p + f"MultiHeadDotProductAttention_1/{name}/kernel"] = n(w[j].t().reshape(D, heads, -1))
            g[p + f"MultiHeadDotProductAttention_1/{name}/bias"] = n(bias[j].reshape(heads, -1))
        g[p + "MultiHeadDotProductAttention_1/out/kernel"] = n(sd[b + "attn.proj.weight"].t().reshape(heads, -1, D))
        g[p + "MultiHeadDotProductAttention_1/out/bias"] = n(sd[b + "attn.proj.bias"])
        for r in range(2):
            g[p + f"MlpBlock_3/Dense_{r}/kernel"] = n(sd[b + f"mlp.fc{r + 1}.weight"].t())
            g[p + f"MlpBlock_3/Dense_{r}/bias"] = n(sd[b + f"mlp.fc{r + 1}.bias"])
    return g


def timm_reads(g, depth):
    """timm's _load_weights conversion (no prefix, not big_vision), as a dict of tensors."""
    def n2p(w, t=True):
        if t:
            w = {4: lambda a: a.transpose([3, 2, 0, 1]), 3: lambda a: a.transpose([2, 0, 1]),
                 2: lambda a: a.transpose([1, 0])}.get(w.ndim, lambda a: a)(w)
        return torch.from_numpy(np.ascontiguousarray(w))
    sd = {"patch_embed.proj.weight": n2p(g["embedding/kernel"]), "patch_embed.proj.bias": n2p(g["embedding/bias"]),
          "cls_token": n2p(g["cls"], t=False),
          "pos_embed": n2p(g["Transformer/posembed_input/pos_embedding"], t=False),
          "norm.weight": n2p(g["Transformer/encoder_norm/scale"]), "norm.bias": n2p(g["Transformer/encoder_norm/bias"]),
          "head.weight": n2p(g["head/kernel"]), "head.bias": n2p(g["head/bias"])}
    for i in range(depth):
        p, b = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        m = p + "MultiHeadDotProductAttention_1/"
        sd[b + "norm1.weight"], sd[b + "norm1.bias"] = n2p(g[p + "LayerNorm_0/scale"]), n2p(g[p + "LayerNorm_0/bias"])
        sd[b + "attn.qkv.weight"] = torch.cat([n2p(g[f"{m}{q}/kernel"], t=False).flatten(1).T
                                               for q in ("query", "key", "value")])
        sd[b + "attn.qkv.bias"] = torch.cat([n2p(g[f"{m}{q}/bias"], t=False).reshape(-1)
                                             for q in ("query", "key", "value")])
        sd[b + "attn.proj.weight"] = n2p(g[m + "out/kernel"]).flatten(1)
        sd[b + "attn.proj.bias"] = n2p(g[m + "out/bias"])
        sd[b + "norm2.weight"], sd[b + "norm2.bias"] = n2p(g[p + "LayerNorm_2/scale"]), n2p(g[p + "LayerNorm_2/bias"])
        for r in range(2):
            sd[b + f"mlp.fc{r + 1}.weight"] = n2p(g[p + f"MlpBlock_3/Dense_{r}/kernel"])
            sd[b + f"mlp.fc{r + 1}.bias"] = n2p(g[p + f"MlpBlock_3/Dense_{r}/bias"])
    return sd


def main():
    sd = st.load(os.path.join(OUT, "vit_test_tiny_timm.safetensors"))
    g = timm_to_google(sd, HEADS)
    back = timm_reads(g, depth=4)
    assert back.keys() == sd.keys(), set(back) ^ set(sd)
    for k in sd:
        assert torch.equal(back[k], sd[k]), k

    rng = np.random.default_rng(0)
    D = sd["norm.weight"].shape[0]
    stored = dict(g)
    stored["pre_logits/kernel"] = rng.standard_normal((D, D)).astype(np.float32)
    stored["pre_logits/bias"] = rng.standard_normal(D).astype(np.float32)
    np.savez(os.path.join(OUT, "vit_test_tiny_google.npz"), **stored)
    np.savez_compressed(os.path.join(OUT, "vit_test_tiny_google_deflated.npz"), **g)

    np.savez(os.path.join(OUT, "npz_dtypes.npz"), **{
        "f4": np.arange(6, dtype="<f4").reshape(2, 3) - 2.5,
        "f8": np.array([1e-300, -2.0, np.pi], dtype="<f8"),
        # 2^-24 (the smallest subnormal), 2^-14 (the smallest normal), 65504 (the largest), -0.5
        "f2": np.array([2.0 ** -24, 2.0 ** -14, 65504.0, -0.5], dtype="<f2"),
        "i4": np.array([-7, 0, 2 ** 31 - 1], dtype="<i4"),
        "i8": np.array([[-(2 ** 40)], [5]], dtype="<i8"),
        "u1": np.array([0, 255], dtype="u1"),
        "b1": np.array([True, False, True]),
        "group/scalar": np.float32(3.25),
        "empty": np.zeros((0, 3), dtype="<f4"),
    })
    print("wrote vit_test_tiny_google{,_deflated}.npz and npz_dtypes.npz to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
