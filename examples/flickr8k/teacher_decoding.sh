#!/usr/bin/env bash
# The AIC teacher's beam search settings, chosen on the validation photos: every beam size in
# BEAMS with every length penalty in LENPENS (score / length ** lenpen) captions the 1,000
# validation photos, scored by pycocoevalcap; the setting of best valid METRIC is then scored on
# the official test photos (docs/flickr8k.md, "The teacher's beam search").
#   bash examples/flickr8k/teacher_decoding.sh     (after run.sh's stages 1-3)
# No training: each setting is one fairseq-generate and one saic-evaluate (1-2 minutes on 2 cores; its logs in RUNS).
set -euo pipefail
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k-teacher-decoding}
TEACHER=${TEACHER:-runs/flickr8k/teacher/checkpoint_best.pt}
BEAMS=${BEAMS:-3 5}
LENPENS=${LENPENS:-0.5 1 1.5 2}
METRIC=${METRIC:-BLEU-4}   # BLEU-4, METEOR or CIDEr: the valid score that picks the setting
mkdir -p "$RUNS"

score() {  # score SPLIT BEAM LENPEN: caption SPLIT, write $RUNS/SPLIT-bBEAM-lLENPEN.json
    caption_and_score "$RUNS/$1-b$2-l$3" "$1" "$TEACHER" --decoding aic --beam "$2" --lenpen "$3"
}
source "$(dirname "$0")/stages.sh"   # caption_and_score, json_score, score_row, greater
row() { score_row "$4" "$1" "$2" "$3"; }   # row SPLIT BEAM LENPEN FILE

echo "| split | beam | lenpen | BLEU-4 | METEOR | CIDEr-D |"
echo "| --- | --- | --- | --- | --- | --- |"
best="" best_value=-1
for beam in $BEAMS; do
    for lenpen in $LENPENS; do
        score valid "$beam" "$lenpen"
        row valid "$beam" "$lenpen" "$RUNS/valid-b$beam-l$lenpen.json"
        v=$(json_score "$RUNS/valid-b$beam-l$lenpen.json" "$METRIC")
        if greater "$v" "$best_value"; then
            best="$beam $lenpen" best_value=$v
        fi
    done
done
set -- $best
score test "$1" "$2"
row "test (best valid $METRIC)" "$1" "$2" "$RUNS/test-b$1-l$2.json"
if [ "$best" != "5 1" ]; then score test 5 1; row "test (the recipe's)" 5 1 "$RUNS/test-b5-l1.json"; fi
