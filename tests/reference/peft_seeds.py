#!/usr/bin/python3
"""PEFT parity fixtures for the four seed methods — Convpass, U-Tuning, DyT, iConFormer — in plain
PyTorch on the hand-written torchvision ViT / Swin forward of peft.py.

    /usr/bin/python3 tests/reference/peft_seeds.py     (Debian's python: torch 1.13, torchvision 0.14)

Writes tests/fixtures/peft_seeds_vit.safetensors (vit_test_tiny) and
tests/fixtures/peft_seeds_swin.safetensors (swin_test_tiny), read by tests/test_peft_seeds.cpp, in
peft.py's layout (images, G, <case>.param.*, <case>.logits, <case>.grad.*) plus, for DyT:
    labels                    class indices for the DyT loss case
    <case>.noise.<block>      the fixed Gumbel noise G1 - G2 of that block's dispatcher (train mode)
    <case>.rate               eval: the share of patch tokens through the MLPs
    <case>.loss               the DyT loss value (its grads are d loss / d parameter)

Convpass and iConFormer are peft_tuners.py's. U-Tuning and DyT are here, written from their papers'
equations (docs/METHODS.md): U-Tuning's parallel prefix/prompt is (1 - lambda) Attn(Q, K, V) +
lambda Attn(Q, K_pre, V_pre) with lambda the prefix's share of the softmax mass, computed directly
(not by the prefix-tuning code; that they agree is asserted below). DyT: MLP outputs gated per
token, m = [E > 0] in eval, and in training the straight-through Gumbel-sigmoid with the fixed
noise stored in the fixture.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402
from peft import (OUT, backbone_leaves, common, make_swin, make_vit,  # noqa: E402
                  run_case, swin_forward, vit_forward)
from backbones import swin_to_timm, to_timm  # noqa: E402
from peft_tuners import Convpass, IConFormer, Prefix, Tuner, bottleneck  # noqa: E402


def heads_of(t, heads):  # (B', N, D) -> (B', H, N, Dh)
    B, N, D = t.shape
    return t.reshape(B, N, heads, D // heads).transpose(1, 2)


class UTuning(Tuner):
    """U-Tuning: x' = OP(x) + U(x). tuners: [(kind, site)] as the C++ option "KIND@SITE,...".
    adapter@attn|mlp|block: s * (ReLU(x Wd + bd) Wu + bu) on OP's input (LN1 x, LN2 x, block x).
    prefix@attn / prompt@attn: the parallel prefix on attention's per-head output; a prompt's keys
    and values are its tokens through the block's frozen LN1 and qkv (frozen[attn name])."""

    def __init__(self, gen, blocks, tuners, length, h, scale, frozen):
        super().__init__(gen)
        self.tuners, self.scale, self.frozen = tuners, scale, frozen
        for name, D in blocks:
            for kind, site in tuners:
                if kind == "adapter":
                    bottleneck(self, f"{name}.utuning_adapter_{site}", D, h)
                elif kind == "prefix":
                    self.p(f"{name}.attn.utuning_prefix.key", (length, D), std=0.5)
                    self.p(f"{name}.attn.utuning_prefix.value", (length, D), std=0.5)
                else:
                    self.p(f"{name}.attn.utuning_prompt.prompts", (length, D), std=0.5)

    def parallel_adapter(self, pre, x):
        if pre + ".net.down.weight" not in self.params:
            return None
        P = lambda k: self.params[f"{pre}.net.{k}"]  # noqa: E731
        return F.linear(F.relu(F.linear(x, P("down.weight"), P("down.bias"))), P("up.weight"),
                        P("up.bias")) * self.scale

    def ln_parallel(self, block, site, z):
        return self.parallel_adapter(f"{block}.utuning_adapter_{site}", z)

    def block_parallel(self, block, x):
        return self.parallel_adapter(f"{block}.utuning_adapter_block", x)

    def head_out(self, attn, q, k, v, bias, o, heads):
        for kind in ("prefix", "prompt"):  # (the cases never combine the two)
            if (kind, "attn") not in self.tuners:
                continue
            if kind == "prefix":
                kp = self.params[attn + ".utuning_prefix.key"]
                vp = self.params[attn + ".utuning_prefix.value"]
            else:
                norm, w, b = self.frozen[attn]
                P = self.params[attn + ".utuning_prompt.prompts"]
                D = P.shape[1]
                kv = F.linear(F.layer_norm(P, (D,), norm.weight, norm.bias, norm.eps), w, b)
                kp, vp = kv[:, D:2 * D], kv[:, 2 * D:]
            o = parallel_prefix(heads_of(q, heads), k, v, bias, heads_of(o, heads), kp, vp, heads)
            o = o.transpose(1, 2).reshape(q.shape)
        return o


def parallel_prefix(q, k, v, bias, o, kp, vp, heads):
    """(1 - lam) o + lam Attn(Q, K_pre, V_pre), lam = sum_j e^{q.kp_j} / (sum_i e^{q.k_i + bias} +
    sum_j e^{q.kp_j}) per query; q, k, v, o: (B', H, N, Dh), kp, vp: (l, D) -> (B', H, N, Dh)."""
    Dh = q.shape[-1]
    kp = kp.reshape(-1, heads, Dh).transpose(0, 1)  # (H, l, Dh)
    vp = vp.reshape(-1, heads, Dh).transpose(0, 1)
    s_tok = q @ k.transpose(-2, -1) * Dh ** -0.5
    if bias is not None:
        s_tok = s_tok + bias
    s_pre = q @ kp.transpose(-2, -1) * Dh ** -0.5
    e_tok, e_pre = s_tok.exp().sum(-1, keepdim=True), s_pre.exp().sum(-1, keepdim=True)
    lam = e_pre / (e_tok + e_pre)
    return (1 - lam) * o + lam * (s_pre.softmax(-1) @ vp)


class DyT(Tuner):
    """DyT on ViT: per block a dispatcher Linear(D -> 1) on the patch tokens of the MLP's residual
    input x; x' = x + m * MLP(LN2 x) + s * adapter(x), the CLS always kept. Eval: m = [E > 0];
    train: S = sigmoid((E + noise) / tau), m = [S > 0.5] forward, dS backward. experts > 1: the
    MoE adapter (per image softmax(router(mean token)) merges the experts' weights)."""

    def __init__(self, gen, blocks, h, experts, scale, train, noise_shape, tau=5.0):
        super().__init__(gen)
        self.scale, self.train, self.tau, self.experts = scale, train, tau, experts
        self.complete = False  # the loss's "complete model" pass: no gate
        self.rates = []  # mean(m) per block, this pass
        self.noise = {}
        for name, D in blocks:
            self.p(f"{name}.dispatcher.gate.weight", (1, D), std=0.3)
            self.p(f"{name}.dispatcher.gate.bias", (1,), std=0.3)
            pre = f"{name}.dyt_adapter"
            if experts <= 1:
                bottleneck(self, pre, D, h)
            else:
                self.p(pre + ".router.weight", (experts, D), std=0.5)
                self.p(pre + ".router.bias", (experts,), std=0.5)
                self.p(pre + ".down_weight", (experts, h, D))
                self.p(pre + ".down_bias", (experts, h))
                self.p(pre + ".up_weight", (experts, D, h))
                self.p(pre + ".up_bias", (experts, D))
            if train:  # G1 - G2, G = -log(-log U): what the C++ would sample
                u = torch.rand((2,) + noise_shape, generator=gen).clamp(1e-6, 1 - 1e-6)
                g = -torch.log(-torch.log(u))
                self.noise[name] = (g[0] - g[1]).float().double()

    def mlp_gate(self, block, x):
        if self.complete:
            return None
        w, b = self.params[block + ".dispatcher.gate.weight"], self.params[block + ".dispatcher.gate.bias"]
        e = F.linear(x[:, 1:], w, b)  # (B, N - 1, 1)
        t = e + self.noise[block] if self.train else e
        # no token within float32 rounding of the threshold (else the C++ may flip it)
        assert t.abs().min() > 1e-3, f"{block}: a gate logit at {t.abs().min():.2g}, pick another seed"
        if self.train:
            s = torch.sigmoid(t / self.tau)
            m = (s > 0.5).double() - s.detach() + s
        else:
            m = (e > 0).double()
        self.rates.append(m.mean())
        return torch.cat([torch.ones_like(m[:, :1]), m], 1)

    def mlp_parallel(self, block, x):
        pre = block + ".dyt_adapter"
        P = lambda k: self.params[f"{pre}.{k}"]  # noqa: E731
        if self.experts <= 1:
            u = F.relu(F.linear(x, P("net.down.weight"), P("net.down.bias")))
            return F.linear(u, P("net.up.weight"), P("net.up.bias")) * self.scale
        a = F.linear(x.mean(1), P("router.weight"), P("router.bias")).softmax(-1)  # (B, E)
        wd = torch.einsum("be,ehd->bhd", a, P("down_weight"))
        wu = torch.einsum("be,edh->bdh", a, P("up_weight"))
        u = F.relu(torch.einsum("bnd,bhd->bnh", x, wd) + (a @ P("down_bias"))[:, None])
        return (torch.einsum("bnh,bdh->bnd", u, wu) + (a @ P("up_bias"))[:, None]) * self.scale


def dyt_loss_case(out, name, m, t, images, G, labels, head, r):
    """CE(student) + CE(complete) + KL(p_complete.detach || p_student) + 2 (mean rate - r)^2."""
    t.complete = True
    complete = vit_forward(m, t, images)
    t.complete, t.rates = False, []
    student = vit_forward(m, t, images)
    rate = torch.stack(t.rates).mean()
    kl = F.kl_div(student.log_softmax(-1), complete.detach().softmax(-1), reduction="batchmean")
    loss = F.cross_entropy(student, labels) + F.cross_entropy(complete, labels) + kl + 2.0 * (rate - r) ** 2
    wrt = {**t.params, **head}
    grads = torch.autograd.grad(loss, list(wrt.values()))
    for k, v in t.params.items():
        out[f"{name}.param.{k}"] = v.detach().float()
    for k, g in zip(wrt, grads):
        out[f"{name}.grad.{k}"] = g.float()
    out[f"{name}.logits"], out[f"{name}.loss"] = student.detach().float(), loss.detach().float()
    for b, n in t.noise.items():
        out[f"{name}.noise.{b}"] = n.float()
    print(f"  {name}: loss {loss.item():.4g}, rate {rate.item():.3f}")


def frozen_attn(m, family):
    """attention name -> (LN1 module, qkv weight, qkv bias), for U-Tuning's prompts."""
    if family == "vit":
        return {f"blocks.{i}.attn": (blk.ln_1, blk.self_attention.in_proj_weight,
                                     blk.self_attention.in_proj_bias)
                for i, blk in enumerate(m.encoder.layers)}
    return {f"layers.{s}.blocks.{b}.attn": (blk.norm1, blk.attn.qkv.weight, blk.attn.qkv.bias)
            for s in range(len(m.features) // 2) for b, blk in enumerate(m.features[2 * s + 1])}


def utuning_cases(gen, blocks, frozen):
    """Each form alone (l = 3, h = 4, s = 0.6), then the documented default prefix@attn,adapter@mlp
    with its default sizes (l = 11, h = 8, s = 1)."""
    cases = {}
    for kind, site in (("adapter", "attn"), ("adapter", "mlp"), ("adapter", "block"), ("prefix", "attn"),
                       ("prompt", "attn")):
        cases[f"utuning_{kind}_{site}"] = UTuning(gen, blocks, [(kind, site)], 3, 4, 0.6, frozen)
    default = [("prefix", "attn"), ("adapter", "mlp")]
    cases["utuning_default"] = UTuning(gen, blocks, default, 11, 8, 1.0, frozen)
    return cases


def check_parallel_prefix_identity(m, forward, gen, blocks, images):
    """The parallel form equals ordinary prefix tuning (an identity of softmax): same K_pre, V_pre."""
    u = UTuning(gen, blocks, [("prefix", "attn")], 3, 4, 1.0, None)
    p = Prefix(None, [], 0)
    for k, v in u.params.items():
        p.params[k.replace("utuning_prefix", "prefix")] = v
    with torch.no_grad():
        a, b = forward(m, u, images), forward(m, p, images)
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-12), (a - b).abs().max()


def vit_fixture():
    gen = torch.Generator().manual_seed(31)
    m = make_vit()
    out = {}
    images, G = common(m, "vit_test_tiny", 32, gen, out)
    labels = torch.randint(0, 10, (2,), generator=gen)
    out["labels"] = labels
    params = backbone_leaves(m, to_timm)
    head = {k: v for k, v in params.items() if k.startswith("head.")}
    blocks = [(f"blocks.{i}", 64) for i in range(4)]
    check_parallel_prefix_identity(m, vit_forward, gen, blocks, images)
    noise = (2, 16, 1)  # (B, patch tokens, 1)
    cases = {
        "convpass": Convpass(gen, blocks, 4, 0.7, prefix=1),
        "convpass_attn": Convpass(gen, blocks, 4, 0.7, prefix=1, sites=("attn",)),
        **utuning_cases(gen, blocks, frozen_attn(m, "vit")),
        "iconformer": IConFormer(gen, blocks, 4, 3, 0.8, prefix=1),
        "dyt_eval": DyT(gen, blocks, 4, 1, 0.5, False, noise),
        "dyt_eval_moe": DyT(gen, blocks, 4, 3, 0.5, False, noise),
        "dyt_train": DyT(gen, blocks, 4, 1, 0.5, True, noise),
        "dyt_train_moe": DyT(gen, blocks, 4, 3, 0.5, True, noise),
    }
    for name, t in cases.items():
        if isinstance(t, DyT):
            t.rates = []
        run_case(out, name, m, vit_forward, t, images, G, head)
        if isinstance(t, DyT):
            if t.train:
                for b, n in t.noise.items():
                    out[f"{name}.noise.{b}"] = n.float()
            else:  # run_case ran the tuner once: 4 blocks
                rate = torch.stack(t.rates[-4:]).mean()
                assert 0.1 < rate < 0.9, rate
                out[f"{name}.rate"] = rate.reshape(1).float()
    dyt_loss_case(out, "dyt_loss", m, DyT(gen, blocks, 4, 1, 0.5, True, noise), images, G, labels, head, 0.3)
    st.save(os.path.join(OUT, "peft_seeds_vit.safetensors"), out)


def swin_fixture():
    gen = torch.Generator().manual_seed(33)
    m = make_swin()
    out = {}
    images, G = common(m, "swin_test_tiny", 56, gen, out)
    params = backbone_leaves(m, swin_to_timm)
    head = {k: v for k, v in params.items() if k.startswith("head.")}
    blocks = [(f"layers.{s}.blocks.{b}", 32 << s) for s in range(2) for b in range(2)]
    check_parallel_prefix_identity(m, swin_forward, gen, blocks, images)
    cases = {
        "convpass": Convpass(gen, blocks, 4, 0.7, prefix=0),
        "convpass_attn": Convpass(gen, blocks, 4, 0.7, prefix=0, sites=("attn",)),
        **utuning_cases(gen, blocks, frozen_attn(m, "swin")),
        "iconformer": IConFormer(gen, blocks, 4, 3, 0.8, prefix=0),
    }
    for name, t in cases.items():
        run_case(out, name, m, swin_forward, t, images, G, head)
    st.save(os.path.join(OUT, "peft_seeds_swin.safetensors"), out)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    print("peft_seeds_vit.safetensors (vit_test_tiny)")
    vit_fixture()
    print("peft_seeds_swin.safetensors (swin_test_tiny)")
    swin_fixture()


if __name__ == "__main__":
    main()
