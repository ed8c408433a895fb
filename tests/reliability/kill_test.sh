#!/usr/bin/env bash
# kill_test.sh — crash safety of training: a fine-tuning run killed with SIGKILL at random
# moments (during a step, an evaluation or a checkpoint write), resumed each time, must end
# exactly where an uninterrupted run ends (bit for bit on the CPU).
# Usage: tests/reliability/kill_test.sh [BUILD_DIR] [TRIALS] [EPOCHS]
# Per trial: start `finetune --resume` (the first time without), kill it after a random delay,
# repeat until a run completes; then compare OUT/last's adapter and trainer state and
# metrics.jsonl's eval lines with the reference run's. Prints one line per trial and a total.
set -euo pipefail
build=${1:-build} trials=${2:-20} epochs=${3:-12}
exe="$build/examples/vitune"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A generated 4-class Fashion-MNIST-format set (as tests/python/test_vitune.py makes it).
/usr/bin/python3 - "$work" <<'PY'
import struct, sys
import numpy as np
d = sys.argv[1]
for prefix, n in (("train", 64), ("t10k", 32)):
    rng = np.random.RandomState(n)
    labels = np.arange(n) % 4
    img = rng.randint(0, 64, size=(n, 28, 28))
    img[:, :, :14] += 40 + 60 * labels[:, None, None]
    open(f"{d}/{prefix}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + img.astype(np.uint8).tobytes())
    open(f"{d}/{prefix}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())
PY
echo '{"base": "vit_test_tiny", "drop_path": 0.1}' > "$work/model.json"
args=(finetune --model-config "$work/model.json" --weights "$root/tests/fixtures/vit_test_tiny_timm.safetensors"
      --data "fashion-mnist:$work" --method adaptformer --epochs "$epochs" --batch 16 --lr 5e-3
      --normalize none --progress none --seed 3 --workers 1)
OMP_NUM_THREADS=1 "$exe" "${args[@]}" --out "$work/ref" >/dev/null 2>&1
ref_s=$(/usr/bin/python3 -c "import json; print(json.load(open('$work/ref/summary.json'))['train_seconds'])")
same() {  # the resumed run's final state equals the reference's, bit for bit
  cmp -s "$work/ref/last/adapter_model.safetensors" "$1/last/adapter_model.safetensors" &&
  /usr/bin/python3 - "$work/ref" "$1" <<'PY'
import json, struct, sys
def tensors(p):  # safetensors: the data block and the header without the metadata
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop("__metadata__", None)
    return h, b[8 + n:]
def evals(d):
    return [l for l in open(d + "/metrics.jsonl") if '"eval"' in l]
a, b = sys.argv[1], sys.argv[2]
ok = tensors(a + "/last/trainer_state.safetensors") == tensors(b + "/last/trainer_state.safetensors")
ok = ok and evals(a) == evals(b)
sys.exit(0 if ok else 1)
PY
}
equal=0 kills_total=0
for t in $(seq "$trials"); do
  out="$work/t$t" kills=0 resume=()
  while true; do
    # A random delay in [0, 1.3 × the reference's training time): during steps, evaluations
    # and checkpoint writes alike.
    delay=$(/usr/bin/python3 -c "import random; print(round(random.uniform(0, 1.3 * $ref_s + 0.2), 3))")
    OMP_NUM_THREADS=1 "$exe" "${args[@]}" --out "$out" "${resume[@]}" >/dev/null 2>"$work/err" &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      kills=$((kills + 1))
      # Killed before the first checkpoint: start afresh; else resume.
      if [ -e "$out/last/trainer_state.safetensors" ] || [ -e "$out/last.old/trainer_state.safetensors" ]; then resume=(--resume); else resume=(); fi
      continue
    fi
    if ! wait "$pid"; then echo "trial $t: the run failed: $(cat "$work/err")"; exit 1; fi
    break
  done
  kills_total=$((kills_total + kills))
  if same "$out"; then equal=$((equal + 1)); r="equal"; else r="DIFFERENT"; fi
  echo "trial $t: killed $kills times, final state $r"
  # KEEP=DIR keeps a differing trial and the reference for a look.
  if [ "$r" = DIFFERENT ] && [ -n "${KEEP:-}" ]; then cp -r "$out" "$KEEP/t$t"; cp -r "$work/ref" "$KEEP/ref"; fi
done
echo "kill test: $trials trials, $kills_total kills, $equal of $trials ended bit-for-bit where the uninterrupted run ends"
[ "$equal" = "$trials" ]
