#!/usr/bin/env bash
# SAIC's decoding settings, chosen on the validation photos: for SAIC 1/1 where the outline ends
# (--outline-length) and whether repeated parallel words are dropped (--keep-repeats); for SAIC
# 5/5 the length penalty of the Outliner's beam and of eq. 10's ranking (LENPENS) and the same
# repeat choice. Every setting captions the 1,000 validation photos (pycocoevalcap); the setting of
# best valid METRIC of each mode, and the options' defaults (lenpen 1), are then scored on the official test
# photos (docs/flickr8k.md, "The beam modes' length penalties, and SAIC's decoding options").
#   bash examples/flickr8k/saic_decoding.sh     (after run.sh's stages 1-5)
# No training: each setting is one fairseq-generate and one saic-evaluate (1-3 minutes on 2 cores; its logs in RUNS).
set -euo pipefail
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k-saic-decoding}
SAIC=${SAIC:-runs/flickr8k/saic/checkpoint_avg3.pt}
LENPENS=${LENPENS:-0.6 1 1.4}
METRIC=${METRIC:-CIDEr}   # BLEU-4, METEOR or CIDEr: the valid score that picks the setting
mkdir -p "$RUNS"
source "$(dirname "$0")/stages.sh"   # caption_and_score, json_score, score_row, greater

# name: fairseq-generate options of one setting (each mode's defaults: 1-1 and 5-5-l1)
declare -A OPTIONS=(
    [1-1]="--outline-beam 1 --fill-beam 1"
    [1-1-eos]="--outline-beam 1 --fill-beam 1 --outline-length eos"
    [1-1-keep]="--outline-beam 1 --fill-beam 1 --keep-repeats"
    [5-5-keep]="--outline-beam 5 --fill-beam 5 --keep-repeats"
    [5-5-l1]="--outline-beam 5 --fill-beam 5 --lenpen 1"
)
MODES_1=(1-1 1-1-eos 1-1-keep)
declare -A DEFAULT=([MODES_1]=1-1 [MODES_5]=5-5-l1)   # scored on test beside each mode's best
MODES_5=()
for lenpen in $LENPENS; do
    OPTIONS[5-5-l$lenpen]="--outline-beam 5 --fill-beam 5 --lenpen $lenpen"
    MODES_5+=("5-5-l$lenpen")
done
MODES_5+=(5-5-keep)

score() {  # score SPLIT NAME: caption SPLIT with setting NAME, write $RUNS/SPLIT-NAME.json
    # shellcheck disable=SC2086  # OPTIONS hold several words
    caption_and_score "$RUNS/$1-$2" "$1" "$SAIC" --decoding saic ${OPTIONS[$2]}
}
row() { score_row "$3" "$1" "$2"; }   # row SPLIT SETTING FILE

echo "| split | setting | BLEU-4 | METEOR | CIDEr-D |"
echo "| --- | --- | --- | --- | --- |"
for group in MODES_1 MODES_5; do
    declare -n names=$group
    best="" best_value=-1
    for name in "${names[@]}"; do
        score valid "$name"
        row valid "${OPTIONS[$name]}" "$RUNS/valid-$name.json"
        v=$(json_score "$RUNS/valid-$name.json" "$METRIC")
        if greater "$v" "$best_value"; then
            best=$name best_value=$v
        fi
    done
    score test "$best"
    row "test (best valid $METRIC)" "${OPTIONS[$best]}" "$RUNS/test-$best.json"
    default=${DEFAULT[$group]}
    if [ "$best" != "$default" ]; then score test "$default"; row "test (the defaults)" "${OPTIONS[$default]}" "$RUNS/test-$default.json"; fi
    unset -n names
done
