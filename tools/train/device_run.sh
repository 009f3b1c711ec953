#!/usr/bin/env bash
# One training run on the GPU machine (device tool), everything that comes back under $OUT:
#   train.log, train_log.json, eval_hf.json (parity, held-out perplexity, suite answers),
#   model.tgz (the exported Hugging Face folder), ckpt.pt.part-* (fp32 weights, to resume).
# Needs .train-data (prepare_data.py output + suite.json from `npm run eval -- --emit`) carried along.
#   MINUTES=6.2 bash tools/train/device_run.sh
set -o pipefail
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/out}
MINUTES=${MINUTES:-6.2}
EVAL_SECONDS=${EVAL_SECONDS:-80}
mkdir -p "$OUT" /tmp/run
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__)"
python3 tools/train/train.py --data .train-data --out /tmp/run --minutes "$MINUTES" $TRAIN_ARGS 2>&1 | tee "$OUT/train.log" || exit 1
cp /tmp/run/train_log.json "$OUT/"
python3 tools/train/export.py --ckpt /tmp/run/ckpt.pt --tokenizer .train-data/tokenizer.json --out /tmp/model || exit 1
tar czf "$OUT/model.tgz" -C /tmp model
(cd /tmp/run && split -b 15M ckpt.pt "$OUT/ckpt.pt.part-")
python3 tools/train/eval_hf.py --model /tmp/model --ckpt /tmp/run/ckpt.pt --heldout .train-data/heldout.txt.gz \
  --suite .train-data/suite.json --out "$OUT/eval_hf.json" --seconds "$EVAL_SECONDS" $EVAL_ARGS 2>&1 | grep -v -i warn | tee -a "$OUT/train.log"
ls -la "$OUT"
