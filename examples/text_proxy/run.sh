#!/usr/bin/env bash
# The main job on the bundled text-proxy data (what `make demo` runs):
#   data -> binarize -> AIC teacher -> teacher captions -> SAIC k=4 (curriculum that reaches
#   p_g = 1 at 30% of the updates, sequence-level distillation, the teacher's peak learning
#   rate) fine-tuned from the teacher ->
#   every decoding mode timed (batch 1 and 50) and scored; AIC modes decode with the teacher.
# Every stage is a command you can run alone; a stage whose output exists is skipped.
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
K=${K:-4}
SAIC_UPDATES=${SAIC_UPDATES:-1000}
CURRICULUM_UPDATES=${CURRICULUM_UPDATES:-$((SAIC_UPDATES * 3 / 10))}  # p_g reaches 1 here
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
TRAIN=(--arch saic_small --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens 4000 --num-workers 0
       --no-epoch-checkpoints --log-interval 50 --log-format simple)
start=$(date +%s)
stage() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }

stage "1/9 text-proxy data: real COCO captions, proxy features from a held-out caption"
[ -f "$DATA/features.h5" ] || python -m preprocess.text_proxy --out "$DATA"

stage "2/9 binarize captions (words seen < 5 times -> <unk>)"
[ -f "$DATA/dict.txt" ] || fairseq-preprocess --only-source --trainpref "$DATA/train.txt" \
    --validpref "$DATA/valid.txt" --testpref "$DATA/test.txt" --destdir "$DATA" --thresholdsrc 5 --workers 2

stage "3/9 AIC teacher (cross entropy, left to right only)"
[ -f "$RUNS/teacher/checkpoint_best.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --lr 2e-3 --lr-scheduler inverse_sqrt \
    --warmup-updates 200 --max-epoch 12 --save-dir "$RUNS/teacher"

stage "4/9 teacher captions of the training images (beam 5): the distillation targets"
[ -f "$DATA/train.distill.bin" ] || python -m preprocess.distill_targets "$DATA" --features "$DATA/features.h5" \
    --path "$RUNS/teacher/checkpoint_best.pt" --beam 5

stage "5/9 SAIC k=$K fine-tuned from the teacher: p_g = t/T with T = $CURRICULUM_UPDATES of $SAIC_UPDATES updates, teacher captions"
# (docs/training.md, "Training recipe": the paper's T = all updates and hybrid targets measured worse here)
# (the last checkpoint is used: the validation loss is logged every 7th epoch and at the end only)
[ -f "$RUNS/saic/checkpoint_last.pt" ] || fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
    --criterion saic_loss --distillation sequence-level --curriculum-updates "$CURRICULUM_UPDATES" \
    --lr 2e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$SAIC_UPDATES" \
    --validate-interval 7 --finetune-from-model "$RUNS/teacher/checkpoint_best.pt" --save-dir "$RUNS/saic"

stage "6/9 fairseq-generate (SAIC 1/1) and saic-evaluate"
[ -f "$RUNS/generate-saic.txt" ] || { fairseq-generate "$DATA" "${COMMON[@]}" --path "$RUNS/saic/checkpoint_last.pt" \
    --gen-subset test --unique-images --batch-size 50 --decoding saic --outline-beam 1 --fill-beam 1 \
    > "$RUNS/generate-saic.txt.partial" && mv "$RUNS/generate-saic.txt.partial" "$RUNS/generate-saic.txt"; }
saic-evaluate --refs "$DATA/test.refs.json" --captions "$RUNS/generate-saic.txt" --json "$RUNS/scores-saic.json"

stage "7/9 every decoding mode, batch size 1, 3 interleaved rounds: latency on 250 test images, quality on 1,000"
saic-benchmark --data "$DATA" --path "$RUNS/saic/checkpoint_last.pt" --aic-path "$RUNS/teacher/checkpoint_best.pt" \
    --images 250 --quality-images 1000 --examples 3 --json "$RUNS/benchmark.json" --plot "$RUNS/benchmark.png"

stage "8/9 the same modes at batch size 50: captions per second"
saic-benchmark --data "$DATA" --path "$RUNS/saic/checkpoint_last.pt" --aic-path "$RUNS/teacher/checkpoint_best.pt" \
    --images 250 --batch-size 50 --warmup 1 --no-quality --json "$RUNS/benchmark-batch50.json"

stage "9/9 the results table and the targets SAIC is held to"
saic-results --latency "$RUNS/benchmark.json" --throughput "$RUNS/benchmark-batch50.json" --out "$RUNS/results.md"
stage "done: $RUNS/results.md, $RUNS/benchmark.json, $RUNS/benchmark-batch50.json, $RUNS/benchmark.png"
