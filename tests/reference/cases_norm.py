"""Softmax, layer norm and attention cases for ops.py (dims other than the last, affine and
non-affine layer norm, frozen parameters, masks that broadcast and train)."""
import torch
import torch.nn.functional as F


def attention(q, k, v, mask=None, scale=None):
    # F.scaled_dot_product_attention does not exist in torch 1.13: the definition, by hand.
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        s = s + mask
    return torch.softmax(s, dim=-1) @ v


def build(case):
    r = case.randn
    # softmax / log_softmax
    case("softmax_last", lambda x: torch.softmax(x, dim=-1), x=r(3, 4, 5))
    case("softmax_dim1", lambda x: torch.softmax(x, dim=1), x=r(3, 4, 5))
    case("softmax_large", lambda x: torch.softmax(x, dim=-1), x=r(4, 6) * 30 + 200)
    case("log_softmax_last", lambda x: F.log_softmax(x, dim=-1), x=r(3, 4, 5))
    case("log_softmax_dim0", lambda x: F.log_softmax(x, dim=0), x=r(3, 4, 5) * 10)
    # layer norm
    case("layer_norm", lambda x, weight, bias: F.layer_norm(x, (8,), weight, bias),
         x=r(2, 3, 8) * 2 + 1, weight=r(8), bias=r(8))
    case("layer_norm_noaffine", lambda x: F.layer_norm(x, (8,)), x=r(5, 8))
    case("layer_norm_eps6", lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, 1e-6),
         x=r(3, 16) * 0.01, weight=r(16), bias=r(16))
    case("layer_norm_frozen", lambda x, weight, bias: F.layer_norm(x, (8,), weight, bias),
         x=r(4, 8), weight=r(8), bias=r(8), no_grad=("weight", "bias"))
    case("layer_norm_transposed",
         lambda x, weight, bias: F.layer_norm(x.transpose(0, 1), (6,), weight, bias),
         x=r(6, 4), weight=r(6), bias=r(6))
    # attention: q (B, H, Nq, Dh), k, v (B, H, Nk, Dh)
    case("attn_nomask", attention, q=r(2, 3, 4, 8), k=r(2, 3, 6, 8), v=r(2, 3, 6, 8))
    # a trainable bias shared over the batch (Swin's relative-position bias)
    case("attn_bias", attention, q=r(2, 3, 5, 4), k=r(2, 3, 5, 4), v=r(2, 3, 5, 4),
         mask=r(1, 3, 5, 5))
    # a key-padding mask (frozen), broadcast over heads and queries, and a custom scale
    pad = torch.zeros(2, 1, 1, 6)
    pad[0, ..., 4:] = -1e4
    case("attn_padmask_scale", lambda q, k, v, mask: attention(q, k, v, mask, 0.3),
         q=r(2, 2, 3, 4), k=r(2, 2, 6, 4), v=r(2, 2, 6, 5), mask=pad, no_grad=("mask",))
    # q, k, v sliced out of a fused projection (B, N, 3, H, Dh): strided operands
    case("attn_qkv",
         lambda qkv: attention(*qkv.permute(2, 0, 3, 1, 4).unbind(0)), qkv=r(2, 5, 3, 2, 4))
