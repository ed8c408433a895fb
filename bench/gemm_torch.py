#!/usr/bin/python3
"""The PyTorch side of bench/gemm_compare.sh: same shapes and JSON lines as vitune-bench-gemm."""
import json
import sys
import time

import torch

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
bf16 = len(sys.argv) > 2 and sys.argv[2] == "bf16"  # F.linear under autocast, as a bf16 user runs it
shapes = [(8 * 197, 3 * 384, 384), (8 * 197, 4 * 384, 384), (8 * 197, 384, 4 * 384),
          (8 * 197, 3 * 768, 768), (8 * 197, 4 * 768, 768), (2048, 2048, 2048)]
with torch.no_grad():
    for m, n, k in shapes:
        a, w = torch.randn(m, k), torch.randn(n, k)
        ms = []
        for r in range(reps + 2):
            t0 = time.perf_counter()
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    torch.nn.functional.linear(a, w)
            else:
                torch.nn.functional.linear(a, w)
            t1 = time.perf_counter()
            if r >= 2:
                ms.append((t1 - t0) * 1e3)
        med = sorted(ms)[len(ms) // 2]
        print(json.dumps({"m": m, "n": n, "k": k, "ms": round(med, 3),
                          "gflops": round(2 * m * n * k / (med * 1e6), 1)}))
