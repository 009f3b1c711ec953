#!/usr/bin/env bash
# One training run on the GPU machine (device tool), inside one command's 10-minute limit. Under $OUT:
#   train.log, train_log.json, model.tgz (the exported Hugging Face folder, `model/`),
#   ckpt.pt.part-* (fp32 weights + config, <= 15 MB each: cat ckpt.pt.part-* > ckpt.pt to resume),
#   eval_hf.json (export parity, held-out perplexity, the suite's answers with their specs; rewritten
#   after every item, so a cut run keeps what it answered),
#   tf_eval.json (eval_tf.py: teacher-forced exact match of the exported model on TF_SUITE's items
#   from TF_FROM on: the large-sample check for choosing a model; TF_SUITE from
#   `npm run eval -- --per-cell 30 --emit .train-data/suite30.json`), and with BASELINE_TF=DIR
#   tf_baseline.json, the same for the model in DIR, scored before training starts.
# Needs .train-data (prepare_data.py output + suite.json from `npm run eval -- --emit`) carried along.
#
#   bash tools/train/device_run.sh                       # continuation of public/models/default (below)
#   MINUTES=6.2 TRAIN_ARGS= bash tools/train/device_run.sh   # from scratch, the original recipe
#
# Time: everything ends by DEADLINE seconds after the start. Training gets MINUTES from its first batch
# but stops by DEADLINE - EVAL_RESERVE at the latest (train.py --stop-at), so a slow start-up shortens
# training, never the export. The suite gets what is left (at most EVAL_SECONDS) and is killed at the
# deadline.
set -o pipefail
START=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
OUT=${OUT:-/tmp/out}
MINUTES=${MINUTES:-7.5}
DEADLINE=${DEADLINE:-565}
EVAL_RESERVE=${EVAL_RESERVE:-75}
EVAL_SECONDS=${EVAL_SECONDS:-150}
TRAIN_ARGS=${TRAIN_ARGS-"--init-hf public/models/default --curriculum long --log-every 50"}
RUN=/tmp/run
mkdir -p "$OUT" "$RUN"
elapsed() { echo $(( $(date +%s) - START )); }
say() { echo "[device_run +$(elapsed)s] $*" | tee -a "$OUT/train.log"; }

[ -f .train-data/tokenizer.json ] && [ -d .train-data/train ] || { say 'no .train-data (carry it)'; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee -a "$OUT/train.log"
python3 -c "import torch, importlib.metadata as m; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', m.version('transformers'), 'tokenizers', m.version('tokenizers'))" 2>&1 | tee -a "$OUT/train.log"

# TF_SUITE, TF_FROM and tf_eval (the teacher-forced check): tools/train/tf_eval.sh
source tools/train/tf_eval.sh
# transformers' greedy answers (eval_hf.json) on HF_SUITE's items, for the engine's `--reference`. With
# HF_SUITE=.train-data/suite30.json EVAL_ARGS="--lengths 4096,16384 --per-cell 4" they are items the engine
# check on suite30 runs anyway, so the agreement costs the engine nothing extra.
HF_SUITE=${HF_SUITE:-.train-data/suite.json}
if [ -n "$BASELINE_TF" ]; then
  say "teacher-forced baseline: $BASELINE_TF"
  tf_eval "$BASELINE_TF" "$OUT/tf_baseline.json" "baseline $BASELINE_TF" "$OUT/train.log"
fi

STOP_AT=$(( START + DEADLINE - EVAL_RESERVE ))
train() {
  python3 tools/train/train.py --data .train-data --out "$RUN" --minutes "$MINUTES" --stop-at "$STOP_AT" $TRAIN_ARGS "$@" 2>&1 | tee -a "$OUT/train.log"
}
say "training: MINUTES=$MINUTES TRAIN_ARGS=$TRAIN_ARGS (stop by +$(( DEADLINE - EVAL_RESERVE ))s)"
if ! train; then
  # a crash before any checkpoint, early on (e.g. the cuDNN attention path): once more with the default kernels
  if [ ! -f "$RUN/ckpt.pt" ] && [ "$(elapsed)" -lt 150 ]; then
    say 'training failed early: retrying with --attn default'
    train --attn default
  fi
fi
[ -f "$RUN/ckpt.pt" ] || { say 'no checkpoint'; exit 1; }
cp "$RUN/train_log.json" "$OUT/"

say export
python3 tools/train/export.py --ckpt "$RUN/ckpt.pt" --tokenizer .train-data/tokenizer.json --out /tmp/model 2>&1 | tee -a "$OUT/train.log" || exit 1
tar czf "$OUT/model.tgz" -C /tmp model
(cd "$RUN" && split -b 15M ckpt.pt "$OUT/ckpt.pt.part-")

say 'teacher-forced evaluation of the exported model'
tf_eval /tmp/model "$OUT/tf_eval.json" "trained: $TRAIN_ARGS" "$OUT/train.log"

LEFT=$(( DEADLINE - $(elapsed) ))
SUITE_SECONDS=$(( LEFT - 30 ))  # the evaluation's start-up, parity and perplexity take ~20 s on an H200
[ "$SUITE_SECONDS" -gt "$EVAL_SECONDS" ] && SUITE_SECONDS=$EVAL_SECONDS
if [ "$LEFT" -gt 15 ]; then
  say "evaluation: suite ${SUITE_SECONDS}s, killed after ${LEFT}s"
  SUITE=()
  [ "$SUITE_SECONDS" -gt 5 ] && [ -f "$HF_SUITE" ] && SUITE=(--suite "$HF_SUITE" --seconds "$SUITE_SECONDS")
  timeout -s INT "$LEFT" python3 tools/train/eval_hf.py --model /tmp/model --ckpt "$RUN/ckpt.pt" \
    --heldout .train-data/heldout.txt.gz --out "$OUT/eval_hf.json" --log "${SUITE[@]}" $EVAL_ARGS 2>&1 \
    | grep -v -i -e warn -e 'Loading weights' | tee -a "$OUT/train.log"
else
  say "no time left for the evaluation"
fi
say done
ls -la "$OUT"
