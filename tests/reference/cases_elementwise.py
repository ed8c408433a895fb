"""Element-wise, reduction and matmul cases for ops.py (broadcasting and non-contiguous inputs)."""
import torch
import torch.nn.functional as F


def build(case):
    r = case.randn
    case("add_bcast", lambda a, b: a + b, a=r(2, 3, 4), b=r(3, 1))
    case("sub_bcast", lambda a, b: a - b, a=r(4), b=r(2, 3, 4))
    case("mul_bcast", lambda a, b: a * b, a=r(2, 1, 4), b=r(3, 1))
    case("div_bcast", lambda a, b: a / b, a=r(2, 3), b=case.rand(3, lo=0.5, hi=2.0))
    case("maximum", lambda a, b: torch.maximum(a, b), a=r(3, 4), b=r(4))
    case("scalar_ops", lambda x: (x * 2.5 + 1.0) / 3.0 - 0.5, x=r(5, 3))
    case("rsub_rdiv", lambda x: (1.0 - x) + 2.0 / x, x=case.rand(4, 3, lo=0.5, hi=2.0))
    case("pow", lambda x: x.pow(2.5), x=case.rand(3, 4, lo=0.1, hi=2.0))
    case("neg", lambda x: -x, x=r(3, 4))
    case("exp", torch.exp, x=r(3, 4))
    case("log", torch.log, x=case.rand(3, 4, lo=0.1, hi=3.0))
    case("sqrt", torch.sqrt, x=case.rand(3, 4, lo=0.1, hi=3.0))
    case("rsqrt", torch.rsqrt, x=case.rand(3, 4, lo=0.1, hi=3.0))
    case("abs", torch.abs, x=r(3, 4))
    case("tanh", torch.tanh, x=r(3, 4))
    case("sigmoid", torch.sigmoid, x=r(3, 4))
    case("relu", torch.relu, x=r(3, 4))
    case("gelu", F.gelu, x=r(3, 4) * 3)
    case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), x=r(3, 4) * 3)
    case("quick_gelu", lambda x: x * torch.sigmoid(1.702 * x), x=r(3, 4) * 3)
    case("softplus", F.softplus, x=torch.cat([r(10) * 5, torch.tensor([25.0, -30.0])]))
    case("square", torch.square, x=r(3, 4))
    # non-contiguous input: the transpose of a stored tensor
    case("tanh_transposed", lambda x: torch.tanh(x.t()), x=r(4, 3))
    # reductions
    case("sum_all", lambda x: x.sum(), x=r(3, 4, 5))
    case("sum_dims", lambda x: x.sum(dim=(0, 2)), x=r(3, 4, 5))
    case("sum_keep", lambda x: x.sum(dim=1, keepdim=True), x=r(3, 4, 5))
    case("mean_last", lambda x: x.mean(dim=-1), x=r(3, 4, 5))
    case("max_dim", lambda x: x.max(dim=1).values, x=r(3, 4, 5))
    case("var_unbiased", lambda x: x.var(dim=(1,)), x=r(3, 6))
    case("var_pop_keep", lambda x: x.var(dim=(0, 2), unbiased=False, keepdim=True), x=r(3, 4, 5))
    # matmul / linear
    case("matmul_2d", torch.matmul, input=r(5, 7), other=r(7, 3))
    case("matmul_batched_bcast", torch.matmul, input=r(2, 3, 4, 5), other=r(3, 5, 6))
    case("matmul_weight", torch.matmul, input=r(2, 3, 5), other=r(5, 4))
    case("matmul_vec", torch.matmul, input=r(3, 5), other=r(5))
    case("matmul_transposed", lambda a, b: a.transpose(-1, -2) @ b, a=r(2, 5, 4), b=r(2, 5, 3))
    case("linear", F.linear, input=r(2, 3, 8), weight=r(6, 8), bias=r(6))
    case("linear_nobias", F.linear, input=r(4, 8), weight=r(6, 8))
    case("linear_frozen_weight", F.linear, input=r(4, 8), weight=r(6, 8), bias=r(6),
         no_grad=("weight",))
