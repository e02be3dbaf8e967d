#!/usr/bin/env bash
# A fair IR-NAIC baseline, shared by the text-proxy demo (after `make demo`, its defaults) and the
# Flickr8k recipe (its stage 8 sets DATA, RUNS, TEACHER, UPDATES, ...): the teacher fine-tuned with SAIC's
# budget (same updates, learning rate, teacher captions), but every sentence trains AIC + NAIC
# (--fixed-p-g 0) and the NAIC part is trained as mask-predict trains it (--naic-masking cmlm: a
# count uniform in 1..N of the N words hidden, the rest shown). Then IR-NAIC (5 iterations; one
# and three length candidates) and NAIC captions of the test images, scored like the demo's.
# AVERAGE > 0 (the Flickr8k recipe's, as its SAIC model): the mean of the last AVERAGE checkpoints,
# saved every EVERY updates, is the one scored.
#   bash examples/baselines/fair_irnaic.sh        # table in runs/proxy/irnaic/results.txt
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
UPDATES=${UPDATES:-1000}
ARCH=${ARCH:-saic_small}
LR=${LR:-2e-3}
MAX_TOKENS=${MAX_TOKENS:-4000}
DROPOUT_ARGS=()
[ -z "${DROPOUT:-}" ] || DROPOUT_ARGS=(--dropout "$DROPOUT")
TRAIN_EXTRA=${TRAIN_EXTRA:-}  # e.g. --batch-by-image
TEACHER=${TEACHER:-$RUNS/teacher/checkpoint_best.pt}  # the model fine-tuned
AVERAGE=${AVERAGE:-0}
EVERY=${EVERY:-50}
OUT="$RUNS/irnaic"
SAVE=()
[ "$AVERAGE" -eq 0 ] || SAVE=(--save-interval-updates "$EVERY" --keep-interval-updates "$AVERAGE")
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5")
mkdir -p "$OUT"
[ -f "$OUT/DONE" ] || {
  fairseq-train "$DATA" "${COMMON[@]}" --arch "$ARCH" "${DROPOUT_ARGS[@]}" $TRAIN_EXTRA --optimizer adam --adam-betas "(0.9,0.98)" \
      --max-tokens "$MAX_TOKENS" --num-workers 0 --no-epoch-checkpoints --log-interval 50 --log-format simple \
      --criterion saic_loss --distillation sequence-level --fixed-p-g 0 --naic-masking cmlm \
      --lr "$LR" --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$UPDATES" \
      --validate-interval 1000 --finetune-from-model "$TEACHER" --save-dir "$OUT" "${SAVE[@]}" \
      > "$OUT/train.log" 2>&1
  touch "$OUT/DONE"
}
MODEL=$OUT/checkpoint_last.pt
if [ "$AVERAGE" -gt 0 ]; then
  MODEL=$OUT/checkpoint_avg$AVERAGE.pt
  [ -f "$MODEL" ] || saic-average --last-updates "$AVERAGE" --dir "$OUT" --out "$MODEL"
fi
[ -f "$OUT/quality.json" ] || saic-benchmark --data "$DATA" --path "$MODEL" --images 1000 \
    --batch-size 50 --rounds 1 --warmup 0 --modes NAIC "IR-NAIC I=3" "IR-NAIC I=5" "IR-NAIC I=5 L=3" \
    --json "$OUT/quality.json" > "$OUT/quality.txt" 2>/dev/null
python - "$OUT/quality.json" <<'PY' | tee "$OUT/results.txt"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print("IR-NAIC baseline (CMLM-trained), test images:", len(rows[0]["captions"]))
for r in rows:
    print(f"{r['mode']:<18} CIDEr {r['CIDEr']:6.2f}  BLEU-4 {r['BLEU-4']:5.2f}  calls {r['calls']:.1f}")
PY
