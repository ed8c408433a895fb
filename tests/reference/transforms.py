#!/usr/bin/python3
"""Writes tests/fixtures/transforms.safetensors: torchvision 0.14 image transforms on tensors.

Every case stores NAME.in (a (C, H, W) float32 image in [0, 1]) and NAME.out, the output of
torchvision.transforms.functional (antialias=False, the tensor path). tests/test_data_transforms.cpp
runs vt::data's transforms on NAME.in and compares with NAME.out. Run with Debian's python3:
    /usr/bin/python3 tests/reference/transforms.py
"""
import os
import sys

import torch
import torchvision
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
MODES = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}


def main():
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    gen = torch.Generator().manual_seed(7)
    out = {}

    def img(c, h, w):
        return torch.rand((c, h, w), generator=gen)

    def case(name, x, fn):
        out[f"{name}.in"] = x
        out[f"{name}.out"] = fn(x)

    def resize(h, w, mode):
        return lambda x: TF.resize(x, [h, w], interpolation=MODES[mode], antialias=False)

    case("resize_bilinear_up", img(3, 7, 9), resize(13, 17, "bilinear"))
    case("resize_bilinear_down", img(3, 20, 24), resize(9, 11, "bilinear"))
    case("resize_bicubic_up", img(3, 7, 9), resize(13, 17, "bicubic"))
    case("resize_bicubic_down", img(3, 20, 24), resize(9, 11, "bicubic"))
    case("resize_bicubic_x7", img(3, 12, 12), resize(84, 84, "bicubic"))  # the 32 -> 224 factor
    case("center_crop", img(3, 10, 12), lambda x: TF.center_crop(x, [5, 7]))
    case("center_crop_odd", img(2, 11, 9), lambda x: TF.center_crop(x, [4, 4]))
    case("center_crop_pad", img(3, 5, 6), lambda x: TF.center_crop(x, [8, 9]))
    case("hflip", img(3, 4, 5), TF.hflip)
    case("normalize", img(3, 6, 5), lambda x: TF.normalize(x, *IMAGENET))
    # eval_transform(16, imagenet) with its default bicubic: Resize((16, 16)), then Normalize.
    case("eval_pipeline", img(3, 10, 12),
         lambda x: TF.normalize(resize(16, 16, "bicubic")(x), *IMAGENET))
    # A 1-channel image goes through the same pipeline as 3 copies of its plane.
    case("eval_pipeline_gray", img(1, 9, 8),
         lambda x: TF.normalize(resize(12, 12, "bicubic")(x.expand(3, -1, -1)), *IMAGENET))

    path = os.path.join(HERE, "..", "fixtures", "transforms.safetensors")
    st.save(path, {k: v.contiguous() for k, v in out.items()})
    print(f"wrote {len(out) // 2} cases to {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
