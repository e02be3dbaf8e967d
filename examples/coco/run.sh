#!/usr/bin/env bash
# The paper's full setting on MS COCO (Karpathy split, bottom-up features), for a GPU machine.
# Every variable below can be overridden from the environment; tests/test_coco_recipe.py runs
# this very script on tiny inputs (ARCH=saic_tiny, a few updates) on the CPU.
set -euo pipefail
KARPATHY_JSON=${KARPATHY_JSON:-}          # Karpathy's dataset_coco.json; empty: build the split from packages
FEATURES_TSV=${FEATURES_TSV:?set FEATURES_TSV to the bottom-up-attention TSV file(s), space separated}
DATA=${DATA:-data/coco}
RUNS=${RUNS:-runs/coco}
ARCH=${ARCH:-saic_base}
K=${K:-4}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-20}
SAIC_EPOCHS=${SAIC_EPOCHS:-25}                 # paper: 25 epochs
SAIC_LR=${SAIC_LR:-3e-5}                       # paper: 3e-5, decayed 0.9 every 5 epochs
MAX_TOKENS=${MAX_TOKENS:-8000}
THRESHOLD=${THRESHOLD:-5}                      # words seen < 5 times -> <unk>
DEVICE_ARGS=${DEVICE_ARGS:-}                   # e.g. "--fp16"; "--cpu" for the tiny test
DIST_ARGS=${DIST_ARGS:-}                       # e.g. "--distributed-world-size 8" (or launch with torchrun)
BENCH_IMAGES=${BENCH_IMAGES:-5000}
BENCH_DEVICE=${BENCH_DEVICE:-cuda}
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
TRAIN=(--arch "$ARCH" --use-boxes --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens "$MAX_TOKENS"
       --no-epoch-checkpoints --log-format simple --log-interval 100 $DEVICE_ARGS $DIST_ARGS)

echo "=== 1. captions: Karpathy split, binarized (threshold $THRESHOLD)"
if [ ! -f "$DATA/train.txt" ]; then
    if [ -n "$KARPATHY_JSON" ]; then
        python -m preprocess.coco_captions --karpathy-json "$KARPATHY_JSON" --out "$DATA"
    else
        python -m preprocess.karpathy_split_from_packages --out "$DATA"
    fi
fi
[ -f "$DATA/dict.txt" ] || fairseq-preprocess --only-source --trainpref "$DATA/train.txt" \
    --validpref "$DATA/valid.txt" --testpref "$DATA/test.txt" --destdir "$DATA" --thresholdsrc "$THRESHOLD" --workers 4

echo "=== 2. bottom-up features -> HDF5"
[ -f "$DATA/features.h5" ] || python -m preprocess.features_from_tsv $FEATURES_TSV --out "$DATA/features.h5"

echo "=== 3. AIC teacher, cross entropy, checkpoint chosen by valid CIDEr-D"
[ -f "$RUNS/teacher/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --lr 5e-4 --lr-scheduler inverse_sqrt \
    --warmup-updates 4000 --max-epoch "$TEACHER_EPOCHS" --eval-cider --decoding aic \
    --best-checkpoint-metric cider --maximize-best-checkpoint-metric --save-dir "$RUNS/teacher"

echo "=== 4. teacher captions of the training images (beam 5)"
[ -f "$DATA/train.distill.bin" ] || python -m preprocess.distill_targets "$DATA" --features "$DATA/features.h5" \
    --path "$RUNS/teacher/checkpoint_best.pt" --beam 5 --batch-size 100 --device "$BENCH_DEVICE"

echo "=== 5. SAIC k=$K from the teacher: $SAIC_EPOCHS epochs, lr $SAIC_LR x 0.9 every 5 epochs, lambda 1, p_hybr 0.5"
LRS=$(python -c "print(','.join(str($SAIC_LR * 0.9 ** (e // 5)) for e in range($SAIC_EPOCHS)))")
[ -f "$RUNS/saic/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion saic_loss --curriculum-lambda 1 --p-hybr 0.5 --lr "$LRS" --lr-scheduler fixed \
    --max-epoch "$SAIC_EPOCHS" --finetune-from-model "$RUNS/teacher/checkpoint_best.pt" \
    --eval-cider --decoding saic --best-checkpoint-metric cider --maximize-best-checkpoint-metric \
    --save-dir "$RUNS/saic"

echo "=== 6. caption the Karpathy test split (SAIC 5/5) and score it"
[ -f "$RUNS/generate-test.txt" ] || { fairseq-generate "$DATA" "${COMMON[@]}" --path "$RUNS/saic/checkpoint_best.pt" \
    --gen-subset test --unique-images --batch-size 100 --decoding saic --outline-beam 5 --fill-beam 5 \
    $DEVICE_ARGS > "$RUNS/generate-test.txt.partial" && mv "$RUNS/generate-test.txt.partial" "$RUNS/generate-test.txt"; }
saic-evaluate --refs "$DATA/test.refs.json" --captions "$RUNS/generate-test.txt" --json "$RUNS/scores-test.json"

echo "=== 7. Table 2: every decoding mode, batch size 1"
saic-benchmark --data "$DATA" --path "$RUNS/saic/checkpoint_best.pt" --aic-path "$RUNS/teacher/checkpoint_best.pt" \
    --images "$BENCH_IMAGES" --device "$BENCH_DEVICE" --json "$RUNS/table2.json" --plot "$RUNS/table2.png"
