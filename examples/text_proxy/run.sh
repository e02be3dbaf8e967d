#!/usr/bin/env bash
# The main job on the bundled text-proxy data: prepare data, train the AIC teacher, fine-tune
# SAIC (k = 4, curriculum) from it, caption the test split in every mode.
# Every stage is a command you can run alone; a stage whose output exists is skipped.
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
K=${K:-4}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
TRAIN=(--arch saic_small --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens 4000 --num-workers 0
       --no-epoch-checkpoints --log-interval 50 --log-format simple)

stage() { echo; echo "=== $*"; }

stage "1. text-proxy data (real COCO captions, proxy features)"
[ -f "$DATA/features.h5" ] || python -m preprocess.text_proxy --out "$DATA"

stage "2. binarize captions"
[ -f "$DATA/dict.txt" ] || fairseq-preprocess --only-source --trainpref "$DATA/train.txt" \
    --validpref "$DATA/valid.txt" --testpref "$DATA/test.txt" --destdir "$DATA" --thresholdsrc 5 --workers 2

stage "3. AIC teacher (cross entropy)"
[ -f "$RUNS/teacher/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --lr 2e-3 --lr-scheduler inverse_sqrt \
    --warmup-updates 200 --max-epoch 12 --save-dir "$RUNS/teacher"

stage "4. SAIC k=$K fine-tuned from the teacher (curriculum p_g = t/T)"
[ -f "$RUNS/saic/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion saic_loss --p-hybr 1 --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 50 \
    --max-update 600 --finetune-from-model "$RUNS/teacher/checkpoint_best.pt" --save-dir "$RUNS/saic"

stage "5. caption the test split in every mode"
mkdir -p "$RUNS/generate"
while read -r name options; do
    out="$RUNS/generate/$name.txt"
    [ -f "$out" ] || fairseq-generate "$DATA" "${COMMON[@]}" --path "$RUNS/saic/checkpoint_best.pt" \
        --gen-subset test --unique-images --batch-size 50 $options > "$out.partial" && mv "$out.partial" "$out"
    printf "%-12s %s\n" "$name" "$(grep -E '^Generate' "$out" | sed 's/.*BLEU4/BLEU4/')"
done <<'MODES'
aic-b5    --decoding aic --beam 5
aic-b1    --decoding aic --beam 1
saic-1-1  --decoding saic --outline-beam 1 --fill-beam 1
saic-5-1  --decoding saic --outline-beam 5 --fill-beam 1
saic-5-5  --decoding saic --outline-beam 5 --fill-beam 5
naic      --decoding naic
ir-naic   --decoding ir-naic --iterations 5
MODES
