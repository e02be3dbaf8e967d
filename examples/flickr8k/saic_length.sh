#!/usr/bin/env bash
# How far SAIC gets with longer fine-tuning: the recipe's SAIC stage for UPDATES updates (the
# curriculum over the first 30% of them, as in run.sh), a checkpoint every EVERY updates, each
# scored on the validation photos (SAIC 5/5 and 1/1, pycocoevalcap), then the one of best valid
# SAIC 1/1 CIDEr-D scored on the official test photos (docs/flickr8k.md, "Longer SAIC fine-tuning").
#   UPDATES=1000 bash examples/flickr8k/saic_length.sh     (after run.sh's stages 1-4)
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
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
SCORE=(--data "$DATA" --images 1000 --batch-size 50 --rounds 1 --warmup 0 --modes "SAIC 5/5" "SAIC 1/1")
mkdir -p "$RUNS"
[ -f "$RUNS/DONE" ] || { fairseq-train "$DATA" "${COMMON[@]}" --batch-by-image --arch "$ARCH" \
    --dropout "$DROPOUT" --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens "$MAX_TOKENS" --num-workers 0 \
    --no-epoch-checkpoints --log-interval 50 --log-format simple \
    --criterion saic_loss --distillation sequence-level --curriculum-updates "$CURRICULUM_UPDATES" \
    --lr "$LR" --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$UPDATES" \
    --save-interval-updates "$EVERY" --keep-interval-updates -1 --validate-interval 1000 \
    --finetune-from-model "$TEACHER" --save-dir "$RUNS" 2>&1 | tee -a "$RUNS/train.log"
    touch "$RUNS/DONE"; }
# fairseq names a mid-epoch save checkpoint_EPOCH_UPDATES.pt; one that falls on an epoch's end is
# only checkpoint_last.pt, so the last is scored under UPDATES when no such file holds it
ls "$RUNS"/checkpoint_*_"$UPDATES".pt > /dev/null 2>&1 || cp "$RUNS/checkpoint_last.pt" "$RUNS/checkpoint_end_$UPDATES.pt"
best="" best_cider=-1
for n in $(ls "$RUNS" | sed -nE 's/^checkpoint_([0-9]+|end)_([0-9]+)\.pt$/\2/p' | sort -n); do
    ckpt=$(ls "$RUNS"/checkpoint_*_"$n".pt)
    [ -f "$RUNS/valid-$n.json" ] || saic-benchmark "${SCORE[@]}" --path "$ckpt" --split valid \
        --json "$RUNS/valid-$n.json" > "$RUNS/valid-$n.txt"
    cider=$(python -c "import json,sys; r={x['mode']: x for x in json.load(open(sys.argv[1]))['rows']}; print(r['SAIC 1/1']['CIDEr'])" "$RUNS/valid-$n.json")
    echo "$n updates: valid $(python -c "import json,sys; print('  '.join(f\"{x['mode']} CIDEr-D {x['CIDEr']:.2f} BLEU-4 {x['BLEU-4']:.2f}\" for x in json.load(open(sys.argv[1]))['rows']))" "$RUNS/valid-$n.json")"
    if python -c "import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))" "$cider" "$best_cider"; then
        best=$ckpt best_cider=$cider
    fi
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
    echo "teacher AIC b5 on $split: $(python -c "import json,sys; x=json.load(open(sys.argv[1]))['rows'][0]; print(f\"CIDEr-D {x['CIDEr']:.2f} BLEU-4 {x['BLEU-4']:.2f} METEOR {x['METEOR']:.2f}\")" "$RUNS/teacher-$split.json")"
done
