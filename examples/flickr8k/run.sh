#!/usr/bin/env bash
# SAIC on real photographs: Flickr8k with its official split (6,000 / 1,000 / 1,000 photos).
#   bash examples/flickr8k/run.sh FLICKR8K_FOLDER
# FLICKR8K_FOLDER holds images/ (or Flicker8k_Dataset/) and one captions layout: Kaggle's
# captions.txt or Flickr8k.token.txt beside Flickr_8k.{train,dev,test}Images.txt, or Karpathy's
# dataset_flickr8k.json. Stages (each skipped when its output exists, so a killed run resumes):
#   EfficientNet-Lite2 grid features -> binarize -> AIC teacher (the mean of its last 5 epoch
#   checkpoints; SCST_UPDATES > 0 then fine-tunes it by SCST) ->
#   teacher captions -> SAIC k=4 fine-tuned from the teacher (the mean of its last 3 checkpoints,
#   saved every 50 updates) -> every mode scored on the 1,000 test photos and timed at batch 1
#   and 50 -> the fair IR-NAIC baseline (averaged alike) -> table and plot.
# STOP_AFTER=N ends the run after stage N (4: the teacher and its captions, what
# examples/flickr8k/saic_length.sh starts from).
# Settings were chosen on the validation split (docs/training.md), never on the test split.
set -euo pipefail
SRC=${1:?usage: examples/flickr8k/run.sh FLICKR8K_FOLDER}
DATA=${DATA:-data/flickr8k}
RUNS=${RUNS:-runs/flickr8k}
BACKBONE=${BACKBONE:-efficientnet-lite2}
ARCH=${ARCH:-saic_medium}
K=${K:-4}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-8}
TEACHER_AVERAGE=${TEACHER_AVERAGE:-5}   # > 0: the teacher is the mean of its last TEACHER_AVERAGE epochs (saic-average); 0: its best epoch
SCST_UPDATES=${SCST_UPDATES:-0}         # > 0: the teacher is then fine-tuned by SCST (the paper's teacher)
SCST_LR=${SCST_LR:-5e-5}
SAIC_UPDATES=${SAIC_UPDATES:-500}
CURRICULUM_UPDATES=${CURRICULUM_UPDATES:-$((SAIC_UPDATES * 3 / 5))}  # p_g reaches 1 here (300 of 500)
SAIC_AVERAGE=${SAIC_AVERAGE:-3}         # > 0: SAIC (and the fair IR-NAIC) is the mean of its last SAIC_AVERAGE checkpoints; 0: its last
SAVE_EVERY=${SAVE_EVERY:-50}            # SAIC's checkpoints: one every SAVE_EVERY updates, all kept
DROPOUT=${DROPOUT:-0.3}
LR=${LR:-1e-3}
MAX_TOKENS=${MAX_TOKENS:-4000}
BENCH_IMAGES=${BENCH_IMAGES:-200}       # timed at batch 1 (3 interleaved rounds); quality on all test photos
TEACHER_LENPEN=${TEACHER_LENPEN:-0.8}   # length penalties of the beam modes, chosen on the validation photos
SAIC_LENPEN=${SAIC_LENPEN:-0}           # (examples/flickr8k/teacher_decoding.sh, saic_decoding.sh)
COMPILE=${COMPILE:-1}                   # 1: stage 6 times the compiled decoder step (--compile: needs a C++ compiler)
THREADS=${THREADS:-2}
STOP_AFTER=${STOP_AFTER:-9}
source "$(dirname "$0")/stages.sh"   # the training commands (train_teacher, train_saic), shared with the studies
flickr8k_options                      # COMMON, TRAIN
start=$(date +%s)
stage() {  # stage "N/9 what": stops the run first when N > STOP_AFTER
    local n=${1%%/*}; n=${n%%[!0-9]*}
    if [ -n "$n" ] && [ "$n" -gt "$STOP_AFTER" ]; then echo; echo "=== stopped after stage $STOP_AFTER (STOP_AFTER)"; exit 0; fi
    echo; echo "=== [$(( $(date +%s) - start ))s] $*"
}
mkdir -p "$RUNS"

captions=""
for c in "$SRC/captions.txt" "$SRC/Flickr8k.token.txt" "$SRC/dataset_flickr8k.json"; do
    [ -f "$c" ] && { captions=$c; break; }
done
[ -n "$captions" ] || { echo "no captions.txt, Flickr8k.token.txt or dataset_flickr8k.json in $SRC" >&2; exit 2; }
images=$SRC/images
[ -d "$images" ] || images=$SRC/Flicker8k_Dataset

stage "1/9 captions with the official split, $BACKBONE grid features ($captions)"
[ -f "$DATA/features.h5" ] && [ -f "$DATA/images.tsv" ] || python -m preprocess.own_data --images "$images" \
    --captions "$captions" --out "$DATA" --backbone "$BACKBONE" --batch-size 32

stage "2/9 binarize captions (words seen < 5 times -> <unk>)"
[ -f "$DATA/dict.txt" ] || fairseq-preprocess --only-source --trainpref "$DATA/train.txt" \
    --validpref "$DATA/valid.txt" --testpref "$DATA/test.txt" --destdir "$DATA" --thresholdsrc 5 --workers 2

stage "3/9 AIC teacher, $ARCH, $TEACHER_EPOCHS epochs, checkpoint by valid CIDEr-D (greedy)$(
    [ "$TEACHER_AVERAGE" -gt 0 ] && echo ", then the mean of its last $TEACHER_AVERAGE epochs")"
# DONE marks a finished stage: fairseq writes checkpoint_best.pt after the first epoch, and a
# killed training resumes from its checkpoint_last.pt when run again
[ -f "$RUNS/teacher/DONE" ] || { train_teacher "$RUNS/teacher" "$TEACHER_EPOCHS" "$TEACHER_AVERAGE"
    touch "$RUNS/teacher/DONE"; }
TEACHER=$RUNS/teacher/checkpoint_best.pt
if [ "$TEACHER_AVERAGE" -gt 0 ]; then
    TEACHER=$RUNS/teacher/checkpoint_avg$TEACHER_AVERAGE.pt
    [ -f "$TEACHER" ] || saic-average --last "$TEACHER_AVERAGE" --dir "$RUNS/teacher" --out "$TEACHER"
fi
if [ "$SCST_UPDATES" -gt 0 ]; then
    stage "3b/9 SCST: the teacher fine-tuned on CIDEr-D for $SCST_UPDATES updates, checkpoint by valid greedy CIDEr-D"
    mkdir -p "$RUNS/scst"
    [ -f "$RUNS/scst/DONE" ] || { fairseq-train "$DATA" "${COMMON[@]}" --arch "$ARCH" --dropout "$DROPOUT" \
        --criterion saic_scst --unique-images --scst-samples 5 --scst-baseline mean --optimizer adam \
        --lr "$SCST_LR" --lr-scheduler fixed --batch-size 50 --max-update "$SCST_UPDATES" \
        --finetune-from-model "$TEACHER" --num-workers 0 --no-epoch-checkpoints --log-interval 20 \
        --log-format simple --save-dir "$RUNS/scst" 2>&1 | tee -a "$RUNS/scst/train.log"
        touch "$RUNS/scst/DONE"; }
    TEACHER=$RUNS/scst/checkpoint_best.pt
fi

stage "4/9 teacher captions of the training photos (beam 5): the distillation targets"
[ -f "$DATA/train.distill.bin" ] || python -m preprocess.distill_targets "$DATA" --features "$DATA/features.h5" \
    --path "$TEACHER" --beam 5

stage "5/9 SAIC k=$K fine-tuned from the teacher: p_g = t/T, T = $CURRICULUM_UPDATES of $SAIC_UPDATES updates$(
    [ "$SAIC_AVERAGE" -gt 0 ] && echo ", then the mean of its last $SAIC_AVERAGE checkpoints (one every $SAVE_EVERY updates)")"
[ -f "$RUNS/saic/DONE" ] || { train_saic "$RUNS/saic" "$TEACHER" "$SAIC_UPDATES" "$CURRICULUM_UPDATES" \
        --save-interval-updates "$SAVE_EVERY" --keep-interval-updates -1
    touch "$RUNS/saic/DONE"; }
SAIC=$RUNS/saic/checkpoint_last.pt
if [ "$SAIC_AVERAGE" -gt 0 ]; then
    SAIC=$RUNS/saic/checkpoint_avg$SAIC_AVERAGE.pt
    [ -f "$SAIC" ] || saic-average --last-updates "$SAIC_AVERAGE" --dir "$RUNS/saic" --out "$SAIC"
fi

stage "6/9 every mode at batch 1: latency on $BENCH_IMAGES test photos (3 interleaved rounds), quality on all 1,000"
LENPENS=(--lenpen "$SAIC_LENPEN" --aic-lenpen "$TEACHER_LENPEN")
[ -f "$RUNS/benchmark.json" ] || saic-benchmark --data "$DATA" --path "$SAIC" \
    --aic-path "$TEACHER" --images "$BENCH_IMAGES" --quality-images 1000 --threads "$THREADS" "${LENPENS[@]}" \
    $([ "$COMPILE" = 1 ] && echo --compile) --examples 3 --json "$RUNS/benchmark.json" --plot "$RUNS/benchmark.png"

stage "7/9 the same modes at batch 50: captions per second"
[ -f "$RUNS/benchmark-batch50.json" ] || saic-benchmark --data "$DATA" --path "$SAIC" \
    --aic-path "$TEACHER" --images 250 --batch-size 50 --warmup 1 --no-quality "${LENPENS[@]}" \
    --threads "$THREADS" --json "$RUNS/benchmark-batch50.json"

stage "8/9 the fair IR-NAIC baseline: the teacher fine-tuned as mask-predict trains (same budget), scored"
DATA=$DATA RUNS=$RUNS TEACHER=$TEACHER UPDATES=$SAIC_UPDATES AVERAGE=$SAIC_AVERAGE EVERY=$SAVE_EVERY ARCH=$ARCH DROPOUT=$DROPOUT LR=$LR MAX_TOKENS=$MAX_TOKENS \
    TRAIN_EXTRA=--batch-by-image bash examples/baselines/fair_irnaic.sh

stage "9/9 the results table, the published figures and the targets"
saic-results --latency "$RUNS/benchmark.json" --throughput "$RUNS/benchmark-batch50.json" \
    --baseline "$RUNS/irnaic/quality.json" --targets flickr8k --out "$RUNS/results.md"
stage "done: $RUNS/results.md, $RUNS/benchmark.png; ship the model with saic-export --path $SAIC"
