#!/usr/bin/env bash
# benchmarks/steer.py on a real model directory, on a GPU machine (CI has none):
#   benchmarks/steer_gpu.sh /models/qwen2.5-1.5b-instruct [layer]
# Prints build time and steered vs unsteered generation (target: < 10% overhead), as JSON too.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: benchmarks/steer_gpu.sh MODEL_DIR [LAYER]}
LAYER=${2:-}
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
"$PYTHON" benchmarks/steer.py --model "$MODEL" ${LAYER:+--layer "$LAYER"} --prompts 256 --tokens 128 --repeat 3
"$PYTHON" benchmarks/steer.py --model "$MODEL" ${LAYER:+--layer "$LAYER"} --prompts 256 --tokens 128 --repeat 3 --json
