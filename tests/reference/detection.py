#!/usr/bin/python3
"""Detection building blocks as torchvision 0.14 computes them: box IoU, NMS, batched NMS,
clipping, small-box removal, box coding, anchors and IoU matching.

    /usr/bin/python3 tests/reference/detection.py      (Debian's python: torch 1.13)

Writes tests/fixtures/detection.safetensors, read by tests/test_detection.cpp:
    iou.{a,b,out}                       torchvision.ops.box_iou
    nms.{boxes,scores,keep}             torchvision.ops.nms at IoU 0.5
    batched_nms.{boxes,scores,classes,keep}
    clip.{boxes,out} (image 40×50), small.{boxes,keep} (min size 2)
    coder.{boxes,reference,encoded}     BoxCoder((10, 10, 5, 5)).encode_single
    coder.{deltas,decoded}              ... decode_single of 3 classes' deltas against reference
    anchors.out                         AnchorGenerator((32,), (64,)) on a 64×96 image, maps
                                        16×24 and 8×12, aspect ratios (0.5, 1, 2)
    anchors.cell{0,1}                   the cell anchors of each level
    matcher.{iou,rpn,roi}               Matcher(0.7, 0.3, low-quality matches) and Matcher(0.5, 0.5)
Everything is float32, as the detector computes it.
"""
import os
import sys

import torch
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image, nms, remove_small_boxes

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "detection.safetensors")


def random_boxes(g, n, lo=0.0, hi=60.0, min_wh=1.0, max_wh=25.0):
    xy = lo + (hi - lo) * torch.rand(n, 2, generator=g)
    wh = min_wh + (max_wh - min_wh) * torch.rand(n, 2, generator=g)
    return torch.cat([xy, xy + wh], 1)


def main():
    g = torch.Generator().manual_seed(7)
    t = {}
    a, b = random_boxes(g, 7), random_boxes(g, 5)
    b[0] = a[2]                       # an identical pair: IoU 1
    b[1] = torch.tensor([200.0, 200.0, 210.0, 210.0])  # far away: IoU 0
    t.update({"iou.a": a, "iou.b": b, "iou.out": box_iou(a, b)})

    # clusters of overlapping boxes, distinct scores
    centres = random_boxes(g, 6, max_wh=20.0)
    boxes = (centres.repeat(5, 1) + 3.0 * torch.randn(30, 4, generator=g))
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)
    scores = torch.rand(30, generator=g)
    classes = torch.randint(0, 3, (30,), generator=g)
    t.update({"nms.boxes": boxes, "nms.scores": scores, "nms.keep": nms(boxes, scores, 0.5)})
    t.update({"batched_nms.boxes": boxes, "batched_nms.scores": scores,
              "batched_nms.classes": classes,
              "batched_nms.keep": batched_nms(boxes, scores, classes, 0.5)})

    loose = random_boxes(g, 12, lo=-20.0, hi=70.0, min_wh=0.5, max_wh=30.0)
    t.update({"clip.boxes": loose, "clip.out": clip_boxes_to_image(loose, (40, 50))})
    t.update({"small.boxes": loose, "small.keep": remove_small_boxes(loose, 2.0)})

    coder = det_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))
    gt, ref = random_boxes(g, 9), random_boxes(g, 9)
    deltas = 0.8 * torch.randn(9, 12, generator=g)
    deltas[0, 2] = 9.0                # clamped at log(1000 / 16)
    t.update({"coder.boxes": gt, "coder.reference": ref,
              "coder.encoded": coder.encode_single(gt, ref),
              "coder.deltas": deltas, "coder.decoded": coder.decode_single(deltas, ref)})

    gen = AnchorGenerator(((32,), (64,)), ((0.5, 1.0, 2.0),) * 2)
    images = ImageList(torch.zeros(1, 3, 64, 96), [(64, 96)])
    maps = [torch.zeros(1, 4, 16, 24), torch.zeros(1, 4, 8, 12)]
    t["anchors.out"] = gen(images, maps)[0]
    for i, c in enumerate(gen.cell_anchors):
        t[f"anchors.cell{i}"] = c

    iou = box_iou(random_boxes(g, 4), random_boxes(g, 40, max_wh=30.0))
    iou[1, 5] = iou[1, 9] = iou[1].max() + 0.01   # a tie for the best anchor of a box
    iou[3] = torch.clamp(iou[3], max=0.2)          # a box matched only as a low-quality match
    t["matcher.iou"] = iou
    t["matcher.rpn"] = det_utils.Matcher(0.7, 0.3, allow_low_quality_matches=True)(iou)
    t["matcher.roi"] = det_utils.Matcher(0.5, 0.5, allow_low_quality_matches=False)(iou)
    st.save(OUT, {k: v.contiguous() for k, v in t.items()})
    print(f"wrote {OUT}: {len(t)} tensors")


if __name__ == "__main__":
    main()
