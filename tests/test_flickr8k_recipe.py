"""examples/flickr8k/run.sh end to end on a tiny Flickr8k-layout folder written here: JPEG photos,
Kaggle's captions.txt (real COCO captions) and the three official split lists (the teacher: the mean
of its last 2 epochs; SAIC and the fair IR-NAIC baseline: the means of their last 2 checkpoints,
saved every update). A first run stops
after stage 4 (STOP_AFTER); the second resumes there and runs every stage, the SCST stage included,
and the stages after it use the SCST teacher; then examples/flickr8k/saic_length.sh fine-tunes
SAIC from that teacher, scores the last saved checkpoints and their mean on valid and the best on test;
examples/flickr8k/teacher_decoding.sh scores the teacher's beam settings, saic_decoding.sh SAIC's; and
examples/flickr8k/teacher_length.sh trains the recipe's teacher stage (with more options) keeping epoch checkpoints,
averages the last of them and scores the best checkpoint and the average."""
import csv
import json
import re
import subprocess

import numpy as np

from conftest import BIN, REPO, clean_env

SPLITS = {"train": ("Flickr_8k.trainImages.txt", 24), "valid": ("Flickr_8k.devImages.txt", 4),
          "test": ("Flickr_8k.testImages.txt", 4)}


def write_flickr8k_folder(folder, karpathy_split):
    from PIL import Image

    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    rows = []
    for split, (list_name, count) in SPLITS.items():
        names = []
        for image in karpathy_split[split][:count]:
            name = f"{image.image_id}_flickr.jpg"
            pixels = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "images" / name)
            names.append(name)
            rows += [[name, caption] for caption in image.captions]
        (folder / list_name).write_text("".join(f"{n}\n" for n in names))
    with open(folder / "captions.txt", "w", newline="") as handle:
        csv.writer(handle).writerows([["image", "caption"]] + rows)


def test_flickr8k_recipe_with_scst_on_a_tiny_folder(karpathy_split, tmp_path):
    src = tmp_path / "flickr8k"
    write_flickr8k_folder(src, karpathy_split)
    env = clean_env()
    env.update(PATH=f"{BIN}:{env['PATH']}", DATA=str(tmp_path / "data"), RUNS=str(tmp_path / "runs"),
               BACKBONE="efficientnet-lite0", ARCH="saic_tiny", TEACHER_EPOCHS="3", TEACHER_AVERAGE="2",
               SCST_UPDATES="2", SAIC_UPDATES="3", SAIC_AVERAGE="2", SAVE_EVERY="1", MAX_TOKENS="600", BENCH_IMAGES="2",
               THREADS="1", COMPILE="0", TEACHER_LENPEN="0.8", SAIC_LENPEN="0")
    runs = tmp_path / "runs"

    def run(script, *args, **extra):
        result = subprocess.run(["bash", script, *args], cwd=REPO, env={**env, **extra},
                                capture_output=True, text=True, timeout=900)
        log = result.stdout + result.stderr
        assert result.returncode == 0, log[-4000:]
        return log

    log = run("examples/flickr8k/run.sh", str(src), STOP_AFTER="4")
    assert "=== stopped after stage 4 (STOP_AFTER)" in log and "=== [" in log
    assert (tmp_path / "data" / "train.distill.bin").exists() and not (runs / "saic").exists()
    assert "| greedy_cider " in log  # SCST (stage 3b) validated by greedy CIDEr-D
    averaged = runs / "teacher" / "checkpoint_avg2.pt"  # the teacher: the mean of epochs 2 and 3
    assert averaged.exists() and (runs / "teacher" / "DONE").exists()
    assert str(averaged) in (runs / "scst" / "train.log").read_text()  # SCST fine-tunes the averaged teacher
    log = run("examples/flickr8k/run.sh", str(src))
    assert "stopped after" not in log
    scst = runs / "scst" / "checkpoint_best.pt"
    assert (runs / "scst" / "DONE").exists() and scst.exists()
    bench = json.loads((runs / "benchmark.json").read_text())
    assert f"(AIC modes: {scst})" in bench["title"]  # the AIC rows decode with the SCST teacher
    assert bench["title"].startswith(f"{runs / 'saic' / 'checkpoint_avg2.pt'} ")  # SAIC: the mean of its last 2
    assert ", lenpen 0 (AIC 0.8)" in bench["title"] and "--compile" not in bench["title"]  # each model's penalty
    assert (runs / "irnaic" / "checkpoint_avg2.pt").exists()  # the fair baseline averaged alike
    assert "| AIC b5 " in (runs / "results.md").read_text()
    assert str(scst) in (runs / "irnaic" / "train.log").read_text()  # the fair baseline starts from it too

    length = tmp_path / "length"
    log = run("examples/flickr8k/saic_length.sh", RUNS=str(length), TEACHER=str(scst), UPDATES="4", EVERY="2",
              AVERAGES="2", SCORE_FROM="3", SAIC_OPTIONS="--distillation hybrid")
    assert "distillation='hybrid'" in (length / "train.log").read_text()  # SAIC_OPTIONS reach the training
    scored = sorted(p.stem.split("-", 1)[1] for p in length.glob("valid-*.json"))
    assert scored == ["4", "avg2"], (scored, log[-3000:])  # saved every 2 updates: from 3 on the last, and the mean
    averaged = r"the mean of 2 checkpoints \(checkpoint_\d+_2\.pt, checkpoint_(\d+_4|last)\.pt\)"
    assert re.search(averaged, log), log[-3000:]
    assert "the mean of the last 2: valid SAIC 5/5 CIDEr-D " in log
    test_best = json.loads((length / "test-best.json").read_text())
    assert [row["mode"] for row in test_best["rows"]] == ["SAIC 5/5", "SAIC 1/1"]
    assert "best on valid (SAIC 1/1 CIDEr-D " in log and "teacher AIC b5 on test: CIDEr-D " in log

    decoding = tmp_path / "decoding"
    log = run("examples/flickr8k/teacher_decoding.sh", RUNS=str(decoding), TEACHER=str(scst), BEAMS="1 2",
              LENPENS="1 2")
    table = [line for line in log.splitlines() if line.startswith("| valid | ")]
    assert [line.split(" | ")[1:3] for line in table] == [["1", "1"], ["1", "2"], ["2", "1"], ["2", "2"]], log
    assert "| test (best valid BLEU-4) | " in log and len(list(decoding.glob("test-b*.json"))) in (1, 2)

    saic_decoding = tmp_path / "saic-decoding"
    log = run("examples/flickr8k/saic_decoding.sh", RUNS=str(saic_decoding),
              SAIC=str(runs / "saic" / "checkpoint_avg2.pt"), LENPENS="0 1")
    table = [line.split(" | ")[1] for line in log.splitlines() if line.startswith("| valid | ")]
    assert table == ["--outline-beam 1 --fill-beam 1", "--outline-beam 1 --fill-beam 1 --outline-length eos",
                     "--outline-beam 1 --fill-beam 1 --keep-repeats", "--outline-beam 5 --fill-beam 5 --lenpen 0",
                     "--outline-beam 5 --fill-beam 5 --lenpen 1", "--outline-beam 5 --fill-beam 5 --keep-repeats"], log
    assert log.count("| test (best valid CIDEr) | ") == 2 and len(list(saic_decoding.glob("test-*.json"))) in (2, 3, 4)

    teacher = tmp_path / "teacher-length"
    log = run("examples/flickr8k/teacher_length.sh", RUNS=str(teacher), EPOCHS="3", KEEP_EPOCHS="2", AVERAGES="2",
              OPTIONS="--encoder-layers 2")
    assert "encoder_layers=2" in (teacher / "train.log").read_text()  # OPTIONS reach the teacher's training
    kept = sorted(p.name for p in (teacher / "teacher").glob("checkpoint*.pt"))
    assert kept == ["checkpoint2.pt", "checkpoint3.pt", "checkpoint_avg2.pt", "checkpoint_best.pt",
                    "checkpoint_last.pt"], kept
    assert "wrote " in log and "the mean of 2 checkpoints (checkpoint2.pt, checkpoint3.pt)" in log
    rows = [line.split(" | ")[:2] for line in log.splitlines() if line.startswith("| checkpoint_")]
    assert rows[:2] == [["| checkpoint_best", "valid"], ["| checkpoint_avg2", "valid"]], log[-3000:]
    assert ["| checkpoint_best", "test"] in rows and len(rows) in (3, 4)
    assert "best on valid (AIC b5 CIDEr-D " in log and "epoch 3: valid CIDEr-D (greedy) " in log
