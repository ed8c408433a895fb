"""The PEFT methods of tests/reference/peft.py in plain PyTorch, as hooks into its hand-written
ViT / Swin forward. Each parameter is created under the dotted name the C++ gives it.

The tuners, as their official code has them:
  lora         NOAH / loralib: qkv += B(A x) on the fused qkv (no scale); q, v: MergedLinear with
               enable_lora=[q, v], delta placed in those thirds, scaled by alpha / r
  adapter      NOAH (Pfeiffer placement): x = x + A(MLP(LN2 x)), A(h) = h + up(QuickGELU(down h));
               site "both" also puts one after attention (Houlsby)
  adaptformer  AdaptFormer's Block: x = x + MLP(LN2 x) + s * up(ReLU(down x)), x the MLP's residual
               input (no LayerNorm)
  vpt          KMnP/vpt: prompts inserted after CLS after the position embedding; deep replaces the
               prompt outputs before every block i >= 1. Swin (deep): VPT's PromptedSwinBlock puts
               LN1'd prompts in front of every window's tokens, pads the relative-position bias and
               the shift mask with zeros for them, and drops their outputs (deep replaces them)
  prefix       learnable keys/values (l, D), split into heads like k and v, in front of the
               projected keys/values; queries only from the tokens; on Swin every window sees them
  ssf          dongzelian/SSF: x * scale + shift after patch-embed, LN1, qkv, proj, LN2, fc1, fc2,
               the final LN; on Swin also after the patch-embed norm and each PatchMerging norm
  fact         JieShibo/PETL-ViT FacT-TT: fact_forward_attn / fact_forward_mlp with FacTu, FacTv
               shared by the blocks (one pair per width on Swin) and per-block cores
  bitfit       the plain model; only the biases (and the head) train
"""
import math

import torch
import torch.nn.functional as F


class Tuner:
    """The plain backbone. A method overrides the hooks it needs; `params` maps the C++ dotted
    name of each tuner parameter to its (float64, requires_grad) tensor."""

    def __init__(self, gen):
        self.gen = gen
        self.params = {}

    def p(self, name, shape, mean=0.0, std=0.2):
        # float32 values (what the fixture stores), held in float64 for the arithmetic
        t = (mean + std * torch.randn(shape, generator=self.gen)).float().double()
        self.params[name] = t.requires_grad_(True)
        return self.params[name]

    def out(self, site, x, y):  # after a Linear / LayerNorm / the patch projection at `site`
        return y

    def prefix_kv(self, attn, batch, heads, head_dim):  # extra (k, v), each (B', H, l, Dh)
        return None

    def window_prompts(self, attn):  # Swin VPT: raw prompt tokens (l, C) of this block
        return None

    def adapter(self, site, h):  # after a sub-block's output h (site: ".adapter_attn"/"_mlp")
        return h

    def mlp_parallel(self, block, x):  # a branch beside the MLP, fed by its residual input
        return None

    def tokens(self, i, x):  # ViT: the token sequence before block i
        return x

    def ln_parallel(self, block, site, z):  # a branch fed by LN1 (site "attn") / LN2 ("mlp") output
        return None

    def head_out(self, attn, q, k, v, bias, o, heads):  # attention's output before proj, (B', N, D);
        return o  # q: (B', N, D) rows, k, v: (B', H, N, Dh), bias: (B' or 1, H, N, N) or None

    def mlp_gate(self, block, x):  # a (B, N, 1) mask on the MLP output, fed by its residual input
        return None

    def block_parallel(self, block, x):  # a branch beside the whole block, fed by its input x
        return None


class LoRA(Tuner):
    def __init__(self, gen, blocks, r, targets, alpha=0.0):
        super().__init__(gen)
        self.s = alpha / r if alpha > 0 else 1.0
        self.r, self.targets = r, targets
        self.dim = {}
        for name, D in blocks:
            self.dim[name + ".attn.qkv"] = D
            for tg in targets:
                rows = 3 * D if tg == "qkv" else D
                self.p(f"{name}.attn.qkv.lora_{tg}.A", (r, D), std=0.3)
                self.p(f"{name}.attn.qkv.lora_{tg}.B", (rows, r), std=0.3)

    def out(self, site, x, y):
        if site not in self.dim:
            return y
        for tg in self.targets:
            A, B = self.params[f"{site}.lora_{tg}.A"], self.params[f"{site}.lora_{tg}.B"]
            after_b = (x @ A.t()) @ B.t()
            if tg == "qkv":
                y = y + after_b * self.s
            else:  # MergedLinear: the delta lands in the q, k or v third
                parts = list(y.split(self.dim[site], dim=-1))
                j = "qkv".index(tg)
                parts[j] = parts[j] + after_b * self.s
                y = torch.cat(parts, dim=-1)
        return y


def bottleneck(t, prefix, D, h):
    t.p(prefix + ".net.down.weight", (h, D))
    t.p(prefix + ".net.down.bias", (h,))
    t.p(prefix + ".net.up.weight", (D, h))
    t.p(prefix + ".net.up.bias", (D,))


class Adapter(Tuner):
    def __init__(self, gen, blocks, h, site):
        super().__init__(gen)
        for name, D in blocks:
            if site in ("attn", "both"):
                bottleneck(self, name + ".adapter_attn", D, h)
            if site in ("mlp", "both"):
                bottleneck(self, name + ".adapter_mlp", D, h)

    def adapter(self, site, h):
        if site + ".net.down.weight" not in self.params:
            return h
        P = lambda k: self.params[f"{site}.net.{k}"]  # noqa: E731
        u = F.linear(h, P("down.weight"), P("down.bias"))
        u = u * torch.sigmoid(1.702 * u)  # QuickGELU
        return h + F.linear(u, P("up.weight"), P("up.bias"))


class AdaptFormer(Tuner):
    def __init__(self, gen, blocks, h, scale):
        super().__init__(gen)
        self.scale = scale
        for name, D in blocks:
            bottleneck(self, name + ".adaptformer", D, h)

    def mlp_parallel(self, block, x):
        P = lambda k: self.params[f"{block}.adaptformer.net.{k}"]  # noqa: E731
        down = F.relu(F.linear(x, P("down.weight"), P("down.bias")))
        return F.linear(down, P("up.weight"), P("up.bias")) * self.scale


class VPTViT(Tuner):
    def __init__(self, gen, depth, length, D, deep):
        super().__init__(gen)
        self.deep, self.l = deep, length
        self.prompts = self.p("token_tuner.prompts", (depth if deep else 1, length, D), std=0.5)

    def tokens(self, i, x):
        B = x.shape[0]
        if i == 0:  # incorporate_prompt: [CLS, prompts, patches]
            return torch.cat([x[:, :1], self.prompts[0].expand(B, -1, -1), x[:, 1:]], dim=1)
        if self.deep:  # forward_deep_prompt: replace the previous prompt outputs
            return torch.cat([x[:, :1], self.prompts[i].expand(B, -1, -1), x[:, 1 + self.l:]], dim=1)
        return x


class VPTSwin(Tuner):
    def __init__(self, gen, blocks, length):
        super().__init__(gen)
        for name, C in blocks:
            self.p(f"{name}.attn.vpt.prompts", (length, C), std=0.5)

    def window_prompts(self, attn):
        return self.params[attn + ".vpt.prompts"]


class Prefix(Tuner):
    def __init__(self, gen, blocks, length):
        super().__init__(gen)
        for name, D in blocks:
            self.p(f"{name}.attn.prefix.key", (length, D), std=0.5)
            self.p(f"{name}.attn.prefix.value", (length, D), std=0.5)

    def prefix_kv(self, attn, batch, heads, head_dim):
        def split(t):  # (l, D) -> (B', H, l, Dh)
            return t.reshape(t.shape[0], heads, head_dim).permute(1, 0, 2).expand(batch, -1, -1, -1)
        return split(self.params[attn + ".prefix.key"]), split(self.params[attn + ".prefix.value"])


class SSF(Tuner):
    def __init__(self, gen, sites):  # sites: [(dotted name, channels)]
        super().__init__(gen)
        for site, C in sites:
            self.p(site + ".ssf.scale", (C,), mean=1.0, std=0.2)
            self.p(site + ".ssf.shift", (C,))

    def out(self, site, x, y):
        if site + ".ssf.scale" not in self.params:
            return y
        return y * self.params[site + ".ssf.scale"] + self.params[site + ".ssf.shift"]


class FacT(Tuner):
    """fact_forward_attn / fact_forward_mlp of the official FacT-TT code, split at the four
    linears they add to (the official code adds after qkv, proj, fc1 and fc2 the same way)."""

    def __init__(self, gen, blocks, r, s):
        super().__init__(gen)
        self.r, self.s = r, s
        self.uv = {}  # width -> index of its (FacTu, FacTv) pair, in block order
        self.host = {}  # linear -> (kind, width)
        for name, D in blocks:
            if D not in self.uv:
                i = self.uv[D] = len(self.uv)
                self.p(f"fact.{i}.U", (r, D), std=0.3)  # FacTu.weight
                self.p(f"fact.{i}.V", (D, r), std=0.3)  # FacTv.weight
            for core, shape in (("q", (r, r)), ("k", (r, r)), ("v", (r, r))):
                self.p(f"{name}.attn.qkv.fact.{core}", shape, std=0.3)
            self.p(f"{name}.attn.proj.fact.o", (r, r), std=0.3)
            self.p(f"{name}.mlp.fc1.fact.fc1", (4 * r, r), std=0.3)
            self.p(f"{name}.mlp.fc2.fact.fc2", (r, 4 * r), std=0.3)
            for kind in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
                self.host[f"{name}.{kind}"] = (kind, D)

    def out(self, site, x, y):
        if site not in self.host:
            return y
        kind, D = self.host[site]
        i = self.uv[D]
        FacTu = lambda t: F.linear(t, self.params[f"fact.{i}.U"])  # noqa: E731
        FacTv = lambda t: F.linear(t, self.params[f"fact.{i}.V"])  # noqa: E731
        core = lambda n, t: F.linear(t, self.params[f"{site}.fact.{n}"])  # noqa: E731  (dp off)
        lead = x.shape[:-1]
        if kind == "attn.qkv":
            q = FacTv(core("q", FacTu(x)))
            k = FacTv(core("k", FacTu(x)))
            v = FacTv(core("v", FacTu(x)))
            return y + torch.cat([q, k, v], dim=-1) * self.s
        if kind == "attn.proj":
            return y + FacTv(core("o", FacTu(x))) * self.s
        if kind == "mlp.fc1":  # h += FacTv(dp(fc1_FacTs(FacTu(x))).reshape(B, N, 4, dim)).reshape(B, N, 4C)
            t = core("fc1", FacTu(x)).reshape(*lead, 4, self.r)
            return y + FacTv(t).reshape(*lead, 4 * D) * self.s
        # fc2: x = x.reshape(B, N, 4, C); h += FacTv(dp(fc2_FacTs(FacTu(x).reshape(B, N, 4 * dim))))
        t = FacTu(x.reshape(*lead, 4, D)).reshape(*lead, 4 * self.r)
        return y + FacTv(core("fc2", t)) * self.s


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def square_grid(N, prefix):
    """The side g of the g x g token grid after `prefix` tokens (ViT: 1, the CLS; Swin: 0)."""
    g = math.isqrt(N - prefix)
    assert g * g == N - prefix, (N, prefix)
    return g


class Convpass(Tuner):
    """Convpass (JieShibo/PETL-ViT convpass.py). ViT form (prefix=1): CLS through the same 3x3
    conv; Swin form (prefix=0): the conv on the stage's grid. sites: the bypasses present."""

    def __init__(self, gen, blocks, h, scale, prefix, sites=("attn", "mlp")):
        super().__init__(gen)
        self.scale, self.prefix = scale, prefix
        for name, D in blocks:
            for site in sites:
                pre = f"{name}.convpass_{site}"
                bottleneck(self, pre, D, h)
                self.p(pre + ".conv.weight", (h, h, 3, 3))
                self.p(pre + ".conv.bias", (h,))

    def ln_parallel(self, block, site, z):
        if f"{block}.convpass_{site}.conv.weight" not in self.params:
            return None
        P = lambda k: self.params[f"{block}.convpass_{site}.{k}"]  # noqa: E731
        B, N, _ = z.shape
        p = self.prefix
        g = square_grid(N, p)
        u = quick_gelu(F.linear(z, P("net.down.weight"), P("net.down.bias")))
        h = u.shape[-1]
        patch = u[:, p:].reshape(B, g, g, h).permute(0, 3, 1, 2)
        patch = F.conv2d(patch, P("conv.weight"), P("conv.bias"), padding=1)
        c = patch.permute(0, 2, 3, 1).reshape(B, g * g, h)
        if p:
            cls = u[:, :p].reshape(B * p, 1, 1, h).permute(0, 3, 1, 2)
            cls = F.conv2d(cls, P("conv.weight"), P("conv.bias"), padding=1)  # only the centre tap
            cls = cls.permute(0, 2, 3, 1).reshape(B, p, h)
            c = torch.cat([cls, c], 1)
        c = quick_gelu(c)
        return F.linear(c, P("net.up.weight"), P("net.up.bias")) * self.scale


class IConFormer(Tuner):
    """iConFormer, our reading (peft/iconformer.cpp): per-image depthwise kernels generated from
    the pooled down-projection, applied on the token grid (grouped-conv formulation here)."""

    def __init__(self, gen, blocks, d, k, scale, prefix):
        super().__init__(gen)
        self.k, self.scale, self.prefix = k, scale, prefix
        for name, D in blocks:
            for site in ("attn", "mlp"):
                pre = f"{name}.iconformer_{site}"
                bottleneck(self, pre, D, d)
                self.p(pre + ".icon.weight", (d * k * k, d))
                self.p(pre + ".icon.bias", (d * k * k,))

    def adapter(self, site, x):  # site: "<block>.adapter_attn" / "<block>.adapter_mlp"
        block, which = site.rsplit(".adapter_", 1)
        P = lambda n: self.params[f"{block}.iconformer_{which}.{n}"]  # noqa: E731
        B, N, _ = x.shape
        k, p = self.k, self.prefix
        g = square_grid(N, p)
        z = F.linear(x, P("net.down.weight"), P("net.down.bias"))
        d = z.shape[-1]
        kern = F.linear(z.mean(1), P("icon.weight"), P("icon.bias")).reshape(B * d, 1, k, k)
        grid = z[:, p:].reshape(B, g, g, d).permute(0, 3, 1, 2).reshape(1, B * d, g, g)
        y = F.conv2d(grid, kern, padding=k // 2, groups=B * d).reshape(B, d, g, g)
        y = torch.cat([torch.zeros(B, p, d, dtype=z.dtype), y.permute(0, 2, 3, 1).reshape(B, g * g, d)], 1)
        return x + self.scale * F.linear(F.gelu(y + z), P("net.up.weight"), P("net.up.bias"))
