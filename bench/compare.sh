#!/usr/bin/env bash
# compare.sh — vitune bench and its PyTorch twin (bench/torch_peft_step.py), alternately, in one
# go, then the ratios (vitune / PyTorch images/s, and PyTorch / vitune peak RSS).
# Usage: bench/compare.sh [BUILD_DIR] [MODEL] [BATCH] [THREADS] [ROUNDS] [PRECISIONS]
# PRECISIONS (default "fp32 bf16"): fp32 against PyTorch in F32 (OpenBLAS), bf16 (vitune
# --precision bf16) against PyTorch under torch.autocast("cpu", dtype=torch.bfloat16).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the PyTorch runs only (its best kernels).
set -euo pipefail
build=${1:-build} model=${2:-vit_small_patch16_224} batch=${3:-8} threads=${4:-2} rounds=${5:-2}
precisions=${6:-fp32 bf16}
here=$(cd "$(dirname "$0")" && pwd)
# Debian's torch calls whatever libblas.so.3 the alternatives system points at; the reference
# (netlib) BLAS runs at a few GFLOP/s and would make any ratio meaningless: install OpenBLAS
# (apt-get install libopenblas0-pthread) before comparing.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 || true)
echo "PyTorch's BLAS: $blas"
case "$blas" in
  *openblas*|*blis*|*mkl*) ;;
  *) echo "compare.sh: PyTorch would use the reference BLAS ($blas); install libopenblas0-pthread" >&2; exit 2 ;;
esac
for precision in $precisions; do
for mode_method in train:lora train:adaptformer train:convpass train:linear infer:linear; do
  mode=${mode_method%%:*} method=${mode_method##*:}
  for r in $(seq "$rounds"); do
    v=$("$build/examples/vitune" bench --model "$model" --method "$method" --batch "$batch" \
        --steps 5 --threads "$threads" --mode "$mode" --precision "$precision")
    t=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$here/torch_peft_step.py" \
        --model "$model" --method "$method" --batch "$batch" --steps 5 --threads "$threads" --mode "$mode" \
        --precision "$precision")
    /usr/bin/python3 - "$v" "$t" <<'PY'
import json, sys
v, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{v['precision']:4} {v['mode']:5} {v['method']:12} vitune {v['img_per_s']:7.2f} img/s {v['peak_rss_mb']:7.0f} MB | "
      f"torch {t['img_per_s']:7.2f} img/s {t['peak_rss_mb']:7.0f} MB | speed x{v['img_per_s']/t['img_per_s']:.2f}, "
      f"RSS x{v['peak_rss_mb']/t['peak_rss_mb']:.2f}")
PY
  done
done
done
