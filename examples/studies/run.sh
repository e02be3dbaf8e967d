#!/usr/bin/env bash
# The paper's studies on the bundled text-proxy data (what `make studies` runs), all from the
# demo's AIC teacher and its teacher captions (examples/text_proxy/run.sh makes them first):
#   Table 5 distillation source, Table 6 group size (with latency), Table 7 ablations,
#   Fig. 2 + Table 1 masking study, Fig. 4 example captions, and the teacher's SCST fine-tuning.
# Each trained model is marked DONE only when fairseq-train exits cleanly; an interrupted run
# resumes from its checkpoint_last.pt when this script is run again, and a model without DONE
# is never evaluated or reported.
set -euo pipefail
DATA=${DATA:-data/proxy}
DEMO=${DEMO:-runs/proxy}                     # the demo's runs: teacher/checkpoint_best.pt
RUNS=${RUNS:-runs/studies}
ARCH=${ARCH:-saic_small}                     # the teacher's architecture
UPDATES=${UPDATES:-300}                      # SAIC updates per study model
SAVE_EVERY=${SAVE_EVERY:-100}                # checkpoint every N updates (what an interrupted run resumes from)
SCST_UPDATES=${SCST_UPDATES:-150}
SCST_BASELINE=${SCST_BASELINE:-mean}         # greedy is the paper's; mean measured better here (docs/paper.md)
IMAGES=${IMAGES:-250}                        # test images scored and timed
ROUNDS=${ROUNDS:-3}                          # saic-benchmark's interleaved timing rounds
RATES=${RATES:-0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9}   # masking rates of Fig. 2
ONLY=${ONLY:-}                               # e.g. "saic raw": only these study models (the tables list the rest as not trained)
TEACHER="$DEMO/teacher/checkpoint_best.pt"
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5")
TRAIN=(--arch "$ARCH" --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens 4000 --num-workers 0
       --lr 5e-4 --lr-scheduler inverse_sqrt --warmup-updates 50 --max-update "$UPDATES"
       --save-interval-updates "$SAVE_EVERY" --keep-interval-updates 1 --no-epoch-checkpoints
       --log-interval 50 --log-format simple)
start=$(date +%s)
stage() { echo; echo "=== [$(( $(date +%s) - start ))s] $*"; }

if [ ! -f "$TEACHER" ] || [ ! -f "$DATA/train.distill.bin" ]; then
    stage "the demo's teacher and teacher captions are missing: running the demo first"
    bash examples/text_proxy/run.sh
fi

# name | start (teacher or scratch) | options that differ from the full SAIC recipe
# (full recipe: k=4, hybrid distillation p_hybr 0.5, curriculum lambda 1, relative positions, from the teacher)
STUDIES=(
  "saic|teacher|--group-size 4"
  "raw|teacher|--group-size 4 --distillation raw"
  "sequence-level|teacher|--group-size 4 --distillation sequence-level"
  "k2|teacher|--group-size 2 --relative-window 4"
  "k3|teacher|--group-size 3 --relative-window 4"
  "no-finetune|scratch|--group-size 4"
  "no-rpr|teacher|--group-size 4 --no-relative-positions"
  "no-curriculum|teacher|--group-size 4 --fixed-p-g 1"
)
for entry in "${STUDIES[@]}"; do
    IFS="|" read -r name from options <<< "$entry"
    if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
    read -r -a extra <<< "$options"
    dir="$RUNS/$name"
    init=(); [ "$from" = teacher ] && init=(--finetune-from-model "$TEACHER")
    stage "train $name (start: $from): ${extra[*]}"
    if [ ! -f "$dir/DONE" ]; then
        mkdir -p "$dir"
        fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" --criterion saic_loss --p-hybr 0.5 \
            --curriculum-lambda 1 "${init[@]}" "${extra[@]}" --save-dir "$dir" 2>&1 | tee -a "$dir/train.log"
        touch "$dir/DONE"
    fi
    stage "score and time $name (AIC b5 and SAIC 1/1 in one run, batch 1, $IMAGES test images)"
    [ -f "$dir/benchmark.json" ] || saic-benchmark --data "$DATA" --path "$dir/checkpoint_last.pt" \
        --images "$IMAGES" --rounds "$ROUNDS" --modes "AIC b5" "SAIC 1/1" --json "$dir/benchmark.json"
done

stage "Tables 5, 6, 7"
saic-study-tables --runs "$RUNS" --out "$RUNS/tables"

stage "Fig. 2 and Table 1: masking study (teacher beam-5 captions refilled by the SAIC model's Filler)"
[ -f "$RUNS/masking.json" ] || saic-masking-study --data "$DATA" --teacher "$TEACHER" \
    --filler "$RUNS/saic/checkpoint_last.pt" --images "$IMAGES" --rates $RATES --out "$RUNS/masking"

stage "Fig. 4: example captions (references beside AIC, NAIC, IR-NAIC and SAIC)"
[ -f "$RUNS/examples.json" ] || saic-benchmark --data "$DATA" --path "$RUNS/saic/checkpoint_last.pt" --images 5 \
    --warmup 0 --rounds 1 --modes "AIC b5" "NAIC" "IR-NAIC I=5" "SAIC 1/1" --examples 5 --json "$RUNS/examples.json"

stage "SCST: the teacher fine-tuned by self-critical sequence training (CIDEr-D reward, $SCST_BASELINE baseline)"
if [ ! -f "$RUNS/scst/DONE" ]; then
    mkdir -p "$RUNS/scst"
    fairseq-train "$DATA" "${COMMON[@]}" --arch "$ARCH" --criterion saic_scst --unique-images \
        --scst-samples 5 --scst-baseline "$SCST_BASELINE" --optimizer adam --lr 5e-5 --lr-scheduler fixed \
        --batch-size 50 --max-update "$SCST_UPDATES" --finetune-from-model "$TEACHER" --num-workers 0 \
        --save-interval-updates "$SAVE_EVERY" --keep-interval-updates 1 --no-epoch-checkpoints --log-interval 10 \
        --log-format simple --save-dir "$RUNS/scst" 2>&1 | tee -a "$RUNS/scst/train.log"
    touch "$RUNS/scst/DONE"
fi
for name in teacher scst; do
    path="$TEACHER"; [ "$name" = scst ] && path="$RUNS/scst/checkpoint_last.pt"
    [ -f "$RUNS/scst/$name.json" ] || saic-benchmark --data "$DATA" --path "$path" --images "$IMAGES" \
        --rounds "$ROUNDS" --modes "AIC b5" "AIC b1" --json "$RUNS/scst/$name.json"
done
saic-study-tables --runs "$RUNS" --out "$RUNS/tables"
stage "done: $RUNS/tables.md, $RUNS/masking.md (+ .json, .png each)"
