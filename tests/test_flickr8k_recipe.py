"""examples/flickr8k/run.sh end to end on a tiny Flickr8k-layout folder written here: JPEG photos,
Kaggle's captions.txt (real COCO captions) and the three official split lists. Every stage runs,
the SCST stage included, and the stages after it use the SCST teacher."""
import csv
import json
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
               BACKBONE="efficientnet-lite0", ARCH="saic_tiny", TEACHER_EPOCHS="2", SCST_UPDATES="2",
               SAIC_UPDATES="3", MAX_TOKENS="600", BENCH_IMAGES="2", THREADS="1")
    result = subprocess.run(["bash", "examples/flickr8k/run.sh", str(src)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    runs = tmp_path / "runs"
    scst = runs / "scst" / "checkpoint_best.pt"
    assert (runs / "scst" / "DONE").exists() and scst.exists()
    assert "| greedy_cider " in log  # SCST validated by greedy CIDEr-D
    bench = json.loads((runs / "benchmark.json").read_text())
    assert f"(AIC modes: {scst})" in bench["title"]  # the AIC rows decode with the SCST teacher
    assert "| AIC b5 " in (runs / "results.md").read_text()
    assert str(scst) in (runs / "irnaic" / "train.log").read_text()  # the fair baseline starts from it too
