#!/usr/bin/env bash
# How far the AIC teacher gets with longer training and checkpoint averaging: the recipe's
# teacher stage (train_teacher of stages.sh) for EPOCHS epochs, keeping the last KEEP_EPOCHS
# epoch checkpoints; each N of AVERAGES averages the last N of them (saic-average). The best
# checkpoint (valid CIDEr-D, greedy) and every average are scored with beam 5 on the validation
# photos; the one of best valid CIDEr-D, and the best checkpoint, on the official test photos
# (pycocoevalcap; docs/flickr8k.md, "The teacher: longer training, averaging, a wider model").
#   EPOCHS=9 KEEP_EPOCHS=5 AVERAGES="3 5" bash examples/flickr8k/teacher_length.sh   (after run.sh's stages 1-2)
#   OPTIONS="--encoder-layers 3" RUNS=runs/flickr8k-enc3 EPOCHS=8 KEEP_EPOCHS=5 AVERAGES=5 bash ...   (a variant)
# Settings are chosen on the validation split; the test split is only reported.
set -euo pipefail
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k-teacher-length}
ARCH=${ARCH:-saic_medium}
EPOCHS=${EPOCHS:-15}
DROPOUT=${DROPOUT:-0.3}
LR=${LR:-1e-3}
MAX_TOKENS=${MAX_TOKENS:-4000}
KEEP_EPOCHS=${KEEP_EPOCHS:-0}   # > 0: keep the last KEEP_EPOCHS epoch checkpoints (checkpointE.pt)
AVERAGES=${AVERAGES:-}          # e.g. "3 5": the means of the last 3 and of the last 5 of them
OPTIONS=${OPTIONS:-}            # more fairseq-train options for the teacher, e.g. "--encoder-layers 3"
K=${K:-4}
source "$(dirname "$0")/stages.sh"   # train_teacher: the recipe's stage 3; caption_and_score, json_score, score_row, greater
mkdir -p "$RUNS"
# DONE marks a finished training (fairseq writes checkpoint_best.pt after epoch 1; a killed run resumes
# from its checkpoint_last.pt)
[ -f "$RUNS/teacher/DONE" ] || { train_teacher "$RUNS/teacher" "$EPOCHS" "$KEEP_EPOCHS" $OPTIONS 2>&1 |
    tee -a "$RUNS/train.log"; touch "$RUNS/teacher/DONE"; }
grep -h "valid on 'valid' subset" "$RUNS/train.log" | sed -E 's/.*epoch 0*([0-9]+) .*\| cider ([0-9.]+) .*/epoch \1: valid CIDEr-D (greedy) \2/' || true

score() {  # score NAME SPLIT: beam 5 of $RUNS/teacher/NAME.pt on SPLIT -> $RUNS/NAME-SPLIT.json
    caption_and_score "$RUNS/$1-$2" "$2" "$RUNS/teacher/$1.pt" --decoding aic --beam 5
}
row() { score_row "$RUNS/$1-$2.json" "$1" "$2"; }

candidates=(checkpoint_best)
for n in $AVERAGES; do
    [ -f "$RUNS/teacher/checkpoint_avg$n.pt" ] || saic-average --last "$n" --dir "$RUNS/teacher" \
        --out "$RUNS/teacher/checkpoint_avg$n.pt"
    candidates+=("checkpoint_avg$n")
done
echo "| checkpoint | split | BLEU-4 | METEOR | CIDEr-D |"
echo "| --- | --- | --- | --- | --- |"
best="" best_cider=-1
for name in "${candidates[@]}"; do
    score "$name" valid
    row "$name" valid
    cider=$(json_score "$RUNS/$name-valid.json" CIDEr)
    if greater "$cider" "$best_cider"; then best=$name best_cider=$cider; fi
done
for name in $(printf '%s\n' checkpoint_best "$best" | sort -u); do
    score "$name" test
    row "$name" test
done
echo "best on valid (AIC b5 CIDEr-D $best_cider): $RUNS/teacher/$best.pt"
