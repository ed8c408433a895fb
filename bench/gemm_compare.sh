#!/usr/bin/env bash
# Runs vitune's GEMM bench and PyTorch's on the same shapes, alternately, and prints the ratio.
# Usage: bench/gemm_compare.sh BUILD_DIR [threads] [reps] [fp32|bf16]
# bf16: vitune's BF16 linear against torch's F.linear under torch.autocast("cpu", bfloat16).
set -euo pipefail
build=${1:-build}; threads=${2:-2}; reps=${3:-10}; precision=${4:-fp32}
export OMP_NUM_THREADS=$threads
ours=$("$build/bench/vitune-bench-gemm" "$reps" "$precision")
theirs=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 -c "import torch; torch.set_num_threads($threads); exec(open('$(dirname "$0")/gemm_torch.py').read())" "$reps" "$precision")
paste <(echo "$ours") <(echo "$theirs") | /usr/bin/python3 -c '
import json, sys
print("shape (m x n x k)        vitune GFLOP/s   torch GFLOP/s   ratio")
for line in sys.stdin:
    a, b = (json.loads(x) for x in line.split("\t"))
    ratio = a["gflops"] / b["gflops"]
    print("%5d x %5d x %5d   %14.1f   %13.1f   %5.2f" % (a["m"], a["n"], a["k"], a["gflops"], b["gflops"], ratio))
'
