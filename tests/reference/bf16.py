#!/usr/bin/python3
"""Writes tests/fixtures/bf16.safetensors: float32 values and torch's bfloat16 of each
(`tensor.to(torch.bfloat16)`, round to nearest even), for tests/test_bf16.cpp.

    /usr/bin/python3 tests/reference/bf16.py

The values: the special cases (ties to even in both directions, subnormals and their ties,
the largest finite values and what rounds past them, ±0, ±Inf, quiet and signalling NaNs of
both signs) and 4096 random bit patterns.
"""
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


special = [
    0x3F800000, 0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF, 0x3F808001,  # 1 and its ties
    0xBF808000, 0xBF818000,                                                  # negative ties
    0x00000001, 0x00008000, 0x00010000, 0x00018000, 0x00028000, 0x007FFFFF,  # subnormals
    0x80018000, 0x00800000, 0x00807FFF, 0x00808000,                          # ... and normal min
    0x7F7F0000, 0x7F7F7FFF, 0x7F7F8000, 0x7F7FFFFF, 0xFF7FFFFF,              # largest, overflow
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000,                          # zeros, infinities
    0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF,              # NaNs
]
g = torch.Generator().manual_seed(0)
rand = torch.randint(0, 2**32, (4096,), generator=g, dtype=torch.int64).tolist()
bits = torch.tensor([b - 2**32 if b >= 2**31 else b for b in special + rand], dtype=torch.int32)
x = bits.view(torch.float32)
y = x.to(torch.bfloat16)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "fixtures", "bf16.safetensors")
st.save(out, {"f32": x, "bf16": y})
print("wrote", out, "with", x.numel(), "values")
