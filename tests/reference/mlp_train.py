#!/usr/bin/python3
"""Reference training runs for tests/test_optim.cpp: a 2-layer MLP trained 20 steps in PyTorch.

Model: x (64, 8) -> Linear(8, 32) -> GELU (exact) -> Linear(32, 4) -> logits; cross-entropy loss
(mean over the batch) on 4 classes. Two runs from the same initial weights, full precision f32:

  adamw: AdamW(lr 1e-2, betas (0.9, 0.999), eps 1e-8), weight decay 0.05 on the weight
         matrices and 0 on the biases (two parameter groups), one full batch per step.
  sgd:   SGD(momentum 0.9, nesterov, weight decay 1e-4), learning rate from timm's
         CosineLRScheduler formula per update (base 0.1, t_initial 20, warm-up 3 updates from
         0.01, lr_min 1e-3), gradient accumulated over 2 micro-batches of 32 (loss / 2 each),
         clip_grad_norm_(max_norm 0.5; it clips the first 5 steps) before each step.

Writes tests/fixtures/mlp_train.safetensors: data.x, data.y, init.<param>, <run>.losses (the
loss before each of the 20 updates), <run>.final.<param>, sgd.lrs, sgd.grad_norms.
Run: /usr/bin/python3 tests/reference/mlp_train.py
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

STEPS = 20
NAMES = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def forward(p, x):
    h = F.gelu(F.linear(x, p["fc1.weight"], p["fc1.bias"]))
    return F.linear(h, p["fc2.weight"], p["fc2.bias"])


def cosine_lr(t, base=0.1, total=20, warmup=3, warmup_lr=0.01, min_lr=1e-3):
    # timm CosineLRScheduler._get_lr with t_in_epochs=False, cycle_limit=1, warmup_prefix=False
    if t < warmup:
        return warmup_lr + t * (base - warmup_lr) / warmup
    if t >= total:
        return min_lr
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * t / total))


def main():
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    teacher = torch.randn(8, 4)
    y = (x @ teacher + 0.5 * torch.randn(64, 4)).argmax(dim=1)  # learnable, slightly noisy labels
    fc1, fc2 = torch.nn.Linear(8, 32), torch.nn.Linear(32, 4)  # torch's default init
    init = {"fc1.weight": fc1.weight, "fc1.bias": fc1.bias,
            "fc2.weight": fc2.weight, "fc2.bias": fc2.bias}
    init = {k: v.detach().clone() for k, v in init.items()}
    out = {"data.x": x, "data.y": y}
    for k, v in init.items():
        out[f"init.{k}"] = v

    # ---- AdamW, full batch
    p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = torch.optim.AdamW([
        {"params": [p["fc1.weight"], p["fc2.weight"]], "weight_decay": 0.05},
        {"params": [p["fc1.bias"], p["fc2.bias"]], "weight_decay": 0.0},
    ], lr=1e-2)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(forward(p, x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    out["adamw.losses"] = torch.tensor(losses, dtype=torch.float64)
    for k in NAMES:
        out[f"adamw.final.{k}"] = p[k].detach()

    # ---- SGD + nesterov + cosine schedule + 2-way gradient accumulation + clipping
    p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    params = [p[k] for k in NAMES]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    losses, lrs, norms = [], [], []
    for t in range(STEPS):
        lr = cosine_lr(t)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        total = 0.0
        for xb, yb in ((x[:32], y[:32]), (x[32:], y[32:])):
            loss = F.cross_entropy(forward(p, xb), yb) / 2
            loss.backward()
            total += loss.item()
        norms.append(torch.nn.utils.clip_grad_norm_(params, 0.5).item())
        opt.step()
        losses.append(total)
        lrs.append(lr)
    out["sgd.losses"] = torch.tensor(losses, dtype=torch.float64)
    out["sgd.lrs"] = torch.tensor(lrs, dtype=torch.float64)
    out["sgd.grad_norms"] = torch.tensor(norms, dtype=torch.float64)
    for k in NAMES:
        out[f"sgd.final.{k}"] = p[k].detach()

    target = os.path.join(HERE, "..", "fixtures", "mlp_train.safetensors")
    st.save(target, out)
    print(f"wrote {target}: adamw loss {out['adamw.losses'][0]:.4f} -> "
          f"{out['adamw.losses'][-1]:.4f}, sgd loss {out['sgd.losses'][0]:.4f} -> "
          f"{out['sgd.losses'][-1]:.4f}, grad norms {min(norms):.3f}..{max(norms):.3f}")


if __name__ == "__main__":
    main()
