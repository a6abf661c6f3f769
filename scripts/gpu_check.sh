#!/usr/bin/env bash
# The GPU check of the paper-scale issue (#34), in one command that fits 10 minutes on one H100:
#   bash scripts/gpu_check.sh              # on the GPU machine: the paper's detector at 512 px
#   bash scripts/gpu_check.sh --dry-run    # on a CPU: the same steps at toy sizes, to prove the script runs
# It checks device selection (dcbench picks the GPU by itself and fails if there is none), then runs
# benchmarks/paper_path.py: the Fetch teacher for one epoch, DCOD's Forge with yolov3-spp-classic at 512 px for
# FORGE_ITERATIONS iterations with mixed precision on (bf16) and off, and one student epoch; each stage prints its
# seconds per iteration, images per second and peak GPU memory, then the full-length paper cost measured and as the
# FLOP model has it. Python: $PYTHON, else .venv/bin/python, else python3 (the GPU machine has no network: its
# environment must already hold dcbench's dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
FORGE_ITERATIONS=${FORGE_ITERATIONS:-50}
if [ "${1:-}" = "--dry-run" ]; then
  device=cpu
  args=(--detector yolov3-tiny-classic --imgsz 128 --teacher-images 8 --budget 4 --forge-iterations 2)
else
  device=cuda
  args=(--teacher-images 64 --budget 16 --forge-iterations "$FORGE_ITERATIONS")
fi
"$PY" - "$device" <<'PY'
import sys
import torch
from dcbench.device import resolve_device
want = sys.argv[1]
picked = resolve_device(None)
print(f"torch {torch.__version__}; CUDA available: {torch.cuda.is_available()}; dcbench picks: {picked}")
if want == "cuda":
    if not picked.startswith("cuda"):
        sys.exit("gpu_check: no CUDA device visible to torch; nothing to check (use --dry-run on a CPU)")
    p = torch.cuda.get_device_properties(0)
    print(f"GPU 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, bf16: {torch.cuda.is_bf16_supported()}")
PY
"$PY" benchmarks/paper_path.py --device "$device" --amp bf16 off --gpu H100 --threads "$(nproc)" "${args[@]}"
