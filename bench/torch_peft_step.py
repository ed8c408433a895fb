# torch_peft_step.py — the PyTorch side of `vitune bench`: the same ViT (timm layout, built
# from torchvision's building blocks), the same tuner placement and sizes, the same step
# (AdamW, cross-entropy, random images), one JSON line with the same keys.
# Run: /usr/bin/python3 bench/torch_peft_step.py --model vit_small_patch16_224 --method lora
#      --batch 8 --steps 10 --threads 2 --mode train [--precision bf16]
# --precision bf16 is a PyTorch user's best on this CPU: the step under
# torch.autocast("cpu", dtype=torch.bfloat16) (oneDNN's BF16 kernels), weights kept in F32.
import argparse
import contextlib
import json
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {"vit_tiny_patch16_224": (192, 12, 3), "vit_small_patch16_224": (384, 12, 6),
           "vit_base_patch16_224": (768, 12, 12)}


class LoRA(nn.Module):  # qkv += B A x, r = 8 (peft/lora.cpp)
    def __init__(self, d_in, d_out, r=8):
        super().__init__()
        self.A = nn.Parameter(torch.randn(r, d_in) * 0.02)
        self.B = nn.Parameter(torch.zeros(d_out, r))

    def forward(self, x):
        return F.linear(F.linear(x, self.A), self.B)


class Bottleneck(nn.Module):  # AdaptFormer: s * up(relu(down(x))), h = 8, s = 0.1
    def __init__(self, d, h=8, s=0.1):
        super().__init__()
        self.down, self.up, self.s = nn.Linear(d, h), nn.Linear(h, d), s

    def forward(self, x):
        return self.s * self.up(F.dropout(F.relu(self.down(x)), 0.1, self.training))


class Convpass(nn.Module):  # s * up(QuickGELU(conv3x3(QuickGELU(down(x))))) on the 14x14 grid, h = 8
    def __init__(self, d, h=8, s=0.01):
        super().__init__()
        self.down, self.up, self.s = nn.Linear(d, h), nn.Linear(h, d), s
        self.conv = nn.Conv2d(h, h, 3, padding=1)

    def forward(self, x):  # x: (B, 1 + 196, D); CLS through the conv's centre tap
        B, N, _ = x.shape
        z = self.down(x)
        z = z * torch.sigmoid(1.702 * z)
        g = int((N - 1) ** 0.5)
        grid = self.conv(z[:, 1:].transpose(1, 2).reshape(B, -1, g, g)).flatten(2).transpose(1, 2)
        cls = F.linear(z[:, :1], self.conv.weight[:, :, 1, 1], self.conv.bias)
        y = torch.cat([cls, grid], 1)
        y = y * torch.sigmoid(1.702 * y)
        return self.s * self.up(F.dropout(y, 0.1, self.training))


class Block(nn.Module):
    def __init__(self, d, heads, method):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.lora = LoRA(d, 3 * d) if method == "lora" else None
        self.adapt = Bottleneck(d) if method == "adaptformer" else None
        self.conv_attn = Convpass(d) if method == "convpass" else None
        self.conv_mlp = Convpass(d) if method == "convpass" else None

    def forward(self, x):
        B, N, D = x.shape
        z = self.norm1(x)
        qkv = self.qkv(z)
        if self.lora is not None:
            qkv = qkv + self.lora(z)
        q, k, v = qkv.reshape(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v) if hasattr(F, "scaled_dot_product_attention") \
            else torch.softmax(q @ k.transpose(-2, -1) * (D // self.heads) ** -0.5, -1) @ v
        h = self.proj(a.transpose(1, 2).reshape(B, N, D))
        if self.conv_attn is not None:
            h = h + self.conv_attn(z)
        x = x + h
        z2 = self.norm2(x)
        out = x + self.fc2(F.gelu(self.fc1(z2)))
        if self.conv_mlp is not None:
            out = out + self.conv_mlp(z2)
        if self.adapt is not None:
            out = out + self.adapt(x)
        return out


class ViT(nn.Module):
    def __init__(self, d, depth, heads, method, classes=1000):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 197, d))
        self.blocks = nn.ModuleList([Block(d, heads, method) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x)[:, 0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="vit_small_patch16_224")
    p.add_argument("--method", default="linear", choices=["linear", "lora", "adaptformer", "convpass", "full"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--mode", default="train", choices=["train", "infer"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    d, depth, heads = CONFIGS[a.model]
    m = ViT(d, depth, heads, a.method)
    for n, t in m.named_parameters():  # frozen backbone: only tuners and the head train
        t.requires_grad = a.method == "full" or n.startswith("head") or ".lora." in n or ".adapt." in n or ".conv_" in n
    opt = torch.optim.AdamW([t for t in m.parameters() if t.requires_grad], lr=1e-4)
    x, y = torch.randn(a.batch, 3, 224, 224), torch.zeros(a.batch, dtype=torch.long)
    times = []
    if a.mode == "infer":
        m.eval()
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else contextlib.nullcontext
    for s in range(a.steps + 2):
        t0 = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            with cast():
                loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), cast():
                m(x)
        if s >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    step = times[len(times) // 2]
    print(json.dumps({"model": a.model, "method": a.method, "mode": a.mode, "precision": a.precision, "batch": a.batch,
                      "threads": torch.get_num_threads(), "step_s": step, "img_per_s": a.batch / step,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "trainable": sum(t.numel() for t in m.parameters() if t.requires_grad),
                      "framework": "torch " + torch.__version__}))


if __name__ == "__main__":
    main()
