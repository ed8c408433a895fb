#!/usr/bin/env bash
# regenerate_fixtures.sh — rewrites every file in tests/fixtures/ from the PyTorch reference
# scripts in tests/reference/, in dependency order. Run it from any directory:
#
#     tests/reference/regenerate_fixtures.sh              # every fixture
#     tests/reference/regenerate_fixtures.sh --skip-full  # all but full_size_logits.safetensors
#
# Needs Debian's packages (bookworm: torch 1.13, torchvision 0.14; transforms.py checks 0.14):
#     apt-get install -y python3 python3-torch python3-torchvision python3-numpy
# The scripts use no other package (tests/reference/st.py writes safetensors itself).
#
# PYTHON picks the interpreter (default python3). Debian's torch is visible only to Debian's
# /usr/bin/python3: when PYTHON is not set and python3 (e.g. a pyenv one) cannot import torch,
# torchvision and numpy but /usr/bin/python3 can, the script says so and uses /usr/bin/python3.
#
# Order (a script that reads another's output runs after it):
#   backbones.py      vit_test_tiny_*, swin_test_tiny_*, swin_test_micro_* (_torchvision,
#                     _timm, _io .safetensors): random torchvision ViT / Swin weights
#   npz.py            vit_test_tiny_google.npz, vit_test_tiny_google_deflated.npz,
#                     npz_dtypes.npz; reads vit_test_tiny_timm.safetensors
#   peft.py           peft_vit.safetensors, peft_swin.safetensors; reads
#                     {vit,swin}_test_tiny_torchvision.safetensors
#   peft_seeds.py     peft_seeds_vit.safetensors, peft_seeds_swin.safetensors; reads the same
#   ops.py            ops_{conv,elementwise,loss,norm,shape}.safetensors (from cases_*.py)
#   mlp_train.py      mlp_train.safetensors
#   transforms.py     transforms.safetensors
#   dense.py          dense.safetensors
#   detection.py      detection.safetensors (box ops, anchors, matching: torchvision's)
#   mask_rcnn.py      mask_rcnn.safetensors (FPN, RPN, RoI heads: torchvision's)
#   coco_eval.py      coco_eval/cases.json (COCO masks, polygons, AP/AR; numpy only)
#   bf16.py           bf16.safetensors (torch's float32 -> bfloat16 rounding)
#   backbones_full.py full_size_logits.safetensors: full-size ViT-B/16 and Swin-T in float64,
#                     the slow one (about a minute on 2 cores; the rest take about 20 s);
#                     --skip-full leaves it out
# Every script writes into tests/fixtures/ (none takes an output directory). Each one seeds
# its own generators, so a rerun on the same torch version rewrites the same bytes.
set -euo pipefail

cd "$(dirname "$0")/../.."  # the repository root

skip_full=0
for arg in "$@"; do
  case "$arg" in
    --skip-full) skip_full=1 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "regenerate_fixtures.sh: unknown argument '$arg' (known: --skip-full)" >&2; exit 2 ;;
  esac
done

chosen=${PYTHON:+yes}
PYTHON=${PYTHON:-python3}
check='import torch, torchvision, numpy'
if ! "$PYTHON" -c "$check" 2>/dev/null; then
  if [ -z "$chosen" ] && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "$check" 2>/dev/null; then
    echo "note: $PYTHON cannot import torch, torchvision and numpy; using /usr/bin/python3"
    PYTHON=/usr/bin/python3
  else
    echo "regenerate_fixtures.sh: $PYTHON cannot import torch, torchvision and numpy" >&2
    echo "  apt-get install -y python3-torch python3-torchvision python3-numpy" >&2
    exit 1
  fi
fi
"$PYTHON" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)'

run() {
  echo "+ $PYTHON $*"
  "$PYTHON" "$@"
}

run tests/reference/backbones.py
run tests/reference/npz.py
run tests/reference/peft.py
run tests/reference/peft_seeds.py
run tests/reference/ops.py
run tests/reference/mlp_train.py
run tests/reference/transforms.py
run tests/reference/dense.py
run tests/reference/detection.py
run tests/reference/mask_rcnn.py
run tests/reference/coco_eval.py
run tests/reference/bf16.py
run tests/reference/interop.py
if [ "$skip_full" = 0 ]; then
  run tests/reference/backbones_full.py
else
  echo "skipped tests/reference/backbones_full.py (--skip-full)"
fi

echo "done; review the changes with: git status --short tests/fixtures"
