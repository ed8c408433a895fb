"""Conv2d, pooling, interpolation and RoIAlign cases for ops.py (tests/test_conv.cpp reads them)."""
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def per_sample_conv(x, w, groups=1, **kw):
    """Image n convolved with its own filters w[n] (w: (N, O, C/groups, kh, kw)), built as one
    grouped conv over the batch folded into channels: (1, N*C, H, W) with N*groups groups."""
    n, c, h, wd = x.shape
    o = w.shape[1]
    y = F.conv2d(x.reshape(1, n * c, h, wd), w.reshape(n * o, *w.shape[2:]), groups=n * groups,
                 **kw)
    return y.reshape(n, o, *y.shape[2:])


def build(case):
    r = case.randn
    # conv2d: dense, strided, dilated, grouped, depthwise (groups == C), patch embedding
    case("conv_basic", lambda x, w, b: F.conv2d(x, w, b), x=r(2, 3, 7, 6), w=r(4, 3, 3, 3),
         b=r(4))
    case("conv_stride_pad", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
         x=r(2, 3, 9, 8), w=r(5, 3, 3, 3), b=r(5))
    case("conv_dilation",
         lambda x, w: F.conv2d(x, w, stride=(1, 2), padding=(2, 1), dilation=(2, 3)),
         x=r(1, 2, 9, 10), w=r(3, 2, 3, 2))
    case("conv_groups", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2),
         x=r(2, 4, 6, 6), w=r(6, 2, 3, 3), b=r(6))
    case("conv_patch_embed", lambda x, w, b: F.conv2d(x, w, b, stride=4), x=r(2, 3, 16, 16),
         w=r(8, 3, 4, 4), b=r(8))
    case("conv_depthwise", lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=5),
         x=r(2, 5, 8, 7), w=r(5, 1, 3, 3), b=r(5))
    case("conv_depthwise_dilated",
         lambda x, w: F.conv2d(x, w, stride=2, padding=2, dilation=2, groups=4),
         x=r(2, 4, 9, 8), w=r(4, 1, 3, 3))
    case("conv_frozen_weight", lambda x, w, b: F.conv2d(x, w, b, padding=1), x=r(2, 3, 5, 5),
         w=r(4, 3, 3, 3), b=r(4), no_grad=("w",))
    # per-sample (dynamic) kernels
    case("conv_per_sample_depthwise", lambda x, w: per_sample_conv(x, w, groups=4, padding=1),
         x=r(3, 4, 6, 6), w=r(3, 4, 1, 3, 3))
    case("conv_per_sample_dense", lambda x, w: per_sample_conv(x, w, stride=2, padding=1),
         x=r(2, 3, 7, 7), w=r(2, 5, 3, 3, 3))
    # pooling
    case("avg_pool", lambda x: F.avg_pool2d(x, 2), x=r(2, 3, 6, 7))
    case("avg_pool_pad", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), x=r(2, 3, 7, 8))
    case("avg_pool_pad_exclude",
         lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 1),
                                count_include_pad=False), x=r(2, 3, 7, 6))
    case("adaptive_pool", lambda x: F.adaptive_avg_pool2d(x, (3, 4)), x=r(2, 3, 7, 10))
    case("adaptive_pool_up", lambda x: F.adaptive_avg_pool2d(x, (5, 3)), x=r(2, 3, 4, 2))
    # interpolation, both align_corners settings, up- and down-sampling
    for mode in ("bilinear", "bicubic"):
        for ac in (False, True):
            for direction, src, size in (("up", (2, 3, 5, 6), (9, 13)),
                                         ("down", (2, 3, 9, 11), (4, 5))):
                name = mode + ("_ac_" if ac else "_") + direction
                case(name, lambda x, m=mode, a=ac, s=size: F.interpolate(
                    x, size=s, mode=m, align_corners=a), x=r(*src))
    # RoIAlign (torchvision.ops.roi_align): rois inside, across the border, smaller than a bin,
    # larger than the map, on both images; aligned and legacy, fixed and adaptive sampling.
    rois = torch.tensor([[0, 1.3, 2.2, 20.7, 17.9],
                         [1, -6.0, -3.5, 9.4, 12.2],
                         [1, 10.1, 11.6, 10.9, 12.0],
                         [0, 25.3, 3.1, 44.0, 30.6],
                         [0, -10.0, -8.0, 60.0, 50.0],
                         [1, 3.7, 0.4, 31.2, 5.9]], dtype=torch.float32)
    for aligned in (True, False):
        for ratio in (2, -1):
            for scale, size in ((0.25, (3, 4)), (0.5, (7, 7))):
                name = f"roi_align_{'aligned' if aligned else 'legacy'}_s{ratio}_x{int(1 / scale)}"
                case(name, lambda x, rois, a=aligned, s=ratio, sc=scale, o=size: roi_align(
                    x, rois, o, spatial_scale=sc, sampling_ratio=s, aligned=a),
                    x=r(2, 3, 10, 12), rois=rois, no_grad=("rois",))
