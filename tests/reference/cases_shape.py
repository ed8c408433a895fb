"""Joining/splitting/padding/rolling and gather/scatter/where cases for ops.py (ops_shape)."""
import torch
import torch.nn.functional as F


def idx(*v):
    return torch.tensor(v, dtype=torch.int64)


def build(case):
    r = case.randn
    # ---- concat / stack / split / chunk
    case("concat_dim1", lambda a, b: torch.cat([a, b], dim=1), a=r(2, 3), b=r(2, 5))
    case("concat_three_t", lambda a, b, c: torch.cat([a, b.t(), c], dim=0),
         a=r(2, 4), b=r(4, 3), c=r(1, 4))
    case("stack_dim1", lambda a, b: torch.stack([a, b], dim=1), a=r(3, 4), b=r(3, 4))
    case("split_sizes",
         lambda x: torch.cat([p * (i + 1) for i, p in enumerate(torch.split(x, [2, 5], 0))], 0),
         x=r(7, 4))
    case("split_even",
         lambda x: torch.cat([p * (i + 1) for i, p in enumerate(torch.split(x, 3, 1))], 1),
         x=r(2, 7))
    case("chunk_last",
         lambda x: torch.cat([p * (i + 1) for i, p in enumerate(torch.chunk(x, 3, -1))], -1),
         x=r(2, 3, 7))
    # ---- pad (torch pair order: last dim first); negative pads crop
    case("pad_const", lambda x: F.pad(x, (1, 2, 0, 3), value=0.5), x=r(2, 3, 4, 5))
    case("pad_crop", lambda x: F.pad(x, (-1, 2, 1, -2)), x=r(2, 4, 5))
    case("pad_three_dims", lambda x: F.pad(x, (1, 1, 2, 0, 0, 1)), x=r(2, 3, 4))
    # ---- roll
    case("roll_two_dims", lambda x: torch.roll(x, (1, -2), (0, 2)), x=r(3, 4, 5))
    case("roll_flat", lambda x: torch.roll(x, 3), x=r(3, 4))
    case("roll_big_shift", lambda x: torch.roll(x, 11, 1), x=r(2, 4))
    # ---- index_select / index_add (duplicate indices)
    case("index_select_dup", lambda x, i: torch.index_select(x, 0, i), x=r(5, 4),
         i=idx(4, 0, 4, 2))
    case("index_select_mid", lambda x, i: torch.index_select(x, 1, i), x=r(2, 5, 3),
         i=idx(1, 1, 3))
    case("index_add_dup", lambda x, i, src: torch.index_add(x, 0, i, src), x=r(5, 4),
         i=idx(1, 3, 1), src=r(3, 4))
    case("index_add_last", lambda x, i, src: torch.index_add(x, -1, i, src), x=r(2, 3, 4),
         i=idx(0, 3, 3, 0, 2), src=r(2, 3, 5))
    # ---- gather / scatter_add
    case("gather_dim1", lambda x, i: torch.gather(x, 1, i), x=r(3, 5),
         i=idx(0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 0, 4).view(3, 4))
    case("gather_small_index", lambda x, i: torch.gather(x, 0, i), x=r(4, 5),
         i=idx(3, 0, 1, 3, 2, 2).view(2, 3))
    case("scatter_add_dim1", lambda x, i, src: torch.scatter_add(x, 1, i, src), x=r(3, 5),
         i=idx(0, 4, 4, 1, 2, 2, 2, 0, 3, 1, 0, 4).view(3, 4), src=r(3, 4))
    # torch 1.13 cannot back-propagate to a src larger than the index (its gradient has the
    # index's shape), so only x's gradient is compared here; src's is gradchecked.
    case("scatter_add_big_src", lambda x, i, src: torch.scatter_add(x, 0, i, src), x=r(3, 4),
         i=idx(2, 0, 2, 1, 1, 2).view(2, 3), src=r(3, 5), no_grad=("src",))
    # ---- where / masked_fill
    case("where_bcast", lambda c, a, b: torch.where(c, a, b),
         c=torch.tensor([[True], [False], [True]]), a=r(3, 4), b=r(4))
    case("masked_fill", lambda x, m: x.masked_fill(m, -2.0), x=r(3, 4),
         m=torch.tensor([True, False, False, True]))
