#!/usr/bin/env bash
# How far the AIC teacher gets with longer training: the recipe's teacher stage for EPOCHS
# epochs (checkpoint by valid CIDEr-D, greedy), then beam 5 scored on the validation and the
# official test photos (pycocoevalcap; docs/flickr8k.md, "What it shows", the teacher).
#   EPOCHS=15 bash examples/flickr8k/teacher_length.sh     (after run.sh's stages 1-2)
# Settings are chosen on the validation split; the test split is only reported.
set -euo pipefail
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k-teacher-length}
ARCH=${ARCH:-saic_medium}
EPOCHS=${EPOCHS:-15}
DROPOUT=${DROPOUT:-0.3}
LR=${LR:-1e-3}
MAX_TOKENS=${MAX_TOKENS:-4000}
K=${K:-4}
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
mkdir -p "$RUNS"
[ -f "$RUNS/teacher/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" --batch-by-image --arch "$ARCH" \
    --dropout "$DROPOUT" --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens "$MAX_TOKENS" --num-workers 0 \
    --no-epoch-checkpoints --log-interval 50 --log-format simple \
    --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --lr "$LR" --lr-scheduler inverse_sqrt \
    --warmup-updates 200 --max-epoch "$EPOCHS" --eval-cider --decoding aic \
    --best-checkpoint-metric cider --maximize-best-checkpoint-metric --save-dir "$RUNS/teacher" 2>&1 | tee "$RUNS/train.log"
for split in valid test; do
    [ -f "$RUNS/scores-$split.json" ] && continue
    fairseq-generate "$DATA" "${COMMON[@]}" --path "$RUNS/teacher/checkpoint_best.pt" --gen-subset "$split" \
        --unique-images --batch-size 50 --decoding aic --beam 5 > "$RUNS/generate-$split.txt.partial"
    mv "$RUNS/generate-$split.txt.partial" "$RUNS/generate-$split.txt"
    saic-evaluate --refs "$DATA/$split.refs.json" --captions "$RUNS/generate-$split.txt" --json "$RUNS/scores-$split.json"
done
grep -h "valid on 'valid' subset" "$RUNS/train.log" | sed -E 's/.*epoch ([0-9]+).*cider ([0-9.]+).*/epoch \1: valid CIDEr-D (greedy) \2/' || true
cat "$RUNS/scores-valid.json" "$RUNS/scores-test.json"
