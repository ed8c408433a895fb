#!/usr/bin/python3
"""Writes the PyTorch fixtures for the engine's ops: tests/fixtures/ops_<family>.safetensors.

Each family lives in tests/reference/cases_<family>.py and defines `build(case)`; `case(name,
fn, **inputs)` runs fn on the inputs (float inputs get gradients unless listed in no_grad),
back-propagates a fixed random output gradient, and stores NAME.in.<k>, NAME.out, NAME.gout and
NAME.grad.<k>. Run with Debian's python3 (python3-torch 1.13):
    /usr/bin/python3 tests/reference/ops.py            # every family
    /usr/bin/python3 tests/reference/ops.py norm conv  # only cases_norm.py and cases_conv.py
"""
import glob
import importlib
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures")


class Cases:
    def __init__(self):
        self.tensors = {}
        self.gen = torch.Generator().manual_seed(1234)

    def randn(self, *shape, dtype=torch.float32):
        return torch.randn(tuple(shape), generator=self.gen, dtype=dtype)

    def rand(self, *shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(tuple(shape), generator=self.gen)

    def __call__(self, name, fn, no_grad=(), **inputs):
        leaves = {}
        for k, v in inputs.items():
            v = v.clone()
            if v.is_floating_point() and k not in no_grad:
                v.requires_grad_(True)
            leaves[k] = v
            self.tensors[f"{name}.in.{k}"] = v.detach()
        out = fn(**leaves)
        self.tensors[f"{name}.out"] = out.detach()
        if out.requires_grad:
            gout = self.randn(*out.shape, dtype=out.dtype)
            out.backward(gout)
            self.tensors[f"{name}.gout"] = gout
            for k, v in leaves.items():
                if v.requires_grad and v.grad is not None:
                    self.tensors[f"{name}.grad.{k}"] = v.grad.detach()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    for path in sorted(glob.glob(os.path.join(HERE, "cases_*.py"))):
        family = os.path.basename(path)[len("cases_"):-3]
        if len(sys.argv) > 1 and family not in sys.argv[1:]:
            continue
        cases = Cases()
        importlib.import_module(f"cases_{family}").build(cases)
        target = os.path.join(OUT, f"ops_{family}.safetensors")
        st.save(target, cases.tensors)
        print(f"wrote {target}: {len(cases.tensors)} tensors")


if __name__ == "__main__":
    main()
