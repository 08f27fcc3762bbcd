#!/usr/bin/env bash
# One-off check of the sequential model on a CUDA machine (H100/H200), about 3-4 minutes,
# no internet needed. Run from the repository root:  bash scripts/gpu_check.sh
# Logs and JSON go to $OUT (default ./gpu_check_out).
#   1. model and data speed at 512: ResNet-50, batch 16, bf16 autocast (perf/model_speed.py)
#   2. the fp16 + GradScaler training path (a few timed steps)
#   3. torchrun with 1 process: DDP over NCCL, 2 training steps (one epoch), resume for 2 more,
#      then `bench run` (prediction with flip test + scoring) on the same tiny set
set -euo pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
TORCHRUN=("$PYTHON" -m torch.distributed.run)
log() { echo "== $*" | tee -a "$OUT/gpu_check.log"; }
run() { # run a step with a time limit, keeping its output
  local name=$1 limit=$2; shift 2
  log "$name: $*"
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  log "$name: ok in $((SECONDS - start)) s"
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
"$PYTHON" - <<'PY' 2>&1 | tee "$OUT/env.log"
import torch, torchvision
print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda)
assert torch.cuda.is_available(), "no CUDA device visible"
print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
PY

run speed_bf16 150 "$PYTHON" perf/model_speed.py --device cuda --amp bf16 --batch 16 --size 512 \
    --json "$OUT/model_speed_bf16.json"
run train_fp16 90 "$PYTHON" perf/model_speed.py --device cuda --amp fp16 --batch 16 --size 512 \
    --skip-data --steps 5 --seconds 5 --json "$OUT/model_speed_fp16.json"

DATA="$OUT/smoke_data"
"$PYTHON" -c "from benchmarks.data.fixtures import random_crowd_dataset as r; print(r('$DATA', num_sources=4, regions_per_source=2, seed=1))"
GT="$DATA/annotations/crowd_toy.json"
printf 'from benchmarks.cli import main\nmain()\n' > "$OUT/bench_entry.py"
run ddp_epoch1 150 "${TORCHRUN[@]}" --standalone --nproc_per_node 1 "$OUT/bench_entry.py" train \
    --config configs/seqpose_gpu_smoke.toml --gt "$GT" --out "$OUT/ddp" --stop-after 1 --no-progress
run ddp_resume 150 "${TORCHRUN[@]}" --standalone --nproc_per_node 1 "$OUT/bench_entry.py" train \
    --gt "$GT" --out "$OUT/ddp" --resume --no-progress
run predict 120 "$PYTHON" "$OUT/bench_entry.py" run --method ours --checkpoint "$OUT/ddp/checkpoints/last.pt" \
    --gt "$GT" --out "$OUT/predict" --no-progress
cp "$OUT/ddp/log.csv" "$OUT/ddp_log.csv"
rm -f "$OUT/ddp/checkpoints/"*.pt   # 300 MB of weights nobody needs back
log "all steps passed"
