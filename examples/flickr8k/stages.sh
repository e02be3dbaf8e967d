# The Flickr8k recipe's training and scoring commands and score readers, one home each: sourced by run.sh
# and by the studies beside it (teacher_length.sh, saic_length.sh, teacher_decoding.sh, saic_decoding.sh), so a
# study trains exactly what the recipe trains. The caller sets DATA, ARCH, K, DROPOUT, LR and
# MAX_TOKENS (each study documents its defaults).

flickr8k_options() {  # COMMON: the task; TRAIN: what every training stage shares
    COMMON=(--user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" --group-size "$K")
    TRAIN=(--batch-by-image --arch "$ARCH" --dropout "$DROPOUT" --optimizer adam --adam-betas "(0.9,0.98)"
           --max-tokens "$MAX_TOKENS" --num-workers 0 --log-interval 50 --log-format simple)
}

train_teacher() {  # train_teacher SAVE_DIR EPOCHS KEEP [fairseq-train options]: the AIC teacher,
    # checkpoint_best.pt by valid CIDEr-D (greedy); KEEP > 0 also keeps the last KEEP epoch checkpoints
    # (checkpointE.pt); options after KEEP are added last (and so override the recipe's)
    local save=$1 epochs=$2 keep=$3
    shift 3
    flickr8k_options
    fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" \
        $([ "$keep" -gt 0 ] && echo --keep-last-epochs "$keep" || echo --no-epoch-checkpoints) \
        --criterion label_smoothed_cross_entropy --label-smoothing 0.1 --lr "$LR" --lr-scheduler inverse_sqrt \
        --warmup-updates 200 --max-epoch "$epochs" --eval-cider --decoding aic \
        --best-checkpoint-metric cider --maximize-best-checkpoint-metric --save-dir "$save" "$@"
}

train_saic() {  # train_saic SAVE_DIR TEACHER UPDATES CURRICULUM [fairseq-train options]: SAIC k=K
    # fine-tuned from TEACHER on its captions, p_g = t / CURRICULUM (1 from there on)
    local save=$1 teacher=$2 updates=$3 curriculum=$4
    shift 4
    flickr8k_options
    fairseq-train "$DATA" "${COMMON[@]}" "${TRAIN[@]}" --no-epoch-checkpoints \
        --criterion saic_loss --distillation sequence-level --curriculum-updates "$curriculum" \
        --lr "$LR" --lr-scheduler inverse_sqrt --warmup-updates 100 --max-update "$updates" \
        --validate-interval 1000 --finetune-from-model "$teacher" --save-dir "$save" "$@"
}

caption_and_score() {  # caption_and_score OUT SPLIT CHECKPOINT [fairseq-generate options]: the
    # CHECKPOINT's captions of SPLIT's photos (one per photo, batches of 50) in OUT.txt, scored by
    # pycocoevalcap against SPLIT's references in OUT.json (saic-evaluate's), logs in OUT.log; skipped
    # when OUT.json exists, and a killed run leaves only OUT.txt.partial; needs only DATA
    local out=$1 split=$2 checkpoint=$3
    shift 3
    [ -f "$out.json" ] && return
    fairseq-generate "$DATA" --user-dir saic_fairseq --task saic_captioning --features "$DATA/features.h5" \
        --path "$checkpoint" --gen-subset "$split" --unique-images --batch-size 50 "$@" > "$out.txt.partial" 2> "$out.log"
    mv "$out.txt.partial" "$out.txt"
    saic-evaluate --refs "$DATA/$split.refs.json" --captions "$out.txt" --no-spice --json "$out.json" >> "$out.log" 2>&1
}

json_score() {  # json_score FILE METRIC [MODE]: a score of saic-evaluate's JSON (FILE's "scores"),
    # or of saic-benchmark's row MODE (its first row without MODE), as printed there (x100 for saic-evaluate)
    python - "$@" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
if "scores" in data:
    print(f"{100 * data['scores'][sys.argv[2]]:.2f}")
else:
    rows = data["rows"]
    row = next(r for r in rows if r["mode"] == sys.argv[3]) if len(sys.argv) > 3 else rows[0]
    print(f"{row[sys.argv[2]]:.2f}")
PY
}

score_row() {  # score_row FILE CELL...: the table row "| CELL | ... | BLEU-4 | METEOR | CIDEr-D |" of
    # saic-evaluate's JSON FILE
    local file=$1 m
    shift
    echo "| $(printf '%s | ' "$@")$(for m in BLEU-4 METEOR CIDEr; do printf '%s | ' "$(json_score "$file" "$m")"; done)" \
        | sed 's/ *$//'
}

greater() { python -c "import sys; sys.exit(not float(sys.argv[1]) > float(sys.argv[2]))" "$1" "$2"; }  # greater A B: A > B
