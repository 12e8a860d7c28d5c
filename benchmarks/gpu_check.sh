#!/usr/bin/env bash
# The GPU check: at most about 8 minutes on one GPU. For each backend that imports here,
#   1. one short epoch of every recipe on the GPU, counting the recurrent layer calls that took
#      Keras's cuDNN kernels (benchmarks/gpu_check.py recipes);
#   2. the GPU-trained lstm_fashion_mnist run exported and verified on the CPU (zoo export with
#      CUDA_VISIBLE_DEVICES empty: every artifact is checked against the Keras model there);
#   3. Fashion-network training throughput next to plain PyTorch's cuDNN nn.LSTM on the same GPU.
#
#   benchmarks/gpu_check.sh [OUT_DIR]          # PYTHON=... to pick the interpreter
#
# Needs: keras (3.15) and the zoo's Python dependencies importable by $PYTHON, and the data:
# ZOO_DATA_DIR holding fashion_mnist/ (the IDX files) and tiny_shakespeare/, jaychou_lyrics/
# (../shared/data beside a checkout has the texts; /usr/share/datasets/fashion-mnist the IDX
# files). A backend that does not import is reported and skipped; a recipe that fails is
# reported and the next one runs. Results: OUT_DIR/*.jsonl and the lines printed.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${1:-gpu_check_out}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

for backend in jax torch tensorflow; do   # tensorflow last: the GPU machines seen so far lack it
  export KERAS_BACKEND=$backend
  if ! "$PYTHON" -c "import keras, zoo; assert keras.backend.backend() == '$backend'" 2>/dev/null; then
    echo "$backend: keras or the backend does not import with $PYTHON; skipped"
    continue
  fi
  echo "== $backend: one short epoch of every recipe"
  timeout 150 "$PYTHON" benchmarks/gpu_check.py recipes --out "$OUT/runs_$backend" --limit 2048 \
    | tee "$OUT/recipes_$backend.jsonl"
  echo "== $backend: the GPU-trained lstm_fashion_mnist exported and verified on the CPU"
  CUDA_VISIBLE_DEVICES= timeout 90 "$PYTHON" -m zoo export "$OUT/runs_$backend/lstm_fashion_mnist" \
    --out "$OUT/export_$backend" 2>&1 | tail -3
  echo "== $backend: Fashion-network training throughput, zoo next to plain PyTorch (cuDNN)"
  timeout 60 "$PYTHON" benchmarks/gpu_check.py throughput --steps 30 | tee "$OUT/throughput_$backend.jsonl"
done
