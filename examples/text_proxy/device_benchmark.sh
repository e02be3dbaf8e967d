#!/usr/bin/env bash
# The demo's speed table on another device (a CUDA GPU), from the demo's checkpoints, in one go:
#   batch 1 (latency, per-call overhead), batch 50 and 200 (captions/s), each on the eager static
#   step and again with --compile (CUDA graphs on a GPU, torch.compile on a CPU; the cost of one
#   step in every implementation is printed above each table), training cost; then the results
#   table built from the batch-1 and batch-50 runs.
# Run after `make demo` (or copy data/proxy and runs/proxy/{teacher,saic} to the machine):
#   bash examples/text_proxy/device_benchmark.sh                  # DEVICE=cuda
#   DEVICE=cpu IMAGES=20 bash examples/text_proxy/device_benchmark.sh
# Quality needs Java (METEOR, the PTB tokenizer), which a GPU machine may lack: these runs are
# --no-quality (the JSON files keep every mode's captions).
set -euo pipefail
DATA=${DATA:-data/proxy}
RUNS=${RUNS:-runs/proxy}
DEVICE=${DEVICE:-cuda}
IMAGES=${IMAGES:-250}
OUT=${OUT:-$RUNS/$DEVICE}
mkdir -p "$OUT"
CHECKPOINTS=(--data "$DATA" --path "$RUNS/saic/checkpoint_last.pt" --aic-path "$RUNS/teacher/checkpoint_best.pt"
             --device "$DEVICE" --no-quality)
for batch in 1 50 200; do
    echo "=== $DEVICE, batch $batch"
    saic-benchmark "${CHECKPOINTS[@]}" --images "$IMAGES" --batch-size "$batch" --warmup 1 --json "$OUT/batch$batch.json"
    echo "=== $DEVICE, batch $batch, --compile"
    saic-benchmark "${CHECKPOINTS[@]}" --images "$IMAGES" --batch-size "$batch" --warmup 2 --compile \
        --json "$OUT/batch$batch-compiled.json"
done
echo "=== $DEVICE, training: teacher criterion against saic_loss on the same batches"
saic-benchmark --training --data "$DATA" --path "$RUNS/teacher/checkpoint_best.pt" --device "$DEVICE" \
    --batches "${BATCHES:-10}" --json "$OUT/training.json"
saic-results --latency "$OUT/batch1.json" --throughput "$OUT/batch50.json" --out "$OUT/results.md"
echo "=== done: $OUT/results.md, $OUT/batch{1,50,200}{,-compiled}.json, $OUT/training.json"
