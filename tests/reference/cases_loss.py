"""Loss cases for ops.py (ops_loss): cross entropy (hard and soft targets, label smoothing,
ignore_index, the (N, C, H, W) form), kl_div, mse_loss, smooth_l1_loss, every reduction."""
import torch
import torch.nn.functional as F


def build(case):
    r = case.randn
    tgt = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
    ign = torch.tensor([0, -100, 2, 4, -100, 3], dtype=torch.int64)
    for red in ("mean", "sum", "none"):
        case(f"ce_{red}", lambda x, t, red=red: F.cross_entropy(x, t, reduction=red),
             x=r(6, 5), t=tgt)
        case(f"ce_smooth_{red}",
             lambda x, t, red=red: F.cross_entropy(x, t, label_smoothing=0.1, reduction=red),
             x=r(6, 5), t=tgt)
        case(f"ce_ignore_{red}", lambda x, t, red=red: F.cross_entropy(x, t, reduction=red),
             x=r(6, 5), t=ign)
        case(f"ce_ignore_smooth_{red}",
             lambda x, t, red=red: F.cross_entropy(x, t, label_smoothing=0.1, reduction=red),
             x=r(6, 5), t=ign)
        # segmentation form: (N, C, H, W) logits, (N, H, W) targets, 255 = void
        seg = torch.randint(0, 4, (2, 3, 3), generator=case.gen)
        seg[0, 1, 1] = 255
        seg[1, 0, 2] = 255
        case(f"ce_seg_{red}",
             lambda x, t, red=red: F.cross_entropy(x, t, label_smoothing=0.1, ignore_index=255,
                                                   reduction=red),
             x=r(2, 4, 3, 3), t=seg)
        case(f"ce_soft_{red}", lambda x, q, red=red: F.cross_entropy(x, q, reduction=red),
             x=r(4, 5), q=torch.softmax(r(4, 5), 1))
        case(f"mse_{red}", lambda a, b, red=red: F.mse_loss(a, b, reduction=red),
             a=r(3, 4), b=r(3, 4))
        case(f"smooth_l1_{red}",
             lambda a, b, red=red: F.smooth_l1_loss(a, b, beta=0.5, reduction=red),
             a=r(3, 4), b=r(3, 4))
    case("ce_soft_seg", lambda x, q: F.cross_entropy(x, q), x=r(2, 3, 2, 2),
         q=torch.softmax(r(2, 3, 2, 2), 1))
    case("smooth_l1_beta0", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), a=r(3, 4), b=r(3, 4))
    case("smooth_l1_beta2", lambda a, b: F.smooth_l1_loss(a, b, beta=2.0), a=r(3, 4), b=r(3, 4))
    for red in ("mean", "batchmean", "sum", "none"):
        case(f"kl_{red}", lambda x, p, red=red: F.kl_div(x, p, reduction=red),
             x=torch.log_softmax(r(3, 5), 1), p=torch.softmax(r(3, 5), 1))
    case("kl_log_target", lambda x, p: F.kl_div(x, p, reduction="batchmean", log_target=True),
         x=torch.log_softmax(r(3, 5), 1), p=torch.log_softmax(r(3, 5), 1))
    # a target with exact zeros (0·log 0 = 0); no target gradient (torch's is NaN there)
    p0 = torch.softmax(r(3, 5), 1)
    p0[:, 1] = 0.0
    p0 = p0 / p0.sum(1, keepdim=True)
    case("kl_zero_target", lambda x, p: F.kl_div(x, p, reduction="batchmean"),
         x=torch.log_softmax(r(3, 5), 1), p=p0, no_grad=("p",))
