#!/usr/bin/python3
"""PEFT parity fixtures: every tuner written in plain PyTorch the way its paper's official code
computes it, on torchvision's ViT and Swin with random weights.

    /usr/bin/python3 tests/reference/peft.py          (Debian's python: torch 1.13, torchvision 0.14)

Writes tests/fixtures/peft_vit.safetensors (vit_test_tiny) and tests/fixtures/peft_swin.safetensors
(swin_test_tiny), read by tests/test_peft_parity.cpp.
The frozen backbone and the head are backbones.py's: tests/fixtures/<config>_torchvision.safetensors
here, <config>_timm.safetensors in the C++ (run backbones.py first if those change).
Each file holds
    images, G                 the input (batch 2) and the weight of the loss sum(logits * G)
    <case>.param.<C++ name>   every tuner parameter, under the exact dotted name the C++ gives it
    <case>.logits             the reference logits
    <case>.grad.<C++ name>    d loss / d parameter, for every parameter that trains (tuner + head)

Every tuner parameter gets non-zero random values (a zero-initialised LoRA B or AdaptFormer up
projection would hide a wrong A or a wrong placement). The forward is written out by hand with
torchvision's weights so the tuners can reach inside attention; with no tuner it is checked
against torchvision's own forward. All arithmetic is in float64 from float32-representable values,
so the stored float32 results are the exact answers rounded once.

The tuners themselves are in peft_tuners.py. The seed methods (Convpass, U-Tuning, DyT, iConFormer)
have their own fixtures, written by peft_seeds.py with this file's forward and cases.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402
from backbones import swin_to_timm, to_timm  # noqa: E402
from peft_tuners import (FacT, LoRA, SSF, Adapter, AdaptFormer, Prefix, Tuner, VPTSwin,  # noqa: E402
                         VPTViT)

OUT = os.path.join(HERE, "..", "fixtures")


# ------------------------------------------------------------------ the backbones, by hand
def ln(x, mod):
    return F.layer_norm(x, mod.normalized_shape, mod.weight, mod.bias, mod.eps)


def mha(q, k, v, heads, bias=None):
    """q: (B', Nq, D) rows; k, v: (B', H, Nk, Dh) already split; returns (B', Nq, D)."""
    Bq, Nq, D = q.shape
    Dh = D // heads
    q = q.reshape(Bq, Nq, heads, Dh).transpose(1, 2)
    s = (q * Dh ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        s = s + bias
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(Bq, Nq, D)


def attention(t, name, z, qkv_w, qkv_b, proj_w, proj_b, heads, bias=None):
    """timm Attention with the tuner hooks; z: (B', N, D); bias: (B' or 1, H, N, N) or None."""
    Bq, N, D = z.shape
    Dh = D // heads
    qkv = t.out(name + ".qkv", z, F.linear(z, qkv_w, qkv_b))
    q, k, v = qkv.split(D, dim=-1)
    k = k.reshape(Bq, N, heads, Dh).transpose(1, 2)
    v = v.reshape(Bq, N, heads, Dh).transpose(1, 2)
    extra = t.prefix_kv(name, Bq, heads, Dh)
    if extra is not None:  # [K_pre; K], [V_pre; V]; the prefix columns get no bias, no mask
        k, v = torch.cat([extra[0], k], 2), torch.cat([extra[1], v], 2)
        if bias is not None:
            bias = F.pad(bias, (extra[0].shape[2], 0))
    o = mha(q, k, v, heads, bias)
    o = t.head_out(name, q, k, v, bias, o, heads)  # a tuner on the heads' output (U-Tuning)
    return t.out(name + ".proj", o, F.linear(o, proj_w, proj_b))


def mlp(t, name, z, fc1, fc2):
    h = t.out(name + ".fc1", z, F.linear(z, fc1.weight, fc1.bias))
    h = F.gelu(h)
    return t.out(name + ".fc2", h, F.linear(h, fc2.weight, fc2.bias))


def block_tail(t, name, x, h, norm2, fc1, fc2, z=None):
    """Everything after attention's output h, shared by ViT and Swin (sequences (B, N, D));
    x: the block input; z: the LN1 output, for branches beside attention."""
    pb = t.block_parallel(name, x)
    pa = None if z is None else t.ln_parallel(name, "attn", z)
    x = x + t.adapter(name + ".adapter_attn", h)
    if pa is not None:
        x = x + pa
    par = t.mlp_parallel(name, x)
    gate = t.mlp_gate(name, x)  # DyT: (B, N, 1) per-token mask on the MLP output
    z2 = t.out(name + ".norm2", x, ln(x, norm2))
    pm = t.ln_parallel(name, "mlp", z2)
    h2 = mlp(t, name + ".mlp", z2, fc1, fc2)
    out = x + t.adapter(name + ".adapter_mlp", h2 if gate is None else h2 * gate)
    out = out if par is None else out + par
    out = out if pm is None else out + pm
    return out if pb is None else out + pb


def vit_forward(m, t, images):
    B, P = images.shape[0], m.patch_size
    x = F.conv2d(images, m.conv_proj.weight, m.conv_proj.bias, stride=P).flatten(2).transpose(1, 2)
    x = t.out("patch_embed", images, x)
    x = torch.cat([m.class_token.expand(B, -1, -1), x], 1) + m.encoder.pos_embedding
    for i, blk in enumerate(m.encoder.layers):
        x = t.tokens(i, x)
        name, a = f"blocks.{i}", blk.self_attention
        z = t.out(name + ".norm1", x, ln(x, blk.ln_1))
        h = attention(t, name + ".attn", z, a.in_proj_weight, a.in_proj_bias, a.out_proj.weight,
                      a.out_proj.bias, a.num_heads)
        x = block_tail(t, name, x, h, blk.ln_2, blk.mlp[0], blk.mlp[3], z)
    x = t.out("norm", x, ln(x, m.encoder.ln))
    return F.linear(x[:, 0], m.heads.head.weight, m.heads.head.bias)


def shift_mask(H, W, ws, shift):  # torchvision's: (nW, N, N) of 0 / -100
    img = torch.zeros(H, W, dtype=torch.float64)
    cnt = 0
    for h in ((0, -ws), (-ws, -shift), (-shift, None)):
        for w in ((0, -ws), (-ws, -shift), (-shift, None)):
            img[h[0]:h[1], w[0]:w[1]] = cnt
            cnt += 1
    img = img.view(H // ws, ws, W // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
    d = img.unsqueeze(1) - img.unsqueeze(2)
    return d.masked_fill(d != 0, -100.0).masked_fill(d == 0, 0.0)


def swin_attention(t, name, blk, z):
    """torchvision's shifted_window_attention with the hooks; z = LN1 x: (B, H, W, C)."""
    a = blk.attn
    B, H, W, C = z.shape
    ws = a.window_size[0]
    shift = a.shift_size[0] if ws < H else 0  # torchvision: no shift when one window covers the map
    heads, N, nW = a.num_heads, ws * ws, (H // ws) * (W // ws)
    x = torch.roll(z, (-shift, -shift), (1, 2)) if shift else z
    x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B * nW, N, C)
    bias = a.relative_position_bias_table[a.relative_position_index].view(N, N, -1).permute(2, 0, 1)
    bias = bias.unsqueeze(0).expand(nW, -1, -1, -1)  # (nW, H, N, N)
    if shift:
        bias = bias + shift_mask(H, W, ws, shift).unsqueeze(1)
    bias = bias.unsqueeze(0).expand(B, -1, -1, -1, -1).reshape(B * nW, heads, N, N)
    prompts = t.window_prompts(name)
    lp = 0
    if prompts is not None:  # VPT-deep on Swin: LN1'd prompts in front of every window
        lp = prompts.shape[0]
        x = torch.cat([ln(prompts, blk.norm1).expand(B * nW, -1, -1), x], 1)
        bias = F.pad(bias, (lp, 0, lp, 0))  # zero bias and mask for the prompt rows and columns
    o = attention(t, name, x, a.qkv.weight, a.qkv.bias, a.proj.weight, a.proj.bias, heads, bias)
    o = o[:, lp:]  # the prompt outputs are dropped (the next block brings new ones)
    o = o.view(B, H // ws, W // ws, ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    return torch.roll(o, (shift, shift), (1, 2)) if shift else o


def swin_forward(m, t, images):
    stem = m.features[0]  # Conv2d, Permute, LayerNorm
    x = F.conv2d(images, stem[0].weight, stem[0].bias, stride=stem[0].stride).permute(0, 2, 3, 1)
    x = t.out("patch_embed", images, x)
    x = t.out("patch_embed.norm", x, ln(x, stem[2]))
    for s in range(len(m.features) // 2):  # stem, blocks 0, merge 1, blocks 1, ...
        if s > 0:  # PatchMerging: x0, x1, x2, x3 -> LN -> reduction
            pm = m.features[2 * s]
            x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
            x = t.out(f"layers.{s}.downsample.norm", x, ln(x, pm.norm))
            x = F.linear(x, pm.reduction.weight)
        for b, blk in enumerate(m.features[2 * s + 1]):
            name = f"layers.{s}.blocks.{b}"
            B, H, W, C = x.shape
            z = t.out(name + ".norm1", x, ln(x, blk.norm1))
            h = swin_attention(t, name + ".attn", blk, z).reshape(B, H * W, C)
            x = block_tail(t, name, x.reshape(B, H * W, C), h, blk.norm2, blk.mlp[0], blk.mlp[3],
                           z.reshape(B, H * W, C))
            x = x.reshape(B, H, W, C)
    x = t.out("norm", x, ln(x, m.norm)).mean((1, 2))
    return F.linear(x, m.head.weight, m.head.bias)


# ------------------------------------------------------------------ cases
def run_case(out, name, model, forward, tuner, images, G, trainable):
    """trainable: backbone parameters (timm name -> tensor) that train besides the tuner's."""
    logits = forward(model, tuner, images)
    with torch.no_grad():  # a tuner whose hooks never ran would leave the backbone's logits
        moved = (logits - forward(model, Tuner(None), images)).abs().max().item()
    assert name == "bitfit" or moved > 1e-2, f"{name}: the tuner does not change the logits"
    for k, v in tuner.params.items():
        out[f"{name}.param.{k}"] = v.detach().float()
    wrt = {**tuner.params, **trainable}
    grads = torch.autograd.grad((logits * G).sum(), list(wrt.values()), allow_unused=True)
    out[f"{name}.logits"] = logits.detach().float()
    for (k, w), g in zip(wrt.items(), grads):  # unused (DyT's gate in eval): a zero gradient
        out[f"{name}.grad.{k}"] = (torch.zeros_like(w) if g is None else g).float()
    print(f"  {name}: {len(tuner.params)} tuner tensors, |logits| max {logits.abs().max():.3g}, "
          f"moved by the tuner {moved:.3g}")


def backbone_leaves(model, to_names):
    """timm name -> the model's own parameter (float64), now requiring grad."""
    for p in model.parameters():
        p.requires_grad_(True)
    return to_names(dict(model.named_parameters()))


def common(model, family, img, gen, out):
    """Loads backbones.py's random weights for `family` (the C++ test loads the same weights in
    timm naming from <family>_timm.safetensors, so they are not stored twice); draws the images
    and G."""
    model.load_state_dict(st.load(os.path.join(OUT, family + "_torchvision.safetensors")))
    model.eval()
    model.double()
    images = torch.randn((2, 3, img, img), generator=gen).float().double()
    G = torch.randn((2, model_classes(model)), generator=gen).float().double()
    out["images"], out["G"] = images.float(), G.float()
    return images, G


def model_classes(m):
    return m.heads.head.out_features if hasattr(m, "heads") else m.head.out_features


def make_vit():
    # ViTConfig "vit_test_tiny": 32 px, patch 8, 4 blocks, 4 heads, D 64, MLP 256; 10 classes
    return VisionTransformer(image_size=32, patch_size=8, num_layers=4, num_heads=4, hidden_dim=64,
                             mlp_dim=256, num_classes=10)


def make_swin():
    # SwinConfig "swin_test_tiny": 56 px, patch 4 -> 14x14 (windows of 7, shifted), merge to 7x7
    return SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2], num_heads=[2, 4],
                           window_size=[7, 7], stochastic_depth_prob=0.0, num_classes=10)


def vit_fixture():
    gen = torch.Generator().manual_seed(21)
    m = make_vit()
    out = {}
    images, G = common(m, "vit_test_tiny", 32, gen, out)
    with torch.no_grad():  # the hand-written forward is torchvision's
        assert torch.allclose(vit_forward(m, Tuner(gen), images), m(images), rtol=1e-10, atol=1e-12)
    params = backbone_leaves(m, to_timm)
    head = {k: v for k, v in params.items() if k.startswith("head.")}
    biases = {k: v for k, v in params.items() if k.endswith(".bias")}
    blocks = [(f"blocks.{i}", 64) for i in range(4)]
    D = 64
    ssf_sites = [("patch_embed", D), ("norm", D)] + [
        (f"{n}.{s}", c) for n, _ in blocks
        for s, c in (("norm1", D), ("attn.qkv", 3 * D), ("attn.proj", D), ("norm2", D),
                     ("mlp.fc1", 4 * D), ("mlp.fc2", D))]
    cases = {
        "lora_qkv": LoRA(gen, blocks, 4, ["qkv"]),
        "lora_qv_alpha": LoRA(gen, blocks, 4, ["q", "v"], alpha=8.0),
        "adapter": Adapter(gen, blocks, 4, "both"),
        "adaptformer": AdaptFormer(gen, blocks, 4, 0.5),
        "vpt_shallow": VPTViT(gen, 4, 3, D, deep=False),
        "vpt_deep": VPTViT(gen, 4, 3, D, deep=True),
        "prefix": Prefix(gen, blocks, 3),
        "ssf": SSF(gen, ssf_sites),
        "fact": FacT(gen, blocks, 4, 2.0),
        "bitfit": Tuner(gen),
    }  # the seed methods (Convpass, U-Tuning, DyT, iConFormer) are in peft_seeds.py
    for name, t in cases.items():
        run_case(out, name, m, vit_forward, t, images, G, {**head, **(biases if name == "bitfit" else {})})
    st.save(os.path.join(OUT, "peft_vit.safetensors"), out)


def swin_fixture():
    gen = torch.Generator().manual_seed(23)
    m = make_swin()
    out = {}
    images, G = common(m, "swin_test_tiny", 56, gen, out)
    with torch.no_grad():
        assert torch.allclose(swin_forward(m, Tuner(gen), images), m(images), rtol=1e-10, atol=1e-12)
    params = backbone_leaves(m, swin_to_timm)
    head = {k: v for k, v in params.items() if k.startswith("head.")}
    biases = {k: v for k, v in params.items() if k.endswith(".bias")}
    blocks = [(f"layers.{s}.blocks.{b}", 32 << s) for s in range(2) for b in range(2)]
    ssf_sites = [("patch_embed", 32), ("patch_embed.norm", 32), ("layers.1.downsample.norm", 128),
                 ("norm", 64)] + [
        (f"{n}.{s}", c * k) for n, c in blocks
        for s, k in (("norm1", 1), ("attn.qkv", 3), ("attn.proj", 1), ("norm2", 1), ("mlp.fc1", 4),
                     ("mlp.fc2", 1))]
    cases = {
        "lora_qkv": LoRA(gen, blocks, 4, ["qkv"]),
        "lora_qv_alpha": LoRA(gen, blocks, 4, ["q", "v"], alpha=8.0),
        "adapter": Adapter(gen, blocks, 4, "both"),
        "adaptformer": AdaptFormer(gen, blocks, 4, 0.1),
        "vpt_deep": VPTSwin(gen, blocks, 3),
        "prefix": Prefix(gen, blocks, 3),
        "ssf": SSF(gen, ssf_sites),
        "fact": FacT(gen, blocks, 4, 2.0),
        "bitfit": Tuner(gen),
    }
    for name, t in cases.items():
        run_case(out, name, m, swin_forward, t, images, G, {**head, **(biases if name == "bitfit" else {})})
    st.save(os.path.join(OUT, "peft_swin.safetensors"), out)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    print("peft_vit.safetensors (vit_test_tiny)")
    vit_fixture()
    print("peft_swin.safetensors (swin_test_tiny)")
    swin_fixture()


if __name__ == "__main__":
    main()
