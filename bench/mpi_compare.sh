#!/usr/bin/env bash
# mpi_compare.sh — data-parallel against threads on one machine: a LoRA fine-tuning step of
# MODEL with the global batch BATCH, run as RANKS processes × 1 OpenMP thread each under
# mpirun, and as 1 process × RANKS threads; prints seconds per step, the communication time
# per step and the bytes each rank sends into the all-reduce per step (from summary.json).
# Usage: bench/mpi_compare.sh [BUILD_DIR] [MODEL] [BATCH] [STEPS] [RANKS] [ROUNDS]
# Data: Debian's Fashion-MNIST (dataset-fashion-mnist), resized to the model's input; random
# weights (timing only). Steps after the first of each run are timed (train_seconds covers the
# epoch; the first step's warm-up is included, the same for both).
set -euo pipefail
build=${1:-build} model=${2:-vit_small_patch16_224} batch=${3:-16} steps=${4:-6} ranks=${5:-2} rounds=${6:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(finetune --model "$model" --data fashion-mnist --train-limit $((batch * steps)) --eval-limit "$ranks"
      --batch "$batch" --epochs 1 --method lora --progress none --workers 1 --log-every 1000)
report() {  # label, summary.json
  /usr/bin/python3 - "$1" "$2" "$steps" <<'PY'
import json, sys
label, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(path))
print(f"{label:22s} {s['train_seconds'] / steps:7.3f} s/step  comm {s['comm_seconds'] / steps * 1e3:7.2f} ms/step"
      f"  {s['comm_bytes_per_step'] / 1e6:6.3f} MB/step  {s['train_img_per_s']:6.1f} img/s")
PY
}
echo "$model, global batch $batch, $steps steps, LoRA r=8 (qkv), $(nproc) cores"
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=1 mpirun -np "$ranks" --oversubscribe --bind-to none "$build/examples/vitune" "${args[@]}" \
      --out "$out/mpi" 2>/dev/null >/dev/null
  report "$ranks ranks x 1 thread" "$out/mpi/summary.json"
  OMP_NUM_THREADS=$ranks "$build/examples/vitune" "${args[@]}" --out "$out/omp" 2>/dev/null >/dev/null
  report "1 rank x $ranks threads" "$out/omp/summary.json"
done
