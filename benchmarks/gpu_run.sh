#!/usr/bin/env bash
# Everything the course checks on a GPU, in one run (a lent GPU's time is short):
# the GPU tests, Word2Vec vs gensim's 2-core speed, the BERT-base MLM step and the GPT-2 step and
# greedy generation vs HF.
#   bash benchmarks/gpu_run.sh OUTDIR [W2V_BUNDLE]
# W2V_BUNDLE: corpus + evaluation sets from `python benchmarks/word2vec_gpu.py --export FILE`, for a
# machine without `datasets`; without it the data come from `ptm_course.data` as usual.
set -u
out=${1:?usage: gpu_run.sh OUTDIR [W2V_BUNDLE]}
bundle=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  $py -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
  nproc
} 2>&1 | tee "$out/env.txt"

echo "== GPU tests"
timeout 90 $py -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/test_gpu.txt" | tail -15

echo "== Word2Vec on the GPU"
timeout 150 $py benchmarks/word2vec_gpu.py ${bundle:+--bundle "$bundle"} --out "$out" \
  --configs 4096 16384:64 65536:64 65536:16 2>&1 | tee "$out/word2vec_gpu.log" | grep -v "^|"

echo "== BERT-base MLM training step, batch 128 x 128"
timeout 300 $py benchmarks/transformer_throughput.py --out "$out/transformer_throughput_gpu.md" 2>&1 \
  | tee "$out/transformer_throughput.log" | tail -16

echo "== GPT-2 124M training step (batch 32 x 1024, bf16) and greedy generation vs HF"
timeout 420 $py benchmarks/gpt_throughput.py --out "$out/gpt_throughput_gpu.md" 2>&1 \
  | tee "$out/gpt_throughput.log" | tail -14
