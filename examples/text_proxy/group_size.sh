#!/usr/bin/env bash
# Another group size k with the demo's recipe, against the demo's teacher (run after `make demo`):
# SAIC k=$K fine-tuned from runs/proxy/teacher exactly as the demo fine-tunes k=4 (relative window
# kept at the teacher's 4), then AIC b5 / b1 and SAIC 5/5 / 1/1 timed at batch 1 (250 images,
# 3 interleaved rounds) and scored on 1,000 images. docs/speed.md has the k=6 result.
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
K=${K:-6}
SAIC_UPDATES=${SAIC_UPDATES:-1000}
OUT=$RUNS/saic-k$K
[ -f "$OUT/checkpoint_last.pt" ] || fairseq-train "$DATA" --user-dir saic_fairseq --task saic_captioning \
    --features "$DATA/features.h5" --group-size "$K" --relative-window 4 \
    --arch saic_small --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens 4000 --num-workers 0 \
    --no-epoch-checkpoints --log-interval 50 --log-format simple \
    --criterion saic_loss --distillation sequence-level --curriculum-updates $((SAIC_UPDATES * 3 / 10)) \
    --lr 2e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$SAIC_UPDATES" \
    --validate-interval 7 --finetune-from-model "$RUNS/teacher/checkpoint_best.pt" --save-dir "$OUT"
saic-benchmark --data "$DATA" --path "$OUT/checkpoint_last.pt" --aic-path "$RUNS/teacher/checkpoint_best.pt" \
    --modes "AIC b5" "AIC b1" "SAIC 5/5" "SAIC 1/1" --images 250 --quality-images 1000 --json "$OUT/benchmark.json"
