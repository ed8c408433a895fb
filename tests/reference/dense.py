#!/usr/bin/python3
"""Dense-prediction fixtures: the decoders of tasks/dense written as plain PyTorch modules with the
C++ module names, so state-dict keys match one to one.

    /usr/bin/python3 tests/reference/dense.py      (Debian's python: torch 1.13)

Writes tests/fixtures/dense.safetensors, read by tests/test_dense.cpp. Per case NAME:
    NAME.feat.<i>       the backbone maps fed to the head (float64)
    NAME.param.<key>    every parameter and buffer of the head before the forward
    NAME.G              the weight of the loss sum(out * G)
    NAME.out            the training-mode output (BatchNorm on batch statistics, dropout off)
    NAME.grad.feat.<i>  d loss / d map;  NAME.grad.<key>: d loss / d parameter
    NAME.after.<key>    the BatchNorm running statistics after that forward
    NAME.eval_out       the eval-mode output afterwards (running statistics)
and the losses: silog.{pred,target,loss,grad} and seg_ce.{logits,target,loss,grad}.

The heads follow mmseg's UPerHead (PPM + FPN + fpn_bottleneck; ConvModule = conv without bias,
BatchNorm, ReLU; bilinear resizes with align_corners=False) and ViTDet's simple feature pyramid
(average pooling for the stride-32 level, as the C++ does). Everything runs in float64.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")


def resize(x, h, w):
    if x.shape[2] == h and x.shape[3] == w:
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


class LayerNorm2d(nn.Module):
    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class ConvModule(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SFP(nn.Module):
    def __init__(self, D, C):
        super().__init__()
        self.up4_deconv1 = nn.ConvTranspose2d(D, D // 2, 2, 2)
        self.up4_norm = LayerNorm2d(D // 2)
        self.up4_deconv2 = nn.ConvTranspose2d(D // 2, D // 4, 2, 2)
        self.up2_deconv = nn.ConvTranspose2d(D, D // 2, 2, 2)
        for l, cin in enumerate([D // 4, D // 2, D, D]):
            setattr(self, f"level{l}", nn.ModuleDict({
                "lateral": nn.Conv2d(cin, C, 1, bias=False), "lateral_norm": LayerNorm2d(C),
                "output": nn.Conv2d(C, C, 3, padding=1, bias=False), "output_norm": LayerNorm2d(C)}))

    def forward(self, x):
        levels = [self.up4_deconv2(F.gelu(self.up4_norm(self.up4_deconv1(x)))), self.up2_deconv(x), x,
                  F.avg_pool2d(x, 2)]
        out = []
        for l, y in enumerate(levels):
            m = getattr(self, f"level{l}")
            y = m["lateral_norm"](m["lateral"](y))
            out.append(m["output_norm"](m["output"](y)))
        return out


class UperDecoder(nn.Module):
    def __init__(self, ins, C, scales=(1, 2, 3, 6)):
        super().__init__()
        self.scales = scales
        self.psp_modules = nn.ModuleList([ConvModule(ins[-1], C, 1) for _ in scales])
        self.bottleneck = ConvModule(ins[-1] + len(scales) * C, C, 3)
        self.lateral_convs = nn.ModuleList([ConvModule(c, C, 1) for c in ins[:-1]])
        self.fpn_convs = nn.ModuleList([ConvModule(C, C, 3) for _ in ins[:-1]])
        self.fpn_bottleneck = ConvModule(len(ins) * C, C, 3)

    def forward(self, feats):
        top = feats[-1]
        psp = [top] + [resize(m(F.adaptive_avg_pool2d(top, s)), top.shape[2], top.shape[3])
                       for s, m in zip(self.scales, self.psp_modules)]
        lat = [m(f) for m, f in zip(self.lateral_convs, feats[:-1])] + [self.bottleneck(torch.cat(psp, 1))]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + resize(lat[i], lat[i - 1].shape[2], lat[i - 1].shape[3])
        outs = [m(l) for m, l in zip(self.fpn_convs, lat[:-1])] + [lat[-1]]
        outs = [outs[0]] + [resize(o, outs[0].shape[2], outs[0].shape[3]) for o in outs[1:]]
        return self.fpn_bottleneck(torch.cat(outs, 1))


class DenseHead(nn.Module):
    def __init__(self, task, channels_in, C, classes=0, max_depth=10.0):
        super().__init__()
        self.task, self.max_depth = task, max_depth
        ins = channels_in
        if len(channels_in) == 1:
            self.sfp = SFP(channels_in[0], C)
            ins = [C] * 4
        else:
            self.sfp = None
            for i, c in enumerate(channels_in):
                setattr(self, f"norm{i}", LayerNorm2d(c, 1e-5))
        self.n_in = len(channels_in)
        self.decoder = UperDecoder(ins, C)
        if task == "segmentation":
            self.conv_seg = nn.Conv2d(C, classes, 1)
        else:
            self.up1 = ConvModule(C, C // 2, 3)
            self.up2 = ConvModule(C // 2, C // 4, 3)
            self.conv_depth = nn.Conv2d(C // 4, 1, 3, padding=1)

    def forward(self, feats, H, W):
        levels = self.sfp(feats[0]) if self.sfp is not None else [getattr(self, f"norm{i}")(f) for i, f in enumerate(feats)]
        f = self.decoder(levels)
        if self.task == "segmentation":
            return resize(self.conv_seg(f), H, W)  # dropout is off in the fixture
        f = self.up1(resize(f, 2 * f.shape[2], 2 * f.shape[3]))
        f = self.up2(resize(f, 2 * f.shape[2], 2 * f.shape[3]))
        return resize(torch.sigmoid(self.conv_depth(f)) * self.max_depth, H, W)


def randomise(head, gen):
    """Non-trivial values everywhere: norms' weights and biases, running statistics."""
    with torch.no_grad():
        for name, p in head.named_parameters():
            if p.dim() == 1:
                p.copy_(0.5 + torch.rand(p.shape, generator=gen, dtype=p.dtype) if name.endswith("weight")
                        else 0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for name, b in head.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen, dtype=b.dtype))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen, dtype=b.dtype))


def head_case(tensors, name, head, feats, H, W, gen):
    head = head.double()
    randomise(head, gen)
    for k, v in head.state_dict().items():
        tensors[f"{name}.param.{k}"] = v.detach().clone()
    feats = [f.double().requires_grad_(True) for f in feats]
    for i, f in enumerate(feats):
        tensors[f"{name}.feat.{i}"] = f.detach()
    head.train()
    out = head(feats, H, W)
    G = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * G).sum().backward()
    tensors[f"{name}.G"], tensors[f"{name}.out"] = G, out.detach()
    for i, f in enumerate(feats):
        tensors[f"{name}.grad.feat.{i}"] = f.grad.detach()
    for k, p in head.named_parameters():
        tensors[f"{name}.grad.{k}"] = p.grad.detach()
    for k, b in head.named_buffers():
        if "running" in k:
            tensors[f"{name}.after.{k}"] = b.detach().clone()
    head.eval()
    with torch.no_grad():
        tensors[f"{name}.eval_out"] = head([f.detach() for f in feats], H, W)


def silog(pred, target, min_depth=1e-3, lam=0.85, alpha=10.0):
    valid = target > min_depth
    d = torch.log(pred[valid]) - torch.log(target[valid])
    return alpha * torch.sqrt((d ** 2).mean() - lam * d.mean() ** 2)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    t = {}
    # A Swin-shaped pyramid for a 64×64 image (strides 4..32) and a segmentation head.
    torch.manual_seed(1)
    chans = [8, 16, 32, 64]
    feats = [torch.randn(2, c, 16 >> i, 16 >> i, generator=gen) for i, c in enumerate(chans)]
    head_case(t, "seg_swin", DenseHead("segmentation", chans, 16, classes=5), feats, 64, 64, gen)
    # A ViT map (stride 16) and a depth head: the simple feature pyramid, then full resolution.
    torch.manual_seed(2)
    head_case(t, "depth_vit", DenseHead("depth", [16], 8, max_depth=10.0),
              [torch.randn(2, 16, 4, 4, generator=gen)], 64, 64, gen)
    # SILog with invalid (zero) pixels.
    pred = (0.5 + 5 * torch.rand(2, 1, 6, 5, generator=gen, dtype=torch.float64)).requires_grad_(True)
    target = 0.5 + 5 * torch.rand(2, 1, 6, 5, generator=gen, dtype=torch.float64)
    target[torch.rand(target.shape, generator=gen) < 0.3] = 0
    loss = silog(pred, target)
    loss.backward()
    t.update({"silog.pred": pred.detach(), "silog.target": target, "silog.loss": loss.detach().reshape(1),
              "silog.grad": pred.grad})
    # Per-pixel cross-entropy with ignored pixels (255).
    logits = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64).requires_grad_(True)
    target = torch.randint(0, 4, (2, 5, 6), generator=gen)
    target[torch.rand(target.shape, generator=gen) < 0.25] = 255
    loss = F.cross_entropy(logits, target, ignore_index=255)
    loss.backward()
    t.update({"seg_ce.logits": logits.detach(), "seg_ce.target": target, "seg_ce.loss": loss.detach().reshape(1),
              "seg_ce.grad": logits.grad})
    st.save(os.path.join(OUT, "dense.safetensors"), t)
    print(f"wrote {len(t)} tensors to tests/fixtures/dense.safetensors")


if __name__ == "__main__":
    main()
