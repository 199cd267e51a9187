#!/usr/bin/env bash
# On a GPU machine with the [vllm] extra installed: build the tiny model and run the vllm tests.
#   pip install -e '.[vllm,test]' && bash benchmarks/vllm_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, vllm; assert torch.cuda.is_available(), 'no CUDA GPU'; print('vllm', vllm.__version__)"
python -m pytest -v tests/test_vllm_engine.py -rs
