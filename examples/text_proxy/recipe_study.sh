#!/usr/bin/env bash
# Which SAIC training recipe closes the gap to AIC on the text-proxy data (after `make demo`'s
# stages 1-4: data, teacher, teacher captions). Each variant fine-tunes the demo teacher for
# $UPDATES updates; every variant's last checkpoint is scored on the same test images (1,000).
#   bash examples/text_proxy/recipe_study.sh            # results in runs/proxy/recipes/results.txt
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy/recipes}
UPDATES=${UPDATES:-1000}
VARIANTS=${VARIANTS:-"early-seq paper"}
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size 4)
TRAIN=(--arch saic_small --optimizer adam --adam-betas "(0.9,0.98)" --max-tokens 4000 --num-workers 0
       --no-epoch-checkpoints --log-interval 50 --log-format simple --lr 5e-4 --lr-scheduler inverse_sqrt
       --warmup-updates 50 --max-update "$UPDATES" --finetune-from-model runs/proxy/teacher/checkpoint_best.pt)
declare -A RECIPE=(
  [paper]="--distillation hybrid --p-hybr 0.5 --curriculum-lambda 1"                       # T = max-update
  [early-seq]="--distillation sequence-level --curriculum-updates $((UPDATES * 3 / 10))"   # p_g = 1 from 30%
  [early-hybrid]="--distillation hybrid --p-hybr 0.5 --curriculum-updates $((UPDATES * 3 / 10))"
  [fixed-seq]="--distillation sequence-level --fixed-p-g 1"
  [early-seq-lr2e3]="--distillation sequence-level --curriculum-updates $((UPDATES * 3 / 10)) --lr 2e-3 --warmup-updates 100"
)
mkdir -p "$RUNS"
for name in $VARIANTS; do
  dir="$RUNS/$name"
  if [ ! -f "$dir/DONE" ]; then
    start=$(date +%s)
    # shellcheck disable=SC2086
    fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" --criterion saic_loss ${RECIPE[$name]} --save-dir "$dir" \
        > "$dir.log" 2>&1
    echo "$(( $(date +%s) - start ))" > "$dir/DONE"
  fi
  # the last checkpoint (the valid loss picks an early one under this curriculum: docs/training.md), with
  # repeated parallel words dropped (the default) and kept; AIC modes decode with the teacher
  for repeats in dropped kept; do
    flag=(); [ "$repeats" = kept ] && flag=(--keep-repeats)
    [ -f "$dir/quality-$repeats.json" ] || saic-benchmark --data "$DATA" --path "$dir/checkpoint_last.pt" \
        --aic-path runs/proxy/teacher/checkpoint_best.pt --images 1000 --batch-size 50 --rounds 1 --warmup 0 \
        --modes "AIC b5" "AIC b1" "SAIC 5/5" "SAIC 1/1" "IR-NAIC I=5" "${flag[@]}" \
        --json "$dir/quality-$repeats.json" > "$dir/quality-$repeats.txt" 2>/dev/null
  done
done
python - "$RUNS" $VARIANTS <<'PY' | tee "$RUNS/results.txt"
import json, sys
runs, names = sys.argv[1], sys.argv[2:]
print(f"{'recipe':<18}{'repeats':<9}{'train s':>8}" + "".join(f"{m:>13}" for m in ["AIC b5", "AIC b1", "SAIC 5/5", "SAIC 1/1", "IR-NAIC I=5"]))
for name in names:
    seconds = open(f"{runs}/{name}/DONE").read().strip()
    for repeats in ("dropped", "kept"):
        rows = {r["mode"]: r for r in json.load(open(f"{runs}/{name}/quality-{repeats}.json"))["rows"]}
        print(f"{name:<18}{repeats:<9}{seconds:>8}" + "".join(f"{rows[m]['CIDEr']:>13.2f}" for m in rows))
PY
