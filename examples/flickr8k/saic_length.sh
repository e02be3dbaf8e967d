#!/usr/bin/env bash
# How far SAIC gets with longer fine-tuning: the recipe's SAIC stage for UPDATES updates (the
# curriculum over the first 30% of them, as in run.sh), a checkpoint every EVERY updates, each
# scored on the validation photos (SAIC 5/5 and 1/1, pycocoevalcap), then the one of best valid
# SAIC 1/1 CIDEr-D scored on the official test photos (docs/flickr8k.md, "Longer SAIC fine-tuning").
# With AVERAGES, the means of the last checkpoints (saic-average) are candidates too.
#   UPDATES=1000 bash examples/flickr8k/saic_length.sh     (after run.sh's stages 1-4)
#   UPDATES=500 EVERY=50 CURRICULUM_UPDATES=300 AVERAGES="3 5" SCORE_FROM=500 bash examples/flickr8k/saic_length.sh
#   SAIC_OPTIONS="--distillation hybrid" ... : the same stage with other training options
# Settings are chosen on the validation split; the test split is only reported.
set -euo pipefail
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k-saic-length}
TEACHER=${TEACHER:-runs/flickr8k/teacher/checkpoint_best.pt}
ARCH=${ARCH:-saic_medium}
UPDATES=${UPDATES:-1000}
EVERY=${EVERY:-250}
CURRICULUM_UPDATES=${CURRICULUM_UPDATES:-$((UPDATES * 3 / 10))}
DROPOUT=${DROPOUT:-0.3}
LR=${LR:-1e-3}
MAX_TOKENS=${MAX_TOKENS:-4000}
K=${K:-4}
AVERAGES=${AVERAGES:-}   # e.g. "3 5": also the means of the last 3 and of the last 5 checkpoints (saic-average)
SCORE_FROM=${SCORE_FROM:-0}   # score the checkpoints of at least SCORE_FROM updates only (the means are scored anyway)
SAIC_OPTIONS=${SAIC_OPTIONS:-}   # more fairseq-train options, after the recipe's (e.g. "--distillation hybrid")
source "$(dirname "$0")/stages.sh"   # train_saic: the recipe's stage 5; json_score, greater
SCORE=(--data "$DATA" --images 1000 --batch-size 50 --rounds 1 --warmup 0 --modes "SAIC 5/5" "SAIC 1/1")
mkdir -p "$RUNS"
[ -f "$RUNS/DONE" ] || { train_saic "$RUNS" "$TEACHER" "$UPDATES" "$CURRICULUM_UPDATES" \
    --save-interval-updates "$EVERY" --keep-interval-updates -1 $SAIC_OPTIONS 2>&1 | tee -a "$RUNS/train.log"
    touch "$RUNS/DONE"; }
# fairseq names a mid-epoch save checkpoint_EPOCH_UPDATES.pt; one that falls on an epoch's end is
# only checkpoint_last.pt, so the last is scored under UPDATES when no such file holds it
ls "$RUNS"/checkpoint_*_"$UPDATES".pt > /dev/null 2>&1 || cp "$RUNS/checkpoint_last.pt" "$RUNS/checkpoint_end_$UPDATES.pt"
valid() {  # valid KEY LABEL CHECKPOINT: SAIC 5/5 and 1/1 of CHECKPOINT on the validation photos
    # (RUNS/valid-KEY.json), one line
    [ -f "$RUNS/valid-$1.json" ] || saic-benchmark "${SCORE[@]}" --path "$3" --split valid \
        --json "$RUNS/valid-$1.json" > "$RUNS/valid-$1.txt"
    cider=$(json_score "$RUNS/valid-$1.json" CIDEr "SAIC 1/1")
    echo "$2: valid $(for m in "SAIC 5/5" "SAIC 1/1"; do
        printf '%s CIDEr-D %s BLEU-4 %s  ' "$m" "$(json_score "$RUNS/valid-$1.json" CIDEr "$m")" \
            "$(json_score "$RUNS/valid-$1.json" BLEU-4 "$m")"; done)"
    if greater "$cider" "$best_cider"; then
        best=$3 best_cider=$cider
    fi
}
best="" best_cider=-1
for n in $(ls "$RUNS" | sed -nE 's/^checkpoint_([0-9]+|end)_([0-9]+)\.pt$/\2/p' | sort -n); do
    [ "$n" -ge "$SCORE_FROM" ] || continue
    valid "$n" "$n updates" "$(ls "$RUNS"/checkpoint_*_"$n".pt)"
done
for n in $AVERAGES; do   # the mean of the last n checkpoints (checkpoint_last.pt for an epoch's end)
    [ -f "$RUNS/checkpoint_avg$n.pt" ] || saic-average --last-updates "$n" --dir "$RUNS" --out "$RUNS/checkpoint_avg$n.pt"
    valid "avg$n" "the mean of the last $n" "$RUNS/checkpoint_avg$n.pt"
done
echo "best on valid (SAIC 1/1 CIDEr-D $best_cider): $best"
[ -f "$RUNS/test-best.json" ] || saic-benchmark "${SCORE[@]}" --path "$best" --split test --json "$RUNS/test-best.json" \
    > "$RUNS/test-best.txt"
cat "$RUNS/test-best.txt"
# the teacher's beam 5 on both splits, the reference of the targets (SAIC 1/1 >= AIC b5 - 2, 5/5 >= AIC b5 - 1)
for split in valid test; do
    [ -f "$RUNS/teacher-$split.json" ] || saic-benchmark --data "$DATA" --images 1000 --batch-size 50 --rounds 1 \
        --warmup 0 --modes "AIC b5" --path "$TEACHER" --split "$split" --json "$RUNS/teacher-$split.json" \
        > "$RUNS/teacher-$split.txt"
    echo "teacher AIC b5 on $split: $(for m in CIDEr BLEU-4 METEOR; do
        printf '%s %s ' "${m/CIDEr/CIDEr-D}" "$(json_score "$RUNS/teacher-$split.json" "$m")"; done)"
done
