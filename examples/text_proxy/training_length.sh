#!/usr/bin/env bash
# Does longer SAIC training close the gap to AIC? (after `make demo`)
# Continues the demo's SAIC run (runs/proxy/saic, 1,000 updates, p_g = 1 from update 300) to
# $UPDATES updates with the same recipe -- exactly what `SAIC_UPDATES=$UPDATES CURRICULUM_UPDATES=300
# make demo` trains -- keeping a checkpoint every 1,000 updates, then scores each on the test
# images (AIC modes decode with the teacher, batch 50, one round).
#   bash examples/text_proxy/training_length.sh        # results in runs/proxy/length/results.txt
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
UPDATES=${UPDATES:-3000}
OUT="$RUNS/length"
COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size 4)
mkdir -p "$OUT"
[ -f "$OUT/checkpoint_last.pt" ] || cp "$RUNS/saic/checkpoint_last.pt" "$OUT/checkpoint_last.pt"
[ -f "$OUT/DONE" ] || {
  fairseq-train "$DATA" "${COMMON[@]}" --arch saic_small --optimizer adam --adam-betas "(0.9,0.98)" \
      --max-tokens 4000 --num-workers 0 --no-epoch-checkpoints --log-interval 50 --log-format simple \
      --criterion saic_loss --distillation sequence-level --curriculum-updates 300 \
      --lr 2e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$UPDATES" \
      --save-interval-updates 1000 --keep-interval-updates -1 --save-dir "$OUT" > "$OUT/train.log" 2>&1
  touch "$OUT/DONE"
}
cp -n "$RUNS/saic/checkpoint_last.pt" "$OUT/checkpoint_1000.pt"
for ckpt in "$OUT"/checkpoint_1000.pt "$OUT"/checkpoint_*_*000.pt; do
  name=$(basename "$ckpt" .pt)
  [ -f "$OUT/$name.json" ] || saic-benchmark --data "$DATA" --path "$ckpt" --aic-path "$RUNS/teacher/checkpoint_best.pt" \
      --images 1000 --batch-size 50 --rounds 1 --warmup 0 --modes "AIC b5" "SAIC 5/5" "SAIC 1/1" "IR-NAIC I=5" \
      --json "$OUT/$name.json" > "$OUT/$name.txt" 2>/dev/null
done
python - "$OUT" <<'PY' | tee "$OUT/results.txt"
import glob, json, os, sys
modes = ["AIC b5", "SAIC 5/5", "SAIC 1/1", "IR-NAIC I=5"]
print(f"{'checkpoint':<22}" + "".join(f"{m:>18}" for m in modes))
for path in sorted(glob.glob(f"{sys.argv[1]}/checkpoint_*.json"), key=lambda p: int(p.rsplit("_", 1)[1][:-5])):
    rows = {r["mode"]: r for r in json.load(open(path))["rows"]}
    print(f"{os.path.basename(path)[:-5]:<22}" + "".join(f"{rows[m]['CIDEr']:>18.2f}" for m in modes if m in rows))
PY
