# Sourced by device_run.sh and soup_run.sh (run from the repository root; the caller defines `say`):
#   tf_eval MODEL_DIR OUT_JSON LABEL LOG
# the teacher-forced check (eval_tf.py) of an exported folder on TF_SUITE's items from TF_FROM on, its output
# (less the per-batch lines) appended to LOG. Without TF_SUITE it says so and returns 0.
TF_SUITE=${TF_SUITE:-.train-data/suite30.json}
TF_FROM=${TF_FROM:-8}
tf_eval() {
  [ -f "$TF_SUITE" ] || { say "no $TF_SUITE: no teacher-forced evaluation"; return 0; }
  python3 tools/train/eval_tf.py --model "$1" --suite "$TF_SUITE" --from-index "$TF_FROM" --out "$2" --label "$3" \
    2>&1 | grep -v '^[0-9]*: [0-9]* rows' | tee -a "$4"
}
