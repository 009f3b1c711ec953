#!/usr/bin/env bash
# Weight averages ("soups") of two trained models on the GPU machine (device tool), each checked teacher forced,
# no training. A = public/models/default (the shipped weights), B = SOUP_B (an exported folder carried along,
# e.g. .runs/long3-run1: an ignored folder, see bench/NOTES.md session 10). For each share w of B in SOUP_WEIGHTS:
# tools/train/average.py -> export.py -> eval_tf.py on TF_SUITE from item TF_FROM (as device_run.sh does). Under
# $OUT: soup.log, and per weight tf_soup-W.json and model-W.tgz (the exported folder, `model/`), so the one chosen
# can go to public/models/default for the engine's check (`bash scripts/gpu-run.sh eval ...`, next call).
#
#   SOUP_B=.runs/long3-run1 SOUP_WEIGHTS="0.3 0.5 0.7" OUT=$OUT bash tools/train/soup_run.sh
#
# Carry SOUP_B and .train-data/suite30.json (~15 MB with a 14 MB model); the tokenizer is A's.
# Time on an H100: ~70 s a weight (the check is ~65 s of it).
set -o pipefail
START=$(date +%s)
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
OUT=${OUT:-/tmp/out}
A=${SOUP_A:-public/models/default}
B=${SOUP_B:?SOUP_B: the exported folder to average with $A}
WEIGHTS=${SOUP_WEIGHTS:-0.3 0.5 0.7}
source tools/train/tf_eval.sh  # TF_SUITE, TF_FROM, tf_eval
TOKENIZER=${TOKENIZER:-$A/tokenizer.json}
mkdir -p "$OUT"
say() { echo "[soup_run +$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/soup.log"; }
for f in "$A/config.json" "$B/config.json" "$TF_SUITE" "$TOKENIZER"; do
  [ -f "$f" ] || { say "missing $f (carry it)"; exit 1; }
done
nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | tee -a "$OUT/soup.log"
for w in $WEIGHTS; do
  dir=/tmp/soup-$w
  say "weight $w: (1 - $w) x $A + $w x $B"
  python3 tools/train/average.py --a "$A" --b "$B" --weight "$w" --out "$dir/ckpt.pt" 2>&1 | tee -a "$OUT/soup.log" || exit 1
  python3 tools/train/export.py --ckpt "$dir/ckpt.pt" --tokenizer "$TOKENIZER" --out "$dir/model" 2>&1 | tee -a "$OUT/soup.log" || exit 1
  (cd "$dir/model" && sha256sum ./*.safetensors) | tee -a "$OUT/soup.log"
  tf_eval "$dir/model" "$OUT/tf_soup-$w.json" "soup: (1 - $w) x $A + $w x $B" "$OUT/soup.log"
  tar czf "$OUT/model-$w.tgz" -C "$dir" model
done
say done
