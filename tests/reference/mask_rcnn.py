#!/usr/bin/python3
"""Mask R-CNN's parts as torchvision 0.14 computes them, on small inputs with fixed weights:
the feature pyramid (FeaturePyramidNetwork + LastLevelMaxPool), the region proposal network
and the RoI heads (box and mask), in training (losses, gradients) and inference (detections).

    /usr/bin/python3 tests/reference/mask_rcnn.py      (Debian's python: torch 1.13)

Writes tests/fixtures/mask_rcnn.safetensors, read by tests/test_mask_rcnn.cpp. Parameters are
stored under the C++ module names (tasks/instance/neck.h, rpn.h, roi_heads.h):
    fpn.in.<i>, fpn.param.<key>, fpn.G.<l>, fpn.out.<l>, fpn.grad.in.<i>, fpn.grad.<key>
                                   the pyramid of four maps and its P6; loss Σ_l sum(out_l · G_l)
    map.<l>                        P2..P6 of a batch of two 64×64 images (8 channels)
    target.<b>.{boxes,labels,masks}
    rpn.param.<key>; rpn.proposals.<b>, rpn.loss_objectness, rpn.loss_box, rpn.grad.map.<l>,
    rpn.grad.<key> (training, loss = the sum of both); rpn.eval_proposals.<b> (inference)
    roi.param.<key>; roi.loss_{classifier,box,mask}, roi.grad.map.<l>, roi.grad.<key> (training
    on rpn.proposals, loss = the sum of the three); det.<b>.{boxes,scores,labels,masks}
    (inference on rpn.eval_proposals)
The samplers' batches are larger than the candidates, so every candidate is taken and nothing
depends on torch's random draws. RoIAlign in the heads' pooler is aligned (as the C++ and
Detectron2); the mask targets are projected unaligned, as torchvision does.
"""
import functools
import os
import sys
from collections import OrderedDict

import torch
import torchvision.ops.poolers as poolers
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign, roi_align
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "mask_rcnn.safetensors")
poolers.roi_align = functools.partial(roi_align, aligned=True)  # the heads' pooler only

B, C, S, K = 2, 8, 64, 3  # images, pyramid channels, image size, object classes

RPN_KEYS = {"head.conv.0.0": "head.conv", "head.cls_logits": "head.cls_logits",
            "head.bbox_pred": "head.bbox_pred"}
ROI_KEYS = {"box_head.fc6": "box_head.fc6", "box_head.fc7": "box_head.fc7",
            "box_predictor.cls_score": "box_head.cls_score",
            "box_predictor.bbox_pred": "box_head.bbox_pred",
            "mask_head.0.0": "mask_head.fcn1", "mask_head.1.0": "mask_head.fcn2",
            "mask_head.2.0": "mask_head.fcn3", "mask_head.3.0": "mask_head.fcn4",
            "mask_predictor.conv5_mask": "mask_head.conv5_mask",
            "mask_predictor.mask_fcn_logits": "mask_head.logits"}


def ours(name, table):
    module, leaf = name.rsplit(".", 1)
    return table[module] + "." + leaf


def randomize(module, g, std):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=g))


def targets(g):
    out = []
    for b in range(B):
        m = 2 + b
        xy = 4 + 36 * torch.rand(m, 2, generator=g)
        wh = 10 + 18 * torch.rand(m, 2, generator=g)
        boxes = torch.cat([xy, torch.minimum(xy + wh, torch.tensor(63.0))], 1)
        yy, xx = torch.meshgrid(torch.arange(S) + 0.5, torch.arange(S) + 0.5, indexing="ij")
        masks = torch.zeros(m, S, S, dtype=torch.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):  # the ellipse inscribed in the box
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            masks[i] = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).to(torch.uint8)
        labels = torch.randint(1, K + 1, (m,), generator=g)
        out.append({"boxes": boxes, "labels": labels, "masks": masks})
    return out


def fpn_case(t, g):
    chans = [4, 6, 8, 10]
    fpn = FeaturePyramidNetwork(chans, C, extra_blocks=LastLevelMaxPool())
    randomize(fpn, g, 0.3)
    sizes = [16, 8, 4, 2]
    xs = OrderedDict((str(i), torch.randn(B, c, s, s + 1, generator=g).requires_grad_(True))
                     for i, (c, s) in enumerate(zip(chans, sizes)))
    ys = list(fpn(xs).values())
    loss = 0
    for l, y in enumerate(ys):
        G = torch.randn(y.shape, generator=g)
        t[f"fpn.G.{l}"], t[f"fpn.out.{l}"] = G, y.detach()
        loss = loss + (y * G).sum()
    loss.backward()
    for i, x in enumerate(xs.values()):
        t[f"fpn.in.{i}"], t[f"fpn.grad.in.{i}"] = x.detach(), x.grad
    for name, p in fpn.named_parameters():  # inner_blocks.i.0.weight -> inner<i>.weight
        kind, i, _, leaf = name.split(".")
        key = ("inner" if kind == "inner_blocks" else "layer") + i + "." + leaf
        t["fpn.param." + key], t["fpn.grad." + key] = p.detach().clone(), p.grad


def main():
    g = torch.Generator().manual_seed(11)
    t = {}
    fpn_case(t, g)
    maps = [torch.randn(B, C, S // s, S // s, generator=g) for s in (4, 8, 16, 32, 64)]
    for l, m in enumerate(maps):
        t[f"map.{l}"] = m
    tg = targets(g)
    for b, d in enumerate(tg):
        for k, v in d.items():
            t[f"target.{b}.{k}"] = v
    images = ImageList(torch.zeros(B, 3, S, S), [(S, S)] * B)

    # ---- region proposal network
    anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 5)
    head = RPNHead(C, 3)
    randomize(head, g, 0.2)
    rpn = RegionProposalNetwork(anchors, head, 0.7, 0.3, 100000, 0.5,
                                dict(training=60, testing=40), dict(training=50, testing=30), 0.7)
    for name, p in rpn.named_parameters():
        t["rpn.param." + ours(name, RPN_KEYS)] = p.detach().clone()
    leaves = [m.clone().requires_grad_(True) for m in maps]
    feats = OrderedDict(zip(["0", "1", "2", "3", "pool"], leaves))
    rpn.train()
    proposals, losses = rpn(images, feats, tg)
    (losses["loss_objectness"] + losses["loss_rpn_box_reg"]).backward()
    t["rpn.loss_objectness"], t["rpn.loss_box"] = losses["loss_objectness"].detach(), losses["loss_rpn_box_reg"].detach()
    for l, x in enumerate(leaves):
        t[f"rpn.grad.map.{l}"] = x.grad
    for name, p in rpn.named_parameters():
        t["rpn.grad." + ours(name, RPN_KEYS)] = p.grad
    for b, p in enumerate(proposals):
        t[f"rpn.proposals.{b}"] = p.detach()
    rpn.eval()
    with torch.no_grad():
        eval_props, _ = rpn(images, OrderedDict(zip(["0", "1", "2", "3", "pool"], maps)))
    for b, p in enumerate(eval_props):
        t[f"rpn.eval_proposals.{b}"] = p

    # ---- RoI heads
    names = ["0", "1", "2", "3"]
    # canonical box size 16 instead of 224: boxes of a 64×64 image then pool from all four levels
    roi = RoIHeads(MultiScaleRoIAlign(names, 7, 2, canonical_scale=16), TwoMLPHead(C * 49, 32),
                   FastRCNNPredictor(32, K + 1), 0.5, 0.5, 100000, 0.25, None, 0.05, 0.5, 100,
                   MultiScaleRoIAlign(names, 14, 2, canonical_scale=16), MaskRCNNHeads(C, (16, 16, 16, 16), 1),
                   MaskRCNNPredictor(16, 16, K + 1))
    randomize(roi, g, 0.15)
    for name, p in roi.named_parameters():
        t["roi.param." + ours(name, ROI_KEYS)] = p.detach().clone()
    leaves = [m.clone().requires_grad_(True) for m in maps[:4]]
    roi.train()
    _, losses = roi(OrderedDict(zip(names, leaves)), [p.detach() for p in proposals], [(S, S)] * B, tg)
    (losses["loss_classifier"] + losses["loss_box_reg"] + losses["loss_mask"]).backward()
    t["roi.loss_classifier"], t["roi.loss_box"], t["roi.loss_mask"] = (
        losses["loss_classifier"].detach(), losses["loss_box_reg"].detach(), losses["loss_mask"].detach())
    for l, x in enumerate(leaves):
        t[f"roi.grad.map.{l}"] = x.grad
    for name, p in roi.named_parameters():
        t["roi.grad." + ours(name, ROI_KEYS)] = p.grad
    roi.eval()
    with torch.no_grad():
        dets, _ = roi(OrderedDict(zip(names, maps[:4])), eval_props, [(S, S)] * B)
    from torchvision.models.detection.roi_heads import paste_masks_in_image
    for b, d in enumerate(dets):
        t[f"det.{b}.boxes"], t[f"det.{b}.scores"], t[f"det.{b}.labels"] = d["boxes"], d["scores"], d["labels"]
        t[f"det.{b}.masks"] = paste_masks_in_image(d["masks"], d["boxes"], (S, S))[:, 0]
    st.save(OUT, {k: v.contiguous() for k, v in t.items()})
    print(f"wrote {OUT}: {len(t)} tensors; detections {[len(d['boxes']) for d in dets]}, "
          f"proposals {[len(p) for p in proposals]}, losses "
          f"{[round(float(t[k]), 4) for k in ('rpn.loss_objectness', 'rpn.loss_box', 'roi.loss_classifier', 'roi.loss_box', 'roi.loss_mask')]}")


if __name__ == "__main__":
    main()
