#!/usr/bin/env bash
# On a GPU machine: the studio's client against vLLM's own benchmark client on the same `vllm serve`
# (goal: >= 90% of vLLM's output tokens/s), then two replicas behind the openai backend.
#   pip install -e '.[vllm]' && bash benchmarks/vllm_scale.sh /models/Qwen2.5-1.5B-Instruct [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:?usage: benchmarks/vllm_scale.sh MODEL_DIR [CONCURRENCY]}
CONCURRENCY=${2:-64}
PROMPTS=${PROMPTS:-1024}
PYTHON=${PYTHON:-.venv/bin/python}
VLLM=${VLLM:-$(dirname "$PYTHON")/vllm}
LOGS=$(mktemp -d)
serve() {  # serve PORT GPU: one replica, waited for until healthy
    CUDA_VISIBLE_DEVICES=$2 "$VLLM" serve "$MODEL" --port "$1" --served-model-name bench \
        --gpu-memory-utilization 0.85 >"$LOGS/serve-$1.log" 2>&1 &
    echo $! >"$LOGS/pid-$1"
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 1; done
    echo "vllm serve on port $1 did not start; see $LOGS/serve-$1.log" >&2; return 1
}
stop() { for f in "$LOGS"/pid-*; do kill "$(cat "$f")" 2>/dev/null || true; done; }
trap stop EXIT
serve 8000 0
echo "== vLLM's own client (vllm bench serve), $PROMPTS prompts, 200 words in, 128 tokens out"
"$VLLM" bench serve --backend openai-chat --base-url http://127.0.0.1:8000 --endpoint /v1/chat/completions \
    --model bench --tokenizer "$MODEL" --dataset-name random --random-input-len 256 --random-output-len 128 \
    --ignore-eos --num-prompts "$PROMPTS" --max-concurrency "$CONCURRENCY" | tee "$LOGS/vllm-bench.txt"
echo "== the studio's client (openai backend), same server"
"$PYTHON" benchmarks/client_throughput.py --url http://127.0.0.1:8000/v1 --model bench --prompts "$PROMPTS" \
    --output-tokens 128 --concurrency "$CONCURRENCY"
if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
    serve 8001 1
    echo "== two replicas (data parallel) behind the openai backend"
    "$PYTHON" benchmarks/client_throughput.py --url http://127.0.0.1:8000/v1 --url http://127.0.0.1:8001/v1 \
        --model bench --prompts "$((PROMPTS * 2))" --output-tokens 128 --concurrency "$CONCURRENCY"
fi
echo "compare 'Output token throughput' above with the studio's output tokens/s (goal: >= 90%)"
